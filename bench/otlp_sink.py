#!/usr/bin/env python3
"""A local OTLP/HTTP sink for the benchmarks: accepts POSTs to /v1/traces, /v1/metrics and
/v1/logs on 127.0.0.1, reads each body whole and answers 200 with an empty protobuf response
(a valid Export*ServiceResponse). It does not decode: it stands in for a collector that keeps
up, so the figures are phonehome's. Prints its port on the first line of stdout; on SIGTERM
prints `requests bytes` per path to stderr.

Usage: otlp_sink.py [PORT]
"""
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        with lock:
            requests, size = counts.get(self.path, (0, 0))
            counts[self.path] = (requests + 1, size + n)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Sink)
    server.daemon_threads = True

    def stop(*_):
        with lock:
            for path, (requests, size) in sorted(counts.items()):
                print(f"{path} {requests} {size}", file=sys.stderr)
        sys.stderr.flush()
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
