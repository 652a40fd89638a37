namespace FlyImages.Content;

/// <summary>
/// Chooses how many ranged GETs of one blob run at once from what the transfer shows (pure logic: the caller measures
/// the aggregate throughput over equal windows and feeds it in). It starts at the configured count and doubles it, up to
/// a bound, while each added connection still brings at least <c>minimumGain</c> of what one connection carried before
/// (an endpoint that caps each stream, as S3 does); when adding stops paying (a saturated link or server, as on
/// loopback) it goes back to the last count that paid and stays there. The first window after each change is not
/// judged: new connections are still opening.
/// </summary>
internal sealed class ParallelismTuner
{
    private readonly int max;
    private readonly double minimumGain;
    private int baseCount;
    private double baseRate = -1;
    private bool settling = true;

    public ParallelismTuner(int initial, int max, double minimumGain = 0.5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initial, 1);
        this.max = Math.Max(initial, max);
        this.minimumGain = minimumGain;
        Target = initial;
        Settled = this.max == initial;
    }

    /// <summary>Connections to run now.</summary>
    public int Target { get; private set; }

    /// <summary>No further change will be made.</summary>
    public bool Settled { get; private set; }

    /// <summary>Feeds the aggregate bytes per second of the window that just ended; returns the new <see cref="Target"/>.</summary>
    public int Observe(double bytesPerSecond)
    {
        if (Settled)
        {
            return Target;
        }

        if (settling)
        {
            // connections added at the start of this window were still opening
            settling = false;
            return Target;
        }

        if (baseRate >= 0)
        {
            var perConnection = baseRate / baseCount;
            var gainPerAdded = (bytesPerSecond - baseRate) / (Target - baseCount);
            if (perConnection <= 0 || gainPerAdded < minimumGain * perConnection)
            {
                // the last step did not pay: back to the count before it
                Target = baseCount;
                Settled = true;
                return Target;
            }
        }

        if (Target >= max)
        {
            Settled = true;
            return Target;
        }

        baseCount = Target;
        baseRate = bytesPerSecond;
        Target = Math.Min(max, Target * 2);
        settling = true;
        return Target;
    }

    /// <summary>
    /// The part size for a blob: the configured one, smaller when the blob would otherwise have fewer parts than the most
    /// connections a fetch may use (never below <paramref name="floor"/>, nor above <paramref name="configured"/>;
    /// a multiple of 64 KiB).
    /// </summary>
    public static long PartSizeFor(long size, long configured, int maxConnections, long floor)
    {
        var low = Math.Min(floor, configured);
        var even = (size + maxConnections - 1) / Math.Max(1, maxConnections);
        const long unit = 64 * 1024;
        even = (even + unit - 1) / unit * unit;
        return Math.Clamp(even, low, configured);
    }
}
