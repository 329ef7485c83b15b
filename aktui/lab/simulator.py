"""An authentik API simulator on 127.0.0.1, serving a ``LabState`` in the shape of its line
(``LabState.api``: 2023.10.7 or 2025.12.4).

Answers like the real server recorded in tests/data/recorded/: Bearer auth with 403 (never
401), DRF page-number pagination (``next``/``previous`` page numbers, 0 = none; page_size 20,
max 100; past the end 404 ``Invalid page.``), 404 ``Not found.``, bare-array health. It never
pushes configuration to outposts (as with a broken websocket or a stopped worker): outposts
only see changes when they refresh. Lab-only parts: ``POST /_lab/ws/outpost/<uuid>/`` stands in
for the outpost websocket's HELLO, and a minimal OAuth2 authorize/token pair lets a browser (or
curl) complete the outpost's login flow.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aktui.lab import oidc, routes
from aktui.lab.http import BAD_TOKEN, NO_CREDENTIALS, NOT_FOUND, UUID_RE, Caller, HTTPAnswer
from aktui.lab.objects import RequestInfo
from aktui.lab.state import LabState
from aktui.lab.wire import LabHTTPServer


class Simulator:
    def __init__(
        self, state: LabState, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0
    ) -> None:
        self.state = state
        self.latency_s = latency_ms / 1000
        self.requests = 0  # API requests served (bench, tests)
        self.ws_down_until: dict[str, float] = {}  # outpost pk -> time: HELLOs fail (chaos)
        self.codes = oidc.CodeStore()
        self._server = LabHTTPServer((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None
        self._route_table: list[tuple[str, tuple[str, ...], Callable[..., tuple[int, Any]]]] = []

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Simulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="aktui-lab-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def drop_websocket(self, outpost_name: str, seconds: float) -> None:
        """Make an outpost's HELLOs fail for a while (proxy dropping the websocket)."""
        outpost = self.state.outpost(outpost_name)
        if outpost:
            self.ws_down_until[outpost.pk] = time.time() + seconds

    # --- authentication --------------------------------------------------------------------

    def authenticate(self, header: str | None, anonymous_ok: bool = False) -> Caller:
        # authentik/api/authentication.py: a non-Bearer header is ignored (then DRF's session
        # auth finds nobody: 403 "not provided"); an unknown Bearer key is 403 "invalid/expired"
        scheme, _, key = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            if anonymous_ok:
                return Caller(None, None)
            raise HTTPAnswer(403, NO_CREDENTIALS)
        found = self.state.token_owner(key.strip())
        if found is None:
            raise HTTPAnswer(403, BAD_TOKEN)
        return Caller(*found)

    # --- API routes ------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        caller: Caller,
        req: RequestInfo,
    ) -> tuple[int, Any]:
        st = self.state
        for pattern, methods, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if not match:
                continue
            if method not in methods:
                raise HTTPAnswer(405, {"detail": f'Method "{method}" not allowed.'})
            with st.lock:
                return handler(method, query, body, caller, req, *match.groups())
        raise HTTPAnswer(404, NOT_FOUND)

    def answer(
        self, method: str, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, Any]:
        """One API request without a body (``path`` under /api/v3), answered in this process
        as the HTTP handler answers it: the same authentication, routes and errors, and the
        payload as the client decodes the JSON the handler would send."""
        if self.latency_s:
            time.sleep(self.latency_s)
        self.requests += 1
        try:
            caller = self.authenticate(authorization, anonymous_ok=path == "/root/config/")
            req = RequestInfo(path="/api/v3" + path, method=method, args=dict(query))
            status, payload = self.api(method, path, query, None, caller, req)
        except HTTPAnswer as answer:
            status, payload = answer.status, answer.body
        if payload is None:
            return status, None
        return status, json.loads(json.dumps(payload, ensure_ascii=False))

    def _routes(self) -> list[tuple[str, tuple[str, ...], Callable[..., tuple[int, Any]]]]:
        if not self._route_table:
            self._route_table = routes.routes(self)
        return self._route_table


def _make_handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
        # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add
        # ~40 ms to every answer on a kept-alive connection
        disable_nagle_algorithm = True
        server_version = "gunicorn"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the lab's API log would drown the terminal; counters are kept instead

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-authentik-id", secrets.token_hex(16))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            # DRF's JSONRenderer: compact separators, UTF-8
            data = (
                b""
                if payload is None
                else json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            )
            self._send(status, data, "application/json", {"Vary": "Accept"})

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if parts.path.startswith("/api/v3/"):
                    self._api(method, parts.path, query, raw)
                elif parts.path.startswith("/_lab/ws/outpost/"):
                    self._hello(parts.path, raw)
                elif parts.path.startswith("/application/o/"):
                    status, ctype, body, headers = oidc.handle(
                        sim, method, parts.path, query, raw, self.headers
                    )
                    self._send(status, body, ctype, headers)
                else:
                    self._send(404, b"<h1>Not Found</h1>", "text/html; charset=utf-8", {})
            except HTTPAnswer as answer:
                self._json(answer.status, answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
            if sim.latency_s:
                time.sleep(sim.latency_s)
            sim.requests += 1
            sub = path.removeprefix("/api/v3")
            caller = sim.authenticate(
                self.headers.get("Authorization"), anonymous_ok=sub == "/root/config/"
            )
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise HTTPAnswer(
                        400, {"detail": "JSON parse error - Expecting value: line 1 column 1"}
                    ) from None
            req = RequestInfo(
                path=path,
                method=method,
                user_agent=self.headers.get("User-Agent", ""),
                client_ip=self.client_address[0],
                args=dict(query),
            )
            status, payload = sim.api(method, sub, query, body, caller, req)
            self._json(status, payload)

        def _hello(self, path: str, raw: bytes) -> None:
            match = re.fullmatch(rf"/_lab/ws/outpost/({UUID_RE})/", path)
            caller = sim.authenticate(self.headers.get("Authorization"))
            outpost = sim.state.outposts.get(match.group(1)) if match else None
            if outpost is None or (caller.outpost and caller.outpost.pk != outpost.pk):
                raise HTTPAnswer(403, {"detail": "DenyConnection"})
            if sim.ws_down_until.get(outpost.pk, 0) > time.time():
                self._send(502, b"Bad Gateway", "text/plain", {})
                return
            try:
                args = json.loads(raw or b"{}").get("args", {})
            except (ValueError, AttributeError):
                args = {}
            sim.state.hello(
                outpost.pk,
                str(args.get("uuid") or secrets.token_hex(8)),
                str(args.get("version") or ""),
                str(args.get("buildHash") or ""),
                str(args.get("hostname") or ""),
                str(args.get("golangVersion") or ""),
            )
            self._json(200, {"instruction": 0, "args": {}})  # ACK

    return Handler
