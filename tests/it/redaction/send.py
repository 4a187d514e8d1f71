"""Sends telemetry fixtures, run under `phonehome run` by tests/it/redaction_telemetry.rs.

Usage: send.py PLAN PORT. PLAN is a JSON list of {"file", "path", "headers": [[name, value]]};
each file is POSTed to 127.0.0.1:PORT through the proxy named by http_proxy, with its headers.
"""
import json
import sys
import urllib.error
import urllib.request

plan, port = sys.argv[1], int(sys.argv[2])
with open(plan, encoding="utf-8") as f:
    requests = json.load(f)
for request in requests:
    with open(request["file"], "rb") as f:
        body = f.read()
    # The local server reads the body only on /echo (answering before it is read would cut
    # the recorded body); the format's own path and query follow as the query.
    path, _, query = request["path"].partition("?")
    target = f"/echo?to={path}" + (f"&{query}" if query else "")
    req = urllib.request.Request(f"http://127.0.0.1:{port}{target}", data=body, method="POST")
    for name, value in request["headers"]:
        req.add_header(name, value)
    try:
        urllib.request.urlopen(req, timeout=30).read()
    except urllib.error.HTTPError as e:
        e.read()
