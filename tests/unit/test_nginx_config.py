"""Loading config for the linter: dumps, fragments, includes within roots, hostile input."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from aktui.nginx.config import MAX_DEPTH, load_paths, load_text
from aktui.nginx.lint import lint_paths, lint_text
from aktui.nginx.sources import MAX_FILE_BYTES, split_dump
from tests.unit.test_nginx_checks import _MARK, DATA

DUMP = DATA / "dump" / "tree_broken.nginx-T.txt"


def test_split_dump_drops_the_preface_and_keeps_line_one() -> None:
    text = (
        "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
        "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp { include a.conf; }\n\n"
        "# configuration file /etc/nginx/a.conf:\r\nserver { listen 81; }\n"
    )
    files = split_dump(text)
    assert files is not None and list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/a.conf"]
    assert files["/etc/nginx/nginx.conf"].splitlines()[0] == "events {}"
    assert split_dump("server { listen 80; }") is None


def test_recorded_dump_findings_name_the_original_files_and_lines() -> None:
    # Expected: every `# expect:` marker inside the dump, at its line within its own file.
    want = set()
    for path, body in (split_dump(DUMP.read_text()) or {}).items():
        for n, line in enumerate(body.splitlines(), 1):
            if m := _MARK.search(line):
                want |= {(path, n, c.strip()) for c in m.group(1).split(",")}
    report = lint_text(DUMP.read_text())
    assert want and {(f.file, f.line, f.check_id) for f in report.findings} == want
    assert report.files[0] == "/etc/nginx/nginx.conf" and report.servers == 2


def test_dump_and_tree_give_the_same_findings() -> None:
    tree = lint_paths([str(DATA / "tree_broken")])
    dump = lint_text(DUMP.read_text())
    prefix = str(DATA / "tree_broken") + "/"

    def rel(f: str) -> str:
        return f.replace(prefix, "").replace("/etc/nginx/", "")

    assert sorted((rel(f.file), f.line, f.check_id, f.server_name) for f in tree.findings) == (
        sorted((rel(f.file), f.line, f.check_id, f.server_name) for f in dump.findings)
    )


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("events {}\nhttp { }\n", "main"),
        ("server { listen 80; }\n", "http"),  # conf.d / sites-enabled file
        ("upstream x { server 127.0.0.1:1; }\n", "http"),
        ("location / { }\nlocation @x { }\n", "server"),  # Nginx Proxy Manager advanced tab
        ("auth_request /x;\nerror_page 401 = @s;\n", "server"),  # a snippet
    ],
)
def test_fragment_context_is_guessed(text: str, context: str) -> None:
    (config,) = load_text(text)
    assert config.context == context and not config.problems


def test_site_file_includes_resolve_against_the_conf_prefix() -> None:
    # sites-enabled/app includes `snippets/...`, which nginx reads from /etc/nginx.
    site = DATA / "clean" / "field_guide_single" / "sites-enabled" / "app.example.com.conf"
    report = lint_paths([str(site)])
    assert report.findings == () and len(report.files) == 3


def test_directory_without_nginx_conf_skips_snippets_and_backups(tmp_path: Path) -> None:
    shutil.copytree(DATA / "clean" / "field_guide_single", tmp_path / "etc")
    (tmp_path / "etc" / "nginx.conf").unlink()
    (tmp_path / "etc" / "sites-enabled" / "old.conf~").write_text("server { ")
    report = lint_paths([str(tmp_path / "etc")])
    assert report.findings == () and report.servers == 1


def test_include_outside_roots_is_not_read_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "elsewhere").mkdir()
    outside = tmp_path / "elsewhere" / "x.conf"
    outside.write_text("error_page 401 = @goauthentik_proxy_signin;\n")
    site = tmp_path / "site" / "app.conf"
    site.write_text(f"server {{\n    listen 80;\n    include {outside};\n}}\n")

    (config,) = load_paths([str(site)])
    assert [(p.kind, p.line) for p in config.problems] == [("include-outside-roots", 3)]
    assert str(outside) not in config.files
    for kw in ({"roots": [str(tmp_path / "elsewhere")]}, {"follow_any_include": True}):
        (config,) = load_paths([str(site)], **kw)  # type: ignore[arg-type]
        assert not config.problems and str(outside) in config.files


def test_symlink_out_of_the_roots_is_refused(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    secret = tmp_path / "secret.conf"
    secret.write_text("listen 1;\n")
    (tmp_path / "site" / "inc.conf").symlink_to(secret)
    (tmp_path / "site" / "app.conf").write_text("server { include inc.conf; }\n")
    (config,) = load_paths([str(tmp_path / "site" / "app.conf")])
    assert [p.kind for p in config.problems] == ["include-outside-roots"]


def test_missing_include_cycle_and_empty_glob(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf;\ninclude none/*.conf;\ninclude gone.conf;\n")
    (tmp_path / "b.conf").write_text("\ninclude a.conf;\n")
    (config,) = load_paths([str(tmp_path / "a.conf")])
    got = {(os.path.basename(p.file), p.line, p.kind) for p in config.problems}
    assert got == {("b.conf", 2, "config-unparseable"), ("a.conf", 3, "include-unresolved")}


def test_unparseable_file_is_one_error_and_the_others_are_still_checked(tmp_path: Path) -> None:
    (tmp_path / "bad.conf").write_text("server {\n    listen 80;\n    location / {\n")
    (tmp_path / "ctx.conf").write_text("server {\n    location / {\n        listen 80;\n    }\n}\n")
    shutil.copy(DATA / "broken" / "error_page_401_only.conf", tmp_path / "good.conf")
    report = lint_paths([str(tmp_path)])
    got = sorted((os.path.basename(f.file), f.line, f.check_id) for f in report.findings)
    assert got == [
        ("bad.conf", 3, "config-unparseable"),
        ("ctx.conf", 3, "config-unparseable"),
        ("good.conf", 6, "error-page-401-only"),
    ]
    assert "expecting" in report.by_id("config-unparseable")[0].evidence
    assert report.exit_code == 2


def test_crlf_line_endings_keep_line_numbers() -> None:
    text = "server {\r\n listen 80;\r\n\r\n auth_request /outpost.goauthentik.io/auth/nginx;\r\n}"
    report = lint_text(text)
    assert {f.line for f in report.by_id("missing-outpost-locations")} == {4}


def test_utf8_bom_is_an_error_and_the_rest_is_still_linted(tmp_path: Path) -> None:
    """nginx does not skip a byte order mark (`unknown directive "\ufeffserver"`, nginx 1.22):
    a file saved by a Windows editor fails `nginx -t`, so it cannot be called clean."""
    path = tmp_path / "site.conf"
    text = "server {\r\n listen 80;\r\n\r\n auth_request /outpost.goauthentik.io/auth/nginx;\r\n}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    report = lint_paths([str(path)])
    (bom,) = report.by_id("config-unparseable")
    assert bom.line == 1 and "byte order mark" in bom.evidence
    assert {f.line for f in report.by_id("missing-outpost-locations")} == {4}


def test_utf16_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "site.conf"
    path.write_bytes("server { listen 80; }\r\n".encode("utf-16"))
    (f,) = lint_paths([str(path)]).findings
    assert f.check_id == "config-refused" and "UTF-16" in f.evidence and "UTF-8" in f.evidence


def test_stock_params_files_are_not_holes() -> None:
    """`include fastcgi_params;` in a pasted PHP site names a file every nginx ships (params
    only): it must not make the absence checks skip the server, nor warn as unresolved."""
    text = (
        "server {\n listen 80;\n auth_request /outpost.goauthentik.io/auth/nginx;\n"
        " location ~ \\.php$ { include fastcgi_params; fastcgi_pass 127.0.0.1:9000; }\n}\n"
    )
    ids = {f.check_id for f in lint_text(text).findings}
    assert "missing-outpost-locations" in ids and "include-unresolved" not in ids
    other = lint_text(text.replace("fastcgi_params", "snippets/php.conf")).findings
    assert "missing-outpost-locations" not in {f.check_id for f in other}


# --- hostile input: refused or handled in bounded time ------------------------------------


def _timed(fn, limit: float = 3.0):
    start = time.monotonic()
    result = fn()
    assert time.monotonic() - start < limit
    return result


def test_deep_nesting_is_refused() -> None:
    depth = 5000
    text = "location /a {\n" * depth + "}\n" * depth
    report = _timed(lambda: lint_text(text))
    (f,) = report.findings
    assert f.check_id == "config-refused" and f.line == MAX_DEPTH + 1


def test_binary_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "blob.conf"
    path.write_bytes(b"server {\x00\xff\xfe listen 80; }\n")
    report = lint_paths([str(path)])
    assert [(f.check_id, f.line) for f in report.findings] == [("config-refused", 0)]


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.conf"
    with open(path, "w") as f:
        line = "# " + "x" * 1022 + "\n"
        for _ in range(MAX_FILE_BYTES // len(line) + 2048):  # > 10 MB
            f.write(line)
    assert path.stat().st_size > 10 * 2**20
    report = _timed(lambda: lint_paths([str(path)]))
    assert [f.check_id for f in report.findings] == ["config-refused"]


def test_huge_stdin_text_is_refused() -> None:
    report = _timed(lambda: lint_text("#" * (17 * 2**20)))
    assert [f.check_id for f in report.findings] == ["config-refused"]


def test_unterminated_quote_is_an_error_not_a_hang() -> None:
    report = _timed(lambda: lint_text('server {\n    return 200 "no end;\n}\n'))
    assert [f.check_id for f in report.findings] == ["config-unparseable"]


def test_include_fan_out_is_bounded(tmp_path: Path) -> None:
    # Every level includes the next one ten times: 10^6 copies unless bounded.
    for i in range(6):
        (tmp_path / f"l{i}.conf").write_text(f"include l{i + 1}.conf;\n" * 10)
    (tmp_path / "l6.conf").write_text("add_header X-A b;\n")
    report = _timed(lambda: lint_paths([str(tmp_path / "l0.conf")]), limit=10.0)
    assert "config-refused" in {f.check_id for f in report.findings}


def test_catastrophic_regex_locations_do_not_hang() -> None:
    # Python's re would backtrack for minutes on these against /outpost.goauthentik.io/start;
    # the matcher refuses to evaluate them (treats them as "cannot tell").
    hostile = ["(.*)*x", "([a-z]+.?)+$x", ".*.*.*.*.*.*x", "(\\w+)+$x"]
    body = "".join(f"    location ~ {p} {{ deny all; }}\n" for p in hostile)
    text = (
        "server {\n    listen 80;\n    auth_request /outpost.goauthentik.io/auth/nginx;\n"
        + body
        + "}\n"
    )
    report = _timed(lambda: lint_text(text), limit=2.0)
    assert "missing-outpost-locations" in {f.check_id for f in report.findings}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (  # an ingress-nginx manifest, where the auth lines are annotations
            "# app ingress\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
            "  annotations:\n    nginx.ingress.kubernetes.io/auth-url: http://ak:9000/"
            "outpost.goauthentik.io/auth/nginx\n",
            "YAML",
        ),
        ("services:\n  nginx:\n    image: nginx\n", "YAML"),
        ("- name: nginx site\n  template: src=site.j2\n", "YAML"),
        ('{"server": {"listen": 80}}\n', "JSON"),
    ],
)
def test_other_formats_are_refused_not_called_clean(text: str, kind: str) -> None:
    """Read as nginx, a manifest is one long directive without a server: "clean" before."""
    report = lint_text(text, "ingress.yaml")
    (f,) = report.findings
    assert f.check_id == "config-refused" and f.severity == "error" and kind in f.evidence
    assert report.exit_code == 2


def test_nginx_t_words_before_a_config_are_not_yaml() -> None:
    text = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nevents {}\n"
    assert not lint_text(text + "http { server { listen 80; } }\n").by_id("config-refused")
