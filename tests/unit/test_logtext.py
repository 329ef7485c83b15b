"""Log view text helpers: repeats, ANSI stripping, pretty JSON, stamps, saved text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from aktui.logs.store import LogStore, Note, export_lines, keep, make_entry
from aktui.logs.text import RepeatCounter, pretty_json, same_as_above, stamp, strip_ansi
from aktui.runtime import LogLine

AT = datetime(2026, 11, 24, 6, 36, 20, tzinfo=UTC)


def test_repeats_are_counted_per_explanation() -> None:
    counter = RepeatCounter()
    a, b = Note("a", "c", "f"), Note("b", "c", "f")
    assert [counter.see(n) for n in (a, a, b, a, Note("a", "c", "f"))] == [1, 2, 1, 3, 4]
    counter.reset()
    assert counter.see(a) == 1
    assert same_as_above(7) == "↳ same as above (×7)"


def test_strip_ansi_removes_sequences_and_shows_other_controls() -> None:
    raw = "\x1b[31mRED\x1b[0m \x1b]0;title\x07ok \x1b]8;;http://x\x1b\\link\x07\x00"
    assert strip_ansi(raw) == "RED ok link\\x07\\x00"
    assert strip_ansi("plain") == "plain"


def test_pretty_json_only_for_objects() -> None:
    assert pretty_json('{"event":"x","n":1}') == ["{", '  "event": "x",', '  "n": 1', "}"]
    assert pretty_json("[1,2]") is None
    assert pretty_json("{broken") is None
    assert pretty_json("text") is None


def test_stamps_with_date_and_zone() -> None:
    assert stamp(AT, full=False) == "06:36:20"
    assert stamp(AT, full=True) == "2026-11-24 06:36:20 +00:00"
    cest = AT.astimezone(timezone(timedelta(hours=2)))
    assert stamp(cest, full=True) == "2026-11-24 08:36:20 +02:00"
    assert stamp(None, full=False) == "--:--:--"


def _entries():  # type: ignore[no-untyped-def]
    note = Note("mismatched session", "cookie from another domain", "one outpost per domain")
    lines = [
        LogLine("o", AT, '{"event":"\\u001b[31mred\\u001b[0m","level":"error"}'),
        LogLine("o", AT, "plain text line"),
        LogLine("o", AT, "", marker="re-attached after restart"),
    ]
    out = [make_entry("o", line, None) for line in lines]
    annotated = make_entry("o", LogLine("o", AT, "needs a note"), lambda _: note)
    return [*out, annotated]


def test_saved_text_has_no_escape_sequences_and_keeps_notes() -> None:
    text = list(export_lines(_entries()))
    assert text[0].startswith("2026-11-24 06:36:20 +00:00 o ERROR red")
    assert "\x1b" not in "\n".join(text)
    assert text[2] == "---- re-attached after restart ----"
    assert text[-2].strip().startswith("↳ mismatched session: cookie")
    assert text[-1].strip() == "fix: one outpost per domain"


def test_json_lines_keep_their_raw_text_for_pretty_printing() -> None:
    json_entry, text_entry = _entries()[:2]
    assert json_entry.raw.startswith("{")
    assert text_entry.raw == ""


def test_grep_filter_keeps_markers_and_matching_lines() -> None:
    entries = _entries()
    kept = [e for e in entries if keep(e, annotated_only=False, cutoff=None, needle="plain")]
    assert [e.message or e.marker for e in kept] == ["plain text line", "re-attached after restart"]
    store = LogStore(100)
    store.add(entries)
    now = AT + timedelta(minutes=1)
    shown = store.visible(annotated_only=False, window_min=None, now=now, needle="NOTE".lower())
    assert [e.message for _, e in shown if not e.marker] == ["needs a note"]
