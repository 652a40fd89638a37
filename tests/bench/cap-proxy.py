#!/usr/bin/env python3
"""A TCP proxy that caps each connection's throughput, for the capped-endpoint benchmark (issue 15.4).

    cap-proxy.py UPSTREAM_HOST:PORT MIB_PER_SECOND

Listens on 127.0.0.1 at a free port, prints "listening on 127.0.0.1:PORT", and forwards every connection to the
upstream. Bytes from the upstream to the client are paced per connection to MIB_PER_SECOND (a token bucket with a
burst of 64 KiB), as S3 caps each stream; requests go upstream unpaced. Aggregate throughput is not capped.
"""
import asyncio
import sys
import time

CHUNK = 64 * 1024


async def pipe(reader, writer, rate):
    # rate in bytes per second, or None for no pacing
    allowance = float(CHUNK)
    last = time.monotonic()
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if rate:
                now = time.monotonic()
                allowance = min(float(CHUNK), allowance + (now - last) * rate)
                last = now
                allowance -= len(data)
                if allowance < 0:
                    await asyncio.sleep(-allowance / rate)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer, upstream, rate):
    host, port = upstream
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer, None), pipe(up_reader, client_writer, rate))


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    rate = float(sys.argv[2]) * 1024 * 1024
    server = await asyncio.start_server(lambda r, w: handle(r, w, (host, int(port)), rate), "127.0.0.1", 0)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
