using FlyImages.Engine;
using FlyImages.Lifecycle;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Lifecycle;

public sealed class JournalRetentionTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-journal");

    [Fact]
    public void Events_older_than_the_period_or_beyond_the_count_per_image_are_pruned_the_newest_stay()
    {
        var store = FlyStore.Open(dir.Path);
        var old = StoreTime.Format(DateTimeOffset.UtcNow - TimeSpan.FromDays(40));
        var recent = StoreTime.Now();
        store.Write((c, t) =>
        {
            for (var i = 0; i < 30; i++)
            {
                foreach (var (image, at) in new[] { ("golang", i < 10 ? old : recent), ("node", recent) })
                {
                    c.Exec(t, """
                        INSERT INTO workflow_journal(at, kind, key, subject, source, run_id, from_state, to_state, trigger, detail, error, duration_ms, host, pid)
                        VALUES ($at, 'install-image', $key, $img, 's3://b/i', 'r', 'Pending', 'Resolving', 'Start', $d, NULL, 0, 'h', 1);
                        """, ("$at", at), ("$key", "s3://b/i/" + image), ("$img", image), ("$d", $"event {i}"));
                }
            }
        });

        var pruned = JournalRetention.Prune(store, new CollectionPolicy { JournalRetention = TimeSpan.FromDays(30), JournalEventsPerImage = 12 });

        // golang: 10 too old, then 8 beyond the newest 12; node: 18 beyond the newest 12
        Assert.Equal(10 + 8 + 18, pruned);
        var golang = WorkflowEvents.Query(store, s => s == "golang");
        Assert.Equal(12, golang.Count);
        Assert.Equal("event 29", golang[^1].Detail);
        Assert.Equal("event 18", golang[0].Detail);
        Assert.Equal(12, WorkflowEvents.Query(store, s => s == "node").Count);
        Assert.Equal(0, JournalRetention.Prune(store, new CollectionPolicy { JournalEventsPerImage = 12 }));
    }

    public void Dispose() => dir.Dispose();
}
