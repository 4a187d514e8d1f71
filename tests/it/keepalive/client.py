"""One intercepted keep-alive connection through phonehome, driven step by step.

    python3 client.py PROXY_ADDR TARGET CA STEP...

STEP: `get` (a GET, its status line and body printed), `bye` (the same for a GET of /bye),
`waitfile:PATH` (waits up to 20 s for PATH to exist; prints `seen` or `not seen`), `split` (a GET whose head comes in
two parts a second apart), `sleep:SECONDS`, `idle` (read until the proxy answers or closes;
the status line printed, or `closed`), `drip` (a GET's head sent a byte every 0.3 s until the
proxy answers; the status line printed, or `closed`).
"""

import select
import socket
import ssl
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
target, ca, steps = sys.argv[2], sys.argv[3], sys.argv[4:]
raw = socket.create_connection((host, int(port)), timeout=60)
raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += raw.recv(1)
context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["http/1.1"])
tls = context.wrap_socket(raw, server_hostname="localhost")
reader = tls.makefile("rb")


def response():
    status = reader.readline().decode().strip()
    length = 0
    while True:
        line = reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return f"{status} {reader.read(length).decode()}"


for step in steps:
    if step.startswith("sleep:"):
        time.sleep(float(step[len("sleep:"):]))
    elif step == "get":
        tls.sendall(b"GET /n HTTP/1.1\r\nHost: localhost\r\n\r\n")
        print(response(), flush=True)
    elif step == "bye":
        tls.sendall(b"GET /bye HTTP/1.1\r\nHost: localhost\r\n\r\n")
        print(response(), flush=True)
    elif step.startswith("waitfile:"):
        path = step[len("waitfile:"):]
        for _ in range(200):
            try:
                open(path).close()
                break
            except FileNotFoundError:
                time.sleep(0.1)
        try:
            open(path).close()
            print("seen", flush=True)
        except FileNotFoundError:
            print("not seen", flush=True)
    elif step == "split":
        tls.sendall(b"GET /n HTTP/1.1\r\nHost: loc")
        time.sleep(1)
        tls.sendall(b"alhost\r\n\r\n")
        print(response(), flush=True)
    elif step == "drip":
        for byte in b"GET /n HTTP/1.1\r\nHost: localhost\r\n\r\n":
            if select.select([tls], [], [], 0.3)[0]:
                break
            try:
                tls.sendall(bytes([byte]))
            except OSError:
                break
        line = reader.readline().decode().strip()
        print(line or "closed", flush=True)
    elif step == "idle":
        line = reader.readline().decode().strip()
        print(line or "closed", flush=True)
