"""The lint checks, table-driven: each pitfall fires exactly where the fixture says, near-misses
stay quiet, and the field guide's own configs come out clean.

Fixture files mark what they must produce with `# expect: check-id[, check-id]` on the exact
line; the test collects those markers and compares them with the findings as a set of
(file, line, check id), so a wrong line number, a missing finding and an extra one all fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from aktui.nginx.lint import RULES, lint_paths, lint_text, make_env
from aktui.nginx.report import LintReport
from aktui.nginx.templates import SHAPES

DATA = Path(__file__).resolve().parents[1] / "data" / "nginx"
_MARK = re.compile(r"#\s*expect:\s*(.+)$")
# Load problems and the work bound: tested in test_nginx_config.py and test_nginx_bounds.py.
LOAD_IDS = {
    "config-unparseable",
    "config-refused",
    "include-unresolved",
    "include-outside-roots",
    "config-unreadable",
    "lint-bounded",
}


def expected_marks(root: Path) -> set[tuple[str, int, str]]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out = set()
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = _MARK.search(line)
            if m:
                out |= {(str(f.resolve()), n, cid.strip()) for cid in m.group(1).split(",")}
    return out


def found(report: LintReport) -> set[tuple[str, int, str]]:
    return {(os.path.realpath(f.file), f.line, f.check_id) for f in report.findings}


BROKEN = sorted((DATA / "broken").glob("*.conf"))
NEARMISS = sorted((DATA / "nearmiss").glob("*.conf"))
CLEAN = sorted(p for p in (DATA / "clean").iterdir() if p.is_dir())


@pytest.mark.parametrize("path", [*BROKEN, *NEARMISS, DATA / "tree_broken"], ids=lambda p: p.stem)
def test_fixture_findings_are_exactly_the_marked_lines(path: Path) -> None:
    want = expected_marks(path)
    if path.parent.name == "broken" or path.name == "tree_broken":
        assert want, "a broken fixture must say what it expects"
    assert found(lint_paths([str(path)])) == want


def test_every_check_has_a_fixture_where_it_fires() -> None:
    fired = {cid for p in [*BROKEN, DATA / "tree_broken"] for _, _, cid in expected_marks(p)}
    assert set(RULES) - LOAD_IDS <= fired, sorted(set(RULES) - LOAD_IDS - fired)


# The severity a fixture's finding must have: errors break the login or auth itself.
SEVERITY = {
    "outpost_location_shadowed": "error",
    "outpost_location_no_caret": "warning",
    # authentik's /auth/nginx answers 401, never 403: a risk (a WAF's 403), not a failure
    "error_page_401_only": "warning",
    "error_page_dropped": "warning",
    "cookie_not_passed_php": "warning",
    "x_original_url_missing": "error",
    "auth_body_passed": "warning",
    "embedded_outpost_target": "warning",  # a guess from names/ports, not a decision
    "signin_redirect_wrong": "error",
    "signin_redirect_no_rd": "warning",
    "missing_outpost_locations": "error",
    "public_path_protected": "info",
    "auth_bypassed_by_regex": "error",
    "auth_bypassed_static_assets": "info",  # public theme assets are usually meant
    "auth_subrequest_to_app": "error",
    "auth_on_outpost_paths": "warning",
}


@pytest.mark.parametrize(("name", "severity"), SEVERITY.items())
def test_severity(name: str, severity: str) -> None:
    report = lint_paths([str(DATA / "broken" / f"{name}.conf")])
    assert {f.severity for f in report.findings} == {severity}


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_field_guide_configs_are_clean(path: Path) -> None:
    report = lint_paths([str(path)])
    assert report.findings == (), [f"{f.where()} {f.check_id}" for f in report.findings]
    assert report.servers >= 1 and report.exit_code == 0


def test_findings_carry_fix_evidence_and_server() -> None:
    report = lint_paths([str(DATA / "broken" / "error_page_401_only.conf")])
    (f,) = report.findings
    assert f.server_name == "app.example.com"
    assert "error_page 401 = @goauthentik_proxy_signin;" in f.evidence
    assert f.fix == "Change it to `error_page 401 403 = @goauthentik_proxy_signin;`"


def test_error_page_fix_keeps_the_configs_own_signin_location() -> None:
    """A real NPM config names its signin location @authentik_auth_signin: the fix adds 403 to
    that line, it does not send the operator to a location the config does not have."""
    text = (DATA / "broken" / "error_page_401_only.conf").read_text()
    text = text.replace("@goauthentik_proxy_signin", "@authentik_auth_signin")
    (f,) = lint_text(text, "npm.conf").findings
    assert f.fix == "Change it to `error_page 401 403 = @authentik_auth_signin;`"
    (f,) = lint_text(text.replace("401 =", "401 =302"), "npm.conf").findings
    assert f.fix == "Change it to `error_page 401 403 =302 @authentik_auth_signin;`"


# --- inline near-misses and variants --------------------------------------------------------

FORWARD = """\
    auth_request /outpost.goauthentik.io/auth/nginx;
    error_page 401 403 = @goauthentik_proxy_signin;
    auth_request_set $auth_cookie $upstream_http_set_cookie;
    add_header Set-Cookie $auth_cookie;
"""
AUTH_LOC = """\
    location = /outpost.goauthentik.io/auth/nginx {
        proxy_pass UPSTREAM;
        proxy_set_header Host $host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
"""
BROWSER = """\
    location ^~ /outpost.goauthentik.io {
        proxy_pass UPSTREAM;
        proxy_set_header Host $host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_set_header X-Forwarded-Host $host;
    }
"""
SIGNIN = """\
    location @goauthentik_proxy_signin {
        internal;
        add_header Set-Cookie $auth_cookie;
        return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
    }
"""


def site(
    body: str = "",
    *,
    listen: str = "80",
    forward: str = FORWARD,
    auth_loc: str = AUTH_LOC,
    browser: str = BROWSER,
    signin: str = SIGNIN,
    upstream: str = "http://100.64.0.10:9001",
) -> str:
    head = f"server {{\n    listen {listen};\n    server_name app.example.com;\n"
    parts = head + forward + auth_loc + browser + signin + body + "}\n"
    return parts.replace("UPSTREAM", upstream)


def ids(text: str, **kw: object) -> list[str]:
    return sorted(f.check_id for f in lint_text(text, "site.conf", **kw).findings)  # type: ignore[arg-type]


NPM_PREFIX = """\
    location /outpost.goauthentik.io {
        proxy_pass http://100.64.0.10:9001;
        proxy_set_header Host $host;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
"""
PHP = "    location ~ \\.php$ { fastcgi_pass unix:/run/php.sock; }\n"
UNIX_SOCKET = "http://unix:/run/authentik/outpost.sock"
UNIX_AUTH_LOC = AUTH_LOC.replace("UPSTREAM", UNIX_SOCKET)

CASES = [
    ("baseline", site(), []),
    # outpost-location-shadowed / -no-caret
    (
        "regex route steals the auth subrequest from a plain prefix",
        site(
            "    location ~ /auth/ { proxy_pass http://127.0.0.1:3000; }\n",
            auth_loc="",
            browser=NPM_PREFIX,
        ),
        ["outpost-location-shadowed"],
    ),
    (
        "regex deny rule matching /start",
        site("    location ~ /(start|callback)$ { deny all; }\n", browser=NPM_PREFIX),
        ["outpost-location-shadowed"],
    ),
    (
        "same regex, but ^~ stops the regex search",
        site("    location ~ /(start|callback)$ { deny all; }\n"),
        [],
    ),
    (
        "regex that cannot match the outpost paths: only the missing ^~ is worth saying",
        site(PHP + "    location ~ /\\.ht { deny all; }\n", browser=NPM_PREFIX),
        ["outpost-location-no-caret"],
    ),
    # a unix socket: `http://unix:/path.sock:/uri`, the URI part after the socket's colon
    (
        "outpost on a unix socket, the path kept",
        site(auth_loc=UNIX_AUTH_LOC, upstream=f"{UNIX_SOCKET}:/outpost.goauthentik.io"),
        [],
    ),
    (
        "outpost on a unix socket, the prefix stripped",
        site(auth_loc=UNIX_AUTH_LOC, upstream=f"{UNIX_SOCKET}:/"),
        ["outpost-path-rewritten"],
    ),
    # an include that could not be read may hold the outpost location's header lines
    (
        "the outpost location's headers come from an include not given",
        site(
            auth_loc="",
            browser="    location ^~ /outpost.goauthentik.io {\n"
            "        include snippets/authentik-outpost-headers.conf;\n"
            "        proxy_pass UPSTREAM;\n    }\n",
        ),
        ["include-unresolved"],
    ),
    # proxy-pass-invalid: what nginx refuses, not a path the outpost would get
    (
        "a guide's placeholder host left in proxy_pass",
        site(upstream="http://<authentik-outpost-ip>:9000"),
        ["proxy-pass-invalid", "proxy-pass-invalid"],  # the auth and the browser location
    ),
    (
        "proxy_pass built from variables (NPM) is evaluated per request",
        site("    location /app/ { proxy_pass $forward_scheme://$server:$port; }\n"),
        [],
    ),
    (
        "an exact auth location is immune to regexes",
        site("    location ~ /auth/ { proxy_pass http://127.0.0.1:3000; }\n"),
        [],
    ),
    # error-page
    (
        "401 and 403 on separate error_page lines",
        site(
            forward=FORWARD.replace(
                "error_page 401 403 = @goauthentik_proxy_signin;",
                "error_page 401 = @goauthentik_proxy_signin;\n"
                "    error_page 403 = @goauthentik_proxy_signin;",
            )
        ),
        [],
    ),
    (
        "own error_page in a location without auth",
        site("    location /public { auth_request off; error_page 404 /404.html; }\n"),
        [],
    ),
    # cookie-not-passed
    (
        "own add_header where auth is off (static assets)",
        site("    location ~* \\.css$ { auth_request off; add_header Cache-Control public; }\n"),
        [],
    ),
    (
        "own add_header that repeats Set-Cookie",
        site(
            "    location / { add_header X-Frame-Options DENY; "
            "add_header Set-Cookie $auth_cookie; }\n"
        ),
        [],
    ),
    (
        "PHP location with its own auth_request_set that repeats the cookie line",
        site(
            "    location ~ \\.php$ {\n"
            "        auth_request_set $auth_cookie $upstream_http_set_cookie;\n"
            "        auth_request_set $authentik_username $upstream_http_x_authentik_username;\n"
            "        fastcgi_param HTTP_X_AUTHENTIK_USERNAME $authentik_username;\n"
            "        fastcgi_pass unix:/run/php.sock;\n    }\n"
        ),
        [],
    ),
    (
        "no add_header Set-Cookie at all",
        site(forward=FORWARD.replace("    add_header Set-Cookie $auth_cookie;\n", "")),
        ["cookie-not-passed"],
    ),
    # x-original-url-missing
    (
        "X-Original-URI is accepted too",
        site(auth_loc=AUTH_LOC.replace("X-Original-URL", "X-Original-URI")),
        [],
    ),
    # host-vs-http-host
    (
        "non-default port, $http_host everywhere",
        site(
            listen="8443",
            auth_loc=AUTH_LOC.replace("$host", "$http_host"),
            browser=BROWSER.replace("$host", "$http_host"),
        ),
        [],
    ),
    ("port 443 with $host", site(listen="443 ssl"), []),
    (
        "behind another proxy (real_ip) with $host",
        site("    real_ip_header X-Forwarded-For;\n    set_real_ip_from 10.0.0.0/8;\n"),
        ["host-vs-http-host"] * 3,
    ),
    # auth-body-passed
    (
        "body off inherited from the server level",
        site(
            "    proxy_pass_request_body off;\n",
            auth_loc=AUTH_LOC.replace("        proxy_pass_request_body off;\n", ""),
        ),
        [],
    ),
    # embedded-outpost-target
    (
        "outpost container on :9000 named as an outpost",
        site(upstream="http://ak-outpost-single:9000"),
        [],
    ),
    (
        # Not the embedded outpost. But in `location = .../auth/nginx` a URI part replaces the
        # whole URI: the outpost gets /outpost.goauthentik.io (checked against real nginx).
        "outpost keeping the path on its own port",
        site(upstream="http://100.64.0.10:9001/outpost.goauthentik.io"),
        ["outpost-path-rewritten"],
    ),
    # auth-path-via-proxy
    ("outpost by name on an explicit port", site(upstream="http://outpost.example.com:9001"), []),
    ("Tailscale MagicDNS name", site(upstream="https://authbox.tail1234.ts.net"), []),
    # signin-redirect-wrong
    ("303 is a fine temporary redirect", site(signin=SIGNIN.replace("302", "303")), []),
    (
        "absolute /start on the domain-level auth host",
        site(
            signin=SIGNIN.replace(
                "return 302 /outpost", "return 302 https://auth.example.dev/outpost"
            )
        ),
        [],
    ),
    (
        "redirect to the authentik flow instead of the outpost",
        site(
            signin=SIGNIN.replace(
                "/outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri",
                "https://auth.example.com/if/flow/default-authentication-flow/",
            )
        ),
        ["signin-redirect-wrong"],
    ),
    # auth-on-outpost-paths
    (
        "outpost location turns auth off",
        site(
            browser=BROWSER.replace(
                "    location ^~ /outpost.goauthentik.io {\n",
                "    location ^~ /outpost.goauthentik.io {\n        auth_request off;\n",
            )
        ),
        [],
    ),
    (
        "server-level auth to another service covers the outpost's login pages",
        site(forward="    auth_request /oauth2/auth;\n"),
        # and the signin location still sends $auth_cookie, which nothing declares now
        ["auth-on-outpost-paths", "auth-on-outpost-paths", "variable-undefined"],
    ),
    # missing-outpost-locations
    (
        "unreadable include: no guess about what it holds",
        "server {\n    listen 80;\n    include snippets/authentik-outpost-single.conf;\n"
        + FORWARD
        + "}\n",
        ["include-unresolved"],
    ),
    # public-path-protected
    ("webhook with auth off", site("    location /api/webhook { auth_request off; }\n"), []),
    (
        "no ACME in use: no ACME note",
        site("    location / { proxy_pass http://127.0.0.1:3000; }\n"),
        [],
    ),
    # auth-bypassed-by-regex
    (
        "^~ on the protected prefix keeps regexes out",
        site("    location ^~ /admin {\n" + FORWARD + "    }\n" + PHP, forward=""),
        [],
    ),
    (
        "the regex location carries auth too",
        site(
            "    location /admin {\n" + FORWARD + "    }\n"
            "    location ~ \\.php$ {\n" + FORWARD + "        fastcgi_pass unix:/run/php.sock;\n"
            "    }\n",
            forward="",
        ),
        [],
    ),
]


@pytest.mark.parametrize(("name", "text", "want"), CASES, ids=[c[0] for c in CASES])
def test_variants(name: str, text: str, want: list[str]) -> None:
    assert ids(text) == sorted(want)


def test_known_server_address_turns_the_guess_into_an_error() -> None:
    text = site(upstream="http://10.0.0.5:9000")
    guess = lint_text(text).findings
    assert {(f.check_id, f.severity) for f in guess} == {("embedded-outpost-target", "warning")}
    sure = lint_text(text, env=make_env(["https://10.0.0.5"])).findings
    assert {(f.check_id, f.severity) for f in sure} == {("embedded-outpost-target", "error")}
    assert "10.0.0.5" in sure[0].evidence


def test_known_outpost_address_is_never_the_embedded_outpost() -> None:
    text = site(upstream="http://authentik-server:9000")
    assert ids(text) == ["embedded-outpost-target"] * 2
    assert ids(text, env=make_env((), ["authentik-server:9000"])) == []


def test_fragment_port_unknown_is_only_info() -> None:
    npm = (DATA / "clean" / "npm_advanced" / "advanced.conf").read_text()
    report = lint_text(npm.replace("$http_host", "$host"))
    assert {(f.check_id, f.severity) for f in report.findings} == {("host-vs-http-host", "info")}
    assert report.exit_code == 0


# --- aktui's own generated snippets must pass its own linter ----------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_generated_snippets_pass_the_linter(shape: str, tmp_path: Path) -> None:
    # The snippet generator and the linter share the field guide: what one writes the other
    # must accept (this caught the NPM variant passing the request body to the outpost).
    from aktui.nginx.templates import render_example, render_forward_auth, render_outpost
    from aktui.nginx.values import OutpostTarget

    target = OutpostTarget("outpost-single", "100.64.0.5", 9001)
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "authentik-forward-auth.conf").write_text(render_forward_auth())
    (tmp_path / "snippets" / target.file_name).write_text(render_outpost(target))
    (tmp_path / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    site_file = tmp_path / f"{shape}.conf"
    site_file.write_text(render_example(shape, "app.example.com", target))
    report = lint_paths([str(site_file)])
    assert [f"{f.where()} {f.check_id}" for f in report.findings] == []


SUBDIR_PHP = (
    """\
server {
    listen 443 ssl;
    server_name app.example.com;
    root /var/www/app;
    location / {
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 403 = @goauthentik_proxy_signin;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;
        try_files $uri $uri/ /index.php?$args;
    }
    location ~ \\.php$ {
        INCLUDE
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }
"""
    + (AUTH_LOC + BROWSER).replace("UPSTREAM", "http://100.64.0.10:9001")
    + SIGNIN
    + "}\n"
)


def test_regex_bypass_holds_back_for_an_unread_include_not_for_stock_php_snippets() -> None:
    """The PHP location may take its auth_request from a snippet that was not given; Debian's
    snippets/fastcgi-php.conf never holds one, so the bypass is still an error with it."""
    own = ids(SUBDIR_PHP.replace("INCLUDE", "include snippets/authentik-php-auth.conf;"))
    assert own == ["include-unresolved"]
    stock = ids(SUBDIR_PHP.replace("INCLUDE", "include snippets/fastcgi-php.conf;"))
    assert stock == ["auth-bypassed-by-regex"]


# --- variable-undefined: what nginx refuses at load, for the whole config or a site file ---


def _severities(text: str, check: str) -> list[str]:
    return [f.severity for f in lint_text(text, "nginx.conf").findings if f.check_id == check]


def _whole(*servers: str, http: str = "") -> str:
    return "events {}\nhttp {\n" + http + "".join(servers) + "}\n"


SIGNIN_ONLY = site(forward="    auth_request /outpost.goauthentik.io/auth/nginx;\n")


def test_a_snippet_variable_nothing_declares_is_an_error_in_a_whole_config() -> None:
    assert _severities(_whole(SIGNIN_ONLY), "variable-undefined") == ["error"]
    # a site file alone: nginx.conf could declare it, so a warning
    assert _severities(SIGNIN_ONLY, "variable-undefined") == ["warning"]
    # the brace form is the same variable
    braced = site("    add_header X-User ${authentik_username};\n")
    assert _severities(_whole(braced), "variable-undefined") == ["error"]


@pytest.mark.parametrize(
    "declared",
    [
        '    map $http_cookie $auth_cookie { default ""; }\n',  # at http level
        '    server { listen 81; set $auth_cookie ""; }\n',  # in another server
        "    server { listen 82; location ~ ^/(?<auth_cookie>x) { return 204; } }\n",
        '    geo $auth_cookie { default ""; }\n',
    ],
)
def test_a_declaration_anywhere_in_the_config_counts(declared: str) -> None:
    assert _severities(_whole(SIGNIN_ONLY, http=declared), "variable-undefined") == []


def test_variable_undefined_holds_back_where_part_of_the_config_is_unread() -> None:
    text = _whole(SIGNIN_ONLY.replace("    listen 80;\n", "    listen 80;\n    include x.conf;\n"))
    assert _severities(text, "variable-undefined") == []


def test_builtin_variables_holding_authentik_in_their_names_are_not_undeclared() -> None:
    builtin = site(
        "    location /api/ {\n"
        "        proxy_set_header Authorization $http_authorization;\n"
        "        proxy_set_header X-User $upstream_http_x_authentik_username;\n"
        "        proxy_set_header X-Session $cookie_authentik_session;\n"
        "        proxy_pass http://10.0.0.5:8080;\n"
        "    }\n"
    )
    assert "variable-undefined" not in ids(_whole(builtin))
    # nginx compares variable names without case: $Auth_Cookie is $auth_cookie
    shouting = SIGNIN_ONLY.replace("$auth_cookie", "$Auth_Cookie")
    assert _severities(_whole(shouting), "variable-undefined") == ["error"]
