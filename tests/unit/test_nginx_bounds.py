"""lint-nginx on inputs that used to hang, pass as clean, or take minutes (issue 17): FIFOs,
unreadable files and directories, thousands of locations, include fan-outs. Bounds are proven
by counting work, not by timing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aktui.cmd import lint_nginx
from aktui.nginx import config as config_mod
from aktui.nginx import locations
from aktui.nginx.lint import lint_paths, lint_text

SITE = """\
server {
    listen 80;
    server_name app.example.com;
    location /outpost.goauthentik.io { proxy_pass http://10.0.0.1:9001; }
    location / {
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 = @goauthentik_proxy_signin;
        proxy_pass http://app;
    }
    location @goauthentik_proxy_signin {
        internal;
        return 302 /outpost.goauthentik.io/start?rd=$request_uri;
    }
}
"""


def ids(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.check_id for f in report.findings}


# --------------------------------------------------------------- unreadable is an error ----


def test_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "site.conf"
    os.mkfifo(fifo)
    # No writer ever opens it: a blocking open or read would hang here forever.
    report = lint_paths([str(fifo)])
    assert ids(report) == {"config-unreadable"}
    assert report.exit_code == 2
    assert "not a regular file" in report.findings[0].evidence
    # In a linted directory too, next to a good site file.
    (tmp_path / "good.conf").write_text(SITE)
    report = lint_paths([str(tmp_path)])
    assert "config-unreadable" in ids(report) and report.exit_code == 2


def test_fifo_matched_by_an_include_glob_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "site.conf").write_text(SITE.replace("listen 80;", "listen 80; include x/*.conf;"))
    (tmp_path / "x").mkdir()
    os.mkfifo(tmp_path / "x" / "pipe.conf")
    report = lint_paths([str(tmp_path / "site.conf")])  # returns: the pipe was never opened
    assert not ids(report) & {"config-unreadable", "include-unresolved"}


def test_unreadable_main_file_and_include_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = tmp_path / "site.conf"
    main.write_text(SITE.replace("listen 80;", "listen 80; include secret.conf;"))
    (tmp_path / "secret.conf").write_text("add_header X-A b;\n")
    real_open = os.open

    def deny(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("secret.conf"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    report = lint_paths([str(main)])
    bad = [f for f in report.findings if f.check_id == "config-unreadable"]
    assert [(Path(f.file).name, f.severity) for f in bad] == [("secret.conf", "error")]
    assert "Permission denied" in bad[0].evidence
    assert report.exit_code == 2
    # The main file itself.
    main.write_text(SITE)
    monkeypatch.setattr(os, "open", lambda p, *a, **k: deny(str(p) + "secret.conf"))
    report = lint_paths([str(main)])
    assert ids(report) == {"config-unreadable"} and report.exit_code == 2


def test_unlistable_directory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.conf").write_text(SITE)
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = lint_paths([str(tmp_path)])
    bad = [f for f in report.findings if f.check_id == "config-unreadable"]
    assert [Path(f.file).name for f in bad] == ["locked"] and report.exit_code == 2


def test_dangling_symlink_is_not_clean(tmp_path: Path) -> None:
    link = tmp_path / "site.conf"
    link.symlink_to(tmp_path / "gone.conf")
    report = lint_paths([str(link)])
    assert ids(report) == {"config-unreadable"} and report.exit_code == 2


def test_cli_names_the_unreadable_path_and_counts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.conf"
    os.mkfifo(fifo)
    assert lint_nginx.main([str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aktui lint-nginx: {fifo}") and "not a regular file" in err


# ------------------------------------------------------------ linear in locations ----------


def _many_locations(n: int) -> str:
    """Half protected prefixes, half regex locations: the shape that made the checks probe
    every prefix against every regex."""
    body = []
    for i in range(n):
        if i % 2:
            body.append(f"    location ~ ^/r{i}/ {{ proxy_pass http://app; }}")
        else:
            body.append(
                f"    location /p{i} {{ auth_request /outpost.goauthentik.io/auth/nginx; "
                "error_page 401 = @goauthentik_proxy_signin; proxy_pass http://app; }"
            )
    return SITE.replace("    location / {", "\n".join(body) + "\n    location / {")


def _work(n: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"indexed": 0, "regex": 0}
    real_index, real_matches = locations.index_statements, locations.Location.matches

    def index(statements):  # type: ignore[no-untyped-def]
        counts["indexed"] += len(statements)
        return real_index(statements)

    def matches(self, uri):  # type: ignore[no-untyped-def]
        counts["regex"] += self.is_regex
        return real_matches(self, uri)

    monkeypatch.setattr(locations, "index_statements", index)
    monkeypatch.setattr(locations.Location, "matches", matches)
    report = lint_text(_many_locations(n))
    monkeypatch.undo()
    counts["bounded"] = "lint-bounded" in ids(report)
    return counts


def test_directive_lookups_are_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each level's statements are indexed once, whatever the number of locations asking.
    small, big = _work(200, monkeypatch), _work(400, monkeypatch)
    assert big["indexed"] <= 2 * small["indexed"] + 50
    assert big["indexed"] <= 4 * 400  # a few passes over the directives, not one per location


def test_regex_work_is_bounded_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locations, "REGEX_BUDGET", 5000)
    work = _work(400, monkeypatch)  # 200 prefixes x 200 regexes x probes would be ~10^5
    assert work["regex"] <= 5000 + 400  # the budget, plus direct evaluations outside _find
    assert work["bounded"]
    # A normal site stays far below the bound and is not flagged.
    monkeypatch.setattr(locations, "REGEX_BUDGET", 5000)
    assert "lint-bounded" not in ids(lint_text(SITE))


# ------------------------------------------------------------ include fan-out bounded ------


def test_include_fan_out_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every file includes every file: the include graph has factorially many paths.
    for i in range(40):
        (tmp_path / f"f{i}.conf").write_text(f"include {tmp_path}/*.conf;\nadd_header X-{i} v;\n")
    site = tmp_path.parent / f"{tmp_path.name}-site.cnf"
    site.write_text(SITE.replace("listen 80;", f"listen 80; include {tmp_path}/f0.conf;"))
    monkeypatch.setattr(config_mod, "MAX_STATEMENTS", 3000)
    seen: list[int] = []
    real_spend = config_mod._Loader.spend

    def spend(self, file, line):  # type: ignore[no-untyped-def]
        seen.append(self.statements)
        return real_spend(self, file, line)

    monkeypatch.setattr(config_mod._Loader, "spend", spend)
    report = lint_paths([str(site)], roots=[str(tmp_path)])
    assert "config-refused" in ids(report)
    # Work stops at the bound: at most one unit past it per open include level.
    assert len(seen) <= 3000 + 100
    cycles = [f for f in report.findings if "include cycle" in f.evidence]
    assert len(cycles) <= 40  # one per include line, not one per path through the graph
