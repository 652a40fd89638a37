using FlyImages.Engine;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Workflows;

namespace FlyImages.Tests.Workflows;

/// <summary>A fresh store in a random temp folder, images shaped like the public bucket's, and crash helpers.</summary>
internal sealed class WorkflowHarness : IDisposable
{
    public const string Source = "s3://bucket/images";

    private readonly TempDirectory folder = new("flyimages-flow");

    public WorkflowHarness() => Store = FlyStore.Open(folder.Path);

    public FlyStore Store { get; }

    public static WorkflowOptions FastOptions { get; } = new() { RetryBaseDelay = TimeSpan.FromMilliseconds(1), LeaseTtl = TimeSpan.FromSeconds(30) };

    /// <summary>An image of <paramref name="layers"/> layers; the first <paramref name="shared"/> are the same bytes in every image (same ETag).</summary>
    public static Image Image(string name, int layers = 5, int shared = 3) => new()
    {
        Name = name,
        Source = Source,
        Layers = Enumerable.Range(1, layers).Select(i => new Layer
        {
            Index = i,
            Key = $"{name}/{i}.tar",
            Size = 1000 + i,
            ETag = i <= shared ? $"shared-{i}" : $"{name}-{i}",
        }).ToList(),
    };

    public InstallWorkflow Install(IInstallSteps steps, WorkflowOptions? options = null) => new(Store, steps, options ?? FastOptions);

    public Task<InstallResult> RunAsync(Image image, IInstallSteps steps, WorkflowOptions? options = null, CancellationToken cancel = default)
        => Install(steps, options).RunAsync(image, new NullOperationContext(cancel));

    public WorkflowRecord? Workflow(string name) => new WorkflowRepository(Store).Find(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(Source, name));

    public IReadOnlyList<WorkflowEvent> Journal(string? name = null) => WorkflowEvents.Query(Store, name is null ? null : n => n == name);

    /// <summary>
    /// Simulates kill -9 of whoever holds leases now: their rows point at a pid that cannot exist
    /// (the abandoned tasks stay hung, never cleaning up), as a dead process's would.
    /// </summary>
    public void KillLeaseOwners()
        => Store.Write((c, t) =>
        {
            using var command = c.CreateCommand();
            command.Transaction = t;
            command.CommandText = "UPDATE leases SET pid = 2147483647;";
            command.ExecuteNonQuery();
        });

    /// <summary>Polls (no timing assertion: bounded only to fail instead of hanging) until <paramref name="condition"/> holds.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (var i = 0; i < 6000; i++)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(10);
        }

        throw new Xunit.Sdk.XunitException($"Gave up waiting for {what}.");
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        folder.Dispose();
    }
}
