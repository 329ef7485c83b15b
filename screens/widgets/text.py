"""Untrusted text made safe to show: never markup, never terminal escapes.

API strings, container names and log lines come from systems an attacker may write to (a
request path ends up in an outpost log). ``Text`` already stops Rich markup; control characters
are the other half: an ESC in a cell would reach the terminal and be interpreted, so it is
shown as ``\\x1b`` instead, in a dim style so it reads as an escape and not as content.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from aktui.errors import describe_error
from aktui.terminal import UNSAFE, UNSAFE_KEEP_NL, escape_char

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
    # The CLI's rule (aktui.terminal): C0/C1 controls, bidi overrides, U+2028/U+2029.
    for m in (UNSAFE_KEEP_NL if newlines else UNSAFE).finditer(raw):
        if m.start() > pos:
            text.append(raw[pos : m.start()])
        text.append(escape_char(m.group()), _ESCAPED)
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
