using FlyImages.Lifecycle;
using FlyImages.ThinPools;
using Xunit;

namespace FlyImages.Tests.Lifecycle;

public sealed class PoolUseWarningsTests
{
    [Theory]
    [InlineData(79.9, 10, null)]
    [InlineData(80.5, 10, "over 80%")]
    [InlineData(90.5, 10, "over 90%")]
    [InlineData(99, 10, "over 95%")]
    [InlineData(10, 96, "metadata is 96% used (over 95%")]
    public void Warns_past_80_90_and_95_percent_of_data_or_metadata(double data, double metadata, string? expected)
    {
        var status = new ThinPoolStatus
        {
            Name = "p",
            Backend = ThinPoolBackend.DeviceMapper,
            Mode = ThinPoolMode.ReadWrite,
            DataTotalBytes = 1000,
            DataUsedBytes = (long)(data * 10),
            MetadataTotalBytes = 1000,
            MetadataUsedBytes = (long)(metadata * 10),
        };
        var warning = PoolUseWarnings.For(status);
        if (expected is null)
        {
            Assert.Null(warning);
        }
        else
        {
            Assert.Contains(expected, warning, StringComparison.Ordinal);
            Assert.Contains("Limit-FlyImageStore", warning, StringComparison.Ordinal);
        }
    }
}
