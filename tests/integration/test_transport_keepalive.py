"""A server that drops an idle keep-alive connection: the client notices before reusing it
(the check aktui.authentik.transport makes cheaper), so the next call simply succeeds."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aktui.authentik.client import AuthentikClient
from aktui.secret import Secret


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"version_current": "2025.12.4"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # hang up without "Connection: close": an idle timeout


def test_dropped_idle_connection_is_not_reused() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    async def calls() -> list[object]:
        async with AuthentikClient(url, Secret("token-abcdef"), timeout=5) as client:
            answers = []
            for _ in range(5):
                answers.append(await client.version())
                await asyncio.sleep(0.05)  # the server's close reaches the client meanwhile
            return answers

    try:
        answers = asyncio.run(calls())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert answers == [{"version_current": "2025.12.4"}] * 5
