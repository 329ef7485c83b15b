"""``p``: push the snippets to the web servers: diff per host, one confirmation, result per host.

``aktui.deploy.push`` does the careful part (remote lock, backups, atomic writes, ``nginx -t``,
reload, rollback); this screen plans in a thread, shows each host's diff, and after the
confirmation applies to the changed hosts only. Unknown SSH host keys stay refused unless the
config opts in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens.widgets.nav import NavTable
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.sync import selected_key, sync_table
from aktui.screens.widgets.text import describe, literal

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

Planner = Callable[[Mapping[str, Any], Callable[[str, Any], Mapping[str, str]]], list[Any]]
Applier = Callable[[list[Any], Mapping[str, Any]], list[Any]]
COLUMNS = (("host", "Web server"), ("target", "SSH"), ("status", "Status"), ("detail", "Detail"))
OK_STATUSES = ("unchanged", "pushed", "pushed+verified")


def default_planner(servers: Mapping[str, Any], files: Callable[..., Any]) -> list[Any]:
    from aktui.deploy.push import plan_hosts

    return plan_hosts(servers, files)


def default_applier(
    plans: list[Any], servers: Mapping[str, Any], checks: Mapping[str, Any] | None = None
) -> list[Any]:
    """As `aktui push`: the first host alone, stop at the first failure, the 302 check of each
    listed site after its reload, one audit log line."""
    from aktui.deploy.push import apply_hosts, audit

    results = apply_hosts(plans, servers, checks=checks, serial=(1, 0), max_fail=0)
    audit(results)
    return results


def diff_text(diff: str) -> Text:
    out = Text()
    for line in diff.splitlines():
        style = ""
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        out.append_text(literal(line, style))
        out.append("\n")
    return out


class PushScreen(GuardedScreen):
    SCOPE = "push"
    CSS_PATH = "../styles/snippets.tcss"
    BINDINGS = bindings("push")
    AUTO_FOCUS = "#push-hosts"

    app: AktuiApp

    def __init__(self, planner: Planner | None = None, applier: Applier | None = None) -> None:
        super().__init__()
        self.planner = planner or default_planner
        self.applier = applier or (lambda p, s: default_applier(p, s, self.checks))
        self.checks: Mapping[str, Any] = {}
        self.plans: dict[str, Any] = {}
        self.results: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        table = NavTable(id="push-hosts", cursor_type="row")
        table.border_title = "Push snippets"
        yield table
        with VerticalScroll(id="push-diff"):
            yield Static(id="push-diff-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#push-hosts", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.action_replan()

    @property
    def servers(self) -> Mapping[str, Any]:
        return self.app.backend.config.web_servers

    def action_replan(self) -> None:
        from aktui.screens.snippets import build

        if not self.servers:
            self._message(
                f"no web servers to push to: add a web_servers: entry to "
                f"{self.app.backend.config.source} (host, snippet_dir, nginx, reload; "
                "`aktui init --print` shows a commented example)"
            )
            return
        built = build(self.app, self.app.data)
        if isinstance(built, str):
            self._message(built)
            return
        snapshot = self.app.data.snapshot
        if snapshot is None:  # build() said so already; kept for the type checker
            return
        from aktui.doctor.push_check import site_checks

        self.checks = site_checks(snapshot, built, self.servers)
        self.results = {}
        self.query_one("#push-hosts", DataTable).border_subtitle = "reading hosts…"
        self._plan(lambda name, cfg: built.files_for_sites(snapshot, cfg.sites))

    def _message(self, text: str) -> None:
        self.query_one("#push-diff-text", Static).update(literal(text))

    @work(thread=True, exclusive=True, group="push", exit_on_error=False)
    def _plan(self, files: Callable[[str, Any], Mapping[str, str]]) -> None:
        try:
            plans = self.planner(self.servers, files)
        except Exception as e:
            self.app.call_from_thread(self._message, describe(e))
            return
        self.app.call_from_thread(self._show_plans, plans)

    def _show_plans(self, plans: list[Any]) -> None:
        self.plans = {p.name: p for p in plans}
        self._render_rows()
        self._show_diff()

    def _render_rows(self) -> None:
        rows: dict[str, list[object]] = {}
        for name, plan in self.plans.items():
            result = self.results.get(name)
            if result is not None:
                ok = result.status in OK_STATUSES
                status = Text(("✔ " if ok else "✖ ") + result.status, "green" if ok else "bold red")
                detail = literal(result.detail)
            elif plan.error:
                status, detail = Text(f"✖ {plan.status}", "bold red"), literal(plan.error)
            elif plan.changed:
                count = sum(1 for c in plan.changes if c.changed)
                status, detail = Text(f"● {count} file(s) to change", "yellow"), Text("")
            else:
                status, detail = Text("✔ unchanged", "green"), Text("")
            rows[name] = [literal(name, "bold"), literal(plan.target), status, detail]
        table = self.query_one("#push-hosts", DataTable)
        sync_table(table, rows, [k for k, _ in COLUMNS])
        pending = len(self.pending())
        table.border_subtitle = f"{pending} to apply (a)" if pending else "nothing to apply"

    def pending(self) -> list[Any]:
        return [
            p
            for p in self.plans.values()
            if p.changed and not p.error and p.name not in self.results
        ]

    def _show_diff(self) -> None:
        key = selected_key(self.query_one("#push-hosts", DataTable))
        plan = self.plans.get(key or "")
        if plan is None:
            return
        result = self.results.get(plan.name)
        if result is not None:
            text = Text.assemble(literal(f"{result.status}: {result.detail}", "bold"), "\n")
            for step in result.steps:
                text.append_text(literal(f"  - {step}\n"))
            if result.nginx_output:
                text.append_text(literal(result.nginx_output, "red", newlines=True))
        elif plan.error:
            text = literal(plan.error, "bold red", newlines=True)
        else:
            text = diff_text(plan.diff()) if plan.changed else Text("no change on this host")
        self.query_one("#push-diff-text", Static).update(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_diff()

    def action_apply(self) -> None:
        from aktui.screens.confirm import ConfirmScreen

        pending = self.pending()
        if not pending:
            self.notify("nothing to push", title="push", markup=False)
            return
        lines = []
        for p in pending:
            names = ", ".join(c.path for c in p.changes if c.changed)
            lines.append(Text.assemble(literal(p.name, "bold"), " (", literal(p.target), "): "))
            lines.append(Text.assemble("  write ", literal(names)))
        lines.append(
            Text("Then nginx -t and reload on each; a failed test restores the old files.")
        )

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self._apply(pending)

        title = f"Push to {len(pending)} web server(s)?"
        self.app.push_screen(ConfirmScreen(title, lines, danger=True), go)

    @work(thread=True, exclusive=True, group="push", exit_on_error=False)
    def _apply(self, plans: list[Any]) -> None:
        try:
            results = self.applier(plans, self.servers)
        except Exception as e:
            self.app.call_from_thread(self.app.record, "push", "web servers", False, describe(e))
            return
        self.app.call_from_thread(self._applied, results)

    def _applied(self, results: list[Any]) -> None:
        for r in results:
            self.results[r.name] = r
            self.app.record("push", r.name, r.status in OK_STATUSES, f"{r.status}: {r.detail}")
        self._render_rows()
        self._show_diff()
