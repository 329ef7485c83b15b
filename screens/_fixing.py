"""Reload/restart outposts from the UI: plan, confirm, act in a thread, report, remember.

Reload (SIGUSR1) is the default fix: the outpost re-reads its config and keeps its sessions.
Restart is chosen when the container is not running or unhealthy, or asked for explicitly; the
confirmation then says that users are logged out. Fixes that cannot help are refused up front
(the embedded outpost has no container; an outpost whose config fetch fails needs its token
fixed, and a restart would only log its users out).

A fix can take 50 s (reload, 20 s wait, restart, 30 s): from the moment it is confirmed its
row, the status bar and a "running" history row show the phase and the seconds, a second fix
of the same outpost is refused, and each outpost's result is reported as it finishes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work

from aktui.authentik.model import Outpost
from aktui.outposts.targets import fix_blocker
from aktui.outposts.verdicts import runtime_name
from aktui.screens.widgets.text import describe, literal, plain

if TYPE_CHECKING:
    from textual.app import App

    from aktui.actions import Command
    from aktui.backend import Backend
    from aktui.outposts.verdicts import AppData

    # FixMixin is only ever mixed into AktuiApp, an App: the type checker sees the App methods
    # it calls (notify, push_screen, call_from_thread), the runtime MRO stays AktuiApp's.
    _AppBase = App[int]
else:
    _AppBase = object

# Docker daemons handle a few concurrent restarts well; more only queue on the daemon.
MAX_PARALLEL = 4


@dataclass(frozen=True, slots=True)
class ActionRecord:
    at: datetime
    action: str  # "reload", "restart", "context", ...
    target: str
    ok: bool
    message: str
    running: bool = False  # under way: ``ok`` means nothing yet


@dataclass(frozen=True, slots=True)
class FixPlan:
    outpost_pk: str
    outpost_name: str
    target: str  # what the runtime acts on: container name, else the outpost name
    host: str
    mode: str  # "reload" or "restart"
    reason: str


@dataclass(slots=True)
class Progress:
    """One outpost's fix under way (UI thread only)."""

    plan: FixPlan
    phase: str  # "reloading", "restarting"
    started: float  # time.monotonic()
    record: int  # index of its "running" row in the history

    def label(self, now: float | None = None, *, short: bool = False) -> str:
        """``⟳ restarting 12s``; ``short`` (a table cell at 80 columns): ``⟳ restart 12s``."""
        seconds = int((now if now is not None else time.monotonic()) - self.started)
        phase = self.phase.removesuffix("ing") if short else self.phase
        return f"⟳ {phase} {seconds}s"


class PhaseRuntime:
    """The runtime, telling the UI which step of a fix is running (reload, then restart)."""

    def __init__(self, runtime: Any, on_phase: Callable[[str, str], None]) -> None:
        self._runtime = runtime
        self._on_phase = on_phase

    def reload(self, name: str) -> Any:
        self._on_phase(name, "reloading")
        return self._runtime.reload(name)

    def restart(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._on_phase(name, "restarting")
        return self._runtime.restart(name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


def plan_for(app: FixMixin, outpost: Outpost, *, force_restart: bool = False) -> FixPlan:
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
    """One line per outpost, then one explanation shared by all of them."""
    lines: list[Text] = []
    for p in plans:
        line = Text.assemble(
            (f"{p.mode:<8}", "bold"),
            literal(p.outpost_name, "bold"),
            ("  on ", "dim"),
            literal(p.host if p.target == p.outpost_name else f"{p.target}"),
            no_wrap=True,
            overflow="ellipsis",
        )
        if p.reason:
            line.append("  stale: ", "dim")
            line.append_text(literal(p.reason))
        lines.append(line)
    lines.append(Text(""))
    if any(p.mode == "reload" for p in plans):
        lines.append(
            Text.assemble(
                ("reload", "bold"),
                ": SIGUSR1, the outpost re-reads its config from authentik; users stay signed "
                f"in. If no fresh load shows within {verify_timeout:g}s, aktui restarts it and "
                "its users are logged out.",
            )
        )
    if any(p.mode == "restart" for p in plans):
        lines.append(
            Text.assemble(
                ("restart", "bold"),
                ": users signed in through it are logged out (standalone outposts keep "
                "sessions in memory).",
                style="bold",
            )
        )
    return lines


class FixMixin(_AppBase):
    """App side of outpost actions (mixed into AktuiApp)."""

    history: list[ActionRecord]
    running: dict[str, Progress]

    if TYPE_CHECKING:
        # What the mixin uses of AktuiApp, which defines all of it.
        backend: Backend
        data: AppData
        verify_timeout: float

        def clock(self) -> datetime: ...
        @property
        def read_only(self) -> bool: ...
        def _command(self, cid: str) -> Command: ...
        def _progress_changed(self) -> None: ...
        def action_refresh_now(self) -> None: ...

    def record(self, action: str, target: str, ok: bool, message: str) -> None:
        self.history.append(ActionRecord(self.clock(), action, target, ok, plain(message)))
        self._notify_result(action, target, ok, message)

    def _notify_result(self, action: str, target: str, ok: bool, message: str) -> None:
        self.notify(
            plain(message),
            title=f"{action} {plain(target)}",
            severity="information" if ok else "error",
            markup=False,
            timeout=6,
        )

    def request_fix(self, outposts: Sequence[Outpost], *, force_restart: bool = False) -> None:
        from aktui.screens._keys import refusal
        from aktui.screens.confirm import ConfirmScreen

        if self.read_only:
            self.notify(refusal(self._command("outposts.fix")), severity="warning", markup=False)
            return
        if not outposts:
            self.notify("no stale outpost to fix", title="fix", markup=False)
            return
        outposts = self._fixable(outposts)
        if not outposts:
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
        plans = [plan_for(self, o, force_restart=force_restart) for o in outposts]
        title = (
            f"{plans[0].mode.capitalize()} {plain(plans[0].outpost_name)}?"
            if len(plans) == 1
            else f"Fix {len(plans)} outposts?"
        )
        danger = any(p.mode == "restart" for p in plans)

        def go(confirmed: bool | None) -> None:
            if confirmed:
                # Checked again: another fix may have started while the dialog was open.
                ready = [p for p in plans if p.outpost_pk not in self.running]
                self._refuse_running([p.outpost_pk for p in plans if p not in ready])
                if ready:
                    self._start_fixes(ready)

        lines = confirm_lines(plans, self.verify_timeout)
        self.push_screen(ConfirmScreen(title, lines, danger=danger), go)

    def _fixable(self, outposts: Sequence[Outpost]) -> list[Outpost]:
        """The outposts a reload/restart can help; the others are explained and dropped."""
        ok: list[Outpost] = []
        busy: list[str] = []
        for o in outposts:
            blocker = fix_blocker(o, self.data.evidence.get(o.name))
            if o.pk in self.running:
                busy.append(o.pk)
            elif blocker:
                self.notify(
                    plain(f"{o.name}: {blocker}"),
                    title="a reload or restart cannot help",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )
            else:
                ok.append(o)
        self._refuse_running(busy)
        return ok

    def _refuse_running(self, pks: Sequence[str]) -> None:
        for pk in pks:
            progress = self.running[pk]
            self.notify(
                plain(
                    f"{progress.plan.outpost_name}: {progress.label()[2:]} already; "
                    "its result shows when it finishes"
                ),
                title="already running",
                severity="warning",
                markup=False,
            )

    def _start_fixes(self, plans: list[FixPlan]) -> None:
        start = time.monotonic()
        for p in plans:
            self.history.append(
                ActionRecord(self.clock(), p.mode, p.outpost_name, False, "running…", True)
            )
            phase = "reloading" if p.mode == "reload" else "restarting"
            self.running[p.outpost_pk] = Progress(p, phase, start, len(self.history) - 1)
        self._progress_changed()
        self._run_fixes(plans)

    def _set_phase(self, target: str, phase: str) -> None:
        for progress in self.running.values():
            if progress.plan.target == target and progress.phase != phase:
                progress.phase = phase
                self._progress_changed()

    @work(thread=True, group="actions", exit_on_error=False, description="outpost actions")
    def _run_fixes(self, plans: list[FixPlan]) -> None:
        from aktui.outposts.fixes import ActionResult, OutpostActions

        def on_phase(target: str, phase: str) -> None:
            self.call_from_thread(self._set_phase, target, phase)

        actions = OutpostActions(
            PhaseRuntime(self.backend.runtime, on_phase),
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

        # Each result is reported as it arrives: one slow restart does not hold back the rest.
        reported: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
                futures = {pool.submit(one, p): p for p in plans}
                for future in as_completed(futures):
                    plan = futures[future]
                    self.call_from_thread(self._fix_done, plan, future.result())
                    reported.add(plan.outpost_pk)
        finally:
            # Whatever broke, no outpost stays "running" (and refused) for the session.
            for plan in plans:
                if plan.outpost_pk not in reported:
                    lost = ActionResult(
                        plan.target,
                        plan.mode,
                        False,
                        "no result: the action was interrupted",
                        self.clock(),
                        0.0,
                    )
                    with contextlib.suppress(Exception):  # the app may be closing
                        self.call_from_thread(self._fix_done, plan, lost)

    def _fix_done(self, plan: FixPlan, result: Any) -> None:
        progress = self.running.pop(plan.outpost_pk, None)
        verb = "→".join(result.attempts) if len(result.attempts) > 1 else result.action
        outcome = "verified" if result.ok else "FAILED"
        message = plain(f"{outcome} in {result.seconds:.1f}s: {result.detail}")
        done = ActionRecord(self.clock(), verb, plan.outpost_name, result.ok, message)
        if progress is not None and progress.record < len(self.history):
            self.history[progress.record] = done
        else:
            self.history.append(done)
        self._notify_result(verb, plan.outpost_name, result.ok, message)
        self._progress_changed()
        self.action_refresh_now()


__all__ = [
    "ActionRecord",
    "FixMixin",
    "FixPlan",
    "PhaseRuntime",
    "Progress",
    "confirm_lines",
    "plan_for",
]
