"""aktui.nginx.sites: the server block nginx picks for a site, where it listens, what to probe."""

from __future__ import annotations

import pytest

from aktui.nginx.config import load_text
from aktui.nginx.locations import Server, servers
from aktui.nginx.sites import defined_at, listen_address, probe_path, server_for

AUTH = """\
    auth_request /outpost.goauthentik.io/auth/nginx;
    location = /outpost.goauthentik.io/auth/nginx { proxy_pass http://127.0.0.1:9001; }
"""


def blocks(text: str) -> list[Server]:
    (config,) = load_text(f"http {{\n{text}\n}}\n", "sites.conf")
    return servers(config)


def block(listen: str, extra: str = "") -> Server:
    (only,) = blocks(f"server {{\n    listen {listen};\n    server_name x;\n{extra}}}\n")
    return only


@pytest.mark.parametrize(
    ("pattern", "site", "picked"),
    [
        ("app.example.com", "app.example.com", True),
        ("APP.example.com", "app.example.com", True),
        ("*.example.com", "app.example.com", True),
        (".example.com", "example.com", True),
        (".example.com", "a.b.example.com", True),
        ("app.*", "app.example.org", True),
        ("~^ap+\\.example\\.com$", "app.example.com", True),
        ("~(", "app.example.com", False),  # a regex Python cannot read matches nothing
        ("other.example.com", "app.example.com", False),
    ],
)
def test_server_name_forms(pattern: str, site: str, picked: bool) -> None:
    found = server_for(blocks(f'server {{ listen 80; server_name "{pattern}"; }}'), site)
    assert (found is not None) is picked


def test_default_server_when_no_name_matches() -> None:
    text = """\
server { listen 80; server_name a.example.com; }
server { listen 8080 default_server; server_name _; }
"""
    found = server_for(blocks(text), "nope.example.com")
    assert found is not None and found.names == ("_",)
    assert server_for(blocks("server { listen 80; server_name a.example.com; }"), "b.test") is None


def test_prefers_the_block_with_auth_then_the_sites_scheme() -> None:
    text = f"""\
server {{ listen 80; server_name app.example.com; }}
server {{ listen 443 ssl; server_name app.example.com;
{AUTH}}}
server {{ listen 80; server_name app.example.com;
{AUTH}}}
"""
    https = server_for(blocks(text), "app.example.com", https=True)
    http = server_for(blocks(text), "app.example.com", https=False)
    assert https is not None and listen_address(https, True) == ("https", "127.0.0.1", 443)
    assert http is not None and listen_address(http, False) == ("http", "127.0.0.1", 80)


@pytest.mark.parametrize(
    ("listen", "https", "expected"),
    [
        ("80", False, ("http", "127.0.0.1", 80)),
        ("8443 ssl", True, ("https", "127.0.0.1", 8443)),
        ("443", True, ("https", "127.0.0.1", 443)),
        ("10.0.0.5:8080", False, ("http", "10.0.0.5", 8080)),
        ("0.0.0.0:81", False, ("http", "127.0.0.1", 81)),
        ("*:82", False, ("http", "127.0.0.1", 82)),
        ("[::]:8080", False, ("http", "::1", 8080)),
        ("[fd7a:115c:0::5]:80", False, ("http", "fd7a:115c::5", 80)),
        ("localhost:8081", False, ("http", "127.0.0.1", 8081)),
        ("app.internal", False, ("http", "127.0.0.1", 80)),
        ("unix:/run/nginx.sock", False, None),
    ],
)
def test_listen_address(listen: str, https: bool, expected: tuple | None) -> None:
    assert listen_address(block(listen), https) == expected


def test_listen_address_takes_the_sites_scheme_first() -> None:
    (both,) = blocks("server { listen 80; listen 443 ssl; listen 443 quic; server_name x; }")
    assert listen_address(both, True) == ("https", "127.0.0.1", 443)
    assert listen_address(both, False) == ("http", "127.0.0.1", 80)


def test_probe_path() -> None:
    assert probe_path(None) == "/"
    assert probe_path(block("80", AUTH)) == "/"  # server-level auth covers /
    sub = """\
    location /public { }
    location /wp-admin {
        auth_request /outpost.goauthentik.io/auth/nginx;
    }
"""
    assert probe_path(block("80", sub)) == "/wp-admin"
    regex = """\
    location ~ ^/admin/.*$ {
        auth_request /outpost.goauthentik.io/auth/nginx;
    }
"""
    assert probe_path(block("80", regex)) == "/"  # a regex is no URL to ask for


def test_defined_at_names_file_and_line() -> None:
    assert defined_at(block("80")) == "sites.conf:2"
