"""Providers and applications: sortable, filterable tables with a detail view of one row.

Both share ``TableScreen``: rows come from ``app.data`` and are applied as a diff, the filter
is a substring over every cell, and the sort (``o`` on a column; again to reverse) is re-applied
after a refresh adds rows, with the cursor kept on its row key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Input

from aktui.authentik.model import MODE_LABELS, Application, Outpost, ProxyProvider, Snapshot
from aktui.outposts.verdicts import AppData
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._rows import app_doubt, filter_rows, severity_cell
from aktui.screens.widgets.filterbox import FilterBoxMixin
from aktui.screens.widgets.nav import NavTable
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import move_to_key, selected_key, sync_table
from aktui.screens.widgets.text import literal

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


def _sort_value(cell: object) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return text.lower()


class TableScreen(FilterBoxMixin, GuardedScreen):
    CSS_PATH = "../styles/tables.tcss"
    AUTO_FOCUS = "#rows"
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    KIND = ""
    TITLE_TEXT = ""

    app: AktuiApp

    def __init__(self) -> None:
        super().__init__()
        self.sort_column: str | None = None
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Input(placeholder="filter (esc clears)", id="filter", classes="-hidden")
        table = NavTable(id="rows", cursor_type="row", zebra_stripes=True)
        table.border_title = self.TITLE_TEXT
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.table
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self.watch(self.app, "data", self._render_data)

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#rows", DataTable)

    def rows(self, data: AppData) -> dict[str, list[object]]:
        """Cells per row key: one row per item of the snapshot this table lists."""
        snap = data.snapshot
        if snap is None:
            return {}
        return {key: self.cells(snap, item) for key, item in self.items(snap)}

    def items(self, snap: Snapshot) -> Iterable[tuple[str, Any]]:
        raise NotImplementedError

    def cells(self, snap: Snapshot, item: Any) -> list[object]:
        raise NotImplementedError

    def _render_data(self, data: AppData) -> None:
        table = self.table
        needle = self.query_one("#filter", Input).value
        every = self.rows(data)
        rows = self._sorted(filter_rows(every, needle))
        sync_table(table, rows, [k for k, _ in self.COLUMNS])
        shown, total = len(rows), len(every)
        table.border_subtitle = f"{shown} of {total}" if needle else f"{total}"

    def _sorted(self, rows: dict[str, list[object]]) -> dict[str, list[object]]:
        """Rows in the chosen sort order (else as the snapshot lists them), so a refresh or a
        cleared filter never leaves a row out of place."""
        if self.sort_column is None:
            return rows
        index = [k for k, _ in self.COLUMNS].index(self.sort_column)
        ordered = sorted(
            rows.items(), key=lambda kv: _sort_value(kv[1][index]), reverse=self.sort_reverse
        )
        return dict(ordered)

    def _sort(self) -> None:
        """Column headers show the sort (▲ ascending, ▼ descending); rows follow it."""
        table = self.table
        keep = selected_key(table)
        table.clear(columns=True)
        for key, label in self.COLUMNS:
            arrow = ""
            if key == self.sort_column:
                arrow = " ▼" if self.sort_reverse else " ▲"
            table.add_column(label + arrow, key=key)
        self._render_data(self.app.data)
        move_to_key(table, keep)

    def action_sort(self) -> None:
        """Row cursors have no column, so ``o`` walks the columns: each one ascending, then
        descending, then the next column."""
        keys = [k for k, _ in self.COLUMNS]
        if self.sort_column in keys and not self.sort_reverse:
            self.sort_reverse = True
        else:
            index = keys.index(self.sort_column) + 1 if self.sort_column in keys else 1
            self.sort_column = keys[index % len(keys)]
            self.sort_reverse = False
        self._sort()
        label = dict(self.COLUMNS)[self.sort_column]
        direction = "descending" if self.sort_reverse else "ascending"
        self.table.border_subtitle = f"sorted by {label}, {direction}"
        self.notify(f"sorted by {label}, {direction}", timeout=2, markup=False)

    def filtered_table(self) -> DataTable[object]:
        return self.table

    def refilter(self) -> None:
        self._render_data(self.app.data)

    def action_details(self) -> None:
        from aktui.screens.detail import DetailScreen

        key = selected_key(self.table)
        if key:
            self.app.push_screen(DetailScreen(self.KIND, key))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def selected_outposts(self) -> tuple[list[Outpost], str]:
        """The outposts behind the highlighted row, and a title for their logs."""
        snap = self.app.data.snapshot
        key = selected_key(self.table)
        if snap is None or key is None:
            return [], ""
        return self.outposts_of(snap, key)

    def outposts_of(self, snap: Snapshot, key: str) -> tuple[list[Outpost], str]:
        raise NotImplementedError

    def action_logs_selected(self) -> None:
        from aktui.screens.logs import open_logs

        outposts, title = self.selected_outposts()
        open_logs(self.app, outposts, title)


class ProvidersScreen(TableScreen):
    SCOPE = "providers"
    KIND = "provider"
    TITLE_TEXT = "Proxy providers"
    BINDINGS = bindings("providers")
    COLUMNS = (
        ("flag", "!"),
        ("name", "Provider"),
        ("mode", "Mode"),
        ("host", "External host"),
        ("cookie", "Cookie domain"),
        ("app", "Application"),
        ("outposts", "Outposts"),
    )

    def items(self, snap: Snapshot) -> Iterable[tuple[str, ProxyProvider]]:
        return ((str(p.pk), p) for p in snap.providers)

    def cells(self, snap: Snapshot, p: ProxyProvider) -> list[object]:
        outposts = ", ".join(o.name for o in snap.outposts_serving(p.pk))
        return [
            severity_cell(snap.findings_for(f"provider:{p.pk}"), doubt=app_doubt(snap, p.pk)),
            literal(p.name, "bold"),
            Text(MODE_LABELS.get(p.mode, p.mode)),
            literal(p.external_host),
            literal(p.cookie_domain or "—"),
            literal(p.application_slug or "— none"),
            literal(outposts or "— none"),
        ]

    def outposts_of(self, snap: Snapshot, key: str) -> tuple[list[Outpost], str]:
        p = snap.provider(int(key))
        return list(snap.outposts_serving(int(key))), f"provider {p.name if p else key}"


class ApplicationsScreen(TableScreen):
    SCOPE = "applications"
    KIND = "application"
    TITLE_TEXT = "Applications"
    BINDINGS = bindings("applications")
    COLUMNS = (
        ("flag", "!"),
        ("slug", "Application"),
        ("name", "Name"),
        ("provider", "Provider"),
        ("reach", "Who can reach it"),
        ("outposts", "Outposts"),
    )

    def items(self, snap: Snapshot) -> Iterable[tuple[str, Application]]:
        return ((a.slug, a) for a in snap.applications)

    def cells(self, snap: Snapshot, a: Application) -> list[object]:
        p = snap.provider(a.provider_pk) if a.provider_pk is not None else None
        outposts = ", ".join(o.name for o in snap.outposts_serving(p.pk)) if p is not None else ""
        return [
            severity_cell(snap.findings_for(f"app:{a.slug}"), doubt=app_doubt(snap, a.provider_pk)),
            literal(a.slug, "bold"),
            literal(a.name),
            literal(p.name if p else "— none"),
            literal(a.reach),
            literal(outposts or "— none"),
        ]

    def outposts_of(self, snap: Snapshot, key: str) -> tuple[list[Outpost], str]:
        app = next((a for a in snap.applications if a.slug == key), None)
        if app is None or app.provider_pk is None:
            return [], ""
        return list(snap.outposts_serving(app.provider_pk)), f"app {key}"
