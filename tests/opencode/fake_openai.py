#!/usr/bin/env python3
"""Tiny fake OpenAI-compatible server for integration tests (python3 stdlib only).

Usage: fake_openai.py [--host 127.0.0.1] [--port 0] [--reply TEXT] [--model ID]
                      [--tls-cert PEM --tls-key PEM]

* Binds 127.0.0.1 on a free port (or --port) and prints the port alone on the
  first line of stdout (flushed), then serves until killed (SIGTERM/SIGINT).
* GET  /v1/models            -> model list containing --model (default "fake-model")
* POST /v1/chat/completions  -> one assistant message whose text is --reply
                                (default: env FAKE_OPENAI_REPLY or "PHONEHOME-FAKE-REPLY").
                                "stream": true -> SSE chat.completion.chunk events,
                                ending with "data: [DONE]".
* Every request's method, path, headers and body are logged to stderr as one
  JSON object per line, prefixed with "fake_openai: ".
* With --tls-cert and --tls-key it serves HTTPS (HTTP/1.1) instead of plain HTTP.
* Also accepts absolute-form request targets (http://host:port/v1/...), as sent
  by clients talking through a plain HTTP proxy.
"""
import argparse
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
import os
import signal


def log(obj):
    sys.stderr.write("fake_openai: " + json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1"

    # silence the default access log; we log our own JSON lines
    def log_message(self, fmt, *args):
        pass

    def _path(self):
        return urlsplit(self.path).path if "://" in self.path else self.path.split("?", 1)[0]

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if not n and self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        return raw

    def _log_request(self, raw):
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        log({
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body,
        })
        return body

    def _send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        self._log_request(b"")
        path = self._path().rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send_json(200, {
                "object": "list",
                "data": [{"id": self.server.model, "object": "model",
                          "created": 1700000000, "owned_by": "fake"}],
            })
        else:
            self._send_json(404, {"error": {"message": "not found: " + self.path,
                                            "type": "invalid_request_error"}})

    def do_POST(self):
        raw = self._read_body()
        body = self._log_request(raw)
        path = self._path().rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": "not found: " + self.path,
                                            "type": "invalid_request_error"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body must be a JSON object",
                                            "type": "invalid_request_error"}})
            return
        model = body.get("model") or self.server.model
        reply = self.server.reply
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if body.get("stream"):
            self._stream(cid, created, model, reply, usage,
                         bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._send_json(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}],
                "usage": usage,
            })

    def _stream(self, cid, created, model, reply, usage, include_usage):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(choices, **extra):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": choices}
            obj.update(extra)
            return "data: " + json.dumps(obj) + "\n\n"

        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                          "finish_reason": None}])]
        # split the reply into a few pieces so streaming is really exercised
        step = max(1, len(reply) // 3)
        for i in range(0, len(reply), step):
            events.append(chunk([{"index": 0, "delta": {"content": reply[i:i + step]},
                                  "finish_reason": None}]))
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if include_usage:
            events.append(chunk([], usage=usage))
        events.append("data: [DONE]\n\n")
        for ev in events:
            data = ev.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default=os.environ.get("FAKE_OPENAI_REPLY", "PHONEHOME-FAKE-REPLY"))
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.tls_cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        context.set_alpn_protocols(["http/1.1"])
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    srv.reply = args.reply
    srv.model = args.model
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
