using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FlyImages.TestSupport;

/// <summary>What the proxy saw: one request and what it did with it.</summary>
public sealed record ProxiedRequest(int Sequence, string Method, string Target, string? Range, string? Fault)
{
    /// <summary>The path without the query string (presigned URLs carry one).</summary>
    public string Path => Target.Split('?')[0];

    public bool IsGet => Method == "GET";
}

/// <summary>A fault the proxy injects into one response.</summary>
public abstract record Fault
{
    /// <summary>Answer with this status and an S3-style error body, without asking the server.</summary>
    public sealed record Status(int Code) : Fault;

    /// <summary>Send this many body bytes, then reset the connection (RST).</summary>
    public sealed record ResetAfter(long Bytes) : Fault;

    /// <summary>Send this many body bytes, then close the connection cleanly (a short body).</summary>
    public sealed record Truncate(long Bytes) : Fault;

    /// <summary>Invert the body byte at this offset (the response is otherwise perfect).</summary>
    public sealed record FlipByte(long Offset) : Fault;

    /// <summary>Send this many body bytes, then nothing for <paramref name="Duration"/> (or until the client leaves).</summary>
    public sealed record Stall(long AfterBytes, TimeSpan Duration) : Fault;

    /// <summary>Send this many body bytes, then nothing until <paramref name="Release"/> completes (or the client leaves).</summary>
    public sealed record Hold(long AfterBytes, Task Release) : Fault;

    /// <summary>Announce and send this many bytes more than the server did.</summary>
    public sealed record ExtraBytes(int Count) : Fault;

    /// <summary>Forward the request without its Range header: 200 and the whole object, as servers that ignore Range do.</summary>
    public sealed record IgnoreRange : Fault;
}

/// <summary>
/// An HTTP/1.1 reverse proxy on 127.0.0.1 between a client (the SDK, HttpClient) and a real server
/// (s3rver): it counts requests and ranges and injects faults chosen per request by <see cref="Faults"/>.
/// Keep-alive is supported; a faulted response ends its connection where the fault says.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly TcpListener listener;
    private readonly Uri upstream;
    private readonly HttpClient http;
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentQueue<ProxiedRequest> requests = new();
    private readonly ConcurrentDictionary<Socket, bool> open = new();
    private int sequence;
    private int stallsEnded;
    private TaskCompletionSource stalling = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FaultProxy(string upstreamEndpoint)
    {
        upstream = new Uri(upstreamEndpoint.TrimEnd('/') + "/");
        http = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None, AllowAutoRedirect = false, UseProxy = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _ = AcceptLoopAsync();
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Chooses the fault for each request (null: pass it through). Called on connection threads.</summary>
    public Func<ProxiedRequest, Fault?>? Faults { get; set; }

    /// <summary>
    /// Headers to add to the response to a request (null: none), as a server that keeps more about an object would
    /// announce them (S3's <c>x-amz-checksum-*</c>, which s3rver does not keep). Called on connection threads.
    /// </summary>
    public Func<ProxiedRequest, IReadOnlyList<KeyValuePair<string, string>>?>? ExtraHeaders { get; set; }

    public IReadOnlyList<ProxiedRequest> Requests => requests.ToArray();

    /// <summary>GETs of keys whose path ends with <paramref name="keySuffix"/>.</summary>
    public IReadOnlyList<ProxiedRequest> Gets(string keySuffix)
        => Requests.Where(r => r.IsGet && Uri.UnescapeDataString(r.Path).EndsWith(keySuffix, StringComparison.Ordinal)).ToList();

    /// <summary>Completes when a <see cref="Fault.Stall"/> has sent its bytes and begun to stall (since the last <see cref="Clear"/>).</summary>
    public Task Stalling => Volatile.Read(ref stalling).Task;

    /// <summary>How many stalls lasted their whole duration and went on sending (since the last <see cref="Clear"/>).</summary>
    public int StallsEnded => Volatile.Read(ref stallsEnded);

    public void Clear()
    {
        requests.Clear();
        Volatile.Write(ref stalling, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Volatile.Write(ref stallsEnded, 0);
    }

    /// <summary>Faults the first <paramref name="count"/> matching requests, then passes everything through.</summary>
    public void FaultFirst(int count, Func<ProxiedRequest, bool> match, Fault fault)
    {
        var left = count;
        Faults = r => match(r) && Interlocked.Decrement(ref left) >= 0 ? fault : null;
    }

    public void Dispose()
    {
        stopping.Cancel();
        listener.Stop();
        foreach (var socket in open.Keys)
        {
            try
            {
                socket.Dispose();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        http.Dispose();
        stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            open[socket] = true;
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(socket).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or HttpRequestException)
                {
                }
                finally
                {
                    open.TryRemove(socket, out _);
                    socket.Dispose();
                }
            });
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var network = new NetworkStream(socket, ownsSocket: false);
        using var input = new BufferedStream(network, 16 * 1024);
        while (!stopping.IsCancellationRequested)
        {
            var head = await ReadHeadAsync(input).ConfigureAwait(false);
            if (head is null)
            {
                return;
            }

            var lines = head.Split("\r\n");
            var first = lines[0].Split(' ');
            var method = first[0];
            var target = first[1];
            var headers = lines.Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal))
                .Select(l => (Name: l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(), Value: l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())).ToList();
            var length = headers.Where(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => long.Parse(h.Value, CultureInfo.InvariantCulture)).FirstOrDefault();
            var body = new byte[length];
            await input.ReadExactlyAsync(body, stopping.Token).ConfigureAwait(false);
            var range = headers.Where(h => h.Name.Equals("Range", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
            var seq = Interlocked.Increment(ref sequence);
            var probe = new ProxiedRequest(seq, method, target, range, null);
            var fault = Faults?.Invoke(probe);
            requests.Enqueue(probe with { Fault = fault?.ToString() });

            if (fault is Fault.Status status)
            {
                var error = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{(status.Code == 503 ? "SlowDown" : "InternalError")}</Code><Message>injected by the test proxy</Message></Error>");
                await WriteAsync(network, $"HTTP/1.1 {status.Code} Injected\r\nContent-Type: application/xml\r\nContent-Length: {error.Length}\r\n\r\n").ConfigureAwait(false);
                await network.WriteAsync(error, stopping.Token).ConfigureAwait(false);
                continue;
            }

            using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(upstream, target.TrimStart('/')));
            if (length > 0 || method is "PUT" or "POST")
            {
                request.Content = new ByteArrayContent(body);
            }

            foreach (var (name, value) in headers)
            {
                if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                    || (fault is Fault.IgnoreRange && name.Equals("Range", StringComparison.OrdinalIgnoreCase))
                    || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                    || name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    request.Content?.Headers.TryAddWithoutValidation(name, value);
                }
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stopping.Token).ConfigureAwait(false);
            var upstreamBody = method == "HEAD" ? Stream.Null : await response.Content.ReadAsStreamAsync(stopping.Token).ConfigureAwait(false);
            long? contentLength = response.Content.Headers.ContentLength;
            if (contentLength is null && method != "HEAD")
            {
                var buffered = new MemoryStream();
                await upstreamBody.CopyToAsync(buffered, stopping.Token).ConfigureAwait(false);
                buffered.Position = 0;
                upstreamBody = buffered;
                contentLength = buffered.Length;
            }

            var extra = fault is Fault.ExtraBytes more ? more.Count : 0;
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase}\r\n");
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                    || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                text.Append(CultureInfo.InvariantCulture, $"{name}: {string.Join(", ", values)}\r\n");
            }

            foreach (var (name, value) in ExtraHeaders?.Invoke(probe) ?? [])
            {
                text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"Content-Length: {(contentLength ?? 0) + extra}\r\n\r\n");
            await WriteAsync(network, text.ToString()).ConfigureAwait(false);
            if (method == "HEAD")
            {
                continue;
            }

            if (!await CopyBodyAsync(upstreamBody, network, socket, fault).ConfigureAwait(false))
            {
                return;
            }

            if (extra > 0)
            {
                await network.WriteAsync(new byte[extra], stopping.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Copies the body applying <paramref name="fault"/>; false when the connection was ended by it.</summary>
    private async Task<bool> CopyBodyAsync(Stream from, NetworkStream to, Socket socket, Fault? fault)
    {
        var buffer = new byte[64 * 1024];
        long sent = 0;
        var stalled = false;
        while (true)
        {
            var limit = fault switch
            {
                Fault.ResetAfter r => r.Bytes - sent,
                Fault.Truncate t => t.Bytes - sent,
                Fault.Stall s when !stalled => s.AfterBytes - sent,
                Fault.Hold h when !stalled => h.AfterBytes - sent,
                _ => long.MaxValue,
            };
            if (limit <= 0)
            {
                switch (fault)
                {
                    case Fault.ResetAfter:
                        socket.LingerState = new LingerOption(true, 0);
                        socket.Close();
                        return false;
                    case Fault.Truncate:
                        socket.Shutdown(SocketShutdown.Both);
                        socket.Close();
                        return false;
                    case Fault.Stall s:
                        stalled = true;
                        Volatile.Read(ref stalling).TrySetResult();
                        try
                        {
                            await Task.Delay(s.Duration, stopping.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            return false;
                        }

                        Interlocked.Increment(ref stallsEnded);
                        continue;
                    case Fault.Hold h:
                        stalled = true;
                        Volatile.Read(ref stalling).TrySetResult();
                        try
                        {
                            await h.Release.WaitAsync(stopping.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            return false;
                        }

                        continue;
                }
            }

            var n = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit)), stopping.Token).ConfigureAwait(false);
            if (n == 0)
            {
                return true;
            }

            if (fault is Fault.FlipByte flip && flip.Offset >= sent && flip.Offset < sent + n)
            {
                buffer[flip.Offset - sent] ^= 0xFF;
            }

            await to.WriteAsync(buffer.AsMemory(0, n), stopping.Token).ConfigureAwait(false);
            sent += n;
        }
    }

    private async Task WriteAsync(NetworkStream to, string text) => await to.WriteAsync(Encoding.ASCII.GetBytes(text), stopping.Token).ConfigureAwait(false);

    /// <summary>Reads up to the blank line; null at a clean end of the connection.</summary>
    private async Task<string?> ReadHeadAsync(BufferedStream input)
    {
        var bytes = new List<byte>(1024);
        var one = new byte[1];
        while (true)
        {
            var n = await input.ReadAsync(one, stopping.Token).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            bytes.Add(one[0]);
            if (bytes.Count >= 4 && bytes[^1] == '\n' && bytes[^2] == '\r' && bytes[^3] == '\n' && bytes[^4] == '\r')
            {
                return Encoding.ASCII.GetString(bytes.ToArray(), 0, bytes.Count - 4);
            }

            if (bytes.Count > 64 * 1024)
            {
                throw new IOException("request head too large");
            }
        }
    }
}
