"""sync_table hands the table one measured cell per column: the widths it ends with are those of
a table built from scratch with the same rows, whatever grew, shrank or stayed."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from aktui.screens.widgets.sync import sync_table

COLUMNS = ["name", "seen", "note"]


def _rows(step: int) -> dict[str, list[object]]:
    """Rows whose cells grow and shrink between steps; one column holds plain strings."""
    rows: dict[str, list[object]] = {}
    for i in range(12):
        seen = f"{(i * 7 + step * 13) % 120}s" if (i + step) % 5 else "never connected"
        name = Text("outpost-" + "x" * ((i * step) % 9), "bold")
        note = "two\nlines" if (i + step) % 4 == 0 else f"note {'y' * (step % 3)}"
        rows[f"k{i}"] = [name, Text(seen), note]
    return rows


class _Tables(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="synced")


async def test_widths_equal_a_fresh_table_after_each_sync() -> None:
    app = _Tables()
    async with app.run_test() as pilot:
        synced = app.query_one("#synced", DataTable)
        for key in COLUMNS:
            synced.add_column(key, key=key)
        for step in range(8):
            rows = _rows(step)
            sync_table(synced, rows, COLUMNS)
            fresh: DataTable[object] = DataTable()
            await app.mount(fresh)
            for key in COLUMNS:
                fresh.add_column(key, key=key)
            for key, cells in rows.items():
                fresh.add_row(*cells, key=key)
            await pilot.pause()
            widths = {k.value: c.content_width for k, c in synced.columns.items()}
            expected = {k.value: c.content_width for k, c in fresh.columns.items()}
            assert widths == expected, step
            await fresh.remove()
