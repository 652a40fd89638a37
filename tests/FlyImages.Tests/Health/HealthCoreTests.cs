using FlyImages.Health;
using FlyImages.Metrics;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Health;

public sealed class HealthCoreTests : IDisposable
{
    private readonly TempDirectory folder = new("flyimages-health");

    [Fact]
    public void Label_values_and_help_are_escaped_and_histograms_are_cumulative()
    {
        var text = new PrometheusText()
            .Family("flyimages_x", "gauge", "a\\b\nc")
            .Sample("flyimages_x", 1.5, ("pool", "a\"b\\c\nd"))
            .Family("flyimages_h_seconds", "histogram", "h")
            .Histogram("flyimages_h_seconds", [1, 10], [0.5, 2, 20])
            .ToString();
        Assert.Contains("# HELP flyimages_x a\\\\b\\nc\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_x{pool=\"a\\\"b\\\\c\\nd\"} 1.5\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_h_seconds_bucket{le=\"1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_h_seconds_bucket{le=\"10\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_h_seconds_bucket{le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_h_seconds_sum 22.5\n", text, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PrometheusText().Family("flyimages_x", "gauge", "a").Family("flyimages_x", "gauge", "again"));
        Assert.Throws<ArgumentException>(() => new PrometheusText().Family("bad name", "gauge", "a"));
    }

    [Fact]
    public async Task A_lease_held_by_a_dead_owner_fails_the_Leases_check_naming_it()
    {
        var store = FlyStore.Open(folder.Combine("store"));
        var context = new StoreCheckContext(store.RootPath, store, new StoreCheckOptions(), NullOperationContext.Instance);
        Assert.Equal(StoreCheckStatus.Passed, (await StoreHealth.RunAsync(new LeasesCheck(), context, 1)).Status);

        var self = ProcessIdentity.Current;
        store.Write((c, t) => c.Exec(t, """
            INSERT INTO leases(kind, key, token, host, boot_id, pid, start_ticks, acquired_at, renewed_at, expires_at)
            VALUES ('install-image', 's3://b/images/golang', 'tok', $host, $boot, $pid, 1, $now, $now, $now);
            """, ("$host", self.Host), ("$boot", "a-previous-boot"), ("$pid", 4242), ("$now", StoreTime.Now())));
        var result = await StoreHealth.RunAsync(new LeasesCheck(), context, 3);
        Assert.Equal(StoreCheckStatus.Failed, result.Status);
        Assert.False(result.Passed);
        Assert.Equal(3, result.Iteration);
        Assert.Equal("Leases", result.Check);
        Assert.Contains("install-image 's3://b/images/golang' held by pid 4242", result.Message, StringComparison.Ordinal);
        Assert.Equal(self.Host, result.ComputerName);
    }

    [Fact]
    public async Task A_throwing_check_fails_with_its_message_and_the_last_pass_is_recorded_for_the_metrics()
    {
        var store = FlyStore.Open(folder.Combine("store2"));
        var context = new StoreCheckContext(store.RootPath, store, new StoreCheckOptions(), NullOperationContext.Instance);
        var result = await StoreHealth.RunAsync(new Throwing(), context, 1);
        Assert.Equal(StoreCheckStatus.Failed, result.Status);
        Assert.Contains("boom", result.Message, StringComparison.Ordinal);

        Assert.Null(StoreHealth.LastPass(store));
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        StoreHealth.RecordPass(store, at);
        Assert.Equal(at, StoreHealth.LastPass(store));
        var (text, _) = await StoreMetrics.CollectAsync(store, NullOperationContext.Instance);
        Assert.Contains($"flyimages_last_passed_check_timestamp_seconds {at.ToUnixTimeSeconds()}\n", text, StringComparison.Ordinal);
    }

    private sealed class Throwing : IStoreCheck
    {
        public string Name => "Throwing";

        public Task<CheckOutcome> RunAsync(StoreCheckContext context) => throw new InvalidOperationException("boom");
    }

    public void Dispose() => folder.Dispose();
}
