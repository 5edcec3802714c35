"""receiver.py -- a real HTTP listener on loopback for the plugin tests.

It records every request (path, headers, JSON body) and answers with the
statuses it is told to, in order, then 200: Receiver(fail=[500, 500]) fails
twice, then accepts.  answer(body) builds the 2xx body from the request;
Receiver(hold=True) records requests but answers none until release().
It can be stopped and started again on the same port, to play a receiver
that is down.  Its port is held from the first bind to the end: a bound
socket that does not listen keeps it while the receiver is down (a
connection is refused, and no other process is given the port).
"""
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def bound_socket(port=0):
    """A TCP socket bound on loopback, not listening: it holds the port (0: one the kernel picks) until
    closed or listened on.  SO_REUSEADDR (inherited by the connections it accepts): bound again after a
    stop, the port still has the stopped receiver's connections on it, closing or in TIME_WAIT.  A port
    the kernel picks for another process's bind(0) is never one with a socket bound on it, so the
    option does not give it away."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    return s


class Receiver:
    def __init__(self, port=None, fail=(), answer=None, hold=False, tls=None):
        self.held = bound_socket(port or 0)   # the server listens on this very socket: never bound twice
        self.port = self.held.getsockname()[1]
        self.fail = list(fail)
        self.answer = answer or (lambda body: {"ok": True})
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.connections = set()
        self.tls = tls            # (certificate file, key file): serve https
        # hold: every answer waits until release() (the request is recorded first)
        self.gate = threading.Event()
        if not hold:
            self.gate.set()

    @property
    def url(self):
        return "%s://127.0.0.1:%d/hook" % ("https" if self.tls else "http", self.port)

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # headers and body leave in two writes: without this, Nagle and delayed ACKs
                # hold every answer for 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def finish(self):
                with receiver.lock:
                    receiver.connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                with receiver.lock:
                    status = receiver.fail.pop(0) if receiver.fail else 200
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                              "status": status})
                receiver.gate.wait(timeout=60)
                reply = json.dumps(receiver.answer(body) if status < 300 else {"error": "failing on demand"})
                reply = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass   # a refused TLS handshake is what some tests want

        self.server = Server(("127.0.0.1", self.port), Handler, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket, self.held = self.held, None
        self.server.server_activate()
        self.server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # the handshake runs in the connection's thread, not in accept()
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down for real: no listener, and the open keep-alive connections are cut."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            self.held = bound_socket(self.port)   # down, but the port stays ours for start()
        with self.lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()

    def release(self):
        self.gate.set()

    def accepted(self):
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Stopped, and the port given back."""
        self.stop()
        if self.held:
            self.held.close()
            self.held = None


def wait_for(condition, timeout=30, what="condition"):
    """Polls condition() until it is true: waits for an event, never for a time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def make_certificate(folder, name="127.0.0.1", alternative="IP:127.0.0.1,DNS:localhost"):
    """A self-signed certificate and key (openssl); returns (certificate file, key file)."""
    certificate, key = os.path.join(folder, name + ".pem"), os.path.join(folder, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                    "-days", "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=" + alternative],
                   check=True, capture_output=True)
    return certificate, key
