"""Find, in a block of many log lines (bytes), every line an annotation rule could match.

``aktui annotate`` on a pipe or file spends nearly all of its time on healthy lines. The block
filter lets one multi-pattern scan (Hyperscan, a maintained C library with wheels for the
common platforms) look at a whole block for every rule's anchor at once: the few lines it
flags take ``RuleSet.annotate_hinted``, told which rules' patterns each line holds (only those
can match it); all others are known healthy and go out as they came in, in bulk. A flagged
line whose hint the rules can judge cheaply (only a status flagged it: the outposts log every
unauthenticated /auth/nginx as a 401) is dismissed here already (``dismiss_with``).

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

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from aktui.logs.format import MESSAGE_CAP
from aktui.userdirs import user_dir

try:  # optional: without it (a platform with no wheel) every line takes the per-line path
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]

__all__ = ["BlockFilter", "available", "build"]

# A non-string event/message (parse_line re-serialises it, so its text is not in the line).
_NOT_STRING = rb'[ \t\r]*:[ \t\r]*[^ \t\r"]'
_GUARDS = (
    rb"\\",
    rb'"event"' + _NOT_STRING,
    rb'"message"' + _NOT_STRING,
    rb'"msg"' + _NOT_STRING,
    # Whitespace Python's \s (probe's status) reads and the status patterns do not.
    rb"[\x0b\x0c\x1c-\x1f]",
)
# Control characters JSON must escape, but for the line break and a CRLF (blocks end in "\n").
_CONTROLS = rb"[\x00-\x09\x0b\x0c\x0e-\x1f]|\r[^\n]"
_CONTROLS_ID = 0
# Lines the scan cannot judge when rules need exact characters: non-ASCII (after decoding with
# "replace", so valid UTF-8).
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_CASELESS = hyperscan.HS_FLAG_CASELESS if hyperscan is not None else 0


def available() -> bool:
    return hyperscan is not None


Hint = tuple[Any, ...] | None  # the rules a line may match, in order; None: any rule
Dismiss = Callable[[str], bool]  # true for a line no rule of its hint matches


class BlockFilter:
    """``lines(block)``: the candidate lines of ``block``, a run of whole lines each ending in
    ``\\n`` (the last may lack it), as valid UTF-8 bytes: their start offsets, each with the
    rules that may match it (those whose patterns the line holds, in rule order), or None
    when any rule may (a guard: the line's message is not a verbatim piece of it)."""

    def __init__(
        self,
        database: Any,
        guard: re.Pattern[bytes] | None,
        long_lines: bool,
        first_also: int = 1 << 62,
        owners: list[tuple[Any, ...] | None] | None = None,
        controls: bool = True,
    ) -> None:
        self._db = database
        # The id of the control-character pattern (0, searched first), or -1 without it.
        self._controls_id = _CONTROLS_ID if controls else -1
        self._guard = guard
        self._long_lines = long_lines
        self._first_also = first_also  # pattern ids from here on are the `also` literals
        # Per pattern id, the rules it stands for (None: a guard, any rule).
        self._owners = owners
        self._hints: dict[int | frozenset[int], tuple[Hint, Dismiss | None]] = {}
        self._dismissal: Callable[[tuple[Any, ...]], Dismiss | None] | None = None

    def dismiss_with(self, dismissal: Callable[[tuple[Any, ...]], Dismiss | None]) -> None:
        """``dismissal(hint)``: a test that is true for a line (str, as read) of that hint
        which no rule matches, or None when a line of that hint has to be looked at. The
        lines it dismisses (and no ``also`` literal marked) are left out of ``lines``: a
        healthy line that only a status flagged (every unauthenticated /auth/nginx is a 401
        in the outpost's log) then costs no more than that test."""
        self._dismissal = dismissal
        self._hints.clear()

    def starts(
        self, block: bytes, controls: bool = False, marked: set[int] | None = None
    ) -> list[int]:
        """The start offsets of ``lines``."""
        return [start for start, _ in self.lines(block, controls, marked)]

    def lines(
        self,
        block: bytes,
        controls: bool = False,
        marked: set[int] | None = None,
        ascii: bool | None = None,
    ) -> list[tuple[int, Hint]]:
        """``controls``: also the lines with a control character other than the line break
        (and a CRLF's "\\r"), which JSON output must escape. ``marked`` gets the starts of
        the lines holding one of the ``also`` literals given to ``build``. ``ascii``: whether
        the block is all ASCII, when the caller knows (None: looked at here)."""
        if controls and self._controls_id < 0:
            raise ValueError("this filter was built without the control-character pattern")
        controls_id = self._controls_id
        # Line start -> the pattern matched in it, or the patterns when more than one (most
        # lines hold one: no list to build for them).
        ids_at: dict[int, int | list[int]] = {}
        rfind, find = block.rfind, block.find
        size = len(block)
        first_also = self._first_also
        line_ids = ids_at.get

        def on_match(pattern: int, _start: int, to: int, _flags: int, _ctx: Any) -> None:
            if pattern == controls_id and not controls:
                return
            # The match's last byte is in its line (a "\\n" ends it): one rfind per match,
            # cheaper than finding the line's end too (most lines hold one match).
            low = rfind(b"\n", 0, to - 1) + 1
            held = line_ids(low)
            if held is None:
                ids_at[low] = pattern
            elif isinstance(held, int):
                ids_at[low] = [held, pattern]
            else:
                held.append(pattern)
            if pattern >= first_also and marked is not None:
                marked.add(low)

        self._db.scan(block, match_event_handler=on_match)
        extra: set[int] = set()  # guarded lines: any rule may match them
        if self._guard is not None and not (block.isascii() if ascii is None else ascii):
            extra.update(_lines_with(self._guard, block))
        if self._long_lines:
            extra.update(_long_lines(block))
        hint_of, hints = self._hint, self._hints
        found: list[tuple[int, Hint]] = []
        put = found.append
        for start, ids in ids_at.items():
            if start in extra:
                continue
            # Most lines hold one pattern (a healthy 401's status): its hint by the id alone.
            known = hints.get(ids if isinstance(ids, int) else frozenset(ids)) or hint_of(ids)
            dismiss = known[1]
            if dismiss is not None and (marked is None or start not in marked):
                end = find(b"\n", start) + 1 or size
                if dismiss(block[start:end].decode("utf-8")):
                    continue
            put((start, known[0]))
        if extra:
            found += [(start, None) for start in extra]
        # By start alone (each line once, so a hint is never compared): C-level, and nearly
        # free on a list already in order, as Hyperscan's matches come by end offset.
        found.sort()
        return found

    def _hint(self, ids: int | list[int]) -> tuple[Hint, Dismiss | None]:
        """The hint of a line holding the pattern ``ids`` (or the patterns), with its
        dismissal test, kept by the id (or the set of ids)."""
        key: int | frozenset[int] = ids if isinstance(ids, int) else frozenset(ids)
        known = self._hints.get(key)
        if known is not None:
            return known
        owners = self._owners
        rules: set[Any] = set()
        for pattern in (key,) if isinstance(key, int) else key:
            owned = owners[pattern] if owners is not None else None
            if owned is None:
                rules = None  # type: ignore[assignment]
                break
            rules.update(owned)
        hint = None if rules is None else tuple(sorted(rules, key=_order))
        dismiss = None
        if hint and self._dismissal is not None:
            dismiss = self._dismissal(hint)
        if len(self._hints) >= 4096:
            self._hints.clear()  # bounded: keyed on sets of pattern ids, few in practice
        known = self._hints[key] = (hint, dismiss)
        return known


def _order(rule: Any) -> int:
    return int(rule.order)


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


def build(
    rules: Iterable[Any], also: Iterable[str] = (), controls: bool = True
) -> BlockFilter | None:
    """A ``BlockFilter`` for these rules (``aktui.logs.rules.Rule``), also flagging the lines
    holding any of the literals ``also`` (exact, case-sensitive: e.g. redaction's trigger
    words), or None when a rule cannot be searched for in raw text, or Hyperscan is not
    installed. ``controls``: able to flag the lines with a control character (``lines(...,
    controls=True)``, for JSON output); without it the scan is a little cheaper."""
    if not available():
        return None
    patterns: dict[bytes, int] = {}
    owners: dict[bytes, list[Any] | None] = {}
    if controls:
        # Controls: JSON output must escape them, so such a line goes to annotate() whole; a
        # hint therefore also says "no backslash, no control character" (what --json needs
        # to write a line with its healthy run). First: its id is _CONTROLS_ID.
        patterns[_CONTROLS], owners[_CONTROLS] = 0, None
    for guard in _GUARDS:
        patterns[guard], owners[guard] = 0, None
    literals: dict[tuple[str, bool], list[Any]] = {}  # (text, folded): lower-cased if folded
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
                _add(patterns, owners, translated, flags | (_CASELESS if fold else 0), [rule])
                # Python's \s also matches \x1c-\x1f, PCRE's does not: such lines all go.
                patterns[rb"[\x1c-\x1f]"], owners[rb"[\x1c-\x1f]"] = 0, None
                regexes = True
            else:
                literals.setdefault((value.lower() if fold else value, fold), []).append(rule)
    also = tuple(also)
    covers = _fewest(set(literals), also)
    # A rule literal left out for an `also` literal it holds is found by that one's pattern.
    by_also: dict[bytes, list[Any]] = {}
    for item, (cover, fold) in covers.items():
        if not fold and cover in also:
            by_also.setdefault(_literal(cover), []).extend(literals[item])
        else:
            _add(patterns, owners, _literal(cover), _CASELESS if fold else 0, literals[item])
    if status_rules:
        # A status in an access-log field is only ever an NGINX record's: the rules for
        # other sources need it as JSON or logfmt, which the other pattern finds.
        field, access = _status_patterns(status_rules)
        _add(patterns, owners, field, 0, status_rules)
        nginx = [rule for rule in status_rules if rule.sources & {"nginx", "any"}]
        _add(patterns, owners, access, 0, nginx)
    # Last, so that their ids tell them apart (a rule may search for the same literal).
    first_also = len(patterns)
    extra: dict[bytes, int] = {}
    for literal in also:
        if not literal or "\n" in literal:
            return None  # an empty literal flags every line: the per-line path does that
        extra[_literal(literal)] = 0
    expressions = [*patterns, *extra]
    all_flags = [*patterns.values(), *extra.values()]
    owned: list[tuple[Any, ...] | None] = []
    for key in patterns:
        rules_of = owners[key]
        owned.append(None if rules_of is None else tuple(rules_of))
    owned += [tuple(by_also.get(key, ())) for key in extra]
    try:
        database = _database(expressions, all_flags)
    except hyperscan.error:  # e.g. a regex that can match the empty string: every line
        return None
    folded = any(fold for _, fold in literals)
    exact = bool(regexes or status_rules or folded)
    # Non-ASCII lines: str.lower and re's case folding differ there, and int() reads
    # non-ASCII digits ("٤٠٤") as a status; such lines simply all take annotate().
    non_ascii = _NON_ASCII if exact else None
    return BlockFilter(database, non_ascii, exact, first_also, owned, controls)


def _database(expressions: list[bytes], flags: list[int]) -> Any:
    """The compiled patterns, from the cache when they were compiled before: compiling ~150
    patterns takes ~75 ms, a third of annotating a small log, loading them ~0.1 ms. Keyed by
    everything the database depends on; a missing, unreadable or damaged file is compiled
    again, and a cache that cannot be written is simply not kept."""
    version = getattr(hyperscan, "__version__", "")
    key = repr((version, os.uname().machine, expressions, flags)).encode()
    path = _cache_dir() / f"patterns-{hashlib.sha256(key).hexdigest()[:32]}.hsdb"
    try:
        stored = path.read_bytes()
        if hashlib.sha256(stored[32:]).digest() == stored[:32]:  # a whole, undamaged file
            database = hyperscan.loadb(stored[32:], mode=hyperscan.HS_MODE_BLOCK)
            database.scratch = hyperscan.Scratch(database)  # loadb leaves it without one
            return database
    except (OSError, hyperscan.error):
        pass
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=flags,
    )
    blob = hyperscan.dumpb(database)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(hashlib.sha256(blob).digest() + blob)
        os.replace(temporary, path)  # readers see no file or the whole file
        # One file per rules file version: keep the newest few (a user editing their rules).
        cached = sorted(path.parent.glob("patterns-*.hsdb"), key=_mtime, reverse=True)
        for old in cached[_CACHE_FILES:]:
            old.unlink()
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
    return database


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


_CACHE_FILES = 8


def _cache_dir() -> Path:
    return user_dir("cache")


def _add(
    patterns: dict[bytes, int],
    owners: dict[bytes, list[Any] | None],
    key: bytes,
    flags: int,
    rules: list[Any],
) -> None:
    """One more pattern, or more rules for one already there (flags joined: a superset)."""
    patterns[key] = patterns.get(key, 0) | flags
    known = owners.setdefault(key, [])
    if known is not None:
        known.extend(rules)


def _fewest(
    literals: set[tuple[str, bool]], also: tuple[str, ...]
) -> dict[tuple[str, bool], tuple[str, bool]]:
    """Per literal, the literal searched for in its place: itself, or a shorter one it holds
    (an ``also`` literal too): a line with "auth request unexpected status: 404" also holds
    "auth request unexpected status:", so the longer one would only cost scan time and a
    second match per line."""
    ordered = sorted(literals, key=lambda item: (len(item[0]), not item[1], item[0]))
    covers: dict[tuple[str, bool], tuple[str, bool]] = {}
    kept = [(text, False) for text in also if text]
    for text, fold in ordered:
        folded = text.lower()
        cover = next(
            (
                (other, other_fold)
                for other, other_fold in kept
                if other in (folded if other_fold else text) and (other_fold or not fold)
            ),
            (text, fold),
        )
        covers[(text, fold)] = cover
        if cover == (text, fold):
            kept.append(cover)
    return covers


def _status_patterns(rules: list[Any]) -> tuple[bytes, bytes]:
    """The statuses of the rules anchored on one: as JSON (`"status": 502`, `"502"`), logfmt
    or console (`status=502`) or an access-log field (`" 502 `). A longer number also matches (no
    look-ahead): a superset is fine.

    Not searched for together with the rule's message text (`/outpost.goauthentik.io` on the
    same line as `status":404`): such patterns make Hyperscan confirm each of the many healthy
    lines holding the text, which cost more scan time (~40% on the benchmark mix) than the
    few lines they spare."""
    codes = {code for rule in rules for code in rule.anchor[1]}
    alternation = b"|".join(str(code).encode() for code in sorted(codes))
    return (
        # Leading zeros: a pasted fragment's `"status": 0401` is int("0401"); a console
        # line's `status= 401` is read with the value stripped.
        b'status(?:"[ \\t\\r]*:[ \\t\\r]*"?|=[ \\t\\r]*"?)0*(?:' + alternation + b")",
        # Combined (`"GET / HTTP/1.1" 502 `) or Nginx Proxy Manager's (`] - 502 502 - GET `).
        b'(?:" (?:' + alternation + b") | (?:" + alternation + b") - [A-Z])",
    )


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
