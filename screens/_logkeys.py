"""The log view's own keys, as k9s and Toolong users press them: view toggles (wrap, dated
stamps, pretty JSON, folded notes), moving (autoscroll, top, j/k, half pages), copy and save.

A mixin of ``LogsScreen`` (which owns the pane, the store and the find state); kept apart so
the screen module stays about reading and searching.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aktui.logs.store import export_lines
from aktui.screens.widgets.logpane import LogPane
from aktui.screens.widgets.text import plain
from aktui.userdirs import user_dir

if TYPE_CHECKING:
    from aktui.logs.store import LogStore


def save_dir() -> Path:
    """Where saved logs go: $XDG_STATE_HOME/aktui (else ~/.local/state/aktui)."""
    return user_dir("state")


class LogViewKeys:
    """Actions of the log view that need only the pane, the store and the find position."""

    store: LogStore
    title_text: str
    find_hits: list[int]
    find_at: int
    app: Any

    # Provided by LogsScreen (first in its MRO).
    def pane(self) -> LogPane:
        raise NotImplementedError

    def _count_hits(self) -> None:
        raise NotImplementedError

    def _update_status(self) -> None:
        raise NotImplementedError

    def _toggle(self, **change: bool) -> None:
        pane = self.pane()
        pane.view = replace(pane.view, **change)
        self._count_hits()
        self._update_status()

    def action_toggle_wrap(self) -> None:
        self._toggle(wrap=not self.pane().view.wrap)

    def action_toggle_timestamps(self) -> None:
        self._toggle(full_stamps=not self.pane().view.full_stamps)

    def action_toggle_pretty(self) -> None:
        self._toggle(pretty=not self.pane().view.pretty)

    def action_toggle_collapse(self) -> None:
        self._toggle(fold=not self.pane().view.fold)

    # --- moving ---------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        pane = self.pane()
        pane.following = not pane.following

    def action_top(self) -> None:
        self.pane().action_scroll_home()

    def action_line(self, step: int) -> None:
        pane = self.pane()
        if step < 0:
            pane.action_scroll_up()
        elif pane.scroll_y >= pane.max_scroll_y:
            pane.following = True
        else:
            pane.action_scroll_down()

    def action_half_page(self, direction: int) -> None:
        pane = self.pane()
        step = max(1, pane.size.height // 2)
        if direction < 0:
            pane.following = False
        pane.scroll_to(y=max(0, pane.scroll_y + direction * step), animate=False)

    # --- copy, save -----------------------------------------------------------------------

    def _current_row(self) -> int:
        """The find match shown, else the last row on screen."""
        pane = self.pane()
        if pane.find and 0 <= self.find_at < len(self.find_hits):
            return self.find_hits[self.find_at]
        return min(len(pane.rows) - 1, int(pane.scroll_y) + pane.size.height - 1)

    def action_copy_line(self) -> None:
        pane = self.pane()
        text = pane.entry_text(self._current_row())
        if not text:
            self.app.notify("no line to copy", markup=False, timeout=2)
            return
        self.app.copy_to_clipboard(text)
        shown = text if len(text) <= 60 else text[:59] + "…"
        self.app.notify(f"copied: {shown}", title="clipboard", markup=False, timeout=3)

    def action_save(self) -> None:
        stamp_now = self.app.clock().strftime("%Y%m%d-%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.title_text).strip("-") or "log"
        path = save_dir() / f"{slug}-{stamp_now}.log"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Logs carry hostnames, users and paths: readable by the operator only.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for line in export_lines(self.store.entries):
                    out.write(line + "\n")
        except OSError as e:
            self.app.notify(
                plain(f"cannot save to {path}: {e.strerror or e}"),
                title="save",
                severity="error",
                markup=False,
            )
            return
        self.app.notify(
            plain(f"{len(self.store)} lines saved to {path}"), title="save", markup=False
        )
