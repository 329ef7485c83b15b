"""The linter against a real nginx (/usr/sbin/nginx; skipped without it, failed under CI=true).

- every "clean" fixture passes `nginx -t`;
- an `nginx -T` dump made by nginx from a tree with glob includes gives findings on the
  original files and lines;
- the location matcher picks what nginx picks, URI by URI;
- where the linter says the cookie / signin redirect is lost, nginx really loses it, and where
  it says nothing, nginx really passes it on.
"""

from __future__ import annotations

import http.client
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from aktui.nginx.config import load_text
from aktui.nginx.lint import lint_paths, lint_text
from aktui.nginx.locations import servers
from tests.fixtures.procs import free_port, read_pid, stop_pid, unavailable, wait_port
from tests.fixtures.webhost import NGINX, nginx_check, nginx_main_conf
from tests.unit.test_nginx_checks import DATA, expected_marks, found

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _nginx() -> None:
    try:
        ok = subprocess.run([NGINX, "-v"], capture_output=True, timeout=10).returncode == 0
    except OSError:
        ok = False
    if not ok:
        unavailable(f"{NGINX} not installed (apt-get install nginx); CI installs it")


def _test_ready(text: str, root: Path) -> str:
    """A fixture's nginx.conf made testable as any user: pid, logs, temp paths under root."""
    temps = "".join(
        f"    {k}_temp_path {root / 'tmp' / k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = re.sub(r"^http \{$", "http {\n    access_log off;\n" + temps, text, count=1, flags=re.M)
    return f"pid {root / 'nginx.pid'};\nerror_log {root / 'error.log'};\n" + text


def prepared(fixture: Path, root: Path) -> Path:
    """A copy of a fixture nginx can test: full configs patched, fragments wrapped in a
    server (location fragments) or an http block (server blocks)."""
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    work = root / "conf"
    if fixture.is_dir():
        shutil.copytree(fixture, work)
    else:
        work.mkdir()
        shutil.copy(fixture, work)
    main = work / "nginx.conf"
    if main.exists():
        main.write_text(_test_ready(main.read_text(), root))
        return main
    (frag,) = [p for p in work.iterdir() if p.is_file()]
    (config,) = load_text(frag.read_text())
    body = f"    include {frag};\n"
    if config.context == "server":
        body = f"server {{\n    listen 127.0.0.1:8080;\n{body}}}\n"
    main.write_text(nginx_main_conf(root, body))
    return main


CLEAN = sorted(p for p in (DATA / "clean").iterdir() if p.is_dir())


@pytest.mark.parametrize("fixture", [*CLEAN, DATA / "tree_broken"], ids=lambda p: p.name)
def test_nginx_accepts_the_clean_fixtures(fixture: Path, tmp_path: Path) -> None:
    # tree_broken is wrong for authentik, not for nginx: -T below needs it to load.
    result = nginx_check(prepared(fixture, tmp_path))
    assert result.returncode == 0, result.stderr


# Fixtures for configs nginx itself refuses: the lint must find them where nginx does.
REFUSED = ["duplicate_location", "directive_twice", "proxy_pass_invalid"]


@pytest.mark.parametrize("name", REFUSED)
def test_nginx_refuses_the_refused_fixtures_at_the_marked_line(name: str, tmp_path: Path) -> None:
    fixture = DATA / "broken" / f"{name}.conf"
    result = nginx_check(prepared(fixture, tmp_path))
    assert result.returncode != 0
    at = re.search(r"\[emerg\] (.*) in (\S+):(\d+)", result.stderr)
    assert at, result.stderr
    check = name.replace("_", "-")
    marked = {line for _, line, cid in expected_marks(fixture) if cid == check}
    assert marked == {int(at.group(3))}, result.stderr


def test_nginx_refuses_a_snippet_variable_nothing_declares(tmp_path: Path) -> None:
    # nginx names no file or line for an unknown variable: the lint's line is its own.
    fixture = DATA / "broken" / "variable_undefined.conf"
    refused = nginx_check(prepared(fixture, tmp_path / "as-is"))
    assert refused.returncode != 0
    assert 'unknown "auth_cookie" variable' in refused.stderr, refused.stderr
    # Declared once, anywhere in the config (here in another server), nginx loads it.
    declared = tmp_path / "declared.conf"
    declared.write_text(
        fixture.read_text() + 'server {\n    listen 127.0.0.1:8081;\n    set $auth_cookie "";\n}\n'
    )
    accepted = nginx_check(prepared(declared, tmp_path / "declared"))
    assert accepted.returncode == 0, accepted.stderr
    assert not [
        f for f in lint_paths([str(declared)]).findings if f.check_id == "variable-undefined"
    ]


def test_nginx_t_dump_findings_name_the_original_files(tmp_path: Path) -> None:
    main = prepared(DATA / "tree_broken", tmp_path)
    dump = subprocess.run(
        [NGINX, "-T", "-q", "-e", str(tmp_path / "t.log"), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dump.returncode == 0, dump.stderr
    assert "# configuration file " + str(tmp_path / "conf" / "snippets") in dump.stdout
    report = lint_text(dump.stdout)
    assert found(report) == expected_marks(tmp_path / "conf")
    assert report.files[0] == str(main)


# --- the location matcher against nginx's own choice ------------------------------------

LOCATIONS = [
    "location = /exact",
    "location /exact",
    "location /",
    "location /static/",
    "location /static/img/",
    "location ^~ /assets/",
    "location ~ \\.php$",
    "location ~* \\.(png|css)$",
    "location ~ ^/static/.*\\.png$",
    "location /outpost.goauthentik.io",
    "location ~* /\\.(?!well-known\\/)",
    "location ~ /auth/",
    "location = /outpost.goauthentik.io/auth/nginx",
    "location ~ ^/(?<slug>[a-z]+)/named$",
    "location ^~ /.well-known/acme-challenge/",
]
NESTED = (
    'location /admin/ {{ return 200 "admin\\n";\n'
    '        location /admin/deep/ {{ return 200 "admin-deep\\n"; }}\n'
    '        location ~ \\.json$ {{ return 200 "admin-json\\n"; }}\n'
    '        location ^~ /admin/caret/ {{ return 200 "admin-caret\\n"; }}\n    }}\n'
)
URIS = [
    "/exact", "/exact/more", "/", "/other", "/static/a.txt", "/static/img/x.gif",
    "/static/img/x.png", "/static/x.PNG", "/STATIC/x.css", "/assets/x.php", "/index.php",
    "/INDEX.PHP", "/admin/", "/admin/deep/x", "/admin/deep/x.json", "/admin/x.json",
    "/admin/x.php", "/admin/caret/x.php", "/admin/caret/x.json", "/.env", "/a/.git/config",
    "/.well-known/acme-challenge/tok", "/.well-known/other", "/outpost.goauthentik.io/start",
    "/outpost.goauthentik.io/callback", "/outpost.goauthentik.io/auth/nginx",
    "/outpost.goauthentik.io/auth/other", "/abc/named", "/ABC/named", "/wp/auth/login",
]  # fmt: skip


def _server_block(port: int) -> str:
    body = "".join(f'    {loc} {{ return 200 "L{i}\\n"; }}\n' for i, loc in enumerate(LOCATIONS))
    return f"server {{\n    listen 127.0.0.1:{port};\n{body}    {NESTED.format()}}}\n"


@pytest.fixture
def run_nginx(tmp_path: Path) -> Iterator[object]:
    started: list[Path] = []

    def start(http_body: str, port: int) -> None:
        conf = tmp_path / "nginx.conf"
        conf.write_text(nginx_main_conf(tmp_path, http_body))
        proc = subprocess.run(
            [NGINX, "-e", str(tmp_path / "e.log"), "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            unavailable(f"nginx did not start: {proc.stderr}", tmp_path / "error.log")
        started.append(tmp_path / "nginx.pid")
        if not wait_port(port):
            unavailable("nginx did not listen", tmp_path / "error.log")

    yield start
    for pid_file in started:
        stop_pid(read_pid(pid_file))


def _get(port: int, uri: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", uri, headers={"Host": "app.example.com"})
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def test_location_choice_matches_real_nginx(run_nginx, tmp_path: Path) -> None:
    port = free_port()
    block = _server_block(port)
    run_nginx(block, port)
    (srv,) = servers(load_text(block)[0])
    mismatches = []
    for uri in URIS:
        loc = srv.match(uri)
        # crossplane keeps escapes as written: "L1\\n" in the config is L1 + newline to nginx.
        ours = loc.own("return")[0].args[1].replace("\\n", "") if loc is not None else None
        theirs = _get(port, uri).body.decode().strip()  # type: ignore[attr-defined]
        if ours != theirs:
            mismatches.append((uri, ours, theirs))
    assert mismatches == []


# --- inheritance: what the linter predicts is what nginx does ------------------------------


class _Outpost(http.server.BaseHTTPRequestHandler):
    """Answers /auth/nginx like an outpost: 401 for paths with /deny, 403 for /forbid, else
    200; always with a Set-Cookie (the session refresh the linter cares about)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.headers.get("X-Original-URL", "")).path
        status = 401 if "/deny" in path else 403 if "/forbid" in path else 200
        self.send_response(status)
        self.send_header("Set-Cookie", "authentik_proxy_x=fresh; Path=/")
        self.send_header("X-authentik-username", "akadmin")
        self.send_header("Content-Length", "0")
        self.end_headers()


SITE = """\
server {{
    listen 127.0.0.1:{port};
    server_name app.example.com;
    root {www};
    auth_request /outpost.goauthentik.io/auth/nginx;
    error_page 401 403 = @goauthentik_proxy_signin;
    auth_request_set $auth_cookie $upstream_http_set_cookie;
    add_header Set-Cookie $auth_cookie;
    location = /outpost.goauthentik.io/auth/nginx {{
        proxy_pass http://127.0.0.1:{outpost};
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }}
    location ^~ /outpost.goauthentik.io {{
        proxy_pass http://127.0.0.1:{outpost};
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }}
    location @goauthentik_proxy_signin {{
        internal;
        add_header Set-Cookie $auth_cookie;
        return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
    }}
    location /plain/ {{ }}
    location /own-header/ {{ add_header X-Frame-Options DENY; }}
    location /own-set/ {{
        auth_request_set $authentik_username $upstream_http_x_authentik_username;
    }}
    location /fixed/ {{
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        auth_request_set $authentik_username $upstream_http_x_authentik_username;
        add_header X-Frame-Options DENY;
        add_header Set-Cookie $auth_cookie;
    }}
    location /own-error/ {{ error_page 404 /404.html; }}
    location /only401/ {{ error_page 401 = @goauthentik_proxy_signin; }}
}}
"""
DIRS = ("plain", "own-header", "own-set", "fixed", "own-error", "only401")


def test_linter_predictions_match_nginx_behaviour(run_nginx, tmp_path: Path) -> None:
    outpost = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Outpost)
    threading.Thread(target=outpost.serve_forever, daemon=True).start()
    try:
        www = tmp_path / "www"
        for d in DIRS:
            (www / d).mkdir(parents=True)
            (www / d / "index.html").write_text(d)
            (www / d / "deny").write_text(d)
            (www / d / "forbid").write_text(d)
        port = free_port()
        block = SITE.format(port=port, www=www, outpost=outpost.server_address[1])
        run_nginx(block, port)

        report = lint_text(block, "site.conf")
        by_line = {f.line: f.check_id for f in report.findings}
        lines = block.splitlines()

        def flagged(check_id: str, d: str) -> bool:
            start = next(i for i, t in enumerate(lines, 1) if f"location /{d}/ " in t)
            end = start + (2 if d == "own-set" else 0)
            return any(by_line.get(n) == check_id for n in range(start, end + 1))

        for d in DIRS:
            cookie = _get(port, f"/{d}/").getheader("Set-Cookie")
            assert (cookie is None) == flagged("cookie-not-passed", d), d
            deny = _get(port, f"/{d}/deny").status
            assert (deny != 302) == flagged("error-page-missing", d), (d, deny)
            forbid = _get(port, f"/{d}/forbid").status
            assert (forbid != 302) == (
                flagged("error-page-401-only", d) or flagged("error-page-missing", d)
            ), (d, forbid)
        # The lint found something to compare: the three broken locations, nothing else.
        assert sorted(set(by_line.values())) == [
            "cookie-not-passed",
            "error-page-401-only",
            "error-page-missing",
        ]
    finally:
        outpost.shutdown()
        outpost.server_close()


class _Reflect(http.server.BaseHTTPRequestHandler):
    """An upstream that answers 200 with what ``reflect`` takes from the request's headers."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reflect(self) -> str:
        raise NotImplementedError

    def do_GET(self) -> None:
        body = self.reflect().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Echo(_Reflect):
    """The app: answers with the X-User header nginx sent it."""

    def reflect(self) -> str:
        return self.headers.get("X-User", "")


UPSTREAM_VARS = """\
server {{
    listen 127.0.0.1:{port};
    server_name app.example.com;
    auth_request /outpost.goauthentik.io/auth/nginx;
    location = /outpost.goauthentik.io/auth/nginx {{
        proxy_pass http://127.0.0.1:{outpost};
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }}
    location /direct/ {{
        proxy_pass http://127.0.0.1:{app};
        proxy_set_header X-User $upstream_http_x_authentik_username;
    }}
    location /captured/ {{
        auth_request_set $authentik_username $upstream_http_x_authentik_username;
        proxy_pass http://127.0.0.1:{app};
        proxy_set_header X-User $authentik_username;
    }}
}}
"""


def test_outpost_headers_read_without_auth_request_set_reach_the_app_empty(
    run_nginx, tmp_path: Path
) -> None:
    """auth-header-var-unset for $upstream_http_x_authentik_* used straight in the app request:
    nginx gives the app an empty value there; through auth_request_set it gets the user."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (_Outpost, _Echo)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        port = free_port()
        outpost, app = (s.server_address[1] for s in servers)
        block = UPSTREAM_VARS.format(port=port, outpost=outpost, app=app)
        run_nginx(block, port)
        assert _get(port, "/direct/").body == b""  # type: ignore[attr-defined]
        assert _get(port, "/captured/").body == b"akadmin"  # type: ignore[attr-defined]
        lines = block.splitlines()
        direct = next(n for n, t in enumerate(lines, 1) if "X-User $upstream_http" in t)
        report = lint_text(block, "site.conf")
        assert {f.line for f in report.by_id("auth-header-var-unset")} == {direct}
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


class _Hosts(_Reflect):
    """The outpost's stand-in: answers with every Host header nginx sent it, one a line."""

    def reflect(self) -> str:
        return "\n".join(self.headers.get_all("Host") or [])


HOST_TWICE = """\
server {{
    listen 127.0.0.1:{port};
    server_name app.example.com;
    location ^~ /outpost.goauthentik.io {{
        proxy_set_header Host $http_host;
        proxy_pass http://127.0.0.1:{outpost};
        proxy_set_header Host $host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }}
}}
"""


def test_a_header_set_twice_reaches_the_outpost_twice(run_nginx) -> None:
    """header-set-twice: nginx sends both proxy_set_header lines (Go then answers 400)."""
    outpost = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hosts)
    threading.Thread(target=outpost.serve_forever, daemon=True).start()
    try:
        port = free_port()
        block = HOST_TWICE.format(port=port, outpost=outpost.server_address[1])
        run_nginx(block, port)
        sent = _get(port, "/outpost.goauthentik.io/start").body  # type: ignore[attr-defined]
        assert sent.decode().splitlines() == ["app.example.com", "app.example.com"]
        second = next(n for n, t in enumerate(block.splitlines(), 1) if "Host $host;" in t)
        findings = lint_text(block, "site.conf").by_id("header-set-twice")
        assert [(f.line, f.severity) for f in findings] == [(second, "error")]
    finally:
        outpost.shutdown()
        outpost.server_close()
