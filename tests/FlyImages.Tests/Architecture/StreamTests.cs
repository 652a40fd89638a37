using FlyImages.State;
using FlyImages.Streams;
using Xunit;

namespace FlyImages.Tests.Architecture;

/// <summary>
/// Every stream the core defines is a read-once wrapper built on <see cref="ReadOnlyStream"/>, the one owner of what
/// such a stream says about seeking, writing and its length; none repeats it on System.IO.Stream.
/// </summary>
public sealed class StreamTests
{
    [Fact]
    public void EveryCoreStreamIsAReadOnlyStream()
    {
        var streams = typeof(FlyStore).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Stream)) && t != typeof(ReadOnlyStream)).ToList();
        Assert.NotEmpty(streams);
        Assert.All(streams, t => Assert.True(t.IsSubclassOf(typeof(ReadOnlyStream)), $"{t.FullName} derives from {t.BaseType} instead of ReadOnlyStream"));
    }

    [Fact]
    public void AReadOnlyStreamRefusesWhatItCannotDo()
    {
        using var stream = new Bytes([1, 2, 3]);
        Assert.True(stream.CanRead);
        Assert.False(stream.CanSeek);
        Assert.False(stream.CanWrite);
        Assert.Throws<NotSupportedException>(() => stream.Length);
        Assert.Throws<NotSupportedException>(() => stream.Position);
        Assert.Throws<NotSupportedException>(() => stream.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(1));
        Assert.Throws<NotSupportedException>(() => stream.Write([1], 0, 1));
        stream.Flush();
        var target = new MemoryStream();
        stream.CopyTo(target);
        Assert.Equal([1, 2, 3], target.ToArray());
    }

    private sealed class Bytes(byte[] bytes) : ReadOnlyStream
    {
        private int next;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(count, bytes.Length - next);
            bytes.AsSpan(next, n).CopyTo(buffer.AsSpan(offset, n));
            next += n;
            return n;
        }
    }
}
