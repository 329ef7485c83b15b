"""The dashboard: outposts, the cookie-domain tree and findings, refreshed in place.

Everything is re-derived from ``app.data`` on each refresh and applied as a diff (cells that
changed, rows that came or went), so the cursor, scroll and tree expansion survive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Static, Tree

from aktui.authentik.model import Outpost
from aktui.outposts.verdicts import AppData
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._rows import (
    FINDING_COLUMNS,
    OUTPOST_COLUMNS,
    domain_tree,
    finding_key,
    finding_rows,
    finding_text,
    outpost_rows,
    outpost_summary,
)
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import move_to_key, selected_key, sync_table, sync_tree, tree_data

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


class DashboardScreen(GuardedScreen):
    SCOPE = "dashboard"
    CSS_PATH = "../styles/dashboard.tcss"
    BINDINGS: ClassVar[list[Binding]] = bindings("dashboard")  # type: ignore[assignment]
    AUTO_FOCUS = "#outposts"

    app: AktuiApp

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Input(placeholder="filter outposts (esc clears)", id="filter", classes="-hidden")
        table: DataTable[object] = DataTable(id="outposts", cursor_type="row", zebra_stripes=True)
        table.border_title = "Outposts"
        yield table
        yield Static(id="outpost-summary")
        with Horizontal(id="lower"):
            tree: Tree[object] = Tree("cookie domains", id="domains")
            tree.show_root = False
            tree.border_title = "Cookie domains → provider → app → outpost"
            yield tree
            with Vertical(id="findings-pane"):
                findings: DataTable[object] = DataTable(id="findings", cursor_type="row")
                findings.border_title = "Findings"
                yield findings
                yield Static(id="finding-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        outposts = self.query_one("#outposts", DataTable)
        for key, label in OUTPOST_COLUMNS:
            outposts.add_column(label, key=key)
        findings = self.query_one("#findings", DataTable)
        for key, label in FINDING_COLUMNS:
            findings.add_column(label, key=key)
        self.watch(self.app, "data", self._render_data)

    # --- rendering ------------------------------------------------------------------------

    @property
    def needle(self) -> str:
        return self.query_one("#filter", Input).value

    def _render_data(self, data: AppData) -> None:
        now = self.app.clock()
        outposts = self.query_one("#outposts", DataTable)
        sync_table(outposts, outpost_rows(data, now, self.needle), [k for k, _ in OUTPOST_COLUMNS])
        outposts.border_subtitle = self._outposts_subtitle(data)
        findings = self.query_one("#findings", DataTable)
        sync_table(findings, finding_rows(data.snapshot), [k for k, _ in FINDING_COLUMNS])
        count = len(data.snapshot.findings) if data.snapshot else 0
        findings.border_title = f"Findings ({count})"
        sync_tree(self.query_one("#domains", Tree), domain_tree(data))
        self._show_finding()
        self._show_outpost()

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
        detail.update(finding_text(found) if found else "")

    @on(DataTable.RowHighlighted, "#findings")
    def _finding_highlighted(self) -> None:
        self._show_finding()

    # --- selection ------------------------------------------------------------------------

    def selected_outpost(self) -> Outpost | None:
        snap = self.app.data.snapshot
        if snap is None:
            return None
        tree = self.query_one("#domains", Tree)
        if tree.has_focus:
            data = tree_data(tree.cursor_node)
            if isinstance(data, tuple) and data[0] == "outpost":
                return snap.outpost(str(data[1]))
        return snap.outpost(selected_key(self.query_one("#outposts", DataTable)) or "")

    def selected_outposts_for_logs(self) -> tuple[list[Outpost], str]:
        """The outpost under the cursor, or every outpost of the selected cookie domain."""
        snap = self.app.data.snapshot
        tree = self.query_one("#domains", Tree)
        if snap is not None and tree.has_focus:
            data = tree_data(tree.cursor_node)
            if isinstance(data, tuple) and data[0] == "group":
                group = next((g for g in snap.groups if g.key == data[1]), None)
                if group is not None:
                    names = set(group.outpost_names)
                    return [o for o in snap.outposts if o.name in names], f"domain {group.key}"
        outpost = self.selected_outpost()
        return ([outpost], outpost.name) if outpost else ([], "")

    # --- actions --------------------------------------------------------------------------

    def action_fix_selected(self) -> None:
        outpost = self.selected_outpost()
        if outpost is None:
            self.notify("select an outpost first", markup=False)
            return
        self.app.request_fix([outpost])

    def action_restart_selected(self) -> None:
        outpost = self.selected_outpost()
        if outpost is None:
            self.notify("select an outpost first", markup=False)
            return
        self.app.request_fix([outpost], force_restart=True)

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

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("-hidden")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        outposts = self.query_one("#outposts", DataTable)
        keep = selected_key(outposts)
        self._render_data(self.app.data)
        move_to_key(outposts, keep)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#outposts", DataTable).focus()

    def handle_back(self) -> bool:
        """Escape first closes the filter; only then does it mean "back"."""
        box = self.query_one("#filter", Input)
        if box.value or not box.has_class("-hidden"):
            box.value = ""
            box.add_class("-hidden")
            self.query_one("#outposts", DataTable).focus()
            return True
        return False
