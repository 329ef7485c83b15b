"""nginx's location choice and directive inheritance, as aktui.nginx.locations models them.

test_nginx_real.py checks the same matcher against a running nginx; these cases pin the rules
(ngx_http_core_find_location) one by one so a regression names the rule it broke.
"""

from __future__ import annotations

import pytest

from aktui.nginx.config import load_text
from aktui.nginx.locations import Location, Server, compile_regex, servers


def server(body: str) -> Server:
    (config,) = load_text(f"server {{\n    listen 80;\n{body}\n}}\n", "t.conf")
    assert not config.problems, config.problems
    (srv,) = servers(config)
    return srv


def picked(srv: Server, uri: str) -> str | None:
    loc = srv.match(uri)
    return None if loc is None else loc.label()


RULES = """\
    location = /exact { }
    location /exact { }
    location / { }
    location /static/ { }
    location /static/img/ { }
    location ^~ /assets/ { }
    location ~ \\.php$ { }
    location ~* \\.(png|css)$ { }
    location ~ ^/static/.*\\.png$ { }
    location /admin/ {
        location /admin/deep/ { }
        location ~ \\.json$ { }
    }
    location @named { }
"""


@pytest.mark.parametrize(
    ("uri", "want"),
    [
        ("/exact", "location = /exact"),  # = wins and ends the search
        ("/exact/more", "location /exact"),  # = never matches as a prefix
        ("/other", "location /"),
        ("/static/a.txt", "location /static/"),
        ("/static/img/x.gif", "location /static/img/"),  # longest prefix
        ("/static/img/x.png", "location ~* \\.(png|css)$"),  # regex beats prefix, first in order
        ("/static/x.PNG", "location ~* \\.(png|css)$"),  # ~* is caseless
        ("/assets/x.php", "location ^~ /assets/"),  # ^~ stops the regex search
        ("/index.php", "location ~ \\.php$"),
        ("/INDEX.PHP", "location /"),  # ~ is case-sensitive
        ("/admin/deep/x", "location /admin/deep/"),  # nested prefix
        ("/admin/x.json", "location ~ \\.json$"),  # nested regex inside the matched prefix
        ("/admin/x.php", "location ~ \\.php$"),  # outer regex after nested search fails
        ("@named", None),  # named locations are never matched by URI
    ],
)
def test_location_choice(uri: str, want: str | None) -> None:
    assert picked(server(RULES), uri) == want


def test_nested_caret_does_not_stop_outer_regexes() -> None:
    # ngx_http_core_find_location: the nested call's noregex only guards the nested regexes.
    srv = server(
        "    location /a/ {\n        location ^~ /a/b/ { }\n    }\n    location ~ \\.php$ { }\n"
    )
    assert picked(srv, "/a/b/x.php") == "location ~ \\.php$"
    assert picked(srv, "/a/b/x.txt") == "location ^~ /a/b/"


def test_no_location_matches() -> None:
    assert server("    location /only/ { }").match("/else") is None


def test_exact_form_without_space_and_named() -> None:
    srv = server("    location =/x { }\n    location @sig { }")
    assert picked(srv, "/x") == "location = /x"
    assert set(srv.named) == {"@sig"}


def test_pcre_named_groups_and_unusable_regex() -> None:
    assert compile_regex(r"^/(?<slug>[a-z]+)/$", False) is not None
    srv = server(
        "    location ~ ^/(?<slug>[a-z]+)/$ { }\n    location ~ \\Qlit\\E { }\n"
        "    location ~ (unclosed { }"
    )
    assert picked(srv, "/abc/") == "location ~ ^/(?<slug>[a-z]+)/$"
    # \\Q...\\E is PCRE syntax: the linter uses PCRE2 as nginx does, so it matches /lit.
    assert picked(srv, "/lit") == "location ~ \\Qlit\\E"
    # A regex PCRE2 (and so nginx -t) refuses never claims a URI.
    assert picked(srv, "/(unclosed") is None
    assert compile_regex("x" * 5000, False) is None  # hostile sizes are not compiled


def test_match_limit_gives_cannot_tell_not_a_hang() -> None:
    from aktui.nginx.locations import regex_search

    rx = compile_regex("(a+)+$", False)
    assert rx is not None
    assert regex_search(rx, "a" * 5000 + "!") is None  # PCRE2's match limit, not minutes


def test_inheritance_array_directives_replace_not_merge() -> None:
    srv = server(
        "    add_header Set-Cookie $auth_cookie;\n"
        "    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n"
        "    location /a { add_header X-Frame-Options DENY; }\n"
        "    location /b { proxy_pass http://127.0.0.1:1; }\n"
        "    location /c { proxy_set_header Host $host; }\n"
    )
    a, b, c = (srv.match(u) for u in ("/a", "/b", "/c"))
    assert isinstance(a, Location) and isinstance(b, Location) and isinstance(c, Location)
    assert [d.args for d in a.effective("add_header")[0]] == [("X-Frame-Options", "DENY")]
    assert [d.args[0] for d in b.effective("add_header")[0]] == ["Set-Cookie"]
    assert b.effective("add_header")[1] is srv
    assert [d.args[0] for d in c.effective("proxy_set_header")[0]] == ["Host"]


def test_auth_request_off_and_http_level_inheritance() -> None:
    from aktui.nginx.facts import auth_request

    (config,) = load_text(
        "http {\n  auth_request /outpost.goauthentik.io/auth/nginx;\n"
        "  server {\n    listen 80;\n    location /pub { auth_request off; }\n"
        "    location /priv { }\n  }\n}\n"
    )
    (srv,) = servers(config)
    pub, priv = srv.match("/pub"), srv.match("/priv")
    assert pub is not None and priv is not None
    assert auth_request(pub) is None
    d = auth_request(priv)
    assert d is not None and d.line == 2  # inherited from the http level


def test_listen_ports_and_names() -> None:
    (config,) = load_text(
        "server { listen 127.0.0.1:8443 ssl; listen [::]:8080; listen unix:/run/x.sock;"
        " server_name a.example.com b.example.com; }\n"
        "server { server_name c.example.com; }\n"
    )
    one, two = servers(config)
    assert one.listen_ports == (8443, 8080) and one.display_name == "a.example.com b.example.com"
    assert two.listen_ports == (80,)  # no listen: *:80


def test_upstream_members_resolved() -> None:
    from aktui.nginx.facts import proxy_target

    (config,) = load_text(
        "upstream ak { server 10.0.0.5:9000; server 10.0.0.6:9000 backup; }\n"
        "server { location /x { proxy_pass http://ak; } }\n"
    )
    (srv,) = servers(config)
    loc = srv.match("/x")
    assert loc is not None
    target = proxy_target(loc, srv)
    assert target is not None and target.addresses == ("10.0.0.5:9000", "10.0.0.6:9000")
