"""The doctor's probe from aktui's own machine (used when the web server has no curl)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from aktui.doctor.sites import _direct


class _Redirect(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/outpost.goauthentik.io/start?rd=" + self.headers["Host"])
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_direct_probe_reads_the_redirect_with_the_site_as_host(server: int) -> None:
    answer = _direct("app.example.com", "http", "127.0.0.1", server, "/")
    assert answer.error == ""
    assert answer.status == 302
    assert answer.location == "/outpost.goauthentik.io/start?rd=app.example.com"
