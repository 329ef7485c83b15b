"""One escaping rule for every CLI path and the TUI: controls and bidi overrides shown, not run."""

from __future__ import annotations

import io

import pytest

from aktui.terminal import EscapingStream, escape, is_safe

HOSTILE = {
    "\x1b[2J": "\\x1b[2J",  # clear screen
    "\x1b]0;pwned\x07": "\\x1b]0;pwned\\x07",  # window title
    "\x1b]52;c;aGk=\x07": "\\x1b]52;c;aGk=\\x07",  # OSC 52: write the clipboard
    "\x9b31m": "\\x9b31m",  # C1 CSI
    "\r": "\\x0d",
    "\x7f": "\\x7f",
    "\u202e": "\\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u202a": "\\u202a",
    "\u2066": "\\u2066",
    "\u2069": "\\u2069",
    "\u2028": "\\u2028",  # LINE SEPARATOR
    "\u2029": "\\u2029",
}


@pytest.mark.parametrize(("raw", "shown"), HOSTILE.items())
def test_escape_shows_every_unsafe_character(raw, shown):
    assert escape(f"a{raw}b") == f"a{shown}b"


def test_newlines_kept_only_when_asked_tabs_and_text_untouched():
    assert escape("a\nb") == "a\\x0ab"
    assert escape("a\nb\tc ünïcode →", newlines=True) == "a\nb\tc ünïcode →"


def test_escaping_stream_escapes_every_write():
    out = io.StringIO()
    stream = EscapingStream(out)
    print("detail: \x1b]52;c;aGk=\x07 \u202eevil", file=stream)  # type: ignore[arg-type]
    stream.writelines(["\x1b[2J\n"])
    assert out.getvalue() == "detail: \\x1b]52;c;aGk=\\x07 \\u202eevil\n\\x1b[2J\n"
    assert stream.isatty() is False


def test_json_through_the_stream_stays_json():
    import json

    value = {"name": "del\x7f c1\x9b bidi\u202e esc\x1b"}
    for ensure_ascii in (True, False):
        out = io.StringIO()
        json.dump(value, EscapingStream(out), ensure_ascii=ensure_ascii)  # type: ignore[arg-type]
        assert is_safe(out.getvalue())
        assert json.loads(out.getvalue()) == value


def test_cli_error_line_is_escaped_and_one_line(tmp_path, capsys):
    from aktui.cli import main

    config = tmp_path / "config.yaml"
    config.write_text('read_only: "\\e]52;c;aGk=\\a\\e[2J\\nsecond line"\n')
    assert main(["status", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert "\\x1b]52;c;aGk=\\x07\\x1b[2J\\x0asecond line" in err


def test_cli_output_is_escaped_while_a_subcommand_runs(monkeypatch, capsys):
    from aktui import cli
    from aktui.cmd import status

    def hostile(args):
        print("server said \x1b]0;title\x07")
        return 0

    monkeypatch.setattr(status, "run", hostile)
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out == "server said \\x1b]0;title\\x07\n"


def test_closed_stdout_is_exit_0(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    launcher = "import sys; from aktui.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, "annotate", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()  # `| head -1`
    try:
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 0, err
    assert err == b""
