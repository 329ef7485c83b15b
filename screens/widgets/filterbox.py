"""The ``/`` filter box of a table screen: open, re-filter as you type, Enter back to the table,
Escape clears and closes it before it means "back". One behaviour for every table screen."""

from __future__ import annotations

from textual import on
from textual.screen import Screen
from textual.widgets import DataTable, Input

from aktui.screens.widgets.sync import move_to_key, selected_key


class FilterBoxMixin(Screen[object]):
    """For a screen with an ``Input#filter`` (hidden by the ``-hidden`` class) over a table.

    ``filtered_table()`` names the table; ``refilter()`` redraws its rows for the box's text."""

    def filtered_table(self) -> DataTable[object]:
        raise NotImplementedError

    def refilter(self) -> None:
        raise NotImplementedError

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("-hidden")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        table = self.filtered_table()
        keep = selected_key(table)
        self.refilter()
        move_to_key(table, keep)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.filtered_table().focus()

    def handle_back(self) -> bool:
        """Escape first closes the filter; only then does it mean "back"."""
        box = self.query_one("#filter", Input)
        if box.value or not box.has_class("-hidden"):
            box.value = ""
            box.add_class("-hidden")
            self.filtered_table().focus()
            return True
        return False
