"""Servers that answer badly, on loopback, for the hostile-input corpus.

``HostileHTTP``: the first path segment picks a behaviour (``/echo-token/api/v3/...``), so one
server serves every config case. ``FakeSSH``: speaks SSH with a known host key and refuses
every login, so a client gets exactly as far as its host key check. Both run in threads of the
test process and are stopped (sockets closed, threads joined) by ``close()``.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from contextlib import suppress

import paramiko

ESCAPES = "\x1b]52;c;cGF5bG9hZA==\x07\x1b[2J\x1b]0;pwned\x07\u202eevil\u2028next"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode())

    def do_GET(self) -> None:  # one branch per behaviour, read top to bottom
        behaviour, _, rest = self.path.lstrip("/").partition("/")
        stop = self.server.stopping
        if behaviour == "echo-token":
            auth = self.headers.get("Authorization", "")
            self._send(
                400, f"WAF blocked request. Headers: Authorization: {auth}".encode(), "text/plain"
            )
        elif behaviour == "escape-detail":
            self._json(400, {"detail": ESCAPES})
        elif behaviour == "html404":
            self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        elif behaviour == "token-invalid":
            self._json(403, {"detail": "Token invalid/expired"})
        elif behaviour == "redirect":
            self.send_response(302)
            self.send_header("Location", "https://login.example.com/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif behaviour == "deep":
            self._send(200, b"[" * 200_000 + b"]" * 200_000)
        elif behaviour == "page-bomb":
            if "admin/version" in rest:
                self._json(200, {"version_current": "2025.12.4"})
            else:
                self._json(200, {"pagination": {"total_pages": 10**9, "next": 2}, "results": []})
        elif behaviour == "huge" and "admin/version" not in rest:
            stop.wait(30)  # the other calls wait; the version call's size ends the run
        elif behaviour == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            chunk = b" " * (1 << 20)
            with suppress(OSError):
                for _ in range(200):  # 200 MiB, more than the client takes
                    if stop.is_set():
                        break
                    self.wfile.write(chunk)
        elif behaviour == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            with suppress(OSError):
                while not stop.wait(0.2):
                    self.wfile.write(b" ")
                    self.wfile.flush()
        elif behaviour == "silent":
            stop.wait(30)
        else:
            self._json(500, {"detail": f"no behaviour {behaviour!r}"})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: the client hangs up on purpose (a cancelled request, a cut body), and the
        stdlib's traceback would land in the captured stderr of the aktui run under test."""


class HostileHTTP:
    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class _RefuseAll(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_FAILED


class FakeSSH:
    """Key exchange with ``host_key``, then every login refused."""

    def __init__(self, host_key: paramiko.PKey) -> None:
        self.host_key = host_key
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.transports: list[paramiko.Transport] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            with suppress(Exception):
                transport.start_server(server=_RefuseAll())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        for transport in self.transports:
            transport.close()
        deadline = time.monotonic() + 5
        for transport in self.transports:
            transport.join(max(0.0, deadline - time.monotonic()))
