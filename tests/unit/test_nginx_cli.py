"""`aktui lint-nginx`: exit codes, the three output formats, stdin dumps, broken files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aktui.cli import main
from aktui.nginx.lint import RULES
from tests.unit.test_nginx_checks import DATA

BROKEN = DATA / "broken"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["lint-nginx", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (DATA / "clean" / "field_guide_single", 0),
        (BROKEN / "public_path_protected.conf", 0),  # info only
        (BROKEN / "outpost_location_no_caret.conf", 1),
        (BROKEN / "error_page_401_only.conf", 1),  # a warning: 401-only works with authentik
        (BROKEN / "signin_redirect_wrong.conf", 2),
    ],
)
def test_exit_codes(capsys: pytest.CaptureFixture[str], path: Path, code: int) -> None:
    assert run(capsys, str(path))[0] == code


def test_text_report_is_grouped_and_points_at_lines(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "signin_redirect_wrong.conf"
    code, out, _ = run(capsys, str(path))
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == f"== {path}"
    assert lines[1] == "-- server app.example.com"
    assert lines[2].startswith(f"{path}:24: error [signin-redirect-wrong] ")
    assert lines[3].startswith("    fix: Use `return 302 /outpost.goauthentik.io/start")
    assert lines[-1].startswith("1 error(s), 0 warning(s)")


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", str(BROKEN / "npm_advanced_seed.conf"))
    data = json.loads(out)
    assert code == 1 and data["exit_code"] == 1
    assert data["summary"] == {"error": 0, "warning": 3, "info": 0}
    first = data["findings"][0]
    assert set(first) == {"id", "severity", "file", "line", "server_name", "evidence", "fix"}
    assert {(f["id"], f["line"]) for f in data["findings"]} == {
        ("outpost-location-no-caret", 1),
        ("auth-body-passed", 1),
        ("error-page-401-only", 8),
    }


def test_sarif(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)  # CI runs from the checkout: URIs are relative to it
    code, out, _ = run(capsys, "--sarif", "broken/host_vs_http_host.conf")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and code == 1
    (run_,) = sarif["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(RULES)
    results = run_["results"]
    assert {r["level"] for r in results} == {"warning"}
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"] == "host-vs-http-host"
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "broken/host_vs_http_host.conf"
    assert sorted(
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results
    ) == [
        13,
        21,
        26,
    ]


def test_stdin_dump(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dump = (DATA / "dump" / "tree_broken.nginx-T.txt").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(dump))
    code, out, _ = run(capsys, "--json")  # no PATH and stdin is a pipe: read the dump
    files = {f["file"] for f in json.loads(out)["findings"]}
    assert code == 1 and files == {  # warnings only
        "/etc/nginx/conf.d/10-app.conf",
        "/etc/nginx/snippets/authentik-forward-auth.conf",
        "/etc/nginx/snippets/authentik-outpost-single.conf",
    }


def test_stdin_fragment_and_path_together(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    npm = (DATA / "clean" / "npm_advanced" / "advanced.conf").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(npm.replace("401 403", "401")))
    code, out, _ = run(capsys, "--json", "-", str(BROKEN / "outpost_location_no_caret.conf"))
    assert code == 1
    got = {(Path(f["file"]).name, f["id"]) for f in json.loads(out)["findings"]}
    assert got == {
        ("<stdin>", "error-page-401-only"),
        ("outpost_location_no_caret.conf", "outpost-location-no-caret"),
    }


def test_unparseable_file_is_one_stderr_line_and_others_are_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("server {\n    listen 80;\n    location / {\n")
    code, out, err = run(capsys, str(bad), str(BROKEN / "outpost_location_no_caret.conf"))
    assert code == 2
    assert err.splitlines() == [
        f'aktui lint-nginx: {bad}:3: unexpected end of file, expecting "}}"'
    ]
    assert "[outpost-location-no-caret]" in out


def test_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, str(tmp_path / "nope.conf"))
    assert code == 2 and "no such file or directory" in out
    # Not a parse error at some line: the path is not there to be read.
    assert "[config-unreadable]" in out and "[config-unparseable]" not in out


def test_authentik_url_flag_decides_embedded(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BROKEN / "embedded_outpost_target.conf")
    assert run(capsys, path)[0] == 1
    assert run(capsys, "--authentik-url", "http://authentik-server:9000", path)[0] == 2
    assert run(capsys, "--outpost", "authentik-server:9000", path)[0] == 0


def test_aktui_config_outposts_are_known(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "xdg" / "aktui" / "config.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text("outposts:\n  outpost-single:\n    address: authentik-server\n    port: 9000\n")
    assert run(capsys, str(BROKEN / "embedded_outpost_target.conf"))[0] == 0


def test_list_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-checks")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(RULES)


def test_entry_point_in_a_subprocess() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aktui.cli",
            "lint-nginx",
            str(BROKEN / "signin_redirect_wrong.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "[signin-redirect-wrong]" in proc.stdout


def test_run_with_a_minimal_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    # `aktui doctor --nginx PATH` builds its own Namespace: paths alone must be enough.
    import argparse

    from aktui.cmd.lint_nginx import lint_args, run

    args = argparse.Namespace(paths=[str(BROKEN / "outpost_location_no_caret.conf")])
    assert run(args) == 1
    assert "[outpost-location-no-caret]" in capsys.readouterr().out
    assert [f.check_id for f in lint_args(args).findings] == ["outpost-location-no-caret"]
