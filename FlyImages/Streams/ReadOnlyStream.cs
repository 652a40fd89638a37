namespace FlyImages.Streams;

/// <summary>
/// A stream read once from start to end: no seeking, writing or length. The one place for what every such wrapper
/// (a range of a file, an HTTP body, a blob still arriving, the unpacker's detection wrappers) says about those;
/// each subclass overrides the reads it serves, <c>Position</c> when it keeps one, and its own disposal.
/// </summary>
public abstract class ReadOnlyStream : Stream
{
    public sealed override bool CanRead => true;

    public sealed override bool CanSeek => false;

    public sealed override bool CanWrite => false;

    public sealed override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public sealed override void Flush()
    {
    }

    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public sealed override void SetLength(long value) => throw new NotSupportedException();

    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
