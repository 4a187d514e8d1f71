#!/usr/bin/env python3
"""Fake LLM server for the integration tests (python3 stdlib only): one HTTPS (or HTTP)
server that answers the four APIs the agents under test speak, streaming and not.

Usage: fake_llm.py [--host 127.0.0.1] [--port 0] [--reply TEXT] [--model ID]
                   [--tls-cert PEM --tls-key PEM]

* Binds --host (127.0.0.1: loopback only) on a free port (or --port), prints the port alone on
  the first line of stdout (flushed), then serves until killed (SIGTERM/SIGINT).
* OpenAI Chat Completions   POST .../chat/completions   ("stream": true -> SSE chunks, [DONE])
* OpenAI Responses          POST .../responses          ("stream": true -> SSE response.* events)
* Anthropic Messages        POST .../messages           ("stream": true -> SSE message_* events)
                            POST .../messages/count_tokens
* Gemini                    POST .../models/M:generateContent
                            POST .../models/M:streamGenerateContent?alt=sse (SSE; else a JSON array)
                            POST .../models/M:countTokens
* GET .../models            a model list containing --model (OpenAI and Gemini shapes)
* The answer is --reply (default: env FAKE_LLM_REPLY or "PHONEHOME-FAKE-REPLY"). When the
  request asks for JSON output with a schema (OpenAI `response_format`/`text.format`,
  Anthropic `output_format`, Gemini `responseJsonSchema`/`responseSchema`), the answer is the
  smallest JSON document the schema accepts, its strings set to the reply: that is what a side
  call (a title, a routing decision) expects back.
* Every request's method, path, headers and body are logged to stderr as one JSON object per
  line, prefixed with "fake_llm: ".
* Tool-call mode (--tool-command CMD): a request that offers a shell tool (one of SHELL_TOOLS,
  found in its tool definitions) and carries no tool result yet is answered with a call of that
  tool running CMD, its arguments in the tool's own schema (`command` as a string or an argv
  list, or `cmd`, plus any other required parameter); once a tool result comes back, the
  answer is --reply. Requests without a shell tool (side calls) get --reply as always.
* Usage is always 10 tokens in, 5 out.
* Also accepts absolute-form request targets (http://host:port/v1/...).
"""
import argparse
import json
import os
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

IN_TOKENS, OUT_TOKENS = 10, 5


def log(obj):
    sys.stderr.write("fake_llm: " + json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def instance(schema, reply, depth=0):
    """The smallest value `schema` (a JSON Schema, or Gemini's upper-case dialect) accepts."""
    if not isinstance(schema, dict) or depth > 8:
        return reply
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return instance(schema[key][0], reply, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = (kind or ("object" if "properties" in schema else "string")).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: instance(props.get(k, {}), reply, depth + 1) for k in required}
    if kind == "array":
        return [instance(schema.get("items", {}), reply, depth + 1)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        low = schema.get("minimum", 1)
        return int(low) if kind == "integer" else low
    if kind == "boolean":
        return False
    return reply


# The shell tools of the agents under test: Claude Code `Bash`, Codex `shell`/`exec_command`/
# `shell_command`/`local_shell`, Gemini CLI `run_shell_command`, OpenCode `bash`.
SHELL_TOOLS = ("Bash", "bash", "shell", "exec_command", "shell_command", "local_shell",
               "run_shell_command")


def tools_of(body):
    """The request's tool definitions as (name, JSON schema of the parameters)."""
    out = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
            out.append((decl.get("name"), decl.get("parametersJsonSchema")
                        or decl.get("parameters") or {}))
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        if fn.get("name"):
            out.append((fn["name"], fn.get("parameters") or fn.get("input_schema")
                        or fn.get("inputSchema") or {}))
        elif tool.get("type") == "local_shell":
            out.append(("local_shell", {}))
    return out


def has_tool_result(body):
    """Whether the request sends a tool's result back (any of the four APIs)."""
    for m in body.get("messages") or []:
        if not isinstance(m, dict):
            continue
        if m.get("role") == "tool":
            return True
        content = m.get("content")
        if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return True
    for item in body.get("input") or []:
        if isinstance(item, dict) and str(item.get("type", "")).endswith("_call_output"):
            return True
    for c in body.get("contents") or []:
        for part in (c or {}).get("parts") or []:
            if isinstance(part, dict) and ("functionResponse" in part
                                           or "function_response" in part):
                return True
    return False


def shell_call(body, command):
    """(tool name, arguments) running `command` with the request's shell tool, or None."""
    if not command or has_tool_result(body):
        return None
    for name, schema in tools_of(body):
        if name not in SHELL_TOOLS:
            continue
        props = (schema or {}).get("properties") or {}
        args = {}
        for key in (schema or {}).get("required") or []:
            args[key] = instance(props.get(key, {}), "run the command")
        key = "cmd" if "cmd" in props and "command" not in props else "command"
        kind = str((props.get(key) or {}).get("type", "string")).lower()
        args[key] = ["bash", "-lc", command] if kind == "array" or name == "local_shell" \
            else command
        return name, args
    return None


def json_schema_of(path, body):
    """The JSON schema the request wants its answer to follow, or None."""
    if not isinstance(body, dict):
        return None
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema") or {}
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return fmt.get("schema") or {}
    of = body.get("output_format") or (body.get("output_config") or {}).get("format") or {}
    if of.get("type") == "json_schema":
        return of.get("schema") or {}
    gc = body.get("generationConfig") or {}
    for key in ("responseJsonSchema", "responseSchema", "response_json_schema"):
        if gc.get(key):
            return gc[key]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-llm/1"

    def log_message(self, fmt, *args):
        pass

    def _target(self):
        return urlsplit(self.path) if "://" in self.path else urlsplit("http://x" + self.path)

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
        encoding = self.headers.get("Content-Encoding", "").lower()
        if raw and encoding in ("gzip", "deflate"):
            import zlib
            raw = zlib.decompress(raw, 47)
        elif raw and encoding == "zstd":
            raw = b""  # not decodable with the standard library; logged as empty
        return raw

    def _log_request(self, raw):
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        log({"method": self.command, "path": self.path,
             "headers": {k: v for k, v in self.headers.items()}, "body": body})
        return body

    def _send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _not_found(self):
        self._send_json(404, {"error": {"message": "not found: " + self.path,
                                        "type": "invalid_request_error", "code": 404}})

    def _start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _sse(self, data, event=None):
        text = ("event: %s\n" % event if event else "") + "data: " + data + "\n\n"
        raw = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()

    def _end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        self._log_request(b"")
        path = self._target().path.rstrip("/")
        model = self.server.model
        if path.endswith("/models"):
            self._send_json(200, {
                "object": "list",
                "data": [{"id": model, "object": "model", "created": 1700000000,
                          "owned_by": "fake"}],
                "models": [{"name": "models/" + model, "displayName": model,
                            "supportedGenerationMethods": ["generateContent"]}],
            })
        else:
            self._not_found()

    def do_HEAD(self):
        self._log_request(b"")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        raw = self._read_body()
        body = self._log_request(raw)
        target = self._target()
        path = target.path.rstrip("/")
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body must be a JSON object",
                                            "type": "invalid_request_error"}})
            return
        schema = json_schema_of(path, body)
        reply = self.server.reply
        if schema is not None:
            reply = json.dumps(instance(schema, self.server.reply))
        self.call = None if schema is not None else shell_call(body, self.server.tool_command)
        if path.endswith("/chat/completions"):
            self._chat(body, reply)
        elif path.endswith("/responses"):
            self._responses(body, reply)
        elif path.endswith("/messages/count_tokens"):
            self._send_json(200, {"input_tokens": IN_TOKENS})
        elif path.endswith("/messages"):
            self._messages(body, reply)
        elif path.endswith(":countTokens"):
            self._send_json(200, {"totalTokens": IN_TOKENS})
        elif path.endswith(":generateContent"):
            self._send_json(200, self._gemini_chunk(path, reply, True))
        elif path.endswith(":streamGenerateContent"):
            self._gemini_stream(path, reply, "alt=sse" in (target.query or ""))
        else:
            self._not_found()

    # --- OpenAI Chat Completions -------------------------------------------------------

    def _chat(self, body, reply):
        model = body.get("model") or self.server.model
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        usage = {"prompt_tokens": IN_TOKENS, "completion_tokens": OUT_TOKENS,
                 "total_tokens": IN_TOKENS + OUT_TOKENS}
        call = None
        if self.call:
            name, args = self.call
            call = {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)}}
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply}
            if call:
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
            self._send_json(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "tool_calls" if call else "stop",
                             "message": message}],
                "usage": usage,
            })
            return

        def chunk(choices, **extra):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": choices}
            obj.update(extra)
            return json.dumps(obj)

        self._start_sse()
        self._sse(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                          "finish_reason": None}]))
        if call:
            start = dict(call, function={"name": call["function"]["name"], "arguments": ""})
            self._sse(chunk([{"index": 0, "delta": {"tool_calls": [dict(start, index=0)]},
                              "finish_reason": None}]))
            self._sse(chunk([{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": call["function"]["arguments"]}}]},
                "finish_reason": None}]))
        else:
            for piece in pieces(reply):
                self._sse(chunk([{"index": 0, "delta": {"content": piece},
                                  "finish_reason": None}]))
        self._sse(chunk([{"index": 0, "delta": {},
                          "finish_reason": "tool_calls" if call else "stop"}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._sse(chunk([], usage=usage))
        self._sse("[DONE]")
        self._end_chunked()

    # --- OpenAI Responses -------------------------------------------------------------

    def _responses(self, body, reply):
        model = body.get("model") or self.server.model
        rid = "resp_" + uuid.uuid4().hex[:24]
        mid = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": IN_TOKENS, "output_tokens": OUT_TOKENS,
                 "total_tokens": IN_TOKENS + OUT_TOKENS,
                 "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens_details": {"reasoning_tokens": 0}}
        text = {"type": "output_text", "text": reply, "annotations": []}
        item = {"type": "message", "id": mid, "status": "completed", "role": "assistant",
                "content": [text]}
        if self.call:
            item = self._responses_call(*self.call)
        done = {"id": rid, "object": "response", "created_at": int(time.time()),
                "status": "completed", "model": model, "output": [item], "usage": usage}
        if not body.get("stream"):
            self._send_json(200, done)
            return
        seq = iter(range(1_000_000))

        def event(kind, **fields):
            fields.update({"type": kind, "sequence_number": next(seq)})
            self._sse(json.dumps(fields), kind)

        if self.call:
            started = dict(done, status="in_progress", output=[], usage=None)
            self._start_sse()
            event("response.created", response=started)
            event("response.output_item.added", output_index=0,
                  item=dict(item, status="in_progress",
                            **({"arguments": ""} if "arguments" in item else {})))
            if "arguments" in item:
                event("response.function_call_arguments.delta", item_id=item["id"],
                      output_index=0, delta=item["arguments"])
                event("response.function_call_arguments.done", item_id=item["id"],
                      output_index=0, arguments=item["arguments"])
            event("response.output_item.done", output_index=0, item=item)
            event("response.completed", response=done)
            self._end_chunked()
            return

        started = dict(done, status="in_progress", output=[], usage=None)
        self._start_sse()
        event("response.created", response=started)
        event("response.in_progress", response=started)
        event("response.output_item.added", output_index=0,
              item=dict(item, status="in_progress", content=[]))
        event("response.content_part.added", item_id=mid, output_index=0, content_index=0,
              part={"type": "output_text", "text": "", "annotations": []})
        for piece in pieces(reply):
            event("response.output_text.delta", item_id=mid, output_index=0, content_index=0,
                  delta=piece)
        event("response.output_text.done", item_id=mid, output_index=0, content_index=0,
              text=reply)
        event("response.content_part.done", item_id=mid, output_index=0, content_index=0,
              part=text)
        event("response.output_item.done", output_index=0, item=item)
        event("response.completed", response=done)
        self._end_chunked()

    def _responses_call(self, name, args):
        """A Responses output item calling tool `name` with `args`."""
        call_id = "call_" + uuid.uuid4().hex[:24]
        if name == "local_shell":
            return {"type": "local_shell_call", "id": "lsh_" + uuid.uuid4().hex[:24],
                    "call_id": call_id, "status": "completed",
                    "action": {"type": "exec", "command": args["command"], "env": {}}}
        return {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:24],
                "call_id": call_id, "name": name, "arguments": json.dumps(args),
                "status": "completed"}

    # --- Anthropic Messages -----------------------------------------------------------

    def _messages(self, body, reply):
        model = body.get("model") or self.server.model
        mid = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": IN_TOKENS, "output_tokens": OUT_TOKENS,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        block = {"type": "text", "text": reply}
        if self.call:
            block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24],
                     "name": self.call[0], "input": self.call[1]}
        stop = "tool_use" if self.call else "end_turn"
        done = {"id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [block], "stop_reason": stop,
                "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            self._send_json(200, done)
            return

        def event(kind, **fields):
            fields["type"] = kind
            self._sse(json.dumps(fields), kind)

        self._start_sse()
        event("message_start", message=dict(done, content=[], stop_reason=None,
                                            usage=dict(usage, output_tokens=1)))
        if self.call:
            event("content_block_start", index=0, content_block=dict(block, input={}))
            event("content_block_delta", index=0,
                  delta={"type": "input_json_delta", "partial_json": json.dumps(block["input"])})
        else:
            event("content_block_start", index=0, content_block={"type": "text", "text": ""})
            for piece in pieces(reply):
                event("content_block_delta", index=0,
                      delta={"type": "text_delta", "text": piece})
        event("content_block_stop", index=0)
        event("message_delta", delta={"stop_reason": stop, "stop_sequence": None},
              usage={"output_tokens": OUT_TOKENS})
        event("message_stop")
        self._end_chunked()

    # --- Gemini -----------------------------------------------------------------------

    def _gemini_chunk(self, path, text, last, rid=None):
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        part = {"text": text}
        if self.call:
            part = {"functionCall": {"name": self.call[0], "args": self.call[1]}}
        candidate = {"content": {"role": "model", "parts": [part]}, "index": 0}
        chunk = {"candidates": [candidate], "modelVersion": model,
                 "responseId": rid or "fake-" + uuid.uuid4().hex[:12]}
        if last:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = {"promptTokenCount": IN_TOKENS,
                                      "candidatesTokenCount": OUT_TOKENS,
                                      "totalTokenCount": IN_TOKENS + OUT_TOKENS}
        return chunk

    def _gemini_stream(self, path, reply, sse):
        parts, rid = ([reply] if self.call else pieces(reply)), "fake-" + uuid.uuid4().hex[:12]
        chunks = [self._gemini_chunk(path, p, i == len(parts) - 1, rid)
                  for i, p in enumerate(parts)]
        if not sse:
            self._send_json(200, chunks)
            return
        self._start_sse()
        for chunk in chunks:
            self._sse(json.dumps(chunk))
        self._end_chunked()


def pieces(reply):
    """The reply in three pieces or so, so that streaming is really exercised."""
    step = max(1, len(reply) // 3)
    return [reply[i:i + step] for i in range(0, len(reply), step)] or [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default=os.environ.get("FAKE_LLM_REPLY", "PHONEHOME-FAKE-REPLY"))
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--tool-command", default=os.environ.get("FAKE_LLM_TOOL_COMMAND"),
                    help="answer the first turn with a call of the request's shell tool")
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
    srv.tool_command = args.tool_command
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
