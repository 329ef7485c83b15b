"""A bounded, follow-mode log pane that renders only the visible rows (toolong's approach).

Each entry becomes one row (time, source, level, message) plus, when the cheat sheet explains
it, indented rows with the cause and fix. The pane holds only ``(pos, sub, entry)`` references
to entries the store still keeps (``pos`` is the store's position), so its memory is bounded
by ``logs.max_lines`` like the store's. Rich ``Text`` is built from ``literal`` (log text is
never markup, escapes are shown) only for rows that are drawn, and kept in LRU caches keyed by
position: a flood, a filter toggle or a scroll costs the rendering of one screen, not of every
line. Scrolling up pauses following; ``end`` resumes.

Rows are laid out in a ``Track``. Besides the one shown, the pane may keep a spare: the rows of
the other side of a filter the screen toggles (annotated only / everything), appended to on
every drain like the shown one. The toggle then swaps the two and recounts the repeated
explanations (a few hundred entries) instead of laying out the whole store again.
"""

from __future__ import annotations

import re
import textwrap
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from aktui.logs.store import Entry, Note
from aktui.logs.text import RepeatCounter, pretty_json, same_as_above, stamp
from aktui.screens.widgets import strips
from aktui.screens.widgets.text import literal
from aktui.terminal import UNSAFE

LEVEL_STYLE = {
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold reverse red",
}
LEVEL_WORD = {"debug": "DBG", "info": "INF", "warning": "WRN", "error": "ERR", "critical": "CRT"}
# Rendered strips kept: about four screens of a 60-row terminal; more only costs memory.
STRIP_CACHE = 256
# Entries turned into Text: a few screens, so scrolling back and forth or toggling a filter
# re-renders nothing it has drawn recently.
TEXT_CACHE = 512
MAX_WIDTH = 2000  # horizontal scroll limit; longer lines are cut by `literal`
INDENT = "   ↳ "
# Characters `literal` rewrites (controls and bidi escaped, tab expanded): only then is the
# shown width not simply the string's.
_SPECIAL = re.compile(f"\t|{UNSAFE.pattern}")

Row = tuple[int, int, Entry]  # (store position, row within the entry, entry)
_POS = itemgetter(0)


@dataclass(frozen=True, slots=True)
class View:
    """How entries are laid out; every toggle of the log view is one field."""

    wrap: bool = False  # long lines wrap instead of scrolling sideways
    full_stamps: bool = False  # date, time and zone instead of the time only
    pretty: bool = False  # JSON lines indented over several rows
    fold: bool = False  # explanations folded to one row


PLAIN_VIEW = View()


@lru_cache(maxsize=256)
def note_lines(note: Note, width: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cause and fix wrapped for ``width``; a flood repeats a handful of notes."""
    wrap = max(20, width - len(INDENT) - 1)
    title = note.title or "known problem"
    cause = tuple(textwrap.wrap(f"{title}: {note.cause}", wrap) or [""])
    fix = tuple(textwrap.wrap(f"fix: {note.fix}", wrap) or [""])
    return cause, fix


def note_rows(note: Note, width: int, view: View, repeat: int) -> list[str]:
    """The rows under an explained line: cause and fix; one row when folded or repeated."""
    if repeat > 1:
        return [" " * (len(INDENT) - 2) + same_as_above(repeat)]
    cause, fix = note_lines(note, width)
    if view.fold:
        title = note.title or "known problem"
        return [INDENT + title + " (z unfolds)"]
    rows = [(INDENT if i == 0 else " " * len(INDENT)) + part for i, part in enumerate(cause)]
    return rows + [" " * len(INDENT) + part for part in fix]


def _pretty(e: Entry, view: View) -> list[str]:
    if not view.pretty or not e.raw:
        return []
    lines = pretty_json(e.raw)
    return [" " * len(INDENT) + line for line in lines] if lines else []


def _stamp_text(e: Entry, view: View) -> str:
    return stamp(e.at, full=view.full_stamps) + " "


def row_count(
    e: Entry, width: int, view: View = PLAIN_VIEW, repeat: int = 1, multi: int = 0
) -> int:
    if view != PLAIN_VIEW and not e.marker:
        # Wrapping or pretty JSON: count the rows as drawn (only while such a toggle is on).
        return len(entry_rows(e, multi=multi, width=width, view=view, repeat=repeat))
    if e.note is None:
        return 1
    return 1 + len(note_rows(e.note, width, view, repeat))


def _marker_label(e: Entry, width: int) -> tuple[Text, int]:
    label = literal(f" {e.marker} ")
    return label, max(2, (width - label.cell_len) // 2)


def _shown(value: str) -> str:
    return literal(value, limit=MAX_WIDTH).plain if _SPECIAL.search(value) else value


def head_plain(e: Entry, *, multi: int, width: int, view: View = PLAIN_VIEW) -> str:
    """The first row's text as shown, without building ``Text`` (width, find)."""
    if e.marker:
        label, pad = _marker_label(e, width)
        return "─" * pad + label.plain + "─" * pad
    source = _shown(e.source[:multi].ljust(multi) + " ") if multi else ""
    level = f"{LEVEL_WORD.get(e.level or '', '   ')} "
    extra = f" {_shown(e.extra)}" if e.extra else ""
    return f"{_stamp_text(e, view)}{source}{level}{_shown(e.message)}{extra}"


def _shown_len(value: str) -> int:
    if value.isascii() and value.isprintable():  # the flood's common case, at C speed
        return len(value)
    return literal(value, limit=MAX_WIDTH).cell_len


def head_width(e: Entry, *, multi: int, width: int, view: View = PLAIN_VIEW) -> int:
    """Cells of the first row, without building it: a rebuild measures every entry."""
    if e.marker:
        label, pad = _marker_label(e, width)
        return 2 * pad + label.cell_len
    if len(e.message) + len(e.extra) > MAX_WIDTH:
        return MAX_WIDTH
    # "HH:MM:SS " (or the full stamp) + "LVL "
    cells = (13 if not view.full_stamps else len(_stamp_text(e, view)) + 4) + _shown_len(e.message)
    if multi:
        cells += _shown_len(e.source[:multi].ljust(multi)) + 1
    if e.extra:
        cells += 1 + _shown_len(e.extra)
    return cells


def row_plain(
    e: Entry, sub: int, *, multi: int, width: int, view: View = PLAIN_VIEW, repeat: int = 1
) -> str:
    if sub == 0 and view == PLAIN_VIEW:
        return head_plain(e, multi=multi, width=width)
    return entry_rows(e, multi=multi, width=width, view=view, repeat=repeat)[sub].plain


def entry_rows(
    e: Entry, *, multi: int, width: int, view: View = PLAIN_VIEW, repeat: int = 1
) -> list[Text]:
    """``multi``: width of the source column (0: one source, no column). ``repeat``: the
    how-many-th time this explanation appears (above 1: one "same as above" row)."""
    if e.marker:
        label, pad = _marker_label(e, width)
        return [Text.assemble(("─" * pad, "bold magenta"), label, ("─" * pad, "bold magenta"))]
    head = Text(no_wrap=True, end="")
    head.append(_stamp_text(e, view), "dim")
    if multi:
        head.append_text(literal(e.source[:multi].ljust(multi) + " ", "cyan"))
    level = e.level or ""
    head.append(f"{LEVEL_WORD.get(level, '   ')} ", LEVEL_STYLE.get(level, ""))
    head.append_text(literal(e.message, limit=MAX_WIDTH))
    if e.extra:
        head.append(" ")
        head.append_text(literal(e.extra, "dim", limit=MAX_WIDTH))
    rows = [head]
    if view.wrap and width > 0 and head.cell_len > width:
        # Hard wrap at the width: log lines are not prose, and a cut token stays findable.
        rows = [line for line in head.divide(range(width, len(head.plain), width)) if line.plain]
    rows += [literal(line, "dim") for line in _pretty(e, view)]
    if e.note is not None:
        causes = len(note_lines(e.note, width)[0])
        for i, part in enumerate(note_rows(e.note, width, view, repeat)):
            indent, body = part[: len(INDENT)], part[len(INDENT) :]
            if repeat > 1:
                style = "yellow dim"
            elif view.fold or i < causes:
                style = "yellow"
            else:
                style = "bold" if i == causes else ""
            rows.append(Text.assemble((indent, "yellow"), literal(body, style)))
    return rows


class Track:
    """Rows laid out for one filter, and what laying them out counted: the wrap width they
    were counted at, the widest first row and the repeated explanations (store position ->
    how many-th time, pruned with the rows)."""

    __slots__ = ("counter", "layout_width", "repeat", "rows", "width")

    def __init__(self, layout_width: int = 0) -> None:
        self.layout_width = layout_width
        self.rows: list[Row] = []
        self.width = 0
        self.counter = RepeatCounter()
        self.repeat: dict[int, int] = {}

    def prune(self, first_pos: int) -> int:
        """Forget rows of entries the store let go of (pos < first_pos); returns how many."""
        rows = self.rows
        overflow = bisect_left(rows, first_pos, key=_POS) if rows else 0
        if overflow:
            del rows[:overflow]
            if len(self.repeat) > 2 * len(rows):
                first = rows[0][0] if rows else first_pos
                self.repeat = {p: n for p, n in self.repeat.items() if p >= first}
        return overflow

    def top_index(self, pos: int) -> int:
        """The first row of the first entry at or after store position ``pos``."""
        return bisect_left(self.rows, pos, key=_POS)


class LogPane(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogPane { background: $surface; }
    LogPane:focus { background-tint: $foreground 3%; }
    """

    following: var[bool] = var(True)
    find: var[str] = var("")
    view: var[View] = var(PLAIN_VIEW)

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, multi: int = 0, id: str | None = None) -> None:
        super().__init__(id=id)
        strips.install()  # a flood redraws 20 times a second: no cyclic garbage per line
        self.multi = multi
        self.pending = 0  # rows added while paused
        self.built = 0  # entries turned into Text so far: the render work, for tests
        self.swaps = 0  # filter toggles answered by swapping in the spare rows, for tests
        self._texts: LRUCache[tuple[int, int, View, int], list[Text]] = LRUCache(TEXT_CACHE)
        self._cache: LRUCache[tuple[int, int, str, int, View, int], Strip] = LRUCache(STRIP_CACHE)
        self._track = Track()  # the rows shown
        # The other side of the screen's toggled filter, kept current by append_spare; None
        # until the screen asks for one (set_entries(keep_spare=True)), and dropped whenever
        # the rows are laid out again for another width or view.
        self._spare: Track | None = None

    @property
    def rows(self) -> list[Row]:
        return self._track.rows

    @property
    def has_spare(self) -> bool:
        return self._spare is not None

    @property
    def _layout_width(self) -> int:
        """The wrap width the rows shown were counted at."""
        return self._track.layout_width

    @_layout_width.setter
    def _layout_width(self, width: int) -> None:
        self._track.layout_width = width

    # --- content --------------------------------------------------------------------------

    def _wrap_width(self) -> int:
        return self.scrollable_content_region.width or 80

    def _layout(self, items: Iterable[tuple[int, Entry]], width: int, track: Track) -> int:
        """Append rows for ``items`` to ``track``; returns how many. No Text is built here."""
        rows = track.rows
        before = len(rows)
        widest = track.width
        view = self.view
        plain = view == PLAIN_VIEW
        see = track.counter.see
        for pos, e in items:
            rows.append((pos, 0, e))
            repeat = 1
            if e.note is not None:
                repeat = see(e.note)
                if repeat > 1:
                    track.repeat[pos] = repeat
            if e.note is not None or not plain:
                count = row_count(e, width, view, repeat, self.multi)
                rows.extend((pos, sub, e) for sub in range(1, count))
            if widest < MAX_WIDTH:
                widest = max(widest, head_width(e, multi=self.multi, width=width, view=view))
        if view.wrap:
            widest = min(widest, width)  # wrapped: nothing to scroll sideways
        track.width = min(MAX_WIDTH, widest)
        return len(rows) - before

    def set_entries(self, items: Iterable[tuple[int, Entry]], *, keep_spare: bool = False) -> None:
        """Replace everything (filter or window changed); keeps following state. Rendered
        rows stay cached by position, so toggling back draws nothing twice.

        ``keep_spare``: the rows shown until now are the other side of a filter the screen
        toggles; they are kept (and must then be fed with ``append_spare``) for ``swap``."""
        old = self._track
        top = self._top_pos()
        track = Track(self._wrap_width())
        self._layout(items, track.layout_width, track)
        self._spare = old if keep_spare else None
        self._show(track, top)

    def swap(self) -> bool:
        """Show the spare rows instead of the shown ones (which become the spare), as
        ``set_entries`` with the spare's filter would show them. False without a spare, or
        when its rows were counted at another width than set_entries would use now (the
        width changes without a resize when a scrollbar comes or goes)."""
        spare = self._spare
        if spare is None or spare.layout_width != self._wrap_width():
            return False
        top = self._top_pos()
        self._recount(spare)
        self._spare = self._track
        self._show(spare, top)
        self.swaps += 1
        return True

    def _show(self, track: Track, top: int | None) -> None:
        self._track = track
        self.virtual_size = Size(track.width, len(track.rows))
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif top is not None:
            # Paused: the entry at the top stays at the top (or the next one shown).
            y = track.top_index(top)
            self.scroll_to(y=y, animate=False, immediate=True)
        self.refresh()

    def _top_pos(self) -> int | None:
        """Store position of the entry at the top of the view (None: nothing shown)."""
        rows = self.rows
        index = int(self.scroll_y)
        return rows[index][0] if 0 <= index < len(rows) else None

    def _recount(self, track: Track) -> None:
        """Count the repeated explanations of ``track`` afresh, from its first row, as laying
        it out again would: a flood drops old lines, so the first explanation kept gets shown
        in full again and later ones get their number within what is kept. Only the entries
        whose row count changes are laid out again (a handful: one per kind of problem)."""
        width, view = track.layout_width, self.view
        counter = RepeatCounter()
        repeat: dict[int, int] = {}
        old = track.repeat
        rows = track.rows
        changed: list[tuple[int, int, int]] = []  # (first row, note rows before, after)
        for index, (pos, sub, e) in enumerate(rows):
            if sub or e.note is None:
                continue
            n = counter.see(e.note)
            if n > 1:
                repeat[pos] = n
            was = old.get(pos, 1)
            # Only the explanation's rows depend on the count, and only the first one
            # differs from the later ones (in full, or one "same as above" row).
            if n != was and 1 in (n, was):
                before = len(note_rows(e.note, width, view, was))
                after = len(note_rows(e.note, width, view, n))
                if before != after:
                    changed.append((index, before, after))
        for index, before, after in reversed(changed):  # from the end: indexes hold
            pos, _, e = rows[index]
            end = index + 1
            while end < len(rows) and rows[end][0] == pos:
                end += 1
            # The explanation's rows come last (entry_rows): the rest of the entry stays.
            count = end - index - before + after
            rows[index:end] = [(pos, sub, e) for sub in range(count)]
        track.counter = counter
        track.repeat = repeat

    def append(
        self, items: Iterable[tuple[int, Entry]], *, first_pos: int, count_pending: bool = True
    ) -> None:
        """Add rows at the end and forget those of entries the store let go (pos < first_pos)."""
        if not self._layout_width:
            self._layout_width = self._wrap_width()
        track = self._track
        added = self._layout(items, self._layout_width, track)
        overflow = track.prune(first_pos)
        if not added and not overflow:
            return
        if overflow and not self.following:
            # Keep the operator's place while old rows fall off the top.
            self.scroll_to(y=max(0, self.scroll_y - overflow), animate=False, immediate=True)
        if count_pending and not self.following:
            self.pending += added
        self.virtual_size = Size(track.width, len(track.rows))
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def append_spare(self, items: Iterable[tuple[int, Entry]], *, first_pos: int) -> None:
        """``append`` for the spare rows (not shown: nothing to scroll or draw)."""
        spare = self._spare
        if spare is not None:
            self._layout(items, spare.layout_width, spare)
            spare.prune(first_pos)

    def _entry_texts(self, pos: int, e: Entry) -> list[Text]:
        repeat = self._track.repeat.get(pos, 1)
        key = (pos, self._layout_width, self.view, repeat)
        texts = self._texts.get(key)
        if texts is None:
            texts = entry_rows(
                e, multi=self.multi, width=self._layout_width, view=self.view, repeat=repeat
            )
            self._texts[key] = texts
            self.built += 1
        return texts

    @property
    def entry_count(self) -> int:
        return sum(1 for _, sub, _e in self.rows if sub == 0)

    @property
    def text_rows(self) -> list[str]:
        return [self._entry_texts(pos, e)[sub].plain for pos, sub, e in self.rows]

    # --- rendering ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self.rows):
            return Strip.blank(width, style)
        pos, sub, entry = self.rows[index]
        key = (pos, sub, self.find, self._layout_width, self.view, self._track.repeat.get(pos, 1))
        strip = self._cache.get(key)
        if strip is None:
            texts = self._entry_texts(pos, entry)
            if sub >= len(texts):
                return Strip.blank(width, style)
            text = texts[sub]
            if self.find:
                text = text.copy()
                text.highlight_words([self.find], "reverse", case_sensitive=False)
            text.no_wrap = True
            strip = Strip(text.render(self.app.console), cell_len(text.plain))
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)

    def stick(self) -> None:
        """Called on every drain tick: while following, stay at the end even when a layout
        pass (first mount, resize) landed after the last append's scroll."""
        if self.following and self.scroll_y < self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def on_resize(self) -> None:
        width = self._wrap_width()
        if self.rows and width != self._layout_width:
            # Notes and markers are wrapped to the width: count their rows again (cheap: no
            # Text is built) so they fit the new size.
            seen = [(pos, e) for pos, sub, e in self.rows if sub == 0]
            pending = self.pending
            self.set_entries(seen)
            self.pending = pending
        # The first batch can land before layout gives the pane a height: re-anchor then.
        if self.following:
            self.scroll_end(animate=False, x_axis=False)

    def watch_find(self) -> None:
        self.refresh()

    def watch_view(self) -> None:
        """A toggle (wrap, stamps, pretty, fold) lays the rows out again."""
        if self.rows:
            seen = [(pos, e) for pos, sub, e in self.rows if sub == 0]
            pending = self.pending
            self.set_entries(seen)
            self.pending = pending

    # --- follow mode ----------------------------------------------------------------------

    def watch_following(self, following: bool) -> None:
        if following:
            self.pending = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.FollowChanged(following))

    def _pause(self) -> None:
        if self.following:
            self.following = False

    def action_scroll_up(self) -> None:
        self._pause()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._pause()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._pause()
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.following = True

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._pause()
        super()._on_mouse_scroll_up(event)

    def find_row(self, needle: str, start: int, step: int) -> int | None:
        """Index of the next row containing ``needle`` from ``start`` (wrapping around)."""
        if not needle or not self.rows:
            return None
        needle = needle.lower()
        count = len(self.rows)
        for i in range(1, count + 1):
            index = (start + step * i) % count
            if needle in self._row_text(index).lower():
                return index
        return None

    def _row_text(self, index: int) -> str:
        pos, sub, e = self.rows[index]
        return row_plain(
            e,
            sub,
            multi=self.multi,
            width=self._layout_width,
            view=self.view,
            repeat=self._track.repeat.get(pos, 1),
        )

    def find_matches(self, needle: str) -> list[int]:
        """Indexes of every row containing ``needle`` (for the ``3/17`` counter)."""
        if not needle:
            return []
        needle = needle.lower()
        return [i for i in range(len(self.rows)) if needle in self._row_text(i).lower()]

    def entry_at(self, index: int) -> Entry | None:
        return self.rows[index][2] if 0 <= index < len(self.rows) else None

    def entry_text(self, index: int) -> str:
        """The plain first row of the entry that row ``index`` belongs to (copy a line)."""
        e = self.entry_at(index)
        if e is None:
            return ""
        return head_plain(e, multi=self.multi, width=self._layout_width, view=self.view)

    def show_row(self, index: int) -> None:
        self._pause()
        self.scroll_to(y=max(0, index - self.size.height // 2), animate=False, immediate=True)
