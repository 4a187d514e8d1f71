"""An HTTP/2 client (python3's h2 package) that resets its streams, through phonehome's proxy.

Usage: h2_resets.py PROXY_HOST:PORT TARGET_PORT CA_FILE

1. On one connection: requests to /hold (the test upstream answers them only when released),
   then a request to /hello whose whole answer is waited for (by then the held requests have
   reached the upstream), then a RST_STREAM (CANCEL) for each held stream.
2. Then a rapid-reset flood on three connections: 100 requests each, every one reset at once,
   all in one write; the server closes each connection (GOAWAY) when its limit is hit.
Prints one line per phase; exits non-zero when a phase does not go as described.
"""

import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

CANCEL = 8
HELD = 5
FLOOD = 100
FLOOD_CONNECTIONS = 3


def connect(proxy, port, cafile):
    host, proxy_port = proxy.rsplit(":", 1)
    raw = socket.create_connection((host, int(proxy_port)), timeout=60)
    raw.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = raw.recv(1)
        if not byte:
            sys.exit(f"the proxy closed the CONNECT: {head!r}")
        head += byte
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"CONNECT refused: {head!r}")
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["h2"])
    tls = context.wrap_socket(raw, server_hostname="localhost")
    if tls.selected_alpn_protocol() != "h2":
        sys.exit(f"no h2: {tls.selected_alpn_protocol()!r}")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    return tls, conn


def request(conn, port, path):
    stream = conn.get_next_available_stream_id()
    conn.send_headers(
        stream,
        [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", f"localhost:{port}"),
            (":path", path),
        ],
        end_stream=True,
    )
    return stream


def pump(tls, conn, until):
    """Reads frames until `until(event)` is true for one; False when the connection ends."""
    while True:
        data = tls.recv(65536)
        if not data:
            return False
        for event in conn.receive_data(data):
            if until(event):
                tls.sendall(conn.data_to_send())
                return True
        tls.sendall(conn.data_to_send())


def held_then_reset(proxy, port, cafile):
    tls, conn = connect(proxy, port, cafile)
    held = [request(conn, port, "/hold") for _ in range(HELD)]
    hello = request(conn, port, "/hello")
    tls.sendall(conn.data_to_send())
    ended = pump(
        tls,
        conn,
        lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == hello,
    )
    if not ended:
        sys.exit("the connection ended before /hello was answered")
    for stream in held:
        conn.reset_stream(stream, error_code=CANCEL)
    conn.close_connection()
    tls.sendall(conn.data_to_send())
    tls.close()
    print(f"reset {len(held)} held streams", flush=True)


def flood(proxy, port, cafile):
    tls, conn = connect(proxy, port, cafile)
    for _ in range(FLOOD):
        conn.reset_stream(request(conn, port, "/hold"), error_code=CANCEL)
    tls.sendall(conn.data_to_send())
    goaway = []
    try:
        pump(tls, conn, lambda e: isinstance(e, h2.events.ConnectionTerminated) and not goaway.append(e))
    except (ConnectionError, ssl.SSLError):
        pass
    tls.close()
    print(f"flood: {FLOOD} streams reset, goaway {[g.error_code for g in goaway]}", flush=True)


def main():
    proxy, port, cafile = sys.argv[1:4]
    held_then_reset(proxy, port, cafile)
    for _ in range(FLOOD_CONNECTIONS):
        flood(proxy, port, cafile)


if __name__ == "__main__":
    main()
