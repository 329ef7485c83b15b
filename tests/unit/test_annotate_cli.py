"""`aktui annotate`: lines back in order, annotations under them, exit codes, terminal safety."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aktui.cmd import annotate as cmd
from aktui.logs.annotate import RulesError

REPO = Path(__file__).resolve().parent.parent.parent
LOGS = REPO / "tests" / "data" / "logs"

FAIL_404 = (
    "2026/03/29 08:40:22 [error] 31#31: *11 auth request unexpected status: 404 while sending "
    'to client, client: 203.0.113.7, server: app.example.com, request: "GET / HTTP/1.1", host: '
    '"app.example.com"'
)
HEALTHY = (
    '{"event":"Loaded application","host":"app.example.com","level":"info",'
    '"logger":"authentik.outpost.proxyv2","name":"app","timestamp":"2026-03-29T08:40:01Z"}'
)
INFO = (
    '{"event":"no app for hostname","host":"x","level":"warning",'
    '"logger":"authentik.outpost.proxyv2","timestamp":"2026-03-29T08:43:15Z"}'
)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    cmd.configure(parser)
    return parser.parse_args(list(argv))


def _run(text: str, *argv: str, out: io.StringIO | None = None) -> tuple[int, str]:
    out = out if out is not None else io.StringIO()
    code = cmd.run(_args(*argv), stdin=io.StringIO(text), stdout=out)
    return code, out.getvalue()


def test_plain_output_keeps_every_line_and_adds_notes_under_failures() -> None:
    code, out = _run(f"{HEALTHY}\n{FAIL_404}\nplain text\n")
    lines = out.splitlines()
    assert code == 0  # failures found is still success
    assert lines[0] == HEALTHY and lines[1] == FAIL_404 and lines[3] == "plain text"
    assert lines[2].startswith("  ↳ [error] the auth subrequest got a 404 — cause: ")
    assert " fix: " in lines[2] and lines[2].endswith("[nginx-auth-status-404]")
    assert len(lines) == 4


def test_json_writes_one_object_per_input_line_in_order() -> None:
    source = (LOGS / "failing.log").read_text() + (LOGS / "healthy.log").read_text()
    code, out = _run(source, "--json")
    objects = [json.loads(line) for line in out.splitlines()]
    inputs = source.splitlines()
    assert code == 0 and len(objects) == len(inputs)
    assert [o["line"] for o in objects] == inputs
    for o in objects:
        assert list(o) == ["line", "rule", "title", "severity", "cause", "fix"]
        if o["rule"] is None:
            assert o["title"] is o["severity"] is o["cause"] is o["fix"] is None
        else:
            assert o["severity"] in ("info", "warning", "error") and o["fix"]
    assert sum(o["rule"] is not None for o in objects) >= 100


def test_only_annotated() -> None:
    _, out = _run(f"{HEALTHY}\n{FAIL_404}\n{HEALTHY}\n", "--only-annotated")
    assert out.splitlines()[0] == FAIL_404 and len(out.splitlines()) == 2
    _, out = _run(f"{HEALTHY}\n{FAIL_404}\n", "--only-annotated", "--json")
    assert [json.loads(line)["line"] for line in out.splitlines()] == [FAIL_404]


@pytest.mark.parametrize(
    ("text", "fail_on", "code"),
    [
        (FAIL_404, "error", 1),
        (FAIL_404, "warning", 1),
        (INFO, "error", 0),
        (INFO, "warning", 0),
        (INFO, "info", 1),
        (HEALTHY, "info", 0),
    ],
)
def test_fail_on_exits_1_at_or_above_the_severity(text: str, fail_on: str, code: int) -> None:
    assert _run(text + "\n", "--fail-on", fail_on)[0] == code
    assert _run(text + "\n")[0] == 0


def test_files_are_read_in_order_and_a_missing_one_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(HEALTHY)  # no final newline: the next file must still start on its own line
    b.write_text(FAIL_404 + "\n")
    out = io.StringIO()
    code = cmd.run(_args(str(a), str(tmp_path / "nope.log"), str(b)), stdout=out)
    assert code == 2
    assert out.getvalue().splitlines()[:2] == [HEALTHY, FAIL_404]
    assert "nope.log" in capsys.readouterr().err


def test_user_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "rules:\n  - id: loaded-app\n    title: t\n    sources: [outpost]\n    match:\n"
        "      message: Loaded application\n    cause: c\n    fix: f\n    severity: warning\n"
    )
    _, out = _run(HEALTHY + "\n", "--rules", str(rules), "--json")
    assert json.loads(out)["rule"] == "loaded-app"
    rules.write_text("rules:\n  - id: x\n    severity: loud\n")
    with pytest.raises(RulesError, match=r"mine.yaml:2: rules\[0\]"):
        _run(HEALTHY, "--rules", str(rules))


def test_rules_file_from_config(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "rules:\n  - id: loaded-app\n    title: t\n    sources: [outpost]\n    match:\n"
        "      message: Loaded application\n    cause: c\n    fix: f\n    severity: warning\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"logs:\n  rules_file: {rules}\n")
    config.chmod(0o600)
    _, out = _run(HEALTHY + "\n", "--config", str(config), "--json")
    assert json.loads(out)["rule"] == "loaded-app"


@pytest.mark.parametrize("where", ["default", "AKTUI_CONFIG"])
def test_rules_file_from_the_config_found_without_config(where: str, tmp_path: Path) -> None:
    # Without --config the config file is looked for where the TUI looks (XDG, AKTUI_CONFIG);
    # when there is none its reader is not even imported (a shorter start), when there is
    # one its logs.rules_file applies.
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "rules:\n  - id: loaded-app\n    title: t\n    sources: [outpost]\n    match:\n"
        "      message: Loaded application\n    cause: c\n    fix: f\n    severity: warning\n"
    )
    home = tmp_path / "xdg"
    config = home / "aktui" / "config.yaml" if where == "default" else tmp_path / "elsewhere.yaml"
    env = {"XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    if where == "AKTUI_CONFIG":
        env["AKTUI_CONFIG"] = str(config)
    script = (
        "import sys\nfrom aktui.cmd import annotate\ncode = annotate.main(['--json'])\n"
        "print('config imported' if 'aktui.config' in sys.modules else 'config not imported')\n"
    )

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=HEALTHY + "\n",
            capture_output=True,
            text=True,
            env={**_env_without_config(), **env},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    line, verdict = run()
    assert json.loads(line)["rule"] is None
    assert verdict == "config not imported"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"logs:\n  rules_file: {rules}\n")
    config.chmod(0o600)
    line, verdict = run()
    assert json.loads(line)["rule"] == "loaded-app"
    assert verdict == "config imported"


def _env_without_config() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("AKTUI_CONFIG", "XDG_CONFIG_HOME")}


def test_terminal_output_escapes_control_characters() -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2Jclear \x9b31m \u202e [bold red]x[/bold red]\x00"
    _, out = _run(f"{hostile}\n{FAIL_404}\x1b[31m\n", out=Tty())
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\x00" not in out
    assert "\u202e" not in out
    assert out.splitlines()[0] == (
        "\\x1b]0;pwned\\x07\\x1b[2Jclear \\x9b31m \\u202e [bold red]x[/bold red]\\x00"
    )
    assert "  ↳ [error]" in out  # still annotated
    _, out = _run(f"{hostile}\n", "--json", out=Tty())
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    assert json.loads(out)["line"] == hostile  # escaped, not altered


def test_pipes_get_the_bytes_as_read() -> None:
    hostile = "\x1b[31mred\x1b[0m [bold]x[/bold]\r\n"
    _, out = _run(hostile)
    assert out == hostile  # CRLF and escapes untouched when not writing to a terminal


def test_hostile_file_through_the_real_stdin(tmp_path: Path) -> None:
    big = b'{"event":"' + b"A" * 1_048_576 + b'","level":"info"}'
    data = (LOGS / "hostile.log").read_bytes() + big + b"\n" + FAIL_404.encode() + b"\n"
    proc = subprocess.run(
        [sys.executable, "-m", "aktui.cmd.annotate", "--json"],
        input=data,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    objects = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(objects) == data.count(b"\n")
    assert objects[-1]["rule"] == "nginx-auth-status-404"
    assert len(objects[-2]["line"]) > 1_048_576
    assert "\ufffd" in objects[3]["line"]  # invalid UTF-8 replaced, not fatal


def test_fail_on_from_the_command_line(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(FAIL_404 + "\n")
    argv = [sys.executable, "-m", "aktui.cmd.annotate", "--fail-on", "error", str(log)]
    proc = subprocess.run(argv, capture_output=True, cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 1 and b"nginx-auth-status-404" in proc.stdout


def test_list_rules() -> None:
    code, out = _run("", "--list-rules")
    assert code == 0 and "nginx-auth-status-404" in out and "outpost-invalid-state" in out
    # A rule with `also:` shapes is one rule: listed once.
    ids = [line.split()[0] for line in out.splitlines()]
    assert ids.count("outpost-token-whitespace") == 1 and len(ids) == len(set(ids))


@pytest.mark.parametrize("argv", [(), ("--json",), ("--only-annotated",)])
@pytest.mark.parametrize("tty", [False, True])
def test_a_line_over_the_cap_keeps_its_head_and_is_marked_cut(
    argv: tuple[str, ...], tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Input without line breaks used to grow one buffer without limit (and searched it again
    # on every read): now a line keeps LINE_CAP bytes of its head and says how much was cut.
    monkeypatch.setattr(cmd, "LINE_CAP", 1000)
    monkeypatch.setattr(cmd, "_CHUNK", 97)
    head = FAIL_404 + " " + "A" * 2000
    code, out = _run(f"{HEALTHY}\n{head}\n{FAIL_404}", *argv, out=Tty() if tty else None)
    assert code == 0
    cut = f"{head[:1000]}…[line cut: {len(head) - 1000} more bytes]"
    if "--json" in argv:
        objects = [json.loads(line) for line in out.splitlines()]
        assert [o["line"] for o in objects] == [HEALTHY, cut, FAIL_404]
        assert objects[1]["rule"] == "nginx-auth-status-404"  # its head is still annotated
    else:
        lines = out.splitlines()
        if "--only-annotated" not in argv:
            assert lines[0] == HEALTHY
            lines = lines[1:]
        assert lines[0] == cut and lines[1].startswith("  ↳ [error]")
        assert lines[2] == FAIL_404
