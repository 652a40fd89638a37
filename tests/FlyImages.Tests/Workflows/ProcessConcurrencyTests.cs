using FlyImages.Engine;
using FlyImages.TestSupport;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

/// <summary>The same machinery across real processes: the store's leases and journal are the only shared state.</summary>
public sealed class ProcessConcurrencyTests : IDisposable
{
    private readonly WorkflowHarness h = new();
    private readonly TempDirectory logs = new("flyimages-calls");

    [Fact]
    public async Task Four_processes_installing_one_image_do_each_step_once_and_all_end_Ready()
    {
        var log = logs.Combine("calls.log");
        var runs = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            TestAgent.RunAsync("install", "--store", h.Store.RootPath, "--image", "golang", "--calls", log, "--delay-ms", "20")));

        Assert.All(runs, r => Assert.True(r.Exit == 0, r.Output));
        Assert.All(runs, r => Assert.StartsWith("Ready ", r.Output, StringComparison.Ordinal));
        Assert.Single(runs, r => r.Output.Contains("didWork=True", StringComparison.Ordinal));
        Assert.Single(runs.Select(r => r.Output.Split("top=")[1].Trim()).Distinct());

        var calls = Directory.GetFiles(logs.Path, "calls.log.*").SelectMany(File.ReadAllLines).Select(l => l[..l.IndexOf(" pid=", StringComparison.Ordinal)]).ToList();
        Assert.Equal(1 + 5 + 5 * 3, calls.Count);
        Assert.All(calls.GroupBy(c => c), g => Assert.Single(g));
        var journal = h.Journal("golang");
        Assert.Single(journal, e => e.Kind == WorkflowKinds.InstallImage && e.To == nameof(InstallState.Ready));
        Assert.Single(journal.Select(e => e.ProcessId).Distinct());
        Assert.NotEqual(Environment.ProcessId, journal[0].ProcessId);
    }

    [Fact]
    public async Task A_process_killed_with_SIGKILL_mid_step_is_taken_over_and_the_install_resumes()
    {
        var image = WorkflowHarness.Image("golang");
        var chains = ChainIds.Compute(image.Layers.Select(FakeSteps.DigestOf));
        using (var child = TestAgent.Start("install", "--store", h.Store.RootPath, "--image", "golang", "--hang-at", $"apply {chains[3]}"))
        {
            var line = await child.StandardOutput.ReadLineAsync();
            Assert.StartsWith("HUNG apply", line, StringComparison.Ordinal);
            child.Kill(entireProcessTree: true); // SIGKILL: no cleanup of any kind
            await child.WaitForExitAsync();
        }

        var chain4 = new LayerChainRepository(h.Store).Find(chains[3])!;
        Assert.Equal(ChainState.Applying, chain4.State);

        var steps = new FakeSteps();
        var result = await h.RunAsync(image, steps);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Equal(0, steps.Count("create 1") + steps.Count("create 2") + steps.Count("create 3"));
        Assert.Equal(1, steps.Count("discard 4"));
        Assert.Equal(1, steps.Count("create 4"));
        Assert.DoesNotContain(steps.Calls, c => c.StartsWith("fetch ", StringComparison.Ordinal));
        var journal = h.Journal("golang");
        Assert.Contains(journal, e => e.Kind == WorkflowKinds.InstallImage && e.Trigger == nameof(InstallTrigger.Interrupt) && e.Detail!.Contains("process gone", StringComparison.Ordinal));
        Assert.Contains(journal, e => e.Kind == WorkflowKinds.MakeChain && e.Key == chains[3] && e.Trigger == nameof(ChainTrigger.RollBack));
    }

    /// <summary>
    /// Six processes are SIGKILLed, each while its install is certainly in flight: it is told to hang at
    /// a random call among those no process has completed yet (so one it must still make), and is killed
    /// once it says it hangs there, while its other work (parallel fetches, chains) goes on. Every kill is
    /// checked to have landed mid-run: the process printed no result and the install is not Ready.
    /// </summary>
    [Fact]
    public async Task Processes_killed_at_random_moments_never_lose_completed_work_and_the_last_run_ends_Ready()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var image = WorkflowHarness.Image("golang");
        var chainIds = ChainIds.Compute(image.Layers.Select(FakeSteps.DigestOf));
        var every = new[] { "resolve golang" }.Concat(image.Layers.Select(l => $"fetch {l.ETag}"))
            .Concat(chainIds.SelectMany(c => new[] { $"create {c}", $"apply {c}", $"seal {c}" })).ToList();
        var rounds = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            var log = logs.Combine($"round{round}.log");
            var done = Calls(rounds).ToHashSet(StringComparer.Ordinal);
            var hangAt = every.Where(c => !done.Contains(c)).OrderBy(_ => random.Next()).First();
            rounds.Add(log);
            using var child = TestAgent.Start("install", "--store", h.Store.RootPath, "--image", "golang", "--calls", log, "--delay-ms", "25", "--hang-at", hangAt);
            var line = await child.StandardOutput.ReadLineAsync();
            child.Kill(entireProcessTree: true); // SIGKILL: no cleanup of any kind
            await child.WaitForExitAsync();
            Assert.True(line == $"HUNG {hangAt}", $"seed {seed}, round {round}: expected it to hang at '{hangAt}', it printed '{line}': {await child.StandardError.ReadToEndAsync()}");
            Assert.Equal("", await child.StandardOutput.ReadToEndAsync()); // no result: it was killed mid-run
            Assert.NotEqual(0, child.ExitCode);
            Assert.NotEqual(nameof(InstallState.Ready), h.Workflow("golang")?.State);
            Assert.DoesNotContain(hangAt, Calls([log]));
        }

        var last = logs.Combine("final.log");
        rounds.Add(last);
        var final = await TestAgent.RunAsync("install", "--store", h.Store.RootPath, "--image", "golang", "--calls", last);
        Assert.True(final.Exit == 0, $"seed {seed}: {final.Output}");

        // the log of every process, in the order they ran
        var calls = Calls(rounds);
        foreach (var chain in chainIds)
        {
            var sealedAt = calls.IndexOf($"seal {chain}");
            Assert.True(sealedAt >= 0, $"seed {seed}: chain {chain} never sealed");
            // once its seal ran, a chain is never made again (an interrupted seal resumes)
            Assert.DoesNotContain($"create {chain}", calls.Skip(sealedAt));
            // a chain is made again only after its half-made device was discarded
            Assert.True(calls.Count(c => c == $"create {chain}") <= calls.Count(c => c == $"discard {chain}") + 1, $"seed {seed}: {chain} remade without a rollback");
        }

        var workflow = h.Workflow("golang")!;
        Assert.Equal(nameof(InstallState.Ready), workflow.State);
        Assert.All(new LayerChainRepository(h.Store).OfImage(WorkflowHarness.Source, "golang"), c => Assert.Equal(ChainState.Sealed, c.State));
        Assert.Null(new LeaseManager(h.Store).Owner(new LeaseKey(WorkflowKinds.InstallImage, workflow.Key)));
    }

    /// <summary>The calls the processes of <paramref name="rounds"/> completed, in the order they ran.</summary>
    private List<string> Calls(IEnumerable<string> rounds)
        => rounds.SelectMany(r => Directory.GetFiles(logs.Path, Path.GetFileName(r) + ".*").SelectMany(File.ReadAllLines))
            .Select(l => l[..l.IndexOf(" pid=", StringComparison.Ordinal)]).ToList();

    public void Dispose()
    {
        h.Dispose();
        logs.Dispose();
    }
}
