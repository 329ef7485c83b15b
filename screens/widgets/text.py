"""Untrusted text made safe to show: never markup, never terminal escapes.

API strings, container names and log lines come from systems an attacker may write to (a
request path ends up in an outpost log). ``Text`` already stops Rich markup; control characters
are the other half: an ESC in a cell would reach the terminal and be interpreted, so it is
shown as ``\\x1b`` instead, in a dim style so it reads as an escape and not as content.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

from aktui.errors import describe_error

# C0 controls except tab, DEL, and C1 controls (U+0080-U+009F: 8-bit CSI and friends).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_KEEP_NL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ESCAPED = Style(dim=True, italic=True)


def literal(
    value: object, style: str | Style = "", *, limit: int = 4000, newlines: bool = False
) -> Text:
    """``value`` as plain Text; control characters shown as ``\\xNN``; long text cut.

    Newlines are escaped too unless ``newlines`` (a table cell or a log row stays one line;
    a file, a diff or a command's output keeps its lines)."""
    raw = "" if value is None else str(value)
    if len(raw) > limit:
        raw = raw[:limit] + "…"
    raw = raw.replace("\t", "    ")
    text = Text(style=style, no_wrap=False, end="")
    pos = 0
    for m in (_CONTROL_KEEP_NL if newlines else _CONTROL).finditer(raw):
        if m.start() > pos:
            text.append(raw[pos : m.start()])
        text.append(f"\\x{ord(m.group()):02x}", _ESCAPED)
        pos = m.end()
    if pos < len(raw):
        text.append(raw[pos:])
    return text


def plain(value: object) -> str:
    """Control characters escaped, for places that take a plain string (notify with
    markup=False, titles)."""
    return literal(value).plain


def describe(error: BaseException) -> str:
    """One line for the operator, safe for a screen; library exceptions never reach it raw."""
    return plain(describe_error(error))
