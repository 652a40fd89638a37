using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>Ctrl+C (PowerShell.Stop -> StopProcessing) cancels core work that is waiting on the network.</summary>
public sealed class StopProcessingTests : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");

    [Fact]
    public async Task Stop_cancels_a_listing_stuck_on_a_silent_endpoint()
    {
        // accepts connections and never answers: without cancellation the request waits for its timeout
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = new List<TcpClient>();
        using var acceptCancel = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Add(await listener.AcceptTcpClientAsync(acceptCancel.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var pipeline = ps.Start("Get-FlyImage -Source s3://some-bucket/images -Endpoint $ep -StorePath $store",
            new Dictionary<string, object?> { ["ep"] = $"http://127.0.0.1:{port}", ["store"] = store.Path }, out var handle);
        while (accepted.Count == 0)
        {
            await Task.Delay(20);
        }

        var attempts = accepted.Count;
        var stop = Task.Factory.FromAsync(pipeline.BeginStop(null, null), pipeline.EndStop);
        // a hang guard, not a speed assertion (the request timeout is 30 s per attempt, 4 attempts)
        Assert.Same(stop, await Task.WhenAny(stop, Task.Delay(TimeSpan.FromMinutes(5))));
        // stopped promptly, by order of events: the attempt under way was the last, no timeout led to another
        Assert.Equal(attempts, accepted.Count);
        Assert.Equal(PSInvocationState.Stopped, pipeline.InvocationStateInfo.State);
        Assert.Throws<PipelineStoppedException>(() => pipeline.EndInvoke(handle));
        acceptCancel.Cancel();
        await accepting;
        accepted.ForEach(c => c.Dispose());
    }

    public void Dispose()
    {
        ps.Dispose();
        store.Dispose();
    }
}
