"""A bounded, follow-mode log pane that renders only the visible rows (toolong's approach).

Each entry becomes one row (time, source, level, message) plus, when the cheat sheet explains
it, indented rows with the cause and fix. Rows are rich ``Text`` built from ``literal`` (log text
is never markup, escapes are shown); strips are cached by row number, so a flood costs the
rendering of one screen, not of every line. Scrolling up pauses following; ``end`` resumes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from aktui.screens._logstore import Entry
from aktui.screens.widgets.text import literal
from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

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
MAX_WIDTH = 2000  # horizontal scroll limit; longer lines are cut by `literal`


@dataclass(frozen=True, slots=True)
class Row:
    no: int  # global row number: cache key that survives pruning
    seq: int  # entry it belongs to
    text: Text


def entry_rows(e: Entry, *, multi: int, width: int) -> list[Text]:
    """``multi``: width of the source column (0: one source, no column)."""
    if e.marker:
        label = literal(f" {e.marker} ")
        pad = max(2, (width - label.cell_len) // 2)
        return [Text.assemble(("─" * pad, "bold magenta"), label, ("─" * pad, "bold magenta"))]
    head = Text(no_wrap=True, end="")
    head.append(e.at.strftime("%H:%M:%S ") if e.at else "--:--:-- ", "dim")
    if multi:
        head.append_text(literal(e.source[:multi].ljust(multi) + " ", "cyan"))
    level = e.level or ""
    head.append(f"{LEVEL_WORD.get(level, '   ')} ", LEVEL_STYLE.get(level, ""))
    head.append_text(literal(e.message, limit=MAX_WIDTH))
    if e.extra:
        head.append(" ")
        head.append_text(literal(e.extra, "dim", limit=MAX_WIDTH))
    rows = [head]
    if e.note is not None:
        indent = "   ↳ "
        wrap = max(20, width - len(indent) - 1)
        title = e.note.title or "known problem"
        for i, part in enumerate(textwrap.wrap(f"{title}: {e.note.cause}", wrap) or [""]):
            rows.append(
                Text.assemble(
                    (indent if i == 0 else " " * len(indent), "yellow"), literal(part, "yellow")
                )
            )
        for i, part in enumerate(textwrap.wrap(f"fix: {e.note.fix}", wrap) or [""]):
            rows.append(Text.assemble(" " * len(indent), literal(part, "bold" if i == 0 else "")))
    return rows


class LogPane(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogPane { background: $surface; }
    LogPane:focus { background-tint: $foreground 3%; }
    """

    following: var[bool] = var(True)
    find: var[str] = var("")

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, max_rows: int, multi: int = 0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.max_rows = max_rows
        self.multi = multi
        self.pending = 0  # rows added while paused
        self._next_no = 0
        self._width = 0
        self._cache: LRUCache[tuple[int, str], Strip] = LRUCache(STRIP_CACHE)

    # --- content --------------------------------------------------------------------------

    def _wrap_width(self) -> int:
        return self.scrollable_content_region.width or 80

    def set_entries(self, entries: Iterable[Entry]) -> None:
        """Replace everything (filter or window changed); keeps following state."""
        self.rows = []
        self._width = 0
        self._cache.clear()
        self.append(entries, count_pending=False)
        if self.following:
            self.scroll_end(animate=False, x_axis=False)

    def append(self, entries: Iterable[Entry], *, count_pending: bool = True) -> None:
        width = self._wrap_width()
        added = 0
        for e in entries:
            for text in entry_rows(e, multi=self.multi, width=width):
                self.rows.append(Row(self._next_no, e.seq, text))
                self._next_no += 1
                self._width = min(MAX_WIDTH, max(self._width, text.cell_len))
                added += 1
        if not added:
            return
        overflow = len(self.rows) - self.max_rows
        if overflow > 0:
            del self.rows[:overflow]
            if not self.following:
                # Keep the operator's place while old rows fall off the top.
                self.scroll_to(y=max(0, self.scroll_y - overflow), animate=False, immediate=True)
        if count_pending and not self.following:
            self.pending += added
        self.virtual_size = Size(self._width, len(self.rows))
        if self.following:
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    @property
    def text_rows(self) -> list[str]:
        return [r.text.plain for r in self.rows]

    # --- rendering ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self.rows):
            return Strip.blank(width, style)
        row = self.rows[index]
        key = (row.no, self.find)
        strip = self._cache.get(key)
        if strip is None:
            text = row.text
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
        # The first batch can land before layout gives the pane a height: re-anchor then.
        if self.following:
            self.scroll_end(animate=False, x_axis=False)

    def watch_find(self) -> None:
        self.refresh()

    # --- follow mode ----------------------------------------------------------------------

    def watch_following(self, following: bool) -> None:
        if following:
            self.pending = 0
            self.scroll_end(animate=False, x_axis=False)
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
            if needle in self.rows[index].text.plain.lower():
                return index
        return None

    def show_row(self, index: int) -> None:
        self._pause()
        self.scroll_to(y=max(0, index - self.size.height // 2), animate=False, immediate=True)
