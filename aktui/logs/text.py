"""Plain-text helpers of the log view, without Textual: repeated explanations, ANSI stripping,
pretty JSON, and the text written when a log is saved.

A flood repeats the same handful of problems: explaining each repetition in full (4-6 rows)
buries the log under its own notes. The first occurrence is explained, later ones get one row
pointing up, with their count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from datetime import datetime

# CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL or ST) and lone ESC pairs.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# What is left that a terminal or an editor would still interpret: shown, not kept.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class RepeatCounter:
    """How many times each explanation was met so far, in log order (1 = the first)."""

    def __init__(self) -> None:
        self._counts: dict[Hashable, int] = {}

    def see(self, key: Hashable) -> int:
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        return n

    def reset(self) -> None:
        self._counts.clear()


def same_as_above(n: int) -> str:
    """The one row a repeated explanation gets instead of its cause and fix."""
    return f"↳ same as above (×{n})"


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences; other control characters as ``\\xNN``."""
    text = _ANSI.sub("", text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def pretty_json(raw: str) -> list[str] | None:
    """A JSON object line indented over several lines; None when it is not one."""
    raw = raw.strip()
    if not raw.startswith("{"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()


def stamp(at: datetime | None, *, full: bool) -> str:
    """``06:36:20``, or with ``full`` the date and zone: ``2026-11-24 06:36:20 +00:00``."""
    if at is None:
        return "--:--:--" if not full else "---------- --:--:-- ------"
    if not full:
        return at.strftime("%H:%M:%S")
    zone = at.strftime("%z")
    zone = f"{zone[:3]}:{zone[3:]}" if zone else "local"
    return f"{at:%Y-%m-%d %H:%M:%S} {zone}"


__all__ = ["RepeatCounter", "pretty_json", "same_as_above", "stamp", "strip_ansi"]
