"""Find, in a block of many log lines (bytes), every line an annotation rule could match.

``aktui annotate`` on a pipe or file spends nearly all of its time on healthy lines. The block
filter lets one multi-pattern scan (Hyperscan, a maintained C library with wheels for the
common platforms) look at a whole block for every rule's anchor at once: the few lines it
flags take the per-line ``RuleSet.annotate``; all others are known healthy and go out as they
came in, in bulk.

Exactness: the flagged lines are a superset of the lines a rule can match, derived from the
rules themselves (a rules file can add any number of rules). Each rule's anchor (exact or
literal message, status code, message regex) is searched for in the raw line, plus guards
for every case where a line's message is not a verbatim piece of it: JSON escapes (any
backslash), a non-string ``event``/``message``/``msg``, the 4 KiB message cap (long lines),
non-ASCII text (``int()`` reads non-ASCII digits as a status, Unicode case folding, ``\\w`` and
friends), and the ASCII controls that Python's ``\\s`` matches and PCRE's does not. A rule
that cannot be expressed as a search in raw text (one tried on every line, an anchored or
look-around regex, a regex outside the syntax both engines read alike) makes ``build``
return None: then every line takes the per-line path, which is always right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from aktui.logs.format import MESSAGE_CAP

try:  # optional: without it (a platform with no wheel) every line takes the per-line path
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]

__all__ = ["BlockFilter", "available", "build"]

# A non-string event/message (parse_line re-serialises it, so its text is not in the line).
_NOT_STRING = rb'[ \t\r]*:[ \t\r]*[^ \t\r"]'
_GUARDS = (rb"\\", rb'"event"' + _NOT_STRING, rb'"message"' + _NOT_STRING, rb'"msg"' + _NOT_STRING)
# Control characters JSON must escape, but for the line break and a CRLF (blocks end in "\n").
_CONTROLS = rb"[\x00-\x09\x0b\x0c\x0e-\x1f]|\r[^\n]"
_CONTROLS_ID = 0
# Lines the scan cannot judge when rules need exact characters: non-ASCII (after decoding with
# "replace", so valid UTF-8).
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def available() -> bool:
    return hyperscan is not None


class BlockFilter:
    """``starts(block)``: sorted start offsets of the candidate lines of ``block``, a run of
    whole lines each ending in ``\\n`` (the last may lack it), as valid UTF-8 bytes."""

    def __init__(
        self,
        database: Any,
        guard: re.Pattern[bytes] | None,
        long_lines: bool,
        first_also: int = 1 << 62,
    ) -> None:
        self._db = database
        self._guard = guard
        self._long_lines = long_lines
        self._first_also = first_also  # pattern ids from here on are the `also` literals

    def starts(
        self, block: bytes, controls: bool = False, marked: set[int] | None = None
    ) -> list[int]:
        """``controls``: also the lines with a control character other than the line break
        (and a CRLF's "\\r"), which JSON output must escape. ``marked`` gets the starts of
        the lines holding one of the ``also`` literals given to ``build``."""
        found: list[int] = []
        add = found.append
        rfind, find = block.rfind, block.find
        end = -1  # the end of the last line added: later matches in it are skipped
        first_also = self._first_also

        def on_match(pattern: int, _start: int, to: int, _flags: int, _ctx: Any) -> None:
            nonlocal end
            if pattern >= first_also and marked is not None:
                marked.add(rfind(b"\n", 0, to - 1) + 1)
            if to <= end or (pattern == _CONTROLS_ID and not controls):
                return
            last = to - 1  # the match's last byte; its line holds it (a "\n" ends its line)
            add(rfind(b"\n", 0, last) + 1)
            end = find(b"\n", last) + 1 or len(block)

        self._db.scan(block, match_event_handler=on_match)
        extra: set[int] = set()
        if self._guard is not None and not block.isascii():
            extra.update(_lines_with(self._guard, block))
        if self._long_lines:
            extra.update(_long_lines(block))
        # Hyperscan reports matches by end offset, so `found` is sorted and once per line
        # already; the set costs microseconds per block and does not rely on it.
        extra.update(found)
        return sorted(extra)


def _lines_with(pattern: re.Pattern[bytes], block: bytes) -> Iterator[int]:
    search, rfind, find = pattern.search, block.rfind, block.find
    pos = 0
    while (m := search(block, pos)) is not None:
        at = m.start()
        yield rfind(b"\n", 0, at) + 1
        pos = find(b"\n", at) + 1
        if not pos:
            return


def _long_lines(block: bytes) -> Iterator[int]:
    """Lines longer than the message cap: their message ends in "…", which a message regex
    may match where the line cannot. rfind over a window jumps many short lines at once."""
    pos, size = 0, len(block)
    while size - pos > MESSAGE_CAP:
        last = block.rfind(b"\n", pos, pos + MESSAGE_CAP + 1)
        if last >= 0:
            pos = last + 1
            continue
        yield pos
        nxt = block.find(b"\n", pos)
        if nxt < 0:
            return
        pos = nxt + 1


def build(rules: Iterable[Any], also: Iterable[str] = ()) -> BlockFilter | None:
    """A ``BlockFilter`` for these rules (``aktui.logs.rules.Rule``), also flagging the lines
    holding any of the literals ``also`` (exact, case-sensitive: e.g. redaction's trigger
    words), or None when a rule cannot be searched for in raw text, or Hyperscan is not
    installed."""
    if not available():
        return None
    patterns: dict[bytes, int] = {_CONTROLS: 0}  # first: its id is _CONTROLS_ID
    patterns.update({guard: 0 for guard in _GUARDS})
    literals: set[tuple[str, bool]] = set()  # (text, folded): lower-cased when folded
    status_rules: list[Any] = []
    regexes = False
    for rule in rules:
        kind, keys = rule.anchor
        if kind == "status":
            status_rules.append(rule)
            continue
        if kind in ("exact", "exact_ci"):
            values, how, fold = keys, "exact", kind == "exact_ci"
        elif kind == "scan":
            values, how, fold = keys[2], keys[3], keys[4]
        else:  # "always", "raw": the whole record decides, on every line
            return None
        for value in values:
            if not value or "\n" in value or "…" in value:
                return None
            if how == "regex":
                translated = _translate(value)
                if translated is None:
                    return None
                flags = hyperscan.HS_FLAG_PREFILTER
                patterns[translated] = flags | (hyperscan.HS_FLAG_CASELESS if fold else 0)
                # Python's \s also matches \x1c-\x1f, PCRE's does not: such lines all go.
                patterns[rb"[\x1c-\x1f]"] = 0
                regexes = True
            else:
                literals.add((value.lower() if fold else value, fold))
    also = tuple(also)
    for text, fold in _fewest(literals, also):
        patterns[_literal(text)] = hyperscan.HS_FLAG_CASELESS if fold else 0
    patterns.update(_status_patterns(status_rules))
    # Last, so that their ids tell them apart (a rule may search for the same literal).
    first_also = len(patterns)
    extra: dict[bytes, int] = {}
    for literal in also:
        if not literal or "\n" in literal:
            return None  # an empty literal flags every line: the per-line path does that
        extra[_literal(literal)] = 0
    expressions = [*patterns, *extra]
    all_flags = [*patterns.values(), *extra.values()]
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=all_flags,
        )
    except hyperscan.error:  # e.g. a regex that can match the empty string: every line
        return None
    folded = any(fold for _, fold in literals)
    exact = bool(regexes or status_rules or folded)
    # Non-ASCII lines: str.lower and re's case folding differ there, and int() reads
    # non-ASCII digits ("٤٠٤") as a status; such lines simply all take annotate().
    return BlockFilter(database, _NON_ASCII if exact else None, exact, first_also)


def _fewest(literals: set[tuple[str, bool]], also: tuple[str, ...]) -> list[tuple[str, bool]]:
    """``literals`` without those holding another one (or an ``also`` literal): a line with
    "auth request unexpected status: 404" also holds "auth request unexpected status:", so the
    longer one only costs the scan time and a second match per line."""
    ordered = sorted(literals, key=lambda item: (len(item[0]), not item[1], item[0]))
    kept: list[tuple[str, bool]] = []
    shorter = [(text, False) for text in also if text]
    for text, fold in ordered:
        folded = text.lower()
        covered = any(
            other in (folded if other_fold else text) and (other_fold or not fold)
            for other, other_fold in shorter
        )
        if not covered:
            kept.append((text, fold))
        shorter.append((text, fold))
    return kept


def _status_patterns(rules: list[Any]) -> dict[bytes, int]:
    """The statuses of the rules anchored on one: as JSON (`"status": 502`, `"502"`), logfmt
    (`status=502`) or an access-log field (`" 502 `). A longer number also matches (no
    look-ahead): a superset is fine.

    Not searched for together with the rule's message text (`/outpost.goauthentik.io` on the
    same line as `status":404`): such patterns make Hyperscan confirm each of the many healthy
    lines holding the text, which cost more scan time (~40% on the benchmark mix) than the
    few lines they spare."""
    codes = {code for rule in rules for code in rule.anchor[1]}
    if not codes:
        return {}
    alternation = b"|".join(str(code).encode() for code in sorted(codes))
    return {
        b'status(?:"[ \\t\\r]*:[ \\t\\r]*"?|="?)(?:' + alternation + b")": 0,
        b'" (?:' + alternation + b") ": 0,
    }


def _literal(text: str) -> bytes:
    """``text`` as a Hyperscan pattern matching its UTF-8 bytes exactly."""
    out = bytearray()
    for byte in text.encode("utf-8"):
        if 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    return bytes(out)


# Regex syntax both Python's re and Hyperscan (PCRE) read alike, token by token; anything
# else makes the filter give up (None) rather than risk a line it would miss.
_ESCAPES_SAFE = set("dDwWsStnrfv.\\^$|?*+()[]{}/-#&~\"'%,:;<=>@`!_ ")
_CONTEXT = set("bBAZzG")  # assertions: a message's start/end/boundaries are not the line's
# A bounded repeat with a larger upper bound is searched for unbounded (see _translate).
_WIDEST_BOUND = 16


def _translate(pattern: str) -> bytes | None:
    """``pattern`` (a message regex, searched in the message) for a search in the raw line:
    the same text, or None when it looks around its match (anchors, boundaries,
    look-arounds, back-references) or uses syntax where the engines differ (inline flags
    other than i/m/s/x, Unicode escapes, POSIX classes, ``{,n}``, non-ASCII)."""
    if not pattern.isascii():
        return None
    out: list[str] = []
    i, size, in_class = 0, len(pattern), False
    while i < size:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= size:
                return None
            nxt = pattern[i + 1]
            if nxt in _CONTEXT or (nxt.isdigit() and nxt != "0" and not in_class):
                return None
            if nxt == "x":
                if not re.fullmatch(r"[0-9a-fA-F]{2}", pattern[i + 2 : i + 4]):
                    return None
                out.append(pattern[i : i + 4])
                i += 4
                continue
            if nxt not in _ESCAPES_SAFE:
                return None
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[":
                return None  # "[:alpha:]" is a POSIX class in PCRE, text in Python
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":  # a literal "]" first in a class
                out.append("\\]")
                i += 1
            continue
        if ch in "^$":
            return None
        if ch == "(" and pattern[i + 1 : i + 2] == "?":
            rest = pattern[i + 2 :]
            if rest.startswith(":"):
                out.append("(?:")
                i += 3
                continue
            if rest.startswith("P<"):
                close = rest.find(">")
                if close < 0:
                    return None
                out.append("(")  # a named group only groups here
                i += 2 + close + 1
                continue
            flags = re.match(r"[imsx]+(?=[:)])", rest)
            if flags is None:
                return None  # look-arounds, conditionals, comments, other flags
            out.append("(?" + flags.group())
            i += 2 + flags.end()
            continue
        if ch == "{":
            bound = re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])
            if bound is None:
                out.append("\\{")  # a literal brace in Python
                i += 1
                continue
            low, comma, high = bound.groups()
            if not low and not high and not comma:
                out.append("\\{")  # "{}" is text in Python ("{,}" is "{0,}")
                i += 1
                continue
            if comma and high and int(high) > _WIDEST_BOUND:
                # Hyperscan compiles a wide bounded repeat (".{0,60}") into a large automaton:
                # ~50 ms for one such rule at every start. Unbounded matches a superset (the
                # scan only pre-filters) and compiles in ~1 ms.
                high = ""
            out.append("{" + (low or "0") + comma + high + "}")
            i += bound.end()
            continue
        out.append(ch)
        i += 1
    if in_class:
        return None
    return "".join(out).encode("ascii")
