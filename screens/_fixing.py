"""Reload/restart outposts from the UI: plan, confirm, act in a thread, report, remember.

Reload (SIGUSR1) is the default fix: the outpost re-reads its config and keeps its sessions.
Restart is chosen when the container is not running or unhealthy, or asked for explicitly; the
confirmation then says that users are logged out. Every outcome goes to a notification and to
the action history (``h``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work

from aktui.authentik.model import Outpost
from aktui.outposts.verdicts import runtime_name
from aktui.screens.widgets.text import describe, literal, plain

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

# Docker daemons handle a few concurrent restarts well; more only queue on the daemon.
MAX_PARALLEL = 4


@dataclass(frozen=True, slots=True)
class ActionRecord:
    at: datetime
    action: str  # "reload", "restart", "context", ...
    target: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class FixPlan:
    outpost_pk: str
    outpost_name: str
    target: str  # what the runtime acts on: container name, else the outpost name
    host: str
    mode: str  # "reload" or "restart"
    reason: str


def plan_for(app: AktuiApp, outpost: Outpost, *, force_restart: bool = False) -> FixPlan:
    data = app.data
    container = data.container_for(outpost)
    verdict = data.verdicts.get(outpost.pk)
    mode = "restart" if force_restart else (verdict.action if verdict else "reload")
    if container is not None and container.state != "running":
        mode = "restart"  # a stopped container cannot take a signal
    runtime = app.backend.runtime
    return FixPlan(
        outpost_pk=outpost.pk,
        outpost_name=outpost.name,
        target=runtime_name(runtime, container) if container else outpost.name,
        host=container.host if container else "?",
        mode=mode,
        reason=verdict.reason if verdict and verdict.stale else "",
    )


def confirm_lines(plans: Sequence[FixPlan], verify_timeout: float) -> list[Text]:
    lines: list[Text] = []
    for p in plans:
        head = Text.assemble(
            (p.mode.capitalize(), "bold"),
            " outpost ",
            literal(p.outpost_name, "bold"),
            " (container ",
            literal(p.target),
            " on ",
            literal(p.host),
            ")",
        )
        lines.append(head)
        if p.reason:
            lines.append(Text.assemble("  stale: ", literal(p.reason)))
        if p.mode == "reload":
            lines.append(
                Text("  SIGUSR1: re-reads its config from authentik; users stay signed in.")
            )
            lines.append(
                Text(
                    f"  If no fresh load shows within {verify_timeout:g}s, aktui restarts it: "
                    "users signed in through it are then logged out.",
                    style="dim",
                )
            )
        else:
            lines.append(
                Text(
                    "  Users signed in through it are logged out: standalone outposts keep "
                    "sessions in memory.",
                    style="bold",
                )
            )
    return lines


class FixMixin:
    """App side of outpost actions (mixed into AktuiApp)."""

    history: list[ActionRecord]

    def record(self: Any, action: str, target: str, ok: bool, message: str) -> None:
        self.history.append(ActionRecord(self.clock(), action, target, ok, plain(message)))
        self.notify(
            plain(message),
            title=f"{action} {plain(target)}",
            severity="information" if ok else "error",
            markup=False,
            timeout=6,
        )

    def request_fix(self: Any, outposts: Sequence[Outpost], *, force_restart: bool = False) -> None:
        from aktui.screens._keys import refusal
        from aktui.screens.confirm import ConfirmScreen

        if self.read_only:
            self.notify(refusal(self._command("outposts.fix")), severity="warning", markup=False)
            return
        if self.backend.runtime is None:
            self.notify(
                "no container runtime: add docker_hosts to the config to reload or restart "
                "outposts",
                title="cannot act",
                severity="error",
                markup=False,
            )
            return
        if not outposts:
            self.notify("no stale outpost to fix", title="fix", markup=False)
            return
        plans = [plan_for(self, o, force_restart=force_restart) for o in outposts]
        title = (
            f"{plans[0].mode.capitalize()} {plain(plans[0].outpost_name)}?"
            if len(plans) == 1
            else f"Fix {len(plans)} stale outposts?"
        )
        danger = any(p.mode == "restart" for p in plans)

        def go(confirmed: bool | None) -> None:
            if confirmed:
                self._run_fixes(plans)

        lines = confirm_lines(plans, self.verify_timeout)
        self.push_screen(ConfirmScreen(title, lines, danger=danger), go)

    @work(thread=True, group="actions", exit_on_error=False, description="outpost actions")
    def _run_fixes(self: Any, plans: list[FixPlan]) -> None:
        from aktui.outposts.fixes import ActionResult, OutpostActions

        actions = OutpostActions(
            self.backend.runtime,
            read_only=self.read_only,
            verify_timeout=self.verify_timeout,
            max_concurrency=MAX_PARALLEL,
        )

        def one(plan: FixPlan) -> ActionResult:
            try:
                if plan.mode == "restart":
                    return actions.restart(plan.target)
                return actions.fix(plan.target)  # reload; restart only if it did not load
            except Exception as e:
                return ActionResult(plan.target, plan.mode, False, describe(e), self.clock(), 0.0)

        with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
            results = list(zip(plans, pool.map(one, plans), strict=True))
        self.call_from_thread(self._fixes_done, results)

    def _fixes_done(self: Any, results: list[tuple[FixPlan, Any]]) -> None:
        for plan, result in results:
            verb = "→".join(result.attempts) if len(result.attempts) > 1 else result.action
            outcome = "verified" if result.ok else "FAILED"
            self.record(
                verb,
                plan.outpost_name,
                result.ok,
                f"{outcome} in {result.seconds:.1f}s: {result.detail}",
            )
        self.action_refresh_now()


__all__ = ["ActionRecord", "FixMixin", "FixPlan", "confirm_lines", "plan_for"]
