using FlyImages.Model;
using FlyImages.Sources;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace FlyImages.Tests.Sources;

public sealed class ImageLayoutTests
{
    private static List<Image> Build(out List<string> warnings, params (string Key, long Size)[] keys)
    {
        var w = new List<string>();
        var images = ImageLayout.BuildImages("s3://b/images", keys.Select(k => new SourceObject(k.Key, k.Size, "etag", null)), w.Add);
        warnings = w;
        return images;
    }

    [Fact]
    public void Layers_are_ordered_by_number_not_by_text()
    {
        var keys = Enumerable.Range(1, 12).Reverse().Select(i => ($"img/{i}.tar", (long)i)).ToArray();
        var image = Assert.Single(Build(out var warnings, keys));
        Assert.Empty(warnings);
        Assert.True(image.IsValid);
        Assert.Equal(Enumerable.Range(1, 12), image.Layers.Select(l => l.Index));
        Assert.Equal("img/10.tar", image.Layers[9].Key);
        Assert.Equal(78, image.Size);
    }

    [Theory]
    [InlineData("1.tar", LayerCompression.None)]
    [InlineData("1.tar.gz", LayerCompression.Gzip)]
    [InlineData("1.tgz", LayerCompression.Gzip)]
    [InlineData("1.tar.zst", LayerCompression.Zstd)]
    public void Compressed_layer_names_are_accepted(string name, LayerCompression compression)
    {
        var image = Assert.Single(Build(out _, ($"x/{name}", 10)));
        Assert.True(image.IsValid);
        Assert.Equal(compression, image.Layers[0].Compression);
    }

    [Theory]
    [InlineData("gap", "gaps: missing 2", "gap/1.tar", "gap/3.tar")]
    [InlineData("dup", "given twice", "dup/1.tar", "dup/1.tar.gz")]
    [InlineData("junk", "is not a layer name", "junk/1.tar", "junk/readme.txt")]
    [InlineData("zero", "is not a layer name", "zero/0.tar")]
    [InlineData("lead", "is not a layer name", "lead/01.tar")]
    [InlineData("nested", "not a layer directly", "nested/1.tar", "nested/sub/2.tar")]
    [InlineData("dots", "not a layer directly", "dots/../1.tar")]
    [InlineData("ctl", "control characters", "ctl/1.tar", "ctl/2\n.tar")]
    [InlineData("upper", "is not a layer name", "upper/1.TAR")]
    [InlineData("neg", "is not a layer name", "neg/-1.tar")]
    public void Keys_that_do_not_fit_mark_the_image_invalid_with_a_warning(string image, string why, params string[] keys)
    {
        var result = Assert.Single(Build(out var warnings, keys.Select(k => (k, 5L)).ToArray()));
        Assert.Equal(ImageState.Invalid, result.State);
        Assert.Contains(result.Problems, p => p.Contains(why, StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains($"'{image}'", StringComparison.Ordinal) && w.Contains(why, StringComparison.Ordinal));
    }

    [Fact]
    public void Absurd_layer_counts_and_empty_layers_are_invalid()
    {
        var many = Build(out _, Enumerable.Range(1, ImageLayout.MaxLayers + 1).Select(i => ($"m/{i}.tar", 1L)).ToArray()).Single();
        Assert.Contains(many.Problems, p => p.Contains($"{ImageLayout.MaxLayers + 1} layers", StringComparison.Ordinal));
        var empty = Build(out _, ("e/1.tar", 0)).Single();
        Assert.Contains(empty.Problems, p => p.Contains("empty", StringComparison.Ordinal));
    }

    [Fact]
    public void Invalid_image_names_are_shown_safely_and_marked()
    {
        var image = Build(out var warnings, ("bad\u0001name/1.tar", 1)).Single();
        Assert.Equal("bad?name", image.Name);
        Assert.Equal(ImageState.Invalid, image.State);
        Assert.DoesNotContain(warnings, w => w.Any(char.IsControl));
    }

    [Fact]
    public void Top_level_keys_are_reported_and_folder_markers_ignored()
    {
        var images = Build(out var warnings, ("README.md", 3), ("golang/", 0), ("golang/1.tar", 9));
        Assert.True(Assert.Single(images).IsValid);
        Assert.Single(warnings);
        Assert.Contains("README.md", warnings[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Property_any_keys_never_throw_and_every_key_is_accounted_for()
    {
        var keyChars = Gen.Elements("a", "b", "/", ".", "1", "2", "tar", ".tar", ".gz", "..", "\n", "\0", "-", "9");
        var keyGen = Gen.ListOf(keyChars).Select(parts => string.Concat(parts));
        Prop.ForAll(Gen.ListOf(keyGen).ToArbitrary(), (List<string> keys) =>
        {
            var warnings = new List<string>();
            var images = ImageLayout.BuildImages("s3://b/p", keys.Select(k => new SourceObject(k, 1, null, null)), warnings.Add);
            var layerKeys = images.SelectMany(i => i.Layers).Count();
            // every key is either a layer of some image, a reported problem, or a folder marker
            var markers = keys.Count(k => k.EndsWith('/'));
            return layerKeys + warnings.Count + markers + images.Sum(i => i.Problems.Count) >= keys.Count - keys.Count(string.IsNullOrEmpty)
                && images.All(i => i.IsValid == (i.State != ImageState.Invalid))
                && images.Where(i => i.IsValid).All(i => i.Layers.Select(l => l.Index).SequenceEqual(Enumerable.Range(1, i.Layers.Count)));
        }).QuickCheckThrowOnFailure();
    }
}
