"""``h``: every action taken in this session and its checked outcome, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from aktui.screens._fixing import ActionRecord
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens.widgets.nav import NavTable
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import selected_key, sync_table
from aktui.screens.widgets.text import literal

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

COLUMNS = (
    ("at", "Time"),
    ("ok", "Result"),
    ("action", "Action"),
    ("target", "Target"),
    ("message", "Outcome"),
)


class HistoryScreen(GuardedScreen):
    SCOPE = "history"
    CSS_PATH = "../styles/tables.tcss"
    BINDINGS = bindings("history")
    AUTO_FOCUS = "#rows"

    app: AktuiApp

    def compose(self) -> ComposeResult:
        yield StatusBar()
        table = NavTable(id="rows", cursor_type="row")
        table.border_title = "Action history"
        yield table
        yield Static(id="history-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#rows", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.set_interval(1.0, self._render_rows)
        self.watch(self.app, "progress", lambda _: self._render_rows(), init=False)
        self._render_rows()

    def _render_rows(self) -> None:
        rows: dict[str, list[object]] = {}
        for n, r in reversed(list(enumerate(self.app.history))):
            rows[str(n)] = [
                Text(r.at.strftime("%H:%M:%S")),
                self._result(r),
                Text(r.action),
                literal(r.target),
                literal(r.message),
            ]
        table = self.query_one("#rows", DataTable)
        sync_table(table, rows, [k for k, _ in COLUMNS])
        if not rows:
            self.query_one("#history-detail", Static).update("no actions yet in this session")
        else:
            self.action_details()

    def _result(self, r: ActionRecord) -> Text:
        if r.running:
            progress = next(
                (p for p in self.app.running.values() if p.record == self._index(r)), None
            )
            return Text(progress.label() if progress else "⟳ running", "bold")
        return Text("✔ ok", "green") if r.ok else Text("✖ failed", "bold red")

    def _index(self, r: ActionRecord) -> int:
        return next((i for i, h in enumerate(self.app.history) if h is r), -1)

    def action_details(self) -> None:
        key = selected_key(self.query_one("#rows", DataTable))
        if key is None:
            return
        r = self.app.history[int(key)]
        self.query_one("#history-detail", Static).update(
            Text.assemble((f"{r.action} {r.target}: ", "bold"), literal(r.message))
        )

    def on_data_table_row_highlighted(self) -> None:
        self.action_details()
