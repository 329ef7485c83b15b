"""The dashboard: outposts, the cookie-domain tree and findings, refreshed in place.

Everything is re-derived from ``app.data`` on each refresh and applied as a diff (cells that
changed, rows that came or went), so the cursor, scroll and tree expansion survive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Static, Tree

from aktui.authentik.model import Outpost
from aktui.outposts.targets import Selection, finding_key, outposts_for
from aktui.outposts.verdicts import AppData
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._rows import (
    FINDING_COLUMNS,
    OUTPOST_COLUMNS,
    OUTPOST_PRIORITY,
    TreeMemo,
    domain_tree,
    finding_line,
    finding_rows,
    finding_text,
    fitting_columns,
    outpost_rows,
    outpost_summary,
)
from aktui.screens.widgets.filterbox import FilterBoxMixin
from aktui.screens.widgets.nav import NavTable, NavTree
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import move_to_key, selected_key, sync_table, sync_tree, tree_data

# Below this many rows the finding detail is one line (title and fix): the findings table
# and the tree need the rest.
TALL = 32

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


class DashboardScreen(FilterBoxMixin, GuardedScreen):
    SCOPE = "dashboard"
    CSS_PATH = "../styles/dashboard.tcss"
    BINDINGS = bindings("dashboard")
    AUTO_FOCUS = "#outposts"

    app: AktuiApp

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Input(placeholder="filter outposts (esc clears)", id="filter", classes="-hidden")
        table = NavTable(id="outposts", cursor_type="row", zebra_stripes=True)
        table.border_title = "Outposts"
        yield table
        yield Static(id="outpost-summary")
        with Horizontal(id="lower"):
            tree = NavTree("cookie domains", id="domains")
            tree.show_root = False
            tree.border_title = "Cookie domains → provider → app → outpost"
            yield tree
            findings = NavTable(id="findings", cursor_type="row")
            findings.border_title = "Findings"
            yield findings
        yield Static(id="finding-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._columns: list[str] = []  # outpost columns shown at this width
        self.outpost_cells: dict[str, list[object]] = {}
        # Containers, evidence and progress re-render the screen several times per refresh:
        # the tree and findings are redrawn only from what changed.
        self._tree_memo = TreeMemo()
        self._findings_of: object = None  # the snapshot the findings table shows
        findings = self.query_one("#findings", DataTable)
        for key, label in FINDING_COLUMNS:
            findings.add_column(label, key=key)
        self.watch(self.app, "data", self._render_data)
        self.watch(self.app, "progress", lambda _: self._render_data(self.app.data), init=False)

    # --- rendering ------------------------------------------------------------------------

    @property
    def needle(self) -> str:
        return self.query_one("#filter", Input).value

    def _render_data(self, data: AppData) -> None:
        now = self.app.clock()
        outposts = self.query_one("#outposts", DataTable)
        rows = outpost_rows(data, now, self.needle, self.app.running_labels())
        self.outpost_cells = rows  # every column, also those the width hides
        rebuilt, keep = self._fit_columns(outposts, rows)
        index = [i for i, (k, _) in enumerate(OUTPOST_COLUMNS) if k in self._columns]
        shown = {key: [cells[i] for i in index] for key, cells in rows.items()}
        sync_table(outposts, shown, self._columns)
        if rebuilt:
            move_to_key(outposts, keep)
        outposts.border_subtitle = self._outposts_subtitle(data)
        if self._findings_of is not data.snapshot or data.snapshot is None:
            findings = self.query_one("#findings", DataTable)
            sync_table(findings, finding_rows(data.snapshot), [k for k, _ in FINDING_COLUMNS])
            count = len(data.snapshot.findings) if data.snapshot else 0
            findings.border_title = f"Findings ({count})"
            self._findings_of = data.snapshot
        sync_tree(self.query_one("#domains", Tree), domain_tree(data, self._tree_memo))
        self._show_finding()
        self._show_outpost()

    def outpost_cell(self, key: str, column: str) -> object:
        """A cell of the outposts table, shown or hidden by the terminal's width."""
        index = [k for k, _ in OUTPOST_COLUMNS].index(column)
        return self.outpost_cells[key][index]

    def _fit_columns(
        self, table: DataTable[object], rows: dict[str, list[object]]
    ) -> tuple[bool, str | None]:
        """Show the columns that fit, by priority (Version and Seen before Container at 80
        columns); rebuilt only when the set changes, with the cursor kept on its row."""
        width = (table.scrollable_content_region.width or self.size.width - 4) - 1
        wanted = fitting_columns(rows, OUTPOST_COLUMNS, OUTPOST_PRIORITY, width)
        if wanted == self._columns:
            return False, None
        keep = selected_key(table)
        table.clear(columns=True)
        labels = dict(OUTPOST_COLUMNS)
        for key in wanted:
            table.add_column(labels[key], key=key)
        self._columns = wanted
        return True, keep

    def on_resize(self) -> None:
        # After the layout pass: the table's new width decides which columns fit. The data is
        # read then, not now: a refresh may land in between, and an old value would undo it.
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        self._render_data(self.app.data)
        self._show_finding()

    def _show_outpost(self) -> None:
        key = selected_key(self.query_one("#outposts", DataTable))
        self.query_one("#outpost-summary", Static).update(outpost_summary(self.app.data, key))

    @on(DataTable.RowHighlighted, "#outposts")
    def _outpost_highlighted(self) -> None:
        self._show_outpost()

    def _outposts_subtitle(self, data: AppData) -> str:
        stale = len(data.stale_outposts())
        if data.snapshot is None:
            return "loading…" if not data.error else "no data"
        return f"{stale} stale · r fix · R fix all" if stale else ""

    def _show_finding(self) -> None:
        detail = self.query_one("#finding-detail", Static)
        snap = self.app.data.snapshot
        key = selected_key(self.query_one("#findings", DataTable))
        found = next((f for f in snap.findings if finding_key(f) == key), None) if snap else None
        short = self.size.height < TALL
        detail.set_class(short, "-one-line")
        if found is None:
            detail.update("")
        elif short:
            detail.update(finding_line(found))  # enter shows all of it
        else:
            detail.update(finding_text(found))

    @on(DataTable.RowHighlighted, "#findings")
    def _finding_highlighted(self) -> None:
        self._show_finding()

    # --- selection ------------------------------------------------------------------------

    def selection(self) -> Selection | None:
        """What the focused pane highlights: an outpost row, a tree node, a finding. The
        filter box counts as the outposts table (it filters it)."""
        focused = self.focused
        if isinstance(focused, Tree):
            data = tree_data(focused.cursor_node)
            if isinstance(data, tuple) and len(data) == 2:
                return Selection(str(data[0]), str(data[1]))
            return None
        if focused is not None and focused.id == "findings":
            key = selected_key(self.query_one("#findings", DataTable))
            return Selection("finding", key) if key else None
        key = selected_key(self.query_one("#outposts", DataTable))
        return Selection("outpost", key) if key else None

    def selected_outposts(self) -> tuple[list[Outpost], str]:
        """The outposts the focused pane's highlight stands for, and a title for them."""
        snap = self.app.data.snapshot
        sel = self.selection()
        if snap is None or sel is None:
            return [], ""
        outposts = list(outposts_for(snap, sel))
        if sel.kind == "outpost" or len(outposts) == 1:
            return outposts, outposts[0].name if outposts else ""
        names = {"group": "domain", "provider": "provider", "application": "app"}
        label = sel.key
        if sel.kind == "provider":
            p = snap.provider(int(sel.key)) if sel.key.isdigit() else None
            label = p.name if p else sel.key
        return outposts, f"{names.get(sel.kind, sel.kind)} {label}"

    def selected_outposts_for_logs(self) -> tuple[list[Outpost], str]:
        return self.selected_outposts()

    def _targets(self) -> list[Outpost] | None:
        sel = self.selection()
        outposts, _ = self.selected_outposts()
        if not outposts:
            what = {"finding": "this finding", "group": "this cookie domain"}.get(
                sel.kind if sel else "", f"this {sel.kind}" if sel else ""
            )
            why = f": {what} involves no outpost" if sel else ""
            self.notify(f"select an outpost{why}", title="nothing to fix", markup=False)
            return None
        return outposts

    # --- actions --------------------------------------------------------------------------

    def action_fix_selected(self) -> None:
        outposts = self._targets()
        if outposts:
            self.app.request_fix(outposts)

    def action_restart_selected(self) -> None:
        outposts = self._targets()
        if outposts:
            self.app.request_fix(outposts, force_restart=True)

    def action_fix_all_stale(self) -> None:
        self.app.request_fix(list(self.app.data.stale_outposts()))

    def action_logs_selected(self) -> None:
        from aktui.screens.logs import open_logs

        outposts, title = self.selected_outposts_for_logs()
        open_logs(self.app, outposts, title)

    def action_details(self) -> None:
        from aktui.screens.detail import DetailScreen

        focused = self.focused
        if focused is self.query_one("#findings", DataTable):
            key = selected_key(self.query_one("#findings", DataTable))
            if key:
                self.app.push_screen(DetailScreen("finding", key))
            return
        if isinstance(focused, Tree):
            data = tree_data(focused.cursor_node)
            if isinstance(data, tuple):
                self.app.push_screen(DetailScreen(str(data[0]), str(data[1])))
            return
        key = selected_key(self.query_one("#outposts", DataTable))
        if key:
            self.app.push_screen(DetailScreen("outpost", key))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def filtered_table(self) -> DataTable[object]:
        return self.query_one("#outposts", DataTable)

    def refilter(self) -> None:
        self._render_data(self.app.data)
