"""The log view's model, without Textual: parsed, annotated entries in a bounded deque.

Parsing and annotating happen in the reader thread (``make_entry``), so a flood of lines costs
the event loop only the rendering of what is visible. The store keeps at most ``max_lines``
entries (``logs.max_lines`` in the config): memory stays flat however long the tail runs.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aktui.logs.redact import redact
from aktui.logs.text import stamp, strip_ansi
from aktui.runtime import LogLine

# Fields worth showing after the message; everything else stays in the raw line.
SHOWN_FIELDS = ("status", "method", "host", "path", "url", "error", "name", "outpost", "uid")
WINDOWS: tuple[int | None, ...] = (None, 5, 15, 60)  # minutes; None = everything kept


@dataclass(frozen=True, slots=True)
class Note:
    title: str
    cause: str
    fix: str
    severity: str = "warning"


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    source: str
    at: datetime | None
    level: str | None
    message: str
    extra: str  # selected fields, "k=v k=v"
    marker: str  # non-empty: a synthetic "re-attached" / "interrupted" line
    note: Note | None
    raw: str = ""  # the line as read, for JSON lines only (pretty-printed on a key)

    def haystack(self) -> str:
        return f"{self.message} {self.extra} {self.marker}".lower()


Annotator = Callable[[Any], Any]
_SEQ = itertools.count()


def default_annotator(rules_file: str = "") -> Annotator | None:
    """The cheat-sheet rule base (aktui.logs.annotate), with the user's rules when configured."""
    try:
        from aktui.logs.annotate import annotate, load_rules
    except ImportError:  # the annotation module is optional for the log view
        return None
    rules = load_rules(rules_file or None)
    return lambda item: annotate(item, rules)


def make_entry(source: str, line: LogLine, annotator: Annotator | None) -> Entry:
    if line.marker:
        return Entry(next(_SEQ), source, line.at, None, "", "", line.marker, None)
    level: str | None = None
    message = line.text
    extra = ""
    at = line.at
    record: Any = line.text
    try:
        from aktui.logs.format import parse_line
    except ImportError:
        parse_line = None  # type: ignore[assignment]
    if parse_line is not None:
        record = parse_line(line.text)
        level = record.level
        if record.format != "text":
            message = record.message or line.text
            fields = record.fields or {}
            extra = " ".join(f"{k}={fields[k]}" for k in SHOWN_FIELDS if k in fields)
            if record.status is not None and "status" not in fields:
                extra = f"status={record.status} {extra}".strip()
        at = at or record.time
    note = None
    if annotator is not None:
        found = annotator(record)
        if found is not None:
            note = Note(
                str(getattr(found, "title", "")),
                str(getattr(found, "cause", "")),
                str(getattr(found, "fix", "")),
                str(getattr(found, "severity", "warning")),
            )
    # Shown text without cookie values or tokens (trace logs dump request headers); the
    # annotator above saw the whole line. The raw JSON (pretty-printed on a key) too.
    raw = line.text if message is not line.text and line.text.lstrip().startswith("{") else ""
    return Entry(
        next(_SEQ), source, at, level, redact(message), redact(extra), "", note, redact(raw)
    )


class LogStore:
    """Entries in arrival order, numbered: ``first_pos`` is the number of the oldest one kept.

    Positions never repeat, so a view can hold ``(pos, entry)`` pairs and prune whatever the
    store has let go of (``pos < first_pos``) without searching."""

    def __init__(self, max_lines: int) -> None:
        self.entries: deque[Entry] = deque(maxlen=max(100, max_lines))
        self.dropped = 0  # entries pushed out by the bound, for the status line
        self.notes = 0  # annotated entries kept: counted as they come and go, never scanned
        self.next_pos = 0

    @property
    def first_pos(self) -> int:
        return self.next_pos - len(self.entries)

    def add(self, entries: Iterable[Entry]) -> list[tuple[int, Entry]]:
        """Store a batch; returns the entries kept with their positions."""
        added = list(entries)
        if all(e.at is not None for e in added):
            added.sort(key=_time_key)  # merge several outposts' batches by time
        limit = self.entries.maxlen or 0
        if len(added) > limit:  # a batch bigger than the store: only its newest fit
            self.dropped += len(added) - limit
            self.next_pos += len(added) - limit
            added = added[-limit:]
        overflow = len(self.entries) + len(added) - limit
        for _ in range(max(0, overflow)):
            if self.entries.popleft().note is not None:
                self.notes -= 1
        self.dropped += max(0, overflow)
        self.notes += sum(1 for e in added if e.note is not None)
        start = self.next_pos
        self.entries.extend(added)
        self.next_pos += len(added)
        return list(enumerate(added, start))

    def visible(
        self, *, annotated_only: bool, window_min: int | None, now: datetime, needle: str = ""
    ) -> Iterator[tuple[int, Entry]]:
        cutoff = now - timedelta(minutes=window_min) if window_min else None
        needle = needle.lower()
        for pos, e in enumerate(self.entries, self.first_pos):
            if keep(e, annotated_only=annotated_only, cutoff=cutoff, needle=needle):
                yield pos, e

    def __len__(self) -> int:
        return len(self.entries)


def keep(e: Entry, *, annotated_only: bool, cutoff: datetime | None, needle: str = "") -> bool:
    """``needle``: lower-case text a kept line must contain (the grep filter)."""
    if e.marker:
        return True  # re-attach markers always show: they explain gaps
    if annotated_only and e.note is None:
        return False
    if needle and needle not in e.haystack():
        return False
    return not (cutoff is not None and e.at is not None and e.at < cutoff)


def export_lines(entries: Iterable[Entry], *, full_stamps: bool = True) -> Iterator[str]:
    """Every entry as plain text for a file: date, time and zone, source, level, message,
    fields, and the explanation; terminal escapes removed."""
    for e in entries:
        if e.marker:
            yield f"---- {strip_ansi(e.marker)} ----"
            continue
        level = (e.level or "").upper()
        head = f"{stamp(e.at, full=full_stamps)} {e.source} {level} {e.message}"
        if e.extra:
            head += f" {e.extra}"
        yield strip_ansi(head)
        if e.note is not None:
            title = e.note.title or "known problem"
            yield strip_ansi(f"    ↳ {title}: {e.note.cause}")
            yield strip_ansi(f"      fix: {e.note.fix}")


def _time_key(e: Entry) -> tuple[float, int]:
    return (e.at.timestamp() if e.at else 0.0, e.seq)
