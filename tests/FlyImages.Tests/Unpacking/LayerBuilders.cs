using System.IO.Compression;
using System.Text;

namespace FlyImages.Tests.Unpacking;

/// <summary>Compression and bulk helpers for building test layers.</summary>
internal static class LayerBuilders
{
    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    public static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    public static byte[] Bzip2(byte[] data)
    {
        var output = new MemoryStream();
        using (var bzip = new ICSharpCode.SharpZipLib.BZip2.BZip2OutputStream(output) { IsStreamOwner = false })
        {
            bzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>A tar holding one file of <paramref name="size"/> zero bytes, streamed into a compressor (a bomb).</summary>
    public static byte[] ZeroFileLayer(long size, Func<Stream, Stream> compress)
    {
        var output = new MemoryStream();
        using (var c = compress(output))
        {
            var header = new RawTar().Entry("zeros", '0', size: size, writeData: false).ToArray();
            c.Write(header);
            var zeros = new byte[1 << 20];
            for (long left = size; left > 0; left -= zeros.Length)
            {
                c.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
            }

            c.Write(new byte[((512 - (size % 512)) % 512) + 1024]);
        }

        return output.ToArray();
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
