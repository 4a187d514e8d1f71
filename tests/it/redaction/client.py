"""A client that plants credentials, run under `phonehome run` by tests/it/redaction.rs.

Usage: PLANTED=SECRET PLANTED_SHAPE=KEY client.py CASE PORT. Talks to the upstream at 127.0.0.1:PORT through the
proxy named by http_proxy, with raw sockets so that nothing is rewritten on the way.
"""
import base64
import os
import socket
import sys
import urllib.parse

case, port = sys.argv[1], int(sys.argv[2])
secret, key = os.environ["PLANTED"], os.environ["PLANTED_SHAPE"]
proxy = urllib.parse.urlsplit(os.environ["http_proxy"])
origin = f"127.0.0.1:{port}"


def proxy_auth():
    if proxy.username is None:
        return b""
    pair = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
    return b"Proxy-Authorization: Basic " + base64.b64encode(pair.encode()) + b"\r\n"


def connect():
    return socket.create_connection((proxy.hostname, proxy.port), timeout=30)


def read_head(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit(f"connection closed after {head!r}")
        head += chunk
    return head


def read_response(sock):
    head = read_head(sock)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return head.split(b"\r\n")[0], body


def http(method, target, headers=b"", body=b""):
    with connect() as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {origin}\r\nConnection: close\r\n".encode()
            + proxy_auth()
            + headers
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status, answer = read_response(sock)
        if b" 200 " not in status + b" ":
            raise SystemExit(f"{target}: {status!r}")
        return answer


def ws_frame(opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    else:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    return bytes([0x80 | opcode]) + length + mask + masked


def websocket_binary(payload):
    with connect() as sock:
        sock.sendall(f"CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n".encode() + proxy_auth() + b"\r\n")
        if b" 200" not in read_head(sock):
            raise SystemExit("CONNECT refused")
        nonce = base64.b64encode(os.urandom(16))
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".encode()
            + b"Sec-WebSocket-Key: " + nonce + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        if b" 101 " not in read_head(sock):
            raise SystemExit("no upgrade")
        sock.sendall(ws_frame(2, payload))
        echo = b""
        while len(echo) < 2 + len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            echo += chunk
        sock.sendall(ws_frame(8, b"\x03\xe8"))
        if payload not in echo:
            raise SystemExit("no echo")


def binary_with_text(text):
    return b"\x00\xff\x10" + text.encode() + b"\x00\xfe\x01"


url = f"http://{origin}/echo"
if case in ("headers", "all"):
    http("GET", url, f"X-My-Service-Key: {secret}-h1\r\nX-Auth: {secret}-h2\r\nX-Access-Key: {secret}-h3\r\n".encode())
if case in ("form", "all"):
    form = f"grant_type=password&token={secret}-f1&password={secret}-f2&client_secret={secret}-f3"
    http("POST", url, b"Content-Type: application/x-www-form-urlencoded\r\n", form.encode())
if case in ("userinfo", "all"):
    http("GET", f"http://user:{secret}-u1@{origin}/echo")
if case in ("base64", "all"):
    text = f'{{"note":"{key}","api_key":"{secret}-b1"}}'
    http("POST", url, b"Content-Type: text/plain\r\n", base64.b64encode(text.encode()))
if case in ("binary", "all"):
    websocket_binary(binary_with_text(f'{key} {{"password":"{secret}-w1"}}'))
    http("POST", url, b"Content-Type: application/octet-stream\r\n",
         binary_with_text(f'{{"session_token":"{secret}-o1"}}'))
if case == "all":
    http("GET", f"{url}?page=1&api_key={secret}-q1",
         b"Content-Type: application/json\r\n",)
    http("POST", url, b"Content-Type: application/json\r\n",
         f'{{"model":"m","session_id":"ses-visible","client":{{"refresh_token":"{secret}-j1"}}}}'.encode())
