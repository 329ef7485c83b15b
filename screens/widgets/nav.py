"""Tables and trees that move like k9s and less: j/k, g/G, Ctrl+D/U, Home/End on rows.

DataTable binds Home/End to the first/last *column*; with a row cursor that only scrolls
sideways, which is not what anyone pressing Home in a list expects. The keys come from the
registry's "navigation" scope, so the help screen lists them and ``keys:`` can remap them.
"""

from __future__ import annotations

from textual.widgets import DataTable, Tree

from aktui.screens._keys import bindings


class NavTable(DataTable[object]):
    BINDINGS = bindings("navigation")

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def action_half_page(self, direction: int) -> None:
        if not self.row_count:
            return
        step = max(1, (self.scrollable_content_region.height - 1) // 2)
        row = min(self.row_count - 1, max(0, self.cursor_row + direction * step))
        self.move_cursor(row=row)


class NavTree(Tree[object]):
    BINDINGS = bindings("navigation")

    def action_first_row(self) -> None:
        self.action_scroll_home()

    def action_last_row(self) -> None:
        self.action_scroll_end()

    def action_half_page(self, direction: int) -> None:
        step = max(1, self.scrollable_content_region.height // 2)
        last = max(0, self.last_line)
        self.cursor_line = min(last, max(0, self.cursor_line + direction * step))
        self.scroll_to_line(self.cursor_line)
