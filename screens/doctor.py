"""``d``: every field-guide pitfall checked against the live setup, one row per check result.

The checks are ``aktui doctor``'s own (model checks, live /auth/nginx and /start probes, web
servers over SSH, staleness), run in a worker: probes and SSH take seconds, the UI stays live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Input, Static

from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._rows import filter_rows
from aktui.screens.widgets.filterbox import FilterBoxMixin
from aktui.screens.widgets.nav import NavTable
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import selected_key, sync_table
from aktui.screens.widgets.text import describe, literal

if TYPE_CHECKING:
    from aktui.doctor.checks import CheckResult
    from aktui.screens.app import AktuiApp

Runner = Callable[[Any], Awaitable[list[Any]]]
STATUS = {
    "ok": ("✔ ok", "green"),
    "warn": ("▲ warn", "yellow"),
    "error": ("✖ error", "bold red"),
    "skipped": ("– skip", "dim"),
}
COLUMNS = (("status", "Result"), ("check", "Check"), ("title", "Finding"))
# Errors first, then warnings: what needs fixing is at the top however the checks ran.
STATUS_ORDER = {"error": 0, "warn": 1, "ok": 2, "skipped": 3}


async def default_runner(backend: Any) -> list[Any]:
    # The CLI's composition of checks, so `aktui doctor` and this screen cannot disagree.
    from aktui.doctor.run import diagnose

    return await diagnose(backend)


class DoctorScreen(FilterBoxMixin, GuardedScreen):
    SCOPE = "doctor"
    CSS_PATH = "../styles/tables.tcss"
    BINDINGS = bindings("doctor")
    AUTO_FOCUS = "#rows"

    app: AktuiApp

    def __init__(self, runner: Runner | None = None) -> None:
        super().__init__()
        self.runner = runner or default_runner
        self.results: list[CheckResult] = []

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Input(placeholder="filter checks (esc clears)", id="filter", classes="-hidden")
        table = NavTable(id="rows", cursor_type="row", zebra_stripes=True)
        table.border_title = "Doctor"
        yield table
        yield Static(id="history-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#rows", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.action_rerun()

    def action_rerun(self) -> None:
        self.query_one("#rows", DataTable).border_subtitle = "running checks…"
        self._diagnose()

    @work(exclusive=True, group="doctor", exit_on_error=False, description="doctor")
    async def _diagnose(self) -> None:

        try:
            results = await self.runner(self.app.backend)
        except Exception as e:
            self.query_one("#rows", DataTable).border_subtitle = "failed"
            self.query_one("#history-detail", Static).update(literal(describe(e), "bold red"))
            return
        self.results = list(results)
        self._show()

    def _show(self) -> None:
        rows: dict[str, list[object]] = {}
        ranked = sorted(
            enumerate(self.results), key=lambda nr: (STATUS_ORDER.get(nr[1].status, 9), nr[0])
        )
        for n, r in ranked:
            word, style = STATUS.get(r.status, (r.status, ""))
            rows[f"{n}:{r.check}"] = [Text(word, style), literal(r.check), literal(r.title)]
        needle = self.query_one("#filter", Input).value
        shown = filter_rows(rows, needle)
        table = self.query_one("#rows", DataTable)
        sync_table(table, shown, [k for k, _ in COLUMNS])
        counts = {s: sum(1 for r in self.results if r.status == s) for s in STATUS}
        summary = " · ".join(f"{n} {s}" for s, n in counts.items() if n)
        table.border_subtitle = f"{len(shown)} of {len(rows)} · {summary}" if needle else summary
        self.action_details()

    def filtered_table(self) -> DataTable[object]:
        return self.query_one("#rows", DataTable)

    def refilter(self) -> None:
        self._show()

    def action_details(self) -> None:
        key = selected_key(self.query_one("#rows", DataTable))
        detail = self.query_one("#history-detail", Static)
        if key is None:
            detail.update("")
            return
        r = self.results[int(key.split(":", 1)[0])]
        text = Text.assemble(literal(r.title, "bold"), "\n", literal(r.evidence, newlines=True))
        if r.fix:
            text.append("\nfix: ", "bold")
            text.append_text(literal(r.fix, newlines=True))
        detail.update(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.action_details()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()
