using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.Workflows;

// FlyImages.TestAgent install --store DIR --image NAME [--source URI] [--layers 5] [--shared 3]
//     [--calls FILE] [--hang-at CALL] [--hostile-chain DEPTH] [--delay-ms N] [--report-calls 1]
// FlyImages.TestAgent real-install --store DIR --pool NAME --source URI --endpoint URL --image NAME [--device-size BYTES]
//     the REAL steps (content store, unpacker, thin pool); prints "PROGRESS <state> <fetched> <sealed>" lines as it goes
//     and "MOUNTED <verbose text>" when it mounts a device (tests SIGKILL it after the n-th line of either kind), and "READY" at the end.
// FlyImages.TestAgent real-remove --store DIR --source URI --image NAME [--keep-blobs 1]
//     a REAL Remove-FlyImage; prints "STEP <intent|blob|chain>" after each durable step and "REMOVED ..." at the end ("NOTFOUND", exit 4, when not installed).
// Calls are logged to <FILE>.<pid> (and printed as "CALL <call>" lines with --report-calls 1, once done). Exit codes: 0 Ready, 2 Rejected, 3 Failed, 1 anything else. Prints "HUNG <call>" before hanging.
var options = ParseArguments(args);
if (args.Length > 0 && args[0] == "real-install")
{
    return await RealInstall.RunAsync(options);
}

if (args.Length > 0 && args[0] == "real-remove")
{
    return await RealRemove.RunAsync(options);
}

if (args.Length == 0 || args[0] != "install" || !options.ContainsKey("store") || !options.ContainsKey("image"))
{
    Console.Error.WriteLine("usage: FlyImages.TestAgent install --store DIR --image NAME [--source URI] [--layers N] [--shared N] [--calls FILE] [--hang-at CALL] [--hostile-chain DEPTH] [--delay-ms N]");
    return 64;
}

var store = FlyStore.Open(options["store"]);
await new WorkflowRecovery(store).RecoverAsync(CancellationToken.None);
var name = options["image"];
var source = options.GetValueOrDefault("source", "s3://bucket/images");
var layers = int.Parse(options.GetValueOrDefault("layers", "5"), CultureInfo.InvariantCulture);
var shared = int.Parse(options.GetValueOrDefault("shared", "3"), CultureInfo.InvariantCulture);
var image = new Image
{
    Name = name,
    Source = source,
    Layers = Enumerable.Range(1, layers).Select(i => new Layer { Index = i, Key = $"{name}/{i}.tar", Size = 1000 + i, ETag = i <= shared ? $"shared-{i}" : $"{name}-{i}" }).ToList(),
};
var steps = new AgentSteps(
    options.GetValueOrDefault("calls"),
    options.GetValueOrDefault("hang-at"),
    options.TryGetValue("hostile-chain", out var hostile) ? int.Parse(hostile, CultureInfo.InvariantCulture) : null,
    TimeSpan.FromMilliseconds(int.Parse(options.GetValueOrDefault("delay-ms", "0"), CultureInfo.InvariantCulture)),
    options.GetValueOrDefault("report-calls") == "1");
try
{
    var result = await new InstallWorkflow(store, steps, new WorkflowOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(1) })
        .RunAsync(image, NullOperationContext.Instance);
    Console.WriteLine($"{result.State} didWork={result.DidWork} top={result.Chains[^1].ChainId}");
    return result.State == InstallState.Ready ? 0 : 1;
}
catch (FlyException e)
{
    Console.WriteLine($"{e.ErrorId}: {e.Message}");
    return e.ErrorId == ErrorIds.ImageRejected ? 2 : e.ErrorId == ErrorIds.InstallFailed ? 3 : 1;
}

static Dictionary<string, string> ParseArguments(string[] args)
{
    var options = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 1; i + 1 < args.Length; i += 2)
    {
        options[args[i].TrimStart('-')] = args[i + 1];
    }

    return options;
}

/// <summary>Test doubles of the steps: deterministic digests and devices; each call appended to a log shared by processes.</summary>
internal sealed class AgentSteps(string? callLog, string? hangAt, int? hostileChain, TimeSpan delay, bool reportCalls = false) : IInstallSteps
{
    private static readonly SemaphoreSlim LogGate = new(1, 1);

    public static string DigestOf(Layer layer) => "sha256:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(layer.ETag ?? layer.Key))).ToLowerInvariant();

    public Task<Image> ResolveAsync(Image image, StepContext context) => Run($"resolve {image.Name}", context, () => image);

    public Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context)
        => Run($"fetch {layer.ETag}", context, () => new FetchedLayer(DigestOf(layer), $"/blobs/{DigestOf(layer)[7..]}"));

    public Task<string> CreateChainDeviceAsync(ChainPlan chain, StepContext context) => Run($"create {chain.ChainId}", context, () => $"fly-{chain.Depth}-{chain.ChainId[7..19]}");

    public Task ApplyLayerAsync(ChainPlan chain, string device, StepContext context)
        => Run($"apply {chain.ChainId}", context, () => chain.Depth == hostileChain
            ? throw new FlyException("LayerHostile", FlyErrorCategory.SecurityError, "entry '../../etc/shadow' escapes the root")
            : true);

    public Task SealChainAsync(ChainPlan chain, string device, StepContext context) => Run($"seal {chain.ChainId}", context, () => true);

    public Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context) => Run($"discard {chain.ChainId}", context, () => true);

    private async Task<T> Run<T>(string call, StepContext context, Func<T> work)
    {
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, context.CancellationToken);
        }

        if (hangAt is not null && call.StartsWith(hangAt, StringComparison.Ordinal))
        {
            Console.WriteLine($"HUNG {call}");
            await Console.Out.FlushAsync();
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
        }

        var result = work();
        if (callLog is not null)
        {
            // one log per process (<log>.<pid>), one writer at a time: .NET's FileMode.Append seeks to the end
            // rather than using O_APPEND, so concurrent appenders would overwrite each other's lines
            await LogGate.WaitAsync(CancellationToken.None);
            try
            {
                await using var log = new FileStream($"{callLog}.{Environment.ProcessId}", FileMode.Append, FileAccess.Write, FileShare.Read);
                await log.WriteAsync(Encoding.UTF8.GetBytes($"{call} pid={Environment.ProcessId}\n"));
            }
            finally
            {
                LogGate.Release();
            }
        }

        if (reportCalls)
        {
            await LogGate.WaitAsync(CancellationToken.None);
            try
            {
                Console.WriteLine($"CALL {call}");
                await Console.Out.FlushAsync();
            }
            finally
            {
                LogGate.Release();
            }
        }

        return result;
    }
}
