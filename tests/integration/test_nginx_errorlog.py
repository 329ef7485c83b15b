"""`aktui annotate` on what a real nginx writes (/usr/sbin/nginx; skipped without it, failed
under CI=true): forward-auth broken two ways on loopback, each error-log line read back and
given the rule that names its cause, and the linter agreeing on the same config."""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import time
from pathlib import Path

import pytest

from aktui.logs.annotate import default_rules
from aktui.nginx.lint import lint_text
from tests.fixtures.procs import free_port, loopback_server
from tests.fixtures.webhost import nginx_check, nginx_main_conf
from tests.integration.test_nginx_real import _nginx, run_nginx  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

# A site behind forward auth, without the outpost's location: nginx looks for the auth path
# on disk.
NO_LOCATION = """\
server {{
    listen 127.0.0.1:{port};
    server_name app.example.com;
    root {www};
    location / {{
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 403 = @goauthentik_proxy_signin;
    }}
    location @goauthentik_proxy_signin {{
        internal;
        return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
    }}
}}
"""
# A site whose outpost location proxies to the port ``outpost``.
WITH_OUTPOST = """\
server {{
    listen 127.0.0.1:{port};
    server_name {name}.example.com;
    root {www};
    location / {{
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 403 = @goauthentik_proxy_signin;
    }}
    location ^~ /outpost.goauthentik.io {{
        proxy_pass http://127.0.0.1:{outpost};
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }}
    location @goauthentik_proxy_signin {{
        internal;
        return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
    }}
}}
"""


def _dropping_outpost(reset: bool) -> contextlib.AbstractContextManager[int]:
    """An outpost that reads each request and drops the connection without answering: with a
    TCP reset (SO_LINGER 0: a crash, a killed container) or a plain close (a restart)."""

    def drop(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return loopback_server(drop)


def _status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    finally:
        conn.close()


def test_each_line_real_nginx_writes_gets_its_cause(run_nginx, tmp_path: Path) -> None:  # noqa: F811
    www = tmp_path / "www"
    www.mkdir()
    ports = {"no_location": free_port(), "outpost_down": free_port(), "closed": free_port()}
    sites = NO_LOCATION.format(www=www, port=ports["no_location"])
    sites += WITH_OUTPOST.format(
        www=www, name="down", port=ports["outpost_down"], outpost=ports["closed"]
    )
    run_nginx(sites, ports["outpost_down"])
    assert _status(ports["no_location"]) == 500
    assert _status(ports["outpost_down"]) == 500

    lines = [
        line
        for line in (tmp_path / "error.log").read_text().splitlines()
        if "[error]" in line or "[crit]" in line
    ]
    rules = default_rules()
    got = [(n.rule if (n := rules.annotate(line)) else None) for line in lines]
    assert got == [
        # No location proxies the auth path: nginx looks on disk, then rejects its own 404.
        "nginx-auth-path-not-proxied",
        "nginx-auth-status-404",
        # The outpost is down: refused, then the 502 nginx made of it.
        "nginx-outpost-refused",
        "nginx-auth-status-5xx",
    ], lines
    # The linter names the same missing location in the same config.
    ids = {(f.server_name, f.check_id) for f in lint_text(sites, "sites.conf").findings}
    assert ("app.example.com", "missing-outpost-locations") in ids
    assert not any(name == "down.example.com" and "missing" in cid for name, cid in ids)


def test_an_outpost_dropping_the_connection_is_named(run_nginx, tmp_path: Path) -> None:  # noqa: F811
    # What nginx writes when the outpost takes the auth subrequest and then resets or closes
    # the connection without an answer (a crash, a killed or restarting container).
    www = tmp_path / "www"
    www.mkdir()
    with _dropping_outpost(reset=True) as resets, _dropping_outpost(reset=False) as closes:
        ports = {"reset": free_port(), "closed": free_port()}
        sites = WITH_OUTPOST.format(www=www, name="reset", port=ports["reset"], outpost=resets)
        sites += WITH_OUTPOST.format(www=www, name="closed", port=ports["closed"], outpost=closes)
        run_nginx(sites, ports["closed"])
        assert _status(ports["reset"]) == 500
        assert _status(ports["closed"]) == 500
    lines = [
        line for line in (tmp_path / "error.log").read_text().splitlines() if "[error]" in line
    ]
    rules = default_rules()
    got = [(n.rule if (n := rules.annotate(line)) else None) for line in lines]
    assert got == [
        "nginx-outpost-closed",  # recv() failed (104: Connection reset by peer)
        "nginx-auth-status-5xx",
        "nginx-outpost-closed",  # upstream prematurely closed connection
        "nginx-auth-status-5xx",
    ], lines
    assert "104: Connection reset by peer" in lines[0] and "prematurely closed" in lines[2]


# The outpost behind an upstream group of two addresses (a name resolving to IPv4 and IPv6, or
# two replicas), both down; and an application location whose upstream is down.
GROUP_DOWN = """\
upstream outposts {{
    server 127.0.0.1:{first};
    server 127.0.0.1:{second};
}}
server {{
    listen 127.0.0.1:{port};
    server_name group.example.com;
    root {www};
    location / {{
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 403 = @goauthentik_proxy_signin;
    }}
    location /app/ {{
        proxy_pass http://127.0.0.1:{first};
    }}
    location ^~ /outpost.goauthentik.io {{
        proxy_pass http://outposts;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }}
    location @goauthentik_proxy_signin {{
        internal;
        return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
    }}
}}
"""


def test_an_upstream_group_going_down_is_named(run_nginx, tmp_path: Path) -> None:  # noqa: F811
    www = tmp_path / "www"
    www.mkdir()
    port, first, second = free_port(), free_port(), free_port()
    run_nginx(GROUP_DOWN.format(www=www, port=port, first=first, second=second), port)
    assert _status(port) == 500
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/app/")
        assert conn.getresponse().status == 502
    finally:
        conn.close()
    log = (tmp_path / "error.log").read_text().splitlines()
    lines = [line for line in log if "[error]" in line or "upstream server temporarily" in line]
    rules = default_rules()
    got = [(n.rule if (n := rules.annotate(line)) else None) for line in lines]
    # Each server refuses and is taken out of rotation, then the auth subrequest's 502 and
    # the application location's own refused upstream.
    assert got[:5] == [
        "nginx-outpost-refused",
        "nginx-upstream-disabled",
        "nginx-outpost-refused",
        "nginx-upstream-disabled",
        "nginx-auth-status-5xx",
    ], lines
    assert got[5:] == ["nginx-upstream-refused"], lines
    # nginx writes the access line after the response has gone out: wait for it.
    deadline = time.monotonic() + 5
    access = (tmp_path / "access.log").read_text().splitlines()
    while len(access) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        access = (tmp_path / "access.log").read_text().splitlines()
    assert [rules.annotate(line).rule for line in access if '" 502 ' in line] == [  # type: ignore[union-attr]
        "access-502"
    ], access


# A config nginx refuses (`nginx -t` fails, a reload keeps the old one): the edit to
# WITH_OUTPOST that causes it, and the rule that must name nginx's line.
REFUSED = {
    # Nginx Proxy Manager's snippet passes the cookie with headers-more, which plain nginx lacks.
    "proxy-manager-snippet": (
        "        error_page 401 403",
        "        more_set_headers 'Set-Cookie: $auth_cookie';\n        error_page 401 403",
        "nginx-no-headers-more",
    ),
    # The outpost snippet pasted next to a server that already had its location.
    "outpost-location-twice": (
        "    location @goauthentik_proxy_signin",
        "    location ^~ /outpost.goauthentik.io { return 204; }\n"
        "    location @goauthentik_proxy_signin",
        "nginx-duplicate-location",
    ),
    # The sign-in snippet's cookie line without the forward-auth snippet that defines it.
    "cookie-variable-undefined": (
        "        internal;",
        "        internal;\n        add_header Set-Cookie $auth_cookie;",
        "nginx-unknown-auth-variable",
    ),
    # The outpost snippet saved where nginx.conf includes every file inside http {}.
    "location-at-http-level": (
        "server {\n",
        "location ^~ /outpost.goauthentik.io { return 204; }\nserver {\n",
        "nginx-location-outside-server",
    ),
    # The forward-auth lines included into a location that already had auth_request.
    "auth-request-twice": (
        "        error_page 401 403",
        "        auth_request /outpost.goauthentik.io/auth/nginx;\n        error_page 401 403",
        "nginx-directive-duplicate",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_config_nginx_refuses_is_named(_nginx, tmp_path: Path, case: str) -> None:  # noqa: F811
    anchor, edit, rule = REFUSED[case]
    site = WITH_OUTPOST.format(www=tmp_path, name="x", port=free_port(), outpost=free_port())
    assert anchor in site
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_main_conf(tmp_path, site.replace(anchor, edit, 1)))
    test = nginx_check(conf)
    assert test.returncode != 0
    lines = [line for line in test.stderr.splitlines() if "[emerg]" in line]
    notes = [default_rules().annotate(line) for line in lines]
    assert [n.rule if n else None for n in notes] == [rule], test.stderr
