"""The TUI escapes server text with the CLI's rule (aktui.terminal): bidi and U+2028 too."""

from __future__ import annotations

HOSTILE = {
    "\x1b]52;c;aGk=\x07": "\\x1b]52;c;aGk=\\x07",  # OSC 52: write the clipboard
    "\x9b31m": "\\x9b31m",  # C1 CSI
    "\u202e": "\\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066": "\\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2028": "\\u2028",  # LINE SEPARATOR
}


def test_tui_uses_the_same_rule():
    from aktui.screens.widgets.text import literal, plain

    for raw, shown in HOSTILE.items():
        assert plain(f"a{raw}b") == f"a{shown}b"
    assert literal("x\ny", newlines=True).plain == "x\ny"


def test_log_rows_show_and_measure_bidi_as_escaped():
    from aktui.logs.store import Entry
    from aktui.screens.widgets.logpane import entry_rows, head_plain, head_width

    e = Entry(1, "outpost", None, "info", "user \u202eevil\u2028next", "", "", None)
    (row,) = entry_rows(e, multi=0, width=120)
    assert "\\u202e" in row.plain and "\u202e" not in row.plain
    assert head_plain(e, multi=0, width=120) == row.plain
    assert head_width(e, multi=0, width=120) == row.cell_len
