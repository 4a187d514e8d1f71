"""A TLS HTTP/1.1 upstream whose every answer is the number of the connection it came on.

    python3 upstream.py CERT KEY [MARKER]

A GET of /bye is answered, then half a second later the upstream closes its side of that
connection (a FIN, no close_notify) and, once phonehome has closed its side too, writes
MARKER. Prints its port, then serves until killed.
"""

import http.server
import itertools
import socket
import ssl
import sys
import threading
import time

CONNECTIONS = itertools.count(1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.number = next(CONNECTIONS)
        self.bye = False

    def do_GET(self):
        body = str(self.number).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/bye":
            self.wfile.flush()
            self.bye = True
            threading.Thread(target=self.close_later, daemon=True).start()

    def close_later(self):
        time.sleep(0.5)
        self.connection.shutdown(socket.SHUT_WR)

    def finish(self):
        super().finish()
        # The handler's loop ends when phonehome's side of the connection closes.
        if self.bye and len(sys.argv) > 3:
            with open(sys.argv[3], "w") as marker:
                marker.write(f"closed {self.number}")

    def log_message(self, *args):
        pass


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
context.set_alpn_protocols(["http/1.1"])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
