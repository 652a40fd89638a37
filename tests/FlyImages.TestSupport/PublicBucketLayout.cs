using System.Formats.Tar;
using System.Text;

namespace FlyImages.TestSupport;

/// <summary>
/// The public bucket's layout in miniature: images/{golang,node,python}/{1..5}.tar where layers 1-3 are
/// byte-identical across the images, plus junk keys and an image with more than 1,000 keys.
/// </summary>
public static class PublicBucketLayout
{
    public const string Bucket = "flyio-platform-hiring-challenge";
    public const string Prefix = "images";
    public const string SourceUri = "s3://" + Bucket + "/" + Prefix;
    public static readonly string[] ImageNames = ["golang", "node", "python"];

    /// <summary>Images that are invalid in the seeded bucket, and why.</summary>
    public static readonly IReadOnlyDictionary<string, string> InvalidImages = new Dictionary<string, string>
    {
        ["gappy"] = "gaps",
        ["many"] = "layers; at most",
        ["junky"] = "is not a layer name",
    };

    public const int ManyKeys = 1001;

    /// <summary>The generated layers of an image (deterministic).</summary>
    public static byte[] Layer(string image, int index) => index <= 3
        ? MakeTar(("etc/layer-" + index, $"shared layer {index}\n"), ($"usr/share/base/{index}.txt", new string('b', 1000 * index)))
        : MakeTar(($"opt/{image}/layer-{index}", $"{image} layer {index}\n"), ($"usr/local/{image}/{index}.txt", new string((char)('a' + index), 500 * index)));

    /// <summary>Puts everything into <paramref name="s3"/>.</summary>
    public static async Task SeedAsync(S3rverFixture s3, bool includeMany = true)
    {
        var puts = new List<Task>();
        foreach (var image in ImageNames)
        {
            for (var i = 1; i <= 5; i++)
            {
                puts.Add(s3.PutAsync(Bucket, $"{Prefix}/{image}/{i}.tar", Layer(image, i)));
            }
        }

        puts.Add(s3.PutAsync(Bucket, $"{Prefix}/README.md", Encoding.UTF8.GetBytes("not an image\n")));
        puts.Add(s3.PutAsync(Bucket, $"{Prefix}/gappy/1.tar", Layer("gappy", 1)));
        puts.Add(s3.PutAsync(Bucket, $"{Prefix}/gappy/3.tar", Layer("gappy", 3)));
        puts.Add(s3.PutAsync(Bucket, $"{Prefix}/junky/1.tar", Layer("junky", 1)));
        puts.Add(s3.PutAsync(Bucket, $"{Prefix}/junky/notes.txt", Encoding.UTF8.GetBytes("junk")));
        await Task.WhenAll(puts).ConfigureAwait(false);
        if (includeMany)
        {
            using var gate = new SemaphoreSlim(16);
            await Task.WhenAll(Enumerable.Range(1, ManyKeys).Select(async i =>
            {
                await gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    await s3.PutAsync(Bucket, $"{Prefix}/many/{i}.tar", [1, 2, 3]).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            })).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the same valid images as a folder source.</summary>
    public static void WriteFolder(string root)
    {
        foreach (var image in ImageNames)
        {
            Directory.CreateDirectory(Path.Combine(root, image));
            for (var i = 1; i <= 5; i++)
            {
                File.WriteAllBytes(Path.Combine(root, image, $"{i}.tar"), Layer(image, i));
            }
        }
    }

    /// <summary>A ustar archive of small text files (root-owned, fixed times, byte-for-byte deterministic).</summary>
    public static byte[] MakeTar(params (string Name, string Content)[] files)
    {
        using var memory = new MemoryStream();
        using (var writer = new TarWriter(memory, TarEntryFormat.Ustar, leaveOpen: true))
        {
            var dirs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, content) in files)
            {
                var parts = name.Split('/');
                for (var i = 1; i < parts.Length; i++)
                {
                    var dir = string.Join('/', parts.Take(i)) + "/";
                    if (dirs.Add(dir))
                    {
                        writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0x1ED, ModificationTime = Epoch });
                    }
                }

                var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = (UnixFileMode)0x1A4,
                    ModificationTime = Epoch,
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                };
                writer.WriteEntry(entry);
            }
        }

        return memory.ToArray();
    }

    private static readonly DateTimeOffset Epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
}
