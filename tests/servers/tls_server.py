"""A small HTTPS server for the upstream TLS tests (tests/it/upstream_tls.rs), built on
Python's ssl module (OpenSSL), so that it can serve what rustls cannot (TLS 1.0) and ask for
client certificates as OpenSSL servers do.

    python3 tls_server.py --cert CERT --key KEY [--max-version 1.0|1.2|1.3]
                          [--client-ca CA [--optional]]

Prints the port it listens on (127.0.0.1), then serves until killed. Every GET answers
{"hello":"world"}. With --client-ca the server asks for a client certificate from that CA and
refuses the handshake without one; with --optional too, it answers 400 instead, as nginx's
`ssl_verify_client optional` servers do.
"""

import argparse
import http.server
import ssl


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.server.optional and not self.connection.getpeercert():
            body = b"No required SSL certificate was sent"
            self.send_response(400)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = b'{"hello":"world"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context, optional):
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context
        self.optional = optional

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def process_request_thread(self, request, client_address):
        # The handshake runs in the connection's thread, so one stalled client blocks nothing.
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        super().process_request_thread(request, client_address)

    def handle_error(self, request, client_address):
        pass


VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--max-version", choices=VERSIONS)
    parser.add_argument("--client-ca")
    parser.add_argument("--optional", action="store_true")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.max_version == "1.0":
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
    if args.max_version:
        context.maximum_version = VERSIONS[args.max_version]
    if args.client_ca:
        context.verify_mode = ssl.CERT_OPTIONAL if args.optional else ssl.CERT_REQUIRED
        context.load_verify_locations(args.client_ca)

    server = Server(context, args.optional)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    main()
