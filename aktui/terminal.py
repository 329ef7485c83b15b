"""Text from servers and files made safe to write to a terminal: controls shown, not obeyed.

An error ``detail``, a diff of a remote file, ``nginx -t`` output, a lock owner file or a log
line can come from a system an attacker writes to. Written raw, an ESC sequence clears the
screen, retitles the window or sets the clipboard (OSC 52), and a bidi override makes a line
read differently from what it holds ("trojan source"). Every CLI path and the TUI show these
characters as visible escapes (``\\x1b``, ``\\u202e``) through this one function.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 controls except tab (and newline when kept), DEL, C1 controls (0x9b is a one-byte CSI on
# some terminals), the bidi embeddings/overrides/isolates, and the line/paragraph separators
# (U+2028/U+2029 break a line where no "\n" is).
_CLASSES = "\x00-\x08{nl}\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029"
UNSAFE = re.compile(f"[{_CLASSES.format(nl=chr(10))}]")
UNSAFE_KEEP_NL = re.compile(f"[{_CLASSES.format(nl='')}]")


def escape_char(char: str) -> str:
    """One unsafe character as its visible escape: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _sub(m: re.Match[str]) -> str:
    return escape_char(m.group())


def _sub_json(m: re.Match[str]) -> str:
    # C0 never appears raw in JSON text; DEL and C1 can (json.dumps leaves DEL as is), and
    # "\u007f" is both visible and a valid JSON escape of the same character.
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x7F else f"\\u{code:04x}"


def escape(text: str, *, newlines: bool = False, json_safe: bool = False) -> str:
    """``text`` with every unsafe character escaped; newlines too unless ``newlines`` (a one
    line message stays one line; a diff or command output keeps its lines). ``json_safe``:
    DEL and C1 as ``\\u007f``, so JSON written through it stays valid JSON."""
    pattern = UNSAFE_KEEP_NL if newlines else UNSAFE
    return pattern.sub(_sub_json if json_safe else _sub, text)


def is_safe(text: str) -> bool:
    return UNSAFE_KEEP_NL.search(text) is None


class EscapingStream:
    """A text stream that escapes what is written to it (newlines kept): the CLI wraps its
    stdout and stderr in one, so no print path can reach the terminal raw."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape(text, newlines=True, json_safe=True))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream, name)
