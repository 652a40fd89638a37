using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class ConcurrencyTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    [Fact]
    public async Task Four_parallel_installs_of_one_image_do_each_step_once_and_all_end_Ready()
    {
        var steps = new FakeSteps { Before = (_, token) => Task.Delay(5, token) };
        var image = WorkflowHarness.Image("golang");
        using var start = new Barrier(4);
        var runs = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            start.SignalAndWait();
            return await h.RunAsync(image, steps);
        })).ToArray();
        var results = await Task.WhenAll(runs);

        Assert.All(results, r => Assert.Equal(InstallState.Ready, r.State));
        Assert.Single(results, r => r.DidWork);
        Assert.All(results, r => Assert.Equal(results[0].Chains.Select(c => c.ChainId), r.Chains.Select(c => c.ChainId)));
        Assert.All(steps.Calls.GroupBy(c => c), g => Assert.Single(g));
        Assert.Equal(1 + 5 + 5 * 3, steps.Calls.Count);
        Assert.Single(h.Journal("golang").Where(e => e.Kind == WorkflowKinds.InstallImage).Select(e => e.RunId).Distinct());
    }

    [Fact]
    public async Task Parallel_installs_of_images_sharing_layers_make_each_shared_chain_once()
    {
        var steps = new FakeSteps { Before = (_, token) => Task.Delay(2, token) };
        var names = new[] { "golang", "node", "python" };
        var results = await Task.WhenAll(names.Select(n => Task.Run(() => h.RunAsync(WorkflowHarness.Image(n), steps))));

        Assert.All(results, r => Assert.Equal(InstallState.Ready, r.State));
        foreach (var depth in new[] { 1, 2, 3 })
        {
            Assert.Equal(1, steps.Count($"create {depth}"));
            Assert.Equal(1, steps.Count($"apply {depth}"));
        }

        Assert.Equal(3, steps.Count("create 4"));
        Assert.Equal(3, steps.Count("seal 5"));
        Assert.Single(results.Select(r => r.Chains[2].ChainId).Distinct());
    }

    public void Dispose() => h.Dispose();
}

public sealed class OverlapTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    [Fact]
    public async Task Layers_are_applied_while_later_layers_are_still_downloading()
    {
        // fetching layer 5 cannot finish until chain 1 is applied: only an overlapping pipeline completes
        var applied1 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var steps = new FakeSteps
        {
            Before = async (call, token) =>
            {
                if (call == "apply 1")
                {
                    applied1.TrySetResult();
                }
                else if (call == "fetch golang/5.tar")
                {
                    // bounded so a serial pipeline fails instead of hanging the run
                    await applied1.Task.WaitAsync(TimeSpan.FromSeconds(60), token);
                }
            },
        };
        var result = await h.RunAsync(WorkflowHarness.Image("golang"), steps, WorkflowHarness.FastOptions with { FetchParallelism = 2 });
        Assert.Equal(InstallState.Ready, result.State);
        // chain 1's device was made (and its layer applied) while the install was still Fetching
        var journal = h.Journal("golang");
        var fetched = journal.First(e => e.Trigger == nameof(InstallTrigger.Fetched)).Id;
        var chain1Created = journal.First(e => e.Kind == WorkflowKinds.MakeChain && e.Trigger == nameof(ChainTrigger.Created)).Id;
        Assert.True(chain1Created < fetched);
    }

    public void Dispose() => h.Dispose();
}
