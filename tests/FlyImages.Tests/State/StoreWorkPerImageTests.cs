using FlyImages.Model;
using FlyImages.State;
using FlyImages.Tests.Workflows;
using FlyImages.Workflows;
using Microsoft.Data.Sqlite;
using Xunit;

namespace FlyImages.Tests.State;

/// <summary>
/// The store's work for one image stays flat as the store grows (issue 15.8): counted in SQLite virtual machine
/// instructions (a progress handler called at every one), never timed. A query that scans every image costs about
/// four times as much at 40 images as at 10; an index lookup costs the same.
/// </summary>
public sealed class StoreWorkPerImageTests : IDisposable
{
    private readonly WorkflowHarness h = new();

    [Fact]
    public async Task Re_running_a_Ready_image_does_the_same_store_work_at_10_and_40_images()
    {
        await InstallAsync(0, 10);
        var at10 = await CountAsync(() => h.RunAsync(WorkflowHarness.Image("img-0"), new FakeSteps()));
        await InstallAsync(10, 40);
        var at40 = await CountAsync(() => h.RunAsync(WorkflowHarness.Image("img-0"), new FakeSteps()));

        Assert.True(at10.Result.State == InstallState.Ready && !at10.Result.DidWork);
        Assert.True(at40.Result.State == InstallState.Ready && !at40.Result.DidWork);
        AssertFlat(at10.Steps, at40.Steps, "a re-run of a Ready image");
    }

    [Fact]
    public async Task Finding_one_image_does_the_same_store_work_at_10_and_40_images()
    {
        await InstallAsync(0, 10);
        var repository = new ImageRepository(h.Store);
        var at10 = await CountAsync(() => Task.FromResult(repository.Find(WorkflowHarness.Source, "img-3")));
        await InstallAsync(10, 40);
        var at40 = await CountAsync(() => Task.FromResult(repository.Find(WorkflowHarness.Source, "img-3")));

        Assert.Equal("img-3", at10.Result?.Name);
        Assert.Equal(ImageState.Ready, at40.Result?.State);
        AssertFlat(at10.Steps, at40.Steps, "ImageRepository.Find");
    }

    private static void AssertFlat(long at10, long at40, string what)
        // a B-tree one level deeper may add a few instructions; a scan adds 30 images' worth (x4)
        => Assert.True(at40 <= at10 + (at10 / 4), $"{what} took {at10} SQLite instructions at 10 images and {at40} at 40: it grows with the store.");

    private async Task InstallAsync(int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            var result = await h.RunAsync(WorkflowHarness.Image($"img-{i}"), new FakeSteps());
            Assert.Equal(InstallState.Ready, result.State);
        }
    }

    private async Task<(T Result, long Steps)> CountAsync<T>(Func<Task<T>> work)
    {
        SqliteConnection.ClearAllPools(); // every connection the work uses is opened now, with the counter
        long steps = 0;
        h.Store.Connected = c => SQLitePCL.raw.sqlite3_progress_handler(c.Handle, 1, _ =>
        {
            Interlocked.Increment(ref steps);
            return 0;
        }, null);
        try
        {
            var result = await work();
            return (result, Interlocked.Read(ref steps));
        }
        finally
        {
            h.Store.Connected = null;
            SqliteConnection.ClearAllPools();
        }
    }

    public void Dispose() => h.Dispose();
}
