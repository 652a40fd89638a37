using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using FlyImages.Sources;

namespace FlyImages.Content;

/// <summary>
/// Computes the checksum a source announced (<see cref="ObjectChecksum"/>) over a blob's bytes given in order, beside
/// its SHA-256: the CRCs inline (System.IO.Hashing, several GB/s), MD5 and SHA-1 on a <see cref="DigestThread"/> of
/// their own, and SHA-256 is the blob's digest itself. Values come out as the source writes them (big-endian CRCs).
/// </summary>
internal sealed class ChecksumHasher : IDisposable
{
    private readonly ChecksumAlgorithm? algorithm;
    private readonly NonCryptographicHashAlgorithm? crc;
    private readonly DigestThread? thread;

    public ChecksumHasher(ChecksumAlgorithm? algorithm, int buffers, int bufferSize)
    {
        this.algorithm = algorithm;
        switch (algorithm)
        {
            case ChecksumAlgorithm.Md5:
                thread = new DigestThread(HashAlgorithmName.MD5, buffers, bufferSize);
                break;
            case ChecksumAlgorithm.Sha1:
                thread = new DigestThread(HashAlgorithmName.SHA1, buffers, bufferSize);
                break;
            case ChecksumAlgorithm.Crc64Nvme:
                crc = new Crc64(Crc64ParameterSet.Nvme);
                break;
            case ChecksumAlgorithm.Crc32C:
                crc = new Crc32(Crc32ParameterSet.Crc32C);
                break;
            case ChecksumAlgorithm.Crc32:
                crc = new Crc32();
                break;
        }
    }

    /// <summary>True when the bytes go to a thread of its own: fill buffers from <see cref="Rent"/>, which it hands back when done.</summary>
    public bool OwnsBuffers => thread is not null;

    public byte[] Rent(CancellationToken token) => thread!.Rent(token);

    /// <summary>Adds the next <paramref name="length"/> bytes (after the SHA-256 has them: a posted buffer is not the caller's any more).</summary>
    public void Append(byte[] buffer, int length, CancellationToken token)
    {
        if (thread is not null)
        {
            thread.Post(buffer, length, token);
        }
        else
        {
            crc?.Append(buffer.AsSpan(0, length));
        }
    }

    /// <summary>The checksum of every byte added, or null when none was asked for.</summary>
    public byte[]? Finish(byte[] sha256)
    {
        switch (algorithm)
        {
            case null:
                return null;
            case ChecksumAlgorithm.Sha256:
                return sha256;
            case ChecksumAlgorithm.Md5 or ChecksumAlgorithm.Sha1:
                return thread!.Finish();
            case ChecksumAlgorithm.Crc64Nvme:
                var value = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(value, ((Crc64)crc!).GetCurrentHashAsUInt64());
                return value;
            default:
                var value32 = new byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(value32, ((Crc32)crc!).GetCurrentHashAsUInt32());
                return value32;
        }
    }

    public void Dispose() => thread?.Dispose();
}
