using System.Diagnostics;
using System.Globalization;
using System.Text;
using FlyImages.Errors;
using FlyImages.Unpacking;
using Xunit;
using Xunit.Abstractions;

namespace FlyImages.Tests.Unpacking;

/// <summary>
/// Seeded mutations of valid layers (byte flips, header field rewrites, truncation, block
/// duplication and splicing, inside and outside compression) applied onto a destination beside
/// canaries: every outcome must be success or a FlyException — never another exception, a hang or
/// an escape. Bounded in CI by time; for long runs:
/// <code>FLYIMAGES_FUZZ_SECONDS=3600 dotnet test tests/FlyImages.Tests -c Release --filter "FullyQualifiedName~Unpacking.FuzzTests"</code>
/// and to replay one case: FLYIMAGES_FUZZ_SEED=&lt;seed printed on failure&gt; (runs that seed only).
/// </summary>
[Collection(UnpackingCollection.Name)]
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly UnpackLimits FuzzLimits = new()
    {
        MaxWallTime = TimeSpan.FromSeconds(20),
        MaxTotalBytes = 64L << 20,
        MaxEntries = 10_000,
        CompressionRatioGraceBytes = 1 << 20,
    };

    [Fact]
    public void MutatedLayersAreRejectedOrContained()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("FLYIMAGES_FUZZ_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 30;
        var fixedSeed = int.TryParse(Environment.GetEnvironmentVariable("FLYIMAGES_FUZZ_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var f) ? f : (int?)null;
        var seeds = Seeds();
        var clock = Stopwatch.StartNew();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var iterations = 0;
        var sandbox = new UnpackSandbox();
        try
        {
            for (var seed = fixedSeed ?? 1; fixedSeed is null ? clock.Elapsed.TotalSeconds < seconds : seed == fixedSeed; seed++)
            {
                var random = new Random(seed);
                var layer = Mutate(seeds[random.Next(seeds.Length)], random, seeds);
                string outcome;
                try
                {
                    sandbox.Apply(layer, FuzzLimits);
                    outcome = "applied";
                }
                catch (FlyException e)
                {
                    outcome = e.ErrorId;
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}: unexpected {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                }

                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                try
                {
                    sandbox.AssertCanariesUnchanged();
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}: canary changed: {e.Message}");
                }

                iterations++;
                if (iterations % 200 == 0)
                {
                    sandbox.Dispose();
                    sandbox = new UnpackSandbox();
                }
                else
                {
                    Wipe(sandbox.Destination);
                }
            }
        }
        finally
        {
            sandbox.Dispose();
        }

        output.WriteLine($"{iterations} mutated layers in {clock.Elapsed.TotalSeconds:0}s: " + string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}={o.Value}")));
        Assert.True(iterations > 0);
    }

    /// <summary>Empties a destination whatever names it holds (raw bytes, odd modes), by descriptor, never following links.</summary>
    private static void Wipe(string destination)
    {
        using var tree = new RootedTree(destination, _ => { });
        foreach (var (name, _) in RootedTree.ListFd(tree.RootFd, "wipe"))
        {
            tree.Remove(tree.RootFd, name, name, "wipe");
        }
    }

    private static byte[][] Seeds()
    {
        var longDir = string.Join("/", Enumerable.Repeat("long-directory-name", 8));
        var rich = new RawTar()
            .Dir("etc/").File("etc/passwd", "root:x:0:0\n").Dir("usr/bin/").Entry("usr/bin/su", '0', "su"u8.ToArray(), 0x9ED)
            .Symlink("bin", "usr/bin").HardLink("usr/bin/su2", "usr/bin/su").Fifo("run/fifo").CharDevice("dev/null")
            .Pax(("path", Encoding.UTF8.GetBytes(longDir + "/pax")), ("SCHILY.xattr.user.k", Encoding.UTF8.GetBytes("v")), ("mtime", Encoding.UTF8.GetBytes("1.5"))).File("x", "pax data")
            .GnuLong('L', longDir + "/gnu").File("y", "gnu data")
            .File("etc/.wh.passwd", "").File("usr/.wh..wh..opq", "").Symlink("abs", "/etc/shadow")
            .End().ToArray();
        var plain = new RawTar().Dir("a/").File("a/b", new string('z', 3000)).File("a/c", "c").End().ToArray();
        return [rich, plain, LayerBuilders.Gzip(rich), LayerBuilders.Zstd(plain), LayerBuilders.Bzip2(plain)];
    }

    private static byte[] Mutate(byte[] original, Random random, byte[][] seeds)
    {
        var data = (byte[])original.Clone();
        var rounds = 1 + random.Next(4);
        for (var round = 0; round < rounds; round++)
        {
            switch (random.Next(9))
            {
                case 0: // flip a few random bytes
                    for (var i = data.Length == 0 ? 0 : random.Next(1, 8); i > 0; i--)
                    {
                        data[random.Next(data.Length)] ^= (byte)(1 << random.Next(8));
                    }

                    break;
                case 1: // rewrite a header field with digits, letters or 0x80/0xff markers, and fix the checksum
                {
                    var header = random.Next(Math.Max(1, data.Length / 512)) * 512;
                    if (header + 512 > data.Length)
                    {
                        break;
                    }

                    var fields = new (int Offset, int Length)[] { (0, 100), (100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (156, 1), (157, 100), (345, 155) };
                    var (offset, length) = fields[random.Next(fields.Length)];
                    for (var i = 0; i < length; i++)
                    {
                        data[header + offset + i] = random.Next(4) switch
                        {
                            0 => (byte)('0' + random.Next(8)),
                            1 => (byte)"./.wh.x..\0/"[random.Next(11)],
                            2 => (byte)random.Next(256),
                            _ => i == 0 ? (byte)0x80 : (byte)0,
                        };
                    }

                    FixChecksum(data, header);
                    break;
                }

                case 2: // truncate
                    data = data[..random.Next(data.Length + 1)];
                    break;
                case 3: // duplicate a range of blocks
                {
                    if (data.Length < 1024)
                    {
                        break;
                    }

                    var start = random.Next(data.Length / 512) * 512;
                    var length = Math.Min(data.Length - start, 512 * random.Next(1, 4));
                    data = [.. data[..(start + length)], .. data[start..(start + length)], .. data[(start + length)..]];
                    break;
                }

                case 4: // splice with another seed
                {
                    var other = seeds[random.Next(seeds.Length)];
                    var cut = random.Next(data.Length + 1) / 512 * 512;
                    var from = random.Next(other.Length + 1) / 512 * 512;
                    data = [.. data[..cut], .. other[from..]];
                    break;
                }

                case 5: // type flag change
                {
                    var header = random.Next(Math.Max(1, data.Length / 512)) * 512;
                    if (header + 512 <= data.Length)
                    {
                        data[header + 156] = (byte)"0123456xLKgSDMV7"[random.Next(16)];
                        FixChecksum(data, header);
                    }

                    break;
                }

                case 6: // random garbage block inserted
                {
                    var block = new byte[512];
                    random.NextBytes(block);
                    var at = random.Next(data.Length / 512 + 1) * 512;
                    data = [.. data[..Math.Min(at, data.Length)], .. block, .. data[Math.Min(at, data.Length)..]];
                    break;
                }

                case 7: // name pointed at the canaries
                {
                    var header = random.Next(Math.Max(1, data.Length / 512)) * 512;
                    if (header + 512 <= data.Length)
                    {
                        var names = new[] { "../canary/secret", "/tmp/x", "bin/../../canary", "abs/evil", "bin/evil", "./", ".wh...", "usr/bin/su2" };
                        var name = Encoding.ASCII.GetBytes(names[random.Next(names.Length)]);
                        var field = random.Next(2) == 0 ? 0 : 157;
                        Array.Clear(data, header + field, 100);
                        name.CopyTo(data, header + field);
                        FixChecksum(data, header);
                    }

                    break;
                }

                default: // zero a random range
                {
                    var start = random.Next(data.Length + 1);
                    var length = Math.Min(data.Length - start, random.Next(1, 1024));
                    Array.Clear(data, start, length);
                    break;
                }
            }
        }

        return data;
    }

    private static void FixChecksum(byte[] data, int header)
    {
        var block = data.AsSpan(header, 512).ToArray();
        RawTar.Checksum(block);
        block.CopyTo(data, header);
    }
}
