#!/usr/bin/env python3
"""Writes a synthetic phonehome/1 capture shaped like a long agent session, for the viewer
benchmark: every turn re-sends the growing conversation (as agents do), so request bodies are
large (tens to hundreds of KiB) and flows are few for the file's size.

Usage: gen_llm_capture.py MIB OUT.jsonl   (stops once the file reaches MIB mebibytes)

All text, names and keys are made up.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

target = int(sys.argv[1]) * 1024 * 1024
out = open(sys.argv[2], "w", buffering=1 << 20)
start = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
written = 0


def ts(ms):
    return (start + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def line(obj):
    global written
    text = json.dumps(obj, separators=(",", ":")) + "\n"
    out.write(text)
    written += len(text)


def body(data):
    return {"size": len(data), "encoding": "utf8", "data": data, "truncated": False}


line({"type": "capture", "ts": ts(0), "format": "phonehome/1", "id": "bench-llm", "tool_version": "0.1.0",
      "mode": "run", "command": ["opencode", "run", "bench"], "cwd": "/home/dev/acme-app", "policy": "observe",
      "options": {}})
system = "You are a coding agent working in /home/dev/acme-app. " * 40
tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": "Does a thing " * 10,
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}
         for i in range(12)]
file_text = "fn scheduler_tick(queue: &mut Queue) -> Result<(), Error> { queue.drain_ready()?; Ok(()) }\n" * 40
messages = [{"role": "system", "content": system}, {"role": "user", "content": "refactor the scheduler"}]
flow = 0
ms = 0
while written < target:
    flow += 1
    ms += 1500
    session_turn = flow % 60
    if session_turn == 0:
        messages = messages[:2]
    request = json.dumps({"model": "gpt-4.1", "stream": True, "messages": messages, "tools": tools})
    line({"type": "request", "ts": ts(ms), "flow": flow, "conn": flow, "method": "POST",
          "url": "https://api.openai.com/v1/chat/completions", "version": "HTTP/1.1",
          "headers": [["content-type", "application/json"], ["authorization", "Bearer [REDACTED:5eb63bbe]"],
                      ["x-opencode-session", f"ses_{flow // 60:04d}"]],
          "body": body(request)})
    chunks = [{"id": f"chatcmpl-{flow}", "object": "chat.completion.chunk", "model": "gpt-4.1",
               "choices": [{"index": 0, "delta": {"content": f"step {i} "}, "finish_reason": None}]}
              for i in range(40)]
    sse = "".join("data: " + json.dumps(c, separators=(",", ":")) + "\n\n" for c in chunks) + "data: [DONE]\n\n"
    line({"type": "response", "ts": ts(ms + 900), "flow": flow, "status": 200, "reason": "OK", "version": "HTTP/1.1",
          "headers": [["content-type", "text/event-stream"]], "body": body(sse), "ttfb_ms": 200,
          "first_byte_ms": 240, "duration_ms": 900})
    messages.append({"role": "assistant", "content": "I read the file."})
    messages.append({"role": "tool", "tool_call_id": f"call_{flow}", "content": file_text})
line({"type": "end", "ts": ts(ms + 2000), "exit_code": 0,
      "counts": {"conns": flow, "requests": flow, "responses": flow, "errors": 0, "blocked": 0, "ws": 0},
      "dropped_bytes": 0})
