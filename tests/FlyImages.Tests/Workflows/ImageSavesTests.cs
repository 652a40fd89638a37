using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

/// <summary>What Save-FlyImage records is a declared trigger of the install machine, never a second copy of the state.</summary>
public sealed class ImageSavesTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    private static FlyException Boom => new(ErrorIds.BlobDownloadFailed, FlyErrorCategory.ConnectionError, "golang/4.tar kept failing");

    [Fact]
    public async Task A_failed_save_fails_the_install_and_the_next_install_retries_it()
    {
        var golang = WorkflowHarness.Image("golang");
        Assert.Equal(ImageState.Failed, await new ImageSaves(h.Store).RecordAsync(golang, Boom));
        Assert.Equal(nameof(InstallState.Failed), h.Workflow("golang")!.State);
        var image = new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!;
        Assert.Equal((ImageState.Failed, "golang/4.tar kept failing"), (image.State, image.StateDetail));
        Assert.Equal(["Pending>Failed:SaveFailed"], h.Journal("golang").Select(e => $"{e.From}>{e.To}:{e.Trigger}"));

        var result = await h.RunAsync(golang, new FakeSteps());
        Assert.Equal((InstallState.Ready, ImageState.Ready), (result.State, result.Image.State));
        Assert.Contains(h.Journal("golang"), e => e.Trigger == nameof(InstallTrigger.Retry) && e.From == nameof(InstallState.Failed));
    }

    [Fact]
    public async Task A_save_of_a_failed_image_moves_it_back_to_Pending_and_records_its_layers()
    {
        var golang = WorkflowHarness.Image("golang");
        await new ImageSaves(h.Store).RecordAsync(golang, Boom);
        var unsaved = WorkflowHarness.Image("golang");
        var saved = unsaved with { Layers = unsaved.Layers.Select((l, i) => i == 0 ? l with { Digest = FakeSteps.DigestOf(l) } : l).ToArray() };
        await new ImageSaves(h.Store).RecordAsync(saved, null);
        Assert.Equal(nameof(InstallState.Pending), h.Workflow("golang")!.State);
        Assert.Equal("Failed>Pending:Saved", h.Journal("golang").Select(e => $"{e.From}>{e.To}:{e.Trigger}").Last());
        var image = new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!;
        Assert.Equal(saved.Layers[0].Digest, image.Layers[0].Digest);
        Assert.Equal(ImageState.Remote, image.State); // Pending: the blobs say, and none of the harness's is in the content store
    }

    [Fact]
    public async Task A_rejected_image_stays_Rejected_after_a_save_whatever_its_outcome()
    {
        var hostile = new FakeSteps
        {
            Before = (call, _) => call == "apply 4" ? throw new FlyException("LayerHostile", FlyErrorCategory.SecurityError, "entry escapes the root") : Task.CompletedTask,
        };
        var golang = WorkflowHarness.Image("golang");
        await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(golang, hostile));
        var journal = h.Journal("golang").Count;

        foreach (var error in new[] { null, Boom })
        {
            Assert.Equal(ImageState.Rejected, await new ImageSaves(h.Store).RecordAsync(WorkflowHarness.Image("golang"), error));
            var image = new ImageRepository(h.Store).Find(WorkflowHarness.Source, "golang")!;
            Assert.Equal(ImageState.Rejected, image.State);
            Assert.Contains("escapes the root", image.StateDetail, StringComparison.Ordinal);
        }

        Assert.Equal(journal, h.Journal("golang").Count); // nothing moved
        var again = await Assert.ThrowsAsync<FlyException>(() => h.RunAsync(golang, new FakeSteps()));
        Assert.Equal(ErrorIds.ImageRejected, again.ErrorId);
    }

    [Fact]
    public async Task A_save_leaves_a_Ready_install_and_one_in_another_process_hands_alone()
    {
        var golang = WorkflowHarness.Image("golang");
        await h.RunAsync(golang, new FakeSteps());
        Assert.Equal(ImageState.Ready, await new ImageSaves(h.Store).RecordAsync(WorkflowHarness.Image("golang"), Boom));
        Assert.Equal(nameof(InstallState.Ready), h.Workflow("golang")!.State);

        var node = WorkflowHarness.Image("node");
        await using (new LeaseManager(h.Store).TryAcquire(new LeaseKey(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(node.Source, node.Name)), LeaseManager.DefaultTtl))
        {
            await new ImageSaves(h.Store).RecordAsync(node, Boom);
        }

        Assert.Null(h.Workflow("node"));
    }

    public void Dispose() => h.Dispose();
}
