using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using FlyImages.Errors;
using FlyImages.Streams;

namespace FlyImages.Sources;

/// <summary>
/// Ranged GETs of an S3 object over plain HttpClient. One SDK response stream is 2-3x slower than
/// curl on loopback (per-stream overhead in the SDK); the bytes go this way while the SDK keeps
/// listing and authentication (the URL is presigned by the SDK, locally). Errors map as the source's
/// do: 404 not found, 403 denied, 412 changed; 5xx and 429 are transient (the part is retried); a 200 with
/// the whole object to a GET for a part of it is <see cref="RangeIgnoredException"/>.
/// </summary>
internal sealed class HttpRangeReader
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        MaxConnectionsPerServer = 256,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        AllowAutoRedirect = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static readonly TimeSpan UrlValidity = TimeSpan.FromHours(1);
    private readonly S3ImageSource source;
    private readonly TimeSpan headerTimeout;
    private readonly Dictionary<string, (Uri Url, DateTime Made)> urls = new(StringComparer.Ordinal);

    public HttpRangeReader(S3ImageSource source, TimeSpan headerTimeout)
    {
        this.source = source;
        this.headerTimeout = headerTimeout;
    }

    public async Task<SourceRead> OpenReadAsync(string key, long offset, long length, string? ifMatchETag, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, UrlOf(key));
        request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
        if (ifMatchETag is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", "\"" + ifMatchETag + "\"");
        }

        HttpResponseMessage response;
        using (var headers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            headers.CancelAfter(headerTimeout);
            try
            {
                response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no response from {source.Location} within {headerTimeout.TotalSeconds:0} s", e);
            }
        }

        try
        {
            var shown = $"{source.Spec.Uri}/{ImageLayout.Show(key)}";
            switch (response.StatusCode)
            {
                case HttpStatusCode.PartialContent:
                    break;
                case HttpStatusCode.OK:
                    // the whole object: right when the range asked for is the whole object, else the endpoint ignores Range
                    if (offset != 0 || response.Content.Headers.ContentLength != length)
                    {
                        throw new RangeIgnoredException(key, offset, length, response.Content.Headers.ContentLength);
                    }

                    break;
                case HttpStatusCode.NotFound:
                    throw new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"The object '{shown}' does not exist.", key);
                case HttpStatusCode.Forbidden:
                    throw new FlyException(ErrorIds.SourceAccessDenied, FlyErrorCategory.PermissionDenied, $"Access to '{shown}' at {source.Location} was denied (403).", key)
                    {
                        RecommendedAction = "Check the credentials (-Credential, -ProfileName, AWS_* variables) or use -Anonymous for a public bucket.",
                    };
                case HttpStatusCode.PreconditionFailed:
                case HttpStatusCode.RequestedRangeNotSatisfiable:
                    throw new SourceObjectChangedException(key, ifMatchETag, response.Headers.ETag?.Tag);
                case var code when (int)code >= 500 || code == HttpStatusCode.TooManyRequests || code == HttpStatusCode.RequestTimeout:
                    throw new HttpRequestException($"{source.Location} answered {(int)code} {response.ReasonPhrase}", null, code);
                default:
                    throw new FlyException(ErrorIds.SourceError, FlyErrorCategory.ProtocolError, $"GET '{shown}' at {source.Location} answered {(int)response.StatusCode} {response.ReasonPhrase}.", key);
            }

            var contentLength = response.Content.Headers.ContentLength
                ?? throw new LengthMismatchException($"{source.Location} announced no Content-Length for bytes {offset}-{offset + length - 1}");
            long total;
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                var range = response.Content.Headers.ContentRange;
                if (range is not { From: { } from, Length: { } whole } || from != offset)
                {
                    throw new LengthMismatchException($"{source.Location} answered bytes {range} to a request for bytes {offset}-{offset + length - 1}");
                }

                total = whole;
            }
            else
            {
                total = contentLength;
            }

            var etag = response.Headers.ETag?.Tag.Trim('"') ?? (response.Headers.TryGetValues("ETag", out var raw) ? raw.FirstOrDefault()?.Trim().Trim('"') : null);
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new SourceRead(new ResponseStream(body, response), contentLength, etag, total);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private Uri UrlOf(string key)
    {
        lock (urls)
        {
            if (urls.TryGetValue(key, out var known) && DateTime.UtcNow - known.Made < UrlValidity / 2)
            {
                return known.Url;
            }

            var url = source.GetObjectUrl(key, UrlValidity);
            urls[key] = (url, DateTime.UtcNow);
            return url;
        }
    }

    /// <summary>The body; disposing it releases the response (and its connection).</summary>
    private sealed class ResponseStream(Stream inner, HttpResponseMessage response) : ReadOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
