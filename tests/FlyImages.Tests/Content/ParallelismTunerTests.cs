using FlyImages.Content;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>
/// How a download chooses its connection count from the throughput of each window (pure logic: the rates are fed in,
/// nothing is timed): it grows while each added stream still pays, as behind an endpoint that caps each stream, and
/// gives the last step back when the link or server is saturated, as on loopback.
/// </summary>
public sealed class ParallelismTunerTests
{
    private const double MiB = 1024 * 1024;

    [Fact]
    public void Behind_a_per_stream_cap_it_doubles_up_to_the_bound_and_stays_there()
    {
        // every stream carries 4 MiB/s whatever the count
        var tuner = new ParallelismTuner(6, 16);
        var seen = new List<int>();
        for (var window = 0; window < 10 && !tuner.Settled; window++)
        {
            seen.Add(tuner.Observe(tuner.Target * 4 * MiB));
        }

        Assert.Equal([6, 12, 12, 16, 16, 16], seen);
        Assert.True(tuner.Settled);
        Assert.Equal(16, tuner.Target);
    }

    [Fact]
    public void When_more_streams_add_nothing_it_gives_the_step_back_and_settles()
    {
        // a saturated server: 400 MiB/s whatever the count
        var tuner = new ParallelismTuner(6, 16);
        Assert.Equal(6, tuner.Observe(400 * MiB)); // first window: connections opening, not judged
        Assert.Equal(12, tuner.Observe(400 * MiB)); // the baseline at 6; try 12
        Assert.Equal(12, tuner.Observe(300 * MiB)); // the 12 were still opening
        Assert.Equal(6, tuner.Observe(410 * MiB)); // 6 more streams brought 10 MiB/s: back to 6
        Assert.True(tuner.Settled);
        Assert.Equal(6, tuner.Observe(1000 * MiB));
    }

    [Fact]
    public void A_step_pays_when_each_added_stream_brings_at_least_half_of_what_one_carried()
    {
        // 6 streams: 60 MiB/s, 10 each; 12 streams: 90 MiB/s, +5 per added stream = half: it pays
        var tuner = new ParallelismTuner(6, 24);
        tuner.Observe(60 * MiB);
        tuner.Observe(60 * MiB);
        tuner.Observe(90 * MiB);
        Assert.Equal(24, tuner.Observe(90 * MiB));

        // 24 streams: 100 MiB/s, +10 over 12 added streams (less than half of 7.5 each): back to 12
        tuner.Observe(100 * MiB);
        Assert.Equal(12, tuner.Observe(100 * MiB));
        Assert.True(tuner.Settled);
    }

    [Fact]
    public void A_fixed_count_never_changes()
    {
        var tuner = new ParallelismTuner(4, 4);
        Assert.True(tuner.Settled);
        Assert.Equal(4, tuner.Observe(1));
        Assert.Equal(4, tuner.Observe(1e12));

        // a bound below the start is no bound: the start is kept
        Assert.Equal(8, new ParallelismTuner(8, 2).Observe(1));
    }

    [Fact]
    public void Nothing_received_in_the_baseline_window_settles_at_once()
    {
        var tuner = new ParallelismTuner(2, 16);
        tuner.Observe(0);
        Assert.Equal(4, tuner.Observe(0));
        tuner.Observe(0);
        Assert.Equal(2, tuner.Observe(0));
        Assert.True(tuner.Settled);
    }

    [Theory]
    [InlineData(512L << 20, 8L << 20, 16, 2L << 20, 8L << 20)] // plenty of parts: the configured size
    [InlineData(64L << 20, 8L << 20, 16, 2L << 20, 4L << 20)] // 8 parts of 8 MiB would cap it at 8 streams: 16 of 4 MiB
    [InlineData(10L << 20, 8L << 20, 16, 2L << 20, 2L << 20)] // never below the floor
    [InlineData((4L << 20) + 12345, 1L << 20, 16, 2L << 20, 1L << 20)] // a configured size under the floor is kept
    [InlineData(100_000_000L, 8L << 20, 16, 2L << 20, 6_291_456L)] // a multiple of 64 KiB
    public void The_part_size_gives_enough_parts_for_every_connection(long size, long configured, int connections, long floor, long expected)
        => Assert.Equal(expected, ParallelismTuner.PartSizeFor(size, configured, connections, floor));
}
