"""bench/crowd_client.py — holds N keep-alive HTTPS connections open through an HTTP proxy.

    python3 crowd_client.py PROXY_PORT TARGET_PORT PROXY_CA N [PARALLEL]

Each connection: CONNECT localhost:TARGET_PORT, TLS (trusting PROXY_CA, SNI localhost), one
`GET /1k` with keep-alive, the whole response read; then the connection is held open. Prints
"held OK FAILED" once every connection is open (or failed), then waits for a line on stdin,
closes them all and prints "closed". Used by bench/rss (the crowd workload).
"""

import asyncio
import ssl
import sys


async def open_one(proxy_port, target_port, context, gate):
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        target = f"localhost:{target_port}"
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:40])
        await writer.start_tls(context, server_hostname="localhost")
        writer.write(b"GET /1k HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:40])
        return writer


async def main():
    proxy_port, target_port, ca, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    parallel = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    context = ssl.create_default_context(cafile=ca)
    gate = asyncio.Semaphore(parallel)
    results = await asyncio.gather(
        *(open_one(proxy_port, target_port, context, gate) for _ in range(n)),
        return_exceptions=True,
    )
    held = [w for w in results if not isinstance(w, BaseException)]
    failed = [e for e in results if isinstance(e, BaseException)]
    print(f"held {len(held)} {len(failed)}", flush=True)
    if failed:
        print(f"first failure: {failed[0]!r}", file=sys.stderr)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in held), return_exceptions=True)
    print("closed", flush=True)


asyncio.run(main())
