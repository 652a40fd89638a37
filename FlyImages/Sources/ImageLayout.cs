using System.Globalization;
using System.Text.RegularExpressions;
using FlyImages.Model;

namespace FlyImages.Sources;

/// <summary>
/// The rules that turn a source's keys into images: <c>&lt;image&gt;/&lt;n&gt;.tar</c> (also .tar.gz, .tgz,
/// .tar.zst), n = 1..N without gaps. Keys that do not fit mark their image invalid and are reported;
/// they never crash a listing and are never silently dropped.
/// </summary>
public static partial class ImageLayout
{
    /// <summary>More layers than this is absurd (overlay and OCI tooling stop at 127-128).</summary>
    public const int MaxLayers = 128;

    /// <summary>Keys longer than this are refused (S3's own limit is 1024 bytes).</summary>
    public const int MaxKeyLength = 1024;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex ImageNamePattern();

    [GeneratedRegex(@"^(?<n>[1-9][0-9]{0,5})\.(?<ext>tar|tar\.gz|tgz|tar\.zst)$", RegexOptions.CultureInvariant)]
    private static partial Regex LayerNamePattern();

    /// <summary>An image name is safe as a folder and a record key.</summary>
    public static bool IsValidImageName(string name) => ImageNamePattern().IsMatch(name) && name is not "." and not "..";

    /// <summary>Groups <paramref name="objects"/> into images. <paramref name="warn"/> receives one line per problem.</summary>
    public static List<Image> BuildImages(string sourceUri, IEnumerable<SourceObject> objects, Action<string> warn)
    {
        var byImage = new SortedDictionary<string, List<SourceObject>>(StringComparer.Ordinal);
        foreach (var o in objects)
        {
            // Folder markers made by consoles ("golang/") carry no data.
            if (o.Key.EndsWith('/') && o.Size == 0 && o.Problem is null)
            {
                continue;
            }

            var slash = o.Key.IndexOf('/');
            if (slash <= 0)
            {
                warn($"The key '{Show(o.Key)}' in {sourceUri} is not inside an image folder (<image>/<n>.tar); ignored.");
                continue;
            }

            var name = o.Key[..slash];
            if (!byImage.TryGetValue(name, out var list))
            {
                byImage[name] = list = [];
            }

            list.Add(o);
        }

        var images = new List<Image>(byImage.Count);
        foreach (var (name, keys) in byImage)
        {
            images.Add(BuildImage(sourceUri, name, keys, warn));
        }

        return images;
    }

    private static Image BuildImage(string sourceUri, string name, List<SourceObject> keys, Action<string> warn)
    {
        var problems = new List<string>();
        var shown = Show(name);
        if (!IsValidImageName(name))
        {
            problems.Add($"the image name '{shown}' is not valid (letters, digits, '.', '_', '-'; at most 128; no control characters)");
        }

        var layers = new SortedDictionary<int, (SourceObject Obj, LayerCompression Compression)>();
        foreach (var o in keys)
        {
            var rest = o.Key[(name.Length + 1)..];
            if (o.Problem is not null)
            {
                problems.Add($"the key '{Show(o.Key)}' {o.Problem}");
                continue;
            }

            if (o.Key.Length > MaxKeyLength || o.Key.Any(char.IsControl))
            {
                problems.Add($"the key '{Show(o.Key)}' has control characters or is too long");
                continue;
            }

            if (rest.Contains('/', StringComparison.Ordinal) || rest is "." or "..")
            {
                problems.Add($"the key '{Show(o.Key)}' is not a layer directly in the image folder");
                continue;
            }

            var match = LayerNamePattern().Match(rest);
            if (!match.Success)
            {
                problems.Add($"the key '{Show(o.Key)}' is not a layer name (<n>.tar, <n>.tar.gz, <n>.tgz, <n>.tar.zst)");
                continue;
            }

            var n = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            var compression = match.Groups["ext"].Value switch
            {
                "tar" => LayerCompression.None,
                "tar.zst" => LayerCompression.Zstd,
                _ => LayerCompression.Gzip,
            };
            if (layers.ContainsKey(n))
            {
                problems.Add($"layer {n} is given twice ('{Show(layers[n].Obj.Key)}' and '{Show(o.Key)}')");
                continue;
            }

            if (o.Size <= 0)
            {
                problems.Add($"layer {n} ('{Show(o.Key)}') is empty");
            }

            layers[n] = (o, compression);
        }

        if (layers.Count > MaxLayers)
        {
            problems.Add($"it has {layers.Count} layers; at most {MaxLayers} are accepted");
        }
        else if (layers.Count == 0 && problems.Count == 0)
        {
            problems.Add("it has no layers");
        }
        else
        {
            var missing = Enumerable.Range(1, layers.Count == 0 ? 0 : layers.Keys.Max()).Where(i => !layers.ContainsKey(i)).Take(10).ToList();
            if (missing.Count > 0)
            {
                problems.Add($"layer numbering has gaps: missing {string.Join(", ", missing)}");
            }
        }

        foreach (var p in problems)
        {
            warn($"Image '{shown}' in {sourceUri} is invalid: {p}.");
        }

        return new Image
        {
            Name = shown,
            Source = sourceUri,
            Layers = layers.Select(kv => new Layer
            {
                Index = kv.Key,
                Key = kv.Value.Obj.Key,
                Size = kv.Value.Obj.Size,
                ETag = kv.Value.Obj.ETag,
                LastModified = kv.Value.Obj.LastModified,
                Compression = kv.Value.Compression,
            }).ToList(),
            Problems = problems,
            State = problems.Count == 0 ? ImageState.Remote : ImageState.Invalid,
        };
    }

    /// <summary>Text safe to print: control characters shown as '?', capped.</summary>
    public static string Show(string text) => SourceSpec.Sanitize(text);
}
