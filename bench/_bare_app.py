"""The cold-start baseline: a bare Textual app showing a 1000-row DataTable (see bench_tui)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

ROWS = 1000


class BareApp(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "state", "port", "version", "seen")
        for i in range(ROWS):
            table.add_row(f"bare-{i:04d}", "running", str(9000 + i), "2023.10.7", f"{i}s ago")


if __name__ == "__main__":
    BareApp().run()
