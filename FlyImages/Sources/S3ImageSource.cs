using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.S3;
using Amazon.S3.Model;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.Resilience;
using Polly;

namespace FlyImages.Sources;

/// <summary>
/// An S3 bucket/prefix through AWSSDK.S3. Anonymous for public buckets unless credentials are
/// given or found (environment, shared profile). Path-style addressing when an endpoint is given.
/// The SDK's own retries are off: Polly retries transient failures, bounded, with jitter.
/// </summary>
public sealed class S3ImageSource : IImageSource
{
    private readonly AmazonS3Client client;
    private readonly ResiliencePipeline retry;
    private readonly IOperationContext context;
    private readonly bool anonymous;
    private readonly string? serviceUrl;
    private readonly string region;
    private readonly HttpRangeReader ranges;

    public S3ImageSource(SourceSpec spec, SourceOptions options, IOperationContext context)
    {
        Spec = spec;
        this.context = context;
        var endpoint = options.Endpoint;
        var config = new AmazonS3Config
        {
            MaxErrorRetry = 0,
            Timeout = options.RequestTimeout,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (endpoint is not null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new FlyException(ErrorIds.SourceInvalid, FlyErrorCategory.InvalidArgument, $"The endpoint '{SourceSpec.Sanitize(endpoint)}' is not an http(s) URL.", endpoint);
            }

            config.ServiceURL = uri.ToString().TrimEnd('/');
            config.ForcePathStyle = true;
            config.AuthenticationRegion = options.Region;
            Location = config.ServiceURL;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
            Location = $"https://{spec.Bucket}.s3.{options.Region}.amazonaws.com";
        }

        serviceUrl = config.ServiceURL?.TrimEnd('/');
        region = options.Region;
        var credentials = ResolveCredentials(options, out var how);
        anonymous = credentials is AnonymousAWSCredentials;
        context.WriteVerbose($"S3 source {spec.Uri} at {Location}, {how}.");
        client = new AmazonS3Client(credentials, config);
        ranges = new HttpRangeReader(this, options.RequestTimeout);
        retry = RetryPolicies.Create(options.MaxAttempts, options.RetryBaseDelay, IsTransient,
            (attempt, e, delay) => context.WriteVerbose($"{Location}: attempt {attempt} after {delay.TotalMilliseconds:0} ms, because: {Describe(e)}"));
    }

    public SourceSpec Spec { get; }

    public string Location { get; }

    public IAsyncEnumerable<SourceObject> ListAsync(CancellationToken cancellationToken)
        => ListUnderAsync(Spec.Prefix.Length == 0 ? "" : Spec.Prefix + "/", "", cancellationToken);

    /// <summary>One image: a listing of its own prefix (one request up to 1000 keys); empty when there is no such image.</summary>
    public IAsyncEnumerable<SourceObject> ListImageAsync(string image, CancellationToken cancellationToken)
        => image.Length == 0 || image.Contains('/', StringComparison.Ordinal)
            ? SourceObject.NoneAsync()
            : ListUnderAsync(Spec.Prefix.Length == 0 ? "" : Spec.Prefix + "/", image + "/", cancellationToken);

    /// <summary>Every object under <paramref name="prefix"/> + <paramref name="below"/>, keys relative to <paramref name="prefix"/>.</summary>
    private async IAsyncEnumerable<SourceObject> ListUnderAsync(string prefix, string below, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        var pages = 0;
        var any = false;
        do
        {
            var request = new ListObjectsV2Request { BucketName = Spec.Bucket, Prefix = prefix + below, ContinuationToken = token };
            var response = await Call(ct => client.ListObjectsV2Async(request, ct), "list", cancellationToken).ConfigureAwait(false);
            pages++;
            foreach (var o in response.S3Objects ?? [])
            {
                if (!o.Key.StartsWith(prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                any = true;
                yield return new SourceObject(o.Key[prefix.Length..], o.Size ?? 0, Unquote(o.ETag), ToOffset(o.LastModified));
            }

            token = response.IsTruncated == true ? response.NextContinuationToken : null;
            if (response.IsTruncated == true && string.IsNullOrEmpty(token))
            {
                throw new FlyException(ErrorIds.SourceError, FlyErrorCategory.ProtocolError, $"{Location} said the listing of {Spec.Uri} is truncated but gave no continuation token.", Spec.Uri);
            }

            if (pages > 100_000)
            {
                throw new FlyException(ErrorIds.SourceError, FlyErrorCategory.LimitsExceeded, $"The listing of {Spec.Uri} did not end after {pages} pages.", Spec.Uri);
            }
        }
        while (token is not null);

        context.WriteVerbose($"Listed {Spec.Uri}{(below.Length == 0 ? "" : "/" + ImageLayout.Show(below))} in {pages} page(s).");
        if (!any && prefix.Length > 0 && below.Length == 0)
        {
            throw new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"Nothing exists under the prefix '{Spec.Prefix}' of bucket '{Spec.Bucket}' at {Location}.", Spec.Uri);
        }
    }

    public async Task<SourceObject> StatAsync(string key, CancellationToken cancellationToken)
    {
        var response = await Call(ct => client.GetObjectMetadataAsync(Spec.Bucket, FullKey(key), ct), key, cancellationToken).ConfigureAwait(false);
        return new SourceObject(key, response.ContentLength, Unquote(response.ETag), ToOffset(response.LastModified));
    }

    /// <summary>A HEAD with checksum mode on: S3 then announces the object's additional checksums (CRC64NVME by default since 2025).</summary>
    public async Task<(ObjectChecksum? Checksum, string Why)> GetChecksumAsync(string key, string? ifMatchETag, CancellationToken cancellationToken)
    {
        var request = new GetObjectMetadataRequest { BucketName = Spec.Bucket, Key = FullKey(key), ChecksumMode = ChecksumMode.ENABLED };
        if (ifMatchETag is not null)
        {
            request.EtagToMatch = Quote(ifMatchETag);
        }

        var response = await CallIfMatchAsync(ct => client.GetObjectMetadataAsync(request, ct), key, ifMatchETag, r => r.ETag, cancellationToken).ConfigureAwait(false);
        var checksum = ObjectChecksum.FromS3(response.ChecksumType?.Value, response.ChecksumSHA256, response.ChecksumCRC64NVME, response.ChecksumCRC32C,
            response.ChecksumCRC32, response.ChecksumSHA1, out var why);
        return (checksum, why);
    }

    public async Task<SourceRead> OpenReadAsync(string key, long offset, long? length, string? ifMatchETag, CancellationToken cancellationToken)
    {
        var request = new GetObjectRequest { BucketName = Spec.Bucket, Key = FullKey(key) };
        if (offset > 0 || length is not null)
        {
            request.ByteRange = new ByteRange(offset, length is null ? long.MaxValue / 2 : offset + length.Value - 1);
            if (length is null)
            {
                request.ByteRange = new ByteRange($"bytes={offset}-");
            }
        }

        if (ifMatchETag is not null)
        {
            request.EtagToMatch = Quote(ifMatchETag);
        }

        var response = await CallIfMatchAsync(ct => client.GetObjectAsync(request, ct), key, ifMatchETag, r => r.ETag, cancellationToken).ConfigureAwait(false);
        var etag = Unquote(response.ETag);
        var total = response.ContentRange is { } range && range.LastIndexOf('/') is var slash and > 0
            && long.TryParse(range[(slash + 1)..], out var whole) ? whole : offset + response.ContentLength;
        return new SourceRead(response.ResponseStream, response.ContentLength, etag, total);
    }

    /// <summary>
    /// A ranged GET over plain HttpClient on a presigned URL (an SDK response stream is 2-3x slower than curl on
    /// loopback). Not retried here: the caller's fetch retries each part once, in one place.
    /// </summary>
    public Task<SourceRead> OpenRangeAsync(string key, long offset, long length, string? ifMatchETag, CancellationToken cancellationToken)
        => ranges.OpenReadAsync(key, offset, length, ifMatchETag, cancellationToken);

    /// <summary>
    /// A URL that GETs <paramref name="key"/> without the SDK, for readers that move many bytes over plain
    /// HTTP (ranged GETs in parallel): presigned (SigV4, signed locally, no request made) when there are
    /// credentials, a plain path-style URL when anonymous.
    /// </summary>
    public Uri GetObjectUrl(string key, TimeSpan validity)
    {
        var escaped = string.Join('/', FullKey(key).Split('/').Select(Uri.EscapeDataString));
        var baseUrl = serviceUrl ?? $"https://s3.{region}.amazonaws.com";
        if (anonymous)
        {
            return new Uri($"{baseUrl}/{Spec.Bucket}/{escaped}");
        }

        var url = client.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = Spec.Bucket,
            Key = FullKey(key),
            Verb = HttpVerb.GET,
            Expires = DateTime.UtcNow + validity,
            Protocol = baseUrl.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? Protocol.HTTP : Protocol.HTTPS,
        });
        return new Uri(url);
    }

    public void Dispose() => client.Dispose();

    /// <summary>Transient: connection failures, timeouts, 5xx, 429 and throttling. Not 403/404.</summary>
    internal static bool IsTransient(Exception e)
    {
        if (e is OperationCanceledException && e.InnerException is TimeoutException)
        {
            return true;
        }

        if (e is AmazonServiceException service && service.StatusCode != 0)
        {
            var code = (int)service.StatusCode;
            return code >= 500 || code == 429 || service.ErrorCode is "SlowDown" or "Throttling" or "RequestTimeout";
        }

        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException or SocketException or IOException or TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A request guarded by the ETag the caller expects: a 412, or an answer about another version, is <see cref="SourceObjectChangedException"/>.</summary>
    private async Task<T> CallIfMatchAsync<T>(Func<CancellationToken, Task<T>> call, string key, string? ifMatchETag, Func<T, string?> etagOf, CancellationToken cancellationToken)
    {
        T response;
        try
        {
            response = await Call(call, key, cancellationToken).ConfigureAwait(false);
        }
        catch (FlyException e) when (e.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed })
        {
            throw new SourceObjectChangedException(key, ifMatchETag, null);
        }

        var etag = Unquote(etagOf(response));
        if (ifMatchETag is not null && etag is not null && !string.Equals(etag, ifMatchETag, StringComparison.Ordinal))
        {
            (response as IDisposable)?.Dispose();
            throw new SourceObjectChangedException(key, ifMatchETag, etag);
        }

        return response;
    }

    private async Task<T> Call<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await retry.ExecuteAsync(async ct => await call(ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not FlyException)
        {
            throw Map(e, what);
        }
    }

    private FlyException Map(Exception e, string what)
    {
        if (e is AmazonS3Exception s3)
        {
            if (s3.StatusCode == HttpStatusCode.NotFound || s3.ErrorCode is "NoSuchBucket" or "NoSuchKey")
            {
                return s3.ErrorCode == "NoSuchBucket" || what == "list"
                    ? new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"The bucket '{Spec.Bucket}' does not exist at {Location}.", Spec.Uri, e)
                    : new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"The object '{Spec.Uri}/{ImageLayout.Show(what)}' does not exist.", what, e);
            }

            if (s3.StatusCode == HttpStatusCode.Forbidden || s3.ErrorCode is "AccessDenied" or "AllAccessDisabled" or "InvalidAccessKeyId" or "SignatureDoesNotMatch")
            {
                return new FlyException(ErrorIds.SourceAccessDenied, FlyErrorCategory.PermissionDenied, $"Access to {Spec.Uri} at {Location} was denied ({s3.ErrorCode ?? "403"}: {s3.Message}).", Spec.Uri, e)
                {
                    RecommendedAction = "Check the credentials (-Credential, -ProfileName, AWS_* variables) or use -Anonymous for a public bucket.",
                };
            }
        }

        if (IsTransient(e))
        {
            return new FlyException(ErrorIds.SourceUnreachable, FlyErrorCategory.ConnectionError, $"The S3 endpoint {Location} could not be reached for {Spec.Uri}: {Describe(e)}", Location, e)
            {
                RecommendedAction = "Check the endpoint (-Endpoint or FLYIMAGES_S3_ENDPOINT) and the network; transient failures were already retried.",
            };
        }

        return new FlyException(ErrorIds.SourceError, FlyErrorCategory.ProtocolError, $"S3 request to {Location} for {Spec.Uri} failed: {Describe(e)}", Spec.Uri, e);
    }

    private static string Describe(Exception e)
    {
        var innermost = e;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return innermost == e ? e.Message : $"{e.Message} ({innermost.Message})";
    }

    private string FullKey(string key) => Spec.Prefix.Length == 0 ? key : Spec.Prefix + "/" + key;

    private static string? Unquote(string? etag) => etag?.Trim().Trim('"');

    private static string Quote(string etag) => "\"" + etag + "\"";

    private static DateTimeOffset? ToOffset(DateTime? time) => time is null ? null : new DateTimeOffset(DateTime.SpecifyKind(time.Value.ToUniversalTime(), DateTimeKind.Utc));

    private static AWSCredentials ResolveCredentials(SourceOptions options, out string how)
    {
        if (options.Anonymous)
        {
            how = "anonymous (forced)";
            return new AnonymousAWSCredentials();
        }

        if (options.Credentials is { } c)
        {
            how = "with the given credentials";
            return c.SessionToken is null ? new BasicAWSCredentials(c.AccessKeyId, c.SecretAccessKey) : new SessionAWSCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken);
        }

        var profile = options.ProfileName ?? Environment.GetEnvironmentVariable("AWS_PROFILE");
        if (options.ProfileName is not null)
        {
            if (new CredentialProfileStoreChain().TryGetAWSCredentials(options.ProfileName, out var fromProfile))
            {
                how = $"with profile '{options.ProfileName}'";
                return fromProfile;
            }

            throw new FlyException(ErrorIds.SourceInvalid, FlyErrorCategory.ObjectNotFound, $"The AWS profile '{options.ProfileName}' was not found in the shared credentials or config files.", options.ProfileName);
        }

        var key = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        if (!string.IsNullOrEmpty(key) && !string.IsNullOrEmpty(secret))
        {
            how = "with credentials from AWS_ACCESS_KEY_ID";
            var token = Environment.GetEnvironmentVariable("AWS_SESSION_TOKEN");
            return string.IsNullOrEmpty(token) ? new BasicAWSCredentials(key, secret) : new SessionAWSCredentials(key, secret, token);
        }

        // Shared files only: instance metadata is never probed (it would stall hosts that are not on EC2).
        if (new CredentialProfileStoreChain().TryGetAWSCredentials(profile ?? "default", out var shared))
        {
            how = $"with profile '{profile ?? "default"}'";
            return shared;
        }

        how = "anonymous";
        return new AnonymousAWSCredentials();
    }
}
