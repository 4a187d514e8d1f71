#!/usr/bin/env python3
"""SSE first-event latency: a TLS SSE server and a measuring client (stdlib only).

    sse_tool.py server --port P --cert server.pem --key server.key [--events 5 --interval 0.2]
    sse_tool.py client --host 127.0.0.1 --port P --ca ca.pem --reps 50 \
        --mode direct --mode phonehome=127.0.0.1:PPORT:/path/proxy-ca.pem ...

The server answers GET /events with `text/event-stream`, sends one event at once and
then --events-1 more, --interval seconds apart (chunked transfer encoding by default,
--framing close for a close-delimited body). TCP_NODELAY is set on its sockets.

For each repetition the client opens a fresh connection per mode (modes interleaved),
either straight to the server or via `CONNECT host:port` to the proxy followed by TLS
through the tunnel (trusting the proxy's CA), sends the GET, and records
  * first:  request write -> first complete event (its blank line) received
  * total:  start of TCP connect -> first complete event (connect, CONNECT, TLS, request)
It prints a Markdown table with medians, p90s and the delay added over `direct`.
"""
import argparse
import socket
import ssl
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# --------------------------------------------------------------------------- server
class SSEHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    events = 5
    interval = 0.2
    framing = "chunked"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _chunk(self, data: bytes):
        if self.framing == "chunked":
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        if not self.path.startswith("/events"):
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if self.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()  # flushes the status line + headers
        try:
            for i in range(self.events):
                if i:
                    time.sleep(self.interval)
                self._chunk(b"id: %d\nevent: tick\ndata: {\"n\": %d, \"t\": %.6f}\n\n" % (i, i, time.time()))
            if self.framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def finish_request(self, request, client_address):
        # TLS handshake in the per-connection thread, not the accept loop.
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def run_server(a):
    SSEHandler.events = a.events
    SSEHandler.interval = a.interval
    SSEHandler.framing = a.framing
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = TLSServer((a.host, a.port), SSEHandler, ctx)
    print(f"listening on {a.host}:{a.port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------- client
def recv_until(sock, buf: bytearray, pred, deadline):
    while not pred(buf):
        if time.perf_counter() > deadline:
            raise TimeoutError("timed out waiting for data")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed early: %r" % bytes(buf[:200]))
        buf += data


def one_fetch(host, port, ca, server_name, proxy=None, timeout=10.0):
    """Returns (first_ms, total_ms)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    if proxy:
        phost, pport, pca = proxy
        raw = socket.create_connection((phost, pport), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        authority = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        raw.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        buf = bytearray()
        recv_until(raw, buf, lambda b: b"\r\n\r\n" in b, deadline)
        status = bytes(buf).split(b"\r\n", 1)[0]
        if b" 200" not in status:
            raw.close()
            raise ConnectionError("proxy refused CONNECT: %r" % status)
        cafile = pca
    else:
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cafile = ca
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(raw, server_hostname=server_name)
    try:
        req = (f"GET /events HTTP/1.1\r\nHost: {server_name}:{port}\r\n"
               "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
               "User-Agent: phonehome-bench-sse\r\n\r\n").encode()
        t_req = time.perf_counter()
        s.sendall(req)
        buf = bytearray()

        def have_event(b):
            i = b.find(b"\r\n\r\n")
            if i < 0:
                return False
            j = b.find(b"data:", i)
            return j >= 0 and b.find(b"\n\n", j) >= 0

        recv_until(s, buf, have_event, deadline)
        t1 = time.perf_counter()
        head = bytes(buf).split(b"\r\n", 1)[0]
        if b" 200" not in head:
            raise ConnectionError("bad response: %r" % head)
    finally:
        try:
            s.close()
        except OSError:
            pass
    return (t1 - t_req) * 1000.0, (t1 - t0) * 1000.0


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_client(a):
    modes = []
    for m in a.mode:
        if m == "direct":
            modes.append(("direct", None))
        else:
            name, spec = m.split("=", 1)
            phost, pport, pca = spec.split(":", 2)
            modes.append((name, (phost, int(pport), pca)))
    server_name = a.server_name or a.host
    res = {name: ([], []) for name, _ in modes}
    errors = {name: [] for name, _ in modes}
    # warm-up (not recorded): one fetch per mode
    for name, proxy in modes:
        for _ in range(a.warmup):
            try:
                one_fetch(a.host, a.port, a.ca, server_name, proxy)
            except Exception as e:  # noqa: BLE001
                errors[name].append(f"warm-up: {e}")
    for _ in range(a.reps):
        for name, proxy in modes:
            try:
                first, total = one_fetch(a.host, a.port, a.ca, server_name, proxy)
                res[name][0].append(first)
                res[name][1].append(total)
            except Exception as e:  # noqa: BLE001
                errors[name].append(str(e))
            time.sleep(a.pause)

    base = res.get("direct")
    b50 = statistics.median(base[0]) if base and base[0] else None
    b90 = pct(base[0], 90) if base and base[0] else None
    bt50 = statistics.median(base[1]) if base and base[1] else None
    print()
    print(f"SSE time to first event over HTTPS, {a.reps} fresh connections per mode "
          f"(modes interleaved), server {a.host}:{a.port}")
    print()
    print("| mode | n | first-event median ms | p90 ms | added median ms | added p90 ms "
          "| incl. connect+TLS median ms | added ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _ in modes:
        first, total = res[name]
        if not first:
            print(f"| {name} | 0 | failed | | | | | |")
            continue
        m50, m90, t50 = statistics.median(first), pct(first, 90), statistics.median(total)

        def add(v, b):
            return "—" if b is None or name == "direct" else f"{v - b:+.2f}"

        print(f"| {name} | {len(first)} | {m50:.2f} | {m90:.2f} | {add(m50, b50)} | "
              f"{add(m90, b90)} | {t50:.2f} | {add(t50, bt50)} |")
    notes = []
    for name, errs in errors.items():
        if errs:
            notes.append(f"{name}: {len(errs)} errors, first: {errs[0]}")
    if notes:
        print()
        for n in notes:
            print(f"- {n}")
    ok = all(res[name][0] for name, _ in modes)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--events", type=int, default=5)
    s.add_argument("--interval", type=float, default=0.2)
    s.add_argument("--framing", choices=["chunked", "close"], default="chunked")
    c = sub.add_parser("client")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--server-name", default=None, help="TLS name / Host (default: --host)")
    c.add_argument("--ca", required=True, help="CA for the direct connection")
    c.add_argument("--mode", action="append", required=True,
                   help="'direct' or NAME=PROXYHOST:PROXYPORT:PROXY_CA_PEM")
    c.add_argument("--reps", type=int, default=50)
    c.add_argument("--warmup", type=int, default=2)
    c.add_argument("--pause", type=float, default=0.01, help="sleep between fetches (s)")
    a = ap.parse_args()
    if a.cmd == "server":
        run_server(a)
        return 0
    return run_client(a)


if __name__ == "__main__":
    sys.exit(main())
