using Xunit;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using FlyImages.Model;
using FlyImages.Workflows;

namespace FlyImages.Tests.Workflows;

/// <summary>
/// Test double of the STEPS (not of dm): records every call, returns deterministic digests and
/// device names, and lets a test hang, fail or slow a given call through <see cref="Before"/>.
/// Calls are named "resolve golang", "fetch golang/1.tar", "create 1", "apply 1", "seal 1", "discard 1"
/// (chain calls by depth, for readable assertions) — see <see cref="Calls"/>.
/// </summary>
internal sealed class FakeSteps : IInstallSteps
{
    private readonly ConcurrentQueue<string> calls = new();
    private readonly ConcurrentDictionary<string, int> completed = new();

    /// <summary>Runs before each call with its name; may throw, delay, or never return (a crash).</summary>
    public Func<string, CancellationToken, Task>? Before { get; set; }

    /// <summary>The layer list ResolveAsync returns (default: the image's own).</summary>
    public Func<Image, Image>? Resolve { get; set; }

    public IReadOnlyList<string> Calls => calls.ToList();

    /// <summary>Calls that returned successfully, with counts.</summary>
    public IReadOnlyDictionary<string, int> Completed => completed;

    public int Count(string call) => calls.Count(c => c == call);

    public int CompletedCount(string call) => completed.GetValueOrDefault(call);

    public static string DigestOf(Layer layer) => "sha256:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(layer.ETag ?? layer.Key))).ToLowerInvariant();

    public static string DeviceOf(ChainPlan chain) => $"fly-{chain.Depth}-{chain.ChainId[7..19]}";

    public Task<Image> ResolveAsync(Image image, StepContext context)
        => Run($"resolve {image.Name}", context, () => Resolve?.Invoke(image) ?? image);

    public Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context)
        => Run($"fetch {layer.Key}", context, () => new FetchedLayer(DigestOf(layer), $"/blobs/{DigestOf(layer)[7..]}"));

    public Task<string> CreateChainDeviceAsync(ChainPlan chain, StepContext context)
        => Run($"create {chain.Depth}", context, () =>
        {
            if (chain.Depth > 1 && chain.ParentDevice is null)
            {
                throw new InvalidOperationException($"chain {chain.Depth} created without its parent's device");
            }

            return DeviceOf(chain);
        });

    public Task ApplyLayerAsync(ChainPlan chain, string device, StepContext context)
        => Run($"apply {chain.Depth}", context, () =>
        {
            Assert.Equal(DeviceOf(chain), device);
            Assert.NotNull(chain.BlobPath);
            return true;
        });

    public Task SealChainAsync(ChainPlan chain, string device, StepContext context) => Run($"seal {chain.Depth}", context, () => true);

    public Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context) => Run($"discard {chain.Depth}", context, () => true);

    private async Task<T> Run<T>(string name, StepContext context, Func<T> work)
    {
        calls.Enqueue(name);
        if (Before is { } before)
        {
            await before(name, context.CancellationToken).ConfigureAwait(false);
        }

        await Task.Yield();
        var result = work();
        completed.AddOrUpdate(name, 1, (_, n) => n + 1);
        return result;
    }
}
