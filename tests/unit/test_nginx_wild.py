"""lint-nginx on real published forward-auth configs (tests/data/nginx/wild/, each citing its
source in its first lines) and on the shapes people paste: cut short, elided, bare site files.
Every labelled pitfall ("# expect: id") must be found, and no error may be reported that is not
labelled (a false error fails a CI job for nothing)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from aktui.nginx.lint import lint_paths, lint_text

WILD = Path(__file__).resolve().parent.parent / "data" / "nginx" / "wild"
_MARK = re.compile(r"#\s*expect:\s*([a-z0-9, -]+)$")
FILES = sorted(WILD.glob("*.conf"))


def _marks(path: Path) -> set[tuple[int, str]]:
    out = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _MARK.search(line)
        if m:
            out |= {(n, cid.strip()) for cid in m.group(1).split(",")}
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_wild_config_pitfalls_are_found(path: Path) -> None:
    assert path.read_text(encoding="utf-8").startswith("# source:"), "cite where it was found"
    report = lint_paths([str(path)])
    found = {(f.line, f.check_id) for f in report.findings if os.path.samefile(f.file, path)}
    want = _marks(path)
    assert want, "label the pitfalls in it"
    assert want <= found, sorted(want - found)
    errors = {(f.line, f.check_id) for f in report.findings if f.severity == "error"}
    assert errors <= want, sorted(errors - want)


def test_wild_corpus_report(capsys: pytest.CaptureFixture[str]) -> None:
    total = found = 0
    for path in FILES:
        report = lint_paths([str(path)])
        got = {(f.line, f.check_id) for f in report.findings}
        want = _marks(path)
        total += len(want)
        found += len(want & got)
    with capsys.disabled():
        print(
            f"\nnginx wild corpus: {found}/{total} labelled pitfalls found in {len(FILES)} configs"
        )
    assert found == total and len(FILES) >= 6


# ------------------------------------------------------------- what people paste --------


def _ids(text: str) -> list[tuple[int, str]]:
    return sorted((f.line, f.check_id) for f in lint_text(text).findings)


CUT = """\
server {
    listen 80;
    server_name app.example.com;
    location /outpost.goauthentik.io {
        proxy_pass http://authentik-server:9000/outpost.goauthentik.io;
    }
    location / {
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 = @goauthentik_proxy_signin;
"""


def test_config_cut_short_reports_the_line_and_the_readable_blocks() -> None:
    found = _ids(CUT)
    assert (9, "config-unparseable") in found
    assert (5, "embedded-outpost-target") in found  # from a block that could be read
    assert (9, "error-page-401-only") in found
    # The rest of the file is missing: nothing is reported as missing from it.
    assert "missing-outpost-locations" not in {cid for _, cid in found}


def test_stray_closing_brace_is_one_error_and_the_rest_is_linted() -> None:
    text = CUT + "    }\n}\n}\n"
    found = _ids(text)
    assert (12, "config-unparseable") in found
    assert (5, "embedded-outpost-target") in found


def test_elided_lines_do_not_swallow_the_next_directive() -> None:
    text = CUT.replace("    listen 80;\n", "    ...\n    listen 80;\n    …\n") + "    }\n}\n"
    found = _ids(text)
    assert "config-unparseable" not in {cid for _, cid in found}
    assert (7, "embedded-outpost-target") in found  # listen/location read as written
    # Elided lines are a hole: absence checks hold back (the signin location may be there).
    assert "missing-outpost-locations" not in {cid for _, cid in found}


def test_markdown_fences_around_a_paste_are_ignored() -> None:
    text = "```nginx\n" + CUT + "    }\n}\n```\n"
    found = _ids(text)
    assert "config-unparseable" not in {cid for _, cid in found}
    assert (6, "embedded-outpost-target") in found


def test_bare_site_file_is_linted_as_servers() -> None:
    report = lint_text(CUT + "    }\n}\n", "sites-enabled/app")
    assert report.servers == 1


def test_set_variable_host_is_resolved_and_request_time_ones_are_not() -> None:
    swag = """\
location ^~ /outpost.goauthentik.io {
    set $upstream_authentik authentik-server;
    proxy_pass http://$upstream_authentik:9000;
}
"""
    assert "embedded-outpost-target" in {cid for _, cid in _ids(swag)}
    # Set where the linter cannot see it: the variable's name and port still tell.
    unseen = swag.replace("set $upstream_authentik authentik-server;", "include resolver.conf;")
    found = lint_text(unseen).findings
    warned = [f for f in found if f.check_id == "embedded-outpost-target"]
    assert warned and warned[0].severity == "warning" and "--authentik-url" in warned[0].evidence
    # Near miss: a variable that names nothing of the server, on an outpost port.
    neutral = unseen.replace("$upstream_authentik:9000", "$backend:9001")
    assert "embedded-outpost-target" not in {cid for _, cid in _ids(neutral)}


def test_path_only_rd_on_an_unnamed_fragment_is_not_called_cross_host() -> None:
    text = """\
location / {
    auth_request /outpost.goauthentik.io/auth/nginx;
    error_page 401 403 =302 https://app.example.com/outpost.goauthentik.io/start?rd=$request_uri;
}
location ^~ /outpost.goauthentik.io { proxy_pass http://10.0.0.1:9001; }
"""
    assert "signin-redirect-wrong" not in {cid for _, cid in _ids(text)}
    named = "server {\n    server_name app.example.com;\n" + text + "}\n"
    assert "signin-redirect-wrong" not in {cid for _, cid in _ids(named)}
    other = named.replace("https://app.example.com/", "https://auth.example.com/")
    assert "signin-redirect-wrong" in {cid for _, cid in _ids(other)}


def test_signin_location_left_out_or_included_is_not_called_wrong() -> None:
    """A pasted signin location with its lines elided, or taken from an include not given,
    may well return the 302: no signin-redirect-wrong error for what cannot be seen."""
    done = CUT + "    }\n    location @goauthentik_proxy_signin {\n        BODY\n    }\n}\n"
    for body in ("...", "include snippets/authentik-signin.conf;"):
        assert "signin-redirect-wrong" not in {cid for _, cid in _ids(done.replace("BODY", body))}
    # Written out and without a return, it is still wrong.
    assert "signin-redirect-wrong" in {cid for _, cid in _ids(done.replace("BODY", "internal;"))}


AUTH_SNIPPET = """\
auth_request     /outpost.goauthentik.io/auth/nginx;
error_page       401 403 = @goauthentik_proxy_signin;
auth_request_set $auth_cookie $upstream_http_set_cookie;
add_header       Set-Cookie $auth_cookie;
"""


def test_snippet_file_alone_is_warned_not_failed_for_what_its_server_may_have() -> None:
    """A published snippet (the forward-auth lines a repo keeps in snippets/, or an NPM
    Advanced tab whose outpost path is an NPM custom location) goes into a server that may
    have the outpost and signin locations: warnings, no error. A whole server lacking them
    is an error."""
    alone = lint_text(AUTH_SNIPPET, "snippets/authentik-authrequest.conf").findings
    assert {f.check_id for f in alone} == {"missing-outpost-locations"}
    assert {f.severity for f in alone} == {"warning"}
    assert "no server block" in alone[0].evidence
    app = AUTH_SNIPPET + "location / { proxy_pass http://10.0.0.5:8080; }\n"
    to_app = lint_text(app, "npm-advanced.conf").findings
    assert {(f.check_id, f.severity) for f in to_app} >= {("auth-subrequest-to-app", "warning")}
    whole = "server {\n    listen 80;\n    server_name app.example.com;\n" + AUTH_SNIPPET + "}\n"
    errors = {f.check_id for f in lint_text(whole, "site.conf").findings if f.severity == "error"}
    assert errors == {"missing-outpost-locations"}


OUTPOST_ONLY = """\
location ^~ /outpost.goauthentik.io {
    proxy_pass http://100.64.0.10:9001;
    proxy_pass_request_body off;
}
"""


def test_snippet_outpost_location_takes_the_headers_of_the_server_it_goes_into() -> None:
    """An outpost location with no proxy_set_header of its own inherits the server's, which a
    snippet does not show: no x-original-url-missing error, no Host warning. In a whole server
    without them, both."""
    snippet = AUTH_SNIPPET + OUTPOST_ONLY
    alone = {f.check_id for f in lint_text(snippet, "snippets/authentik.conf").findings}
    assert not alone & {"x-original-url-missing", "outpost-host-fixed"}
    whole = "server {\n    listen 80;\n    server_name app.example.com;\n" + snippet + "}\n"
    found = {f.check_id for f in lint_text(whole, "site.conf").findings}
    assert {"x-original-url-missing", "outpost-host-fixed"} <= found
