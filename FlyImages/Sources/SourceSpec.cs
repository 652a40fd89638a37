using FlyImages.Errors;

namespace FlyImages.Sources;

public enum SourceKind
{
    S3,
    Directory,
}

/// <summary>
/// A parsed -Source: <c>s3://bucket/prefix</c>, <c>file:///path</c>, or a local folder path.
/// </summary>
public sealed record SourceSpec(SourceKind Kind, string Bucket, string Prefix, string DirectoryPath)
{
    /// <summary>The canonical text used as the source's identity in the store.</summary>
    public string Uri => Kind == SourceKind.S3
        ? Prefix.Length == 0 ? $"s3://{Bucket}" : $"s3://{Bucket}/{Prefix}"
        : new Uri(DirectoryPath).AbsoluteUri;

    public override string ToString() => Uri;

    public static SourceSpec Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw Invalid(text ?? "", "the source is empty");
        }

        if (text.Any(char.IsControl))
        {
            throw Invalid(text, "it contains control characters");
        }

        if (text.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = text[5..];
            var slash = rest.IndexOf('/');
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
            if (!IsValidBucketName(bucket))
            {
                throw Invalid(text, $"'{bucket}' is not a valid S3 bucket name");
            }

            if (prefix.Split('/').Any(p => p is ".." || p.Length == 0 && prefix.Length > 0))
            {
                throw Invalid(text, "the prefix has an empty or '..' segment");
            }

            return new SourceSpec(SourceKind.S3, bucket, prefix, "");
        }

        string path;
        if (text.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            if (!System.Uri.TryCreate(text, UriKind.Absolute, out var uri) || !uri.IsFile || !string.IsNullOrEmpty(uri.Host))
            {
                throw Invalid(text, "a file URI must be file:///absolute/path");
            }

            path = uri.LocalPath;
        }
        else if (text.Contains("://", StringComparison.Ordinal))
        {
            throw Invalid(text, "only s3:// and file:// URIs and local folders are supported");
        }
        else
        {
            path = text;
        }

        var full = Path.GetFullPath(path).TrimEnd('/');
        return new SourceSpec(SourceKind.Directory, "", "", full.Length == 0 ? "/" : full);
    }

    /// <summary>S3 bucket naming rules (3-63 chars, lower-case letters, digits, dots, hyphens).</summary>
    public static bool IsValidBucketName(string bucket)
    {
        if (bucket.Length is < 3 or > 63)
        {
            return false;
        }

        if (!char.IsAsciiLetterLower(bucket[0]) && !char.IsAsciiDigit(bucket[0]))
        {
            return false;
        }

        if (!char.IsAsciiLetterLower(bucket[^1]) && !char.IsAsciiDigit(bucket[^1]))
        {
            return false;
        }

        return bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.') && !bucket.Contains("..", StringComparison.Ordinal);
    }

    private static FlyException Invalid(string text, string why)
        => new(ErrorIds.SourceInvalid, FlyErrorCategory.InvalidArgument, $"The source '{Sanitize(text)}' is not valid: {why}.", text);

    internal static string Sanitize(string text)
        => new(text.Select(c => char.IsControl(c) ? '?' : c).Take(300).ToArray());
}
