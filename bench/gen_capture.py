#!/usr/bin/env python3
"""Writes a synthetic phonehome/1 capture of N requests (and their responses) for benchmarks.

Usage: gen_capture.py N OUT.jsonl [VARIANT]

VARIANT 1 is the same session from another agent version that sends no telemetry: the
second capture `bench/report` diffs against the first.

VARIANT 2 adds process attribution and tool calls, for the join of tool calls and connections
(`bench/causes`): every connection closes with a `conn` record naming its process (the agent,
pid 100), and one GitHub request in ten is made by a `curl` the model asked for: the LLM call before it
answers with a `bash` tool call running that curl, the next LLM call sends its result back, and
the curl connects on a connection of its own, its `conn` record naming `curl` under `sh -c`
under the agent (14,286 tool calls and caused connections at 1M requests).

The traffic mixes what agents send: streamed LLM calls with a prompt and a bearer credential,
bursts of failing retries, model-catalog fetches, package tarballs from a (made-up) mirror,
telemetry batches, and GitHub downloads; ids in paths vary so signatures template them. All
names and keys are made up.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

n = int(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1 << 20)
variant = int(sys.argv[3]) if len(sys.argv) > 3 else 0
start = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)


def ts(ms):
    return (start + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def line(obj):
    out.write(json.dumps(obj, separators=(",", ":")))
    out.write("\n")


line({"type": "capture", "ts": ts(0), "format": "phonehome/1", "id": "bench", "tool_version": "0.1.0",
      "mode": "run", "command": ["opencode", "run", "bench"], "cwd": "/home/dev/acme-app", "policy": "observe",
      "options": {}, "markers": {"values": [{"kind": "cwd", "value": "/home/dev/acme-app"}],
                                 "secrets": [{"kind": "env", "name": "OPENAI_API_KEY", "fingerprint": "5eb63bbe"}]}})
prompt = json.dumps({"model": "gpt-4.1", "stream": True, "messages": [
    {"role": "system", "content": "You are a coding agent in /home/dev/acme-app."},
    {"role": "user", "content": "refactor the scheduler and keep the tests green"}]})
sse = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n" * 8 + "data: [DONE]\n\n"
auth = ["authorization", "Bearer [REDACTED:5eb63bbe]"]
version = "1.18.34" if variant else "1.18.33"
ua = ["user-agent", f"opencode/{version} ai-sdk/provider-utils/3.0.9 runtime/bun/1.3.14"]
kinds = [
    ("POST", "https://api.openai.com/v1/chat/completions", prompt, 200, sse),
    ("POST", "https://api.openai.com/v1/chat/completions", prompt, 429, '{"error":{"type":"rate_limit"}}'),
    ("GET", "https://models.dev/api.json", None, 200, '{"openai":{}}'),
    ("GET", "https://npm-mirror.corp.test/zod/-/zod-4.1.{v}.tgz", None, 200, None),
    ("POST", "https://us.i.posthog.com/batch", '{"event":"tick","n":{i}}', 200, "{}"),
    ("GET", "https://api.github.com/repos/acme/app/issues/{i}", None, 200, '{"id":{i}}'),
    ("POST", "https://opencode.ai/api/sessions/ses_01JCX{i}AB/messages", '{"text":"hello"}', 200, "{}"),
]
if variant:
    kinds[4] = ("GET", "https://models.dev/api.json", None, 304, None)
tools = variant == 2
# One LLM answer in ten asks for a tool call (one per 70 requests).
TOOL_EVERY = 70


def tool_answer(i):
    """A streamed answer asking for a curl of the GitHub request 5 flows later."""
    args = json.dumps({"command": f"curl -s https://api.github.com/repos/acme/app/issues/{i + 5}"})
    call = {"index": 0, "id": f"call_{i}", "type": "function", "function": {"name": "bash", "arguments": args}}
    return ("data: " + json.dumps({"choices": [{"delta": {"tool_calls": [call]}}]}) + "\n\n"
            + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n")


def process(pid, argv, ms, ancestry=()):
    return {"process": {"pid": pid, "ppid": ancestry[0]["pid"] if ancestry else 1, "exe": "/usr/bin/" + argv[0],
                        "argv": argv, "start": ts(ms)},
            "ancestry": list(ancestry)}


def conn_record(conn, t, host, extra):
    rec = {"type": "conn", "ts": ts(t), "conn": conn, "client": "127.0.0.1:40000",
           "target": {"host": host, "port": 443}, "transport": "tls-intercept", "bytes_up": 1, "bytes_down": 1,
           "opened": ts(t), "duration_ms": 1}
    rec.update(extra)
    line(rec)


agent = process(100, ["opencode", "run", "bench"], 0)
for i in range(n):
    method, url, body, status, resp = kinds[i % len(kinds)]
    url = url.replace("{i}", str(i)).replace("{v}", str(i % 50))
    t = i * 7
    conn = i // 50 + 1
    if tools and i % TOOL_EVERY == 0:
        resp = tool_answer(i)
    if tools and i % TOOL_EVERY == 7:
        body = json.dumps({"model": "gpt-4.1", "stream": True, "messages": [
            {"role": "user", "content": "go"},
            {"role": "tool", "tool_call_id": f"call_{i - 7}", "content": "{}"}]})
    if tools and i % TOOL_EVERY == 5:
        conn = n + i
    req = {"type": "request", "ts": ts(t), "flow": i + 1, "conn": conn, "method": method, "url": url,
           "version": "HTTP/1.1", "headers": [ua, auth, ["content-type", "application/json"]]}
    if body:
        body = body.replace("{i}", str(i))
        req["body"] = {"size": len(body), "encoding": "utf8", "data": body, "truncated": False}
    line(req)
    res = {"type": "response", "ts": ts(t + 5), "flow": i + 1, "status": status, "reason": "", "version": "HTTP/1.1",
           "headers": [["content-type", "text/event-stream" if resp == sse else "application/json"]],
           "ttfb_ms": 3, "duration_ms": 5}
    if resp:
        resp = resp.replace("{i}", str(i))
        res["body"] = {"size": len(resp), "encoding": "utf8", "data": resp, "truncated": False}
    line(res)
    if tools and conn > n:
        sh = {"pid": 1000 + 2 * i, "exe": "/usr/bin/dash", "argv": ["sh", "-c", "curl -s " + url], "start": ts(t - 2)}
        conn_record(conn, t + 6, "api.github.com",
                    process(1001 + 2 * i, ["curl", "-s", url], t - 1, [sh, {"pid": 100, "exe": "/usr/bin/opencode"}]))
    elif tools and (i + 1) % 50 == 0:
        conn_record(conn, t + 6, "api.openai.com", agent)
line({"type": "end", "ts": ts(n * 7 + 10), "exit_code": 0,
      "counts": {"conns": n // 50 + 1, "requests": n, "responses": n, "errors": 0, "blocked": 0, "ws": 0},
      "dropped_bytes": 0})
