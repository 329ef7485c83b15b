"""The aktui control panel: one App, data refreshed by workers, screens reading ``AppData``.

All I/O runs in workers: the authentik snapshot in an exclusive async worker (a slow API never
stacks requests), container state in a thread worker (the docker SDK blocks). A failed refresh
keeps the last good data on screen, marked stale with its age; the UI stays usable whatever
is down.

Cold start puts the first complete frame first: the demo lab's API is up before the app
starts (run_app) and the table fills in while its outpost processes come up (a thread waits
for them, then everything is read again); docker discovery waits for the first data frame (its
SDK import and connects would compete with the fetch and the drawing), and one API client per
app loop keeps its connections.

A refresh with data on screen (the key, the timer) puts the API's update first too: container
state and evidence are read once the new snapshot's frame is drawn, not during the fetch, where
their thread (docker SDK, log reads) would hold the GIL the client and the UI need. Until then
the rows keep the container state last read, never one not read.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from aktui.actions import Command, apply_keymap, check_keymap, for_scope
from aktui.backend import Backend
from aktui.errors import AktuiError
from aktui.outposts.evidence import read_evidence
from aktui.outposts.verdicts import AppData, compute_verdicts
from aktui.runtime import tell_outposts
from aktui.screens._fixing import ActionRecord, FixMixin, Progress
from aktui.screens._keys import action_name, bindings
from aktui.screens.palette import RegistryCommands
from aktui.screens.widgets.text import describe

if TYPE_CHECKING:
    from aktui.authentik.model import Snapshot
    from aktui.runtime import ContainerInfo

Clock = Callable[[], datetime]
# A worker that ran to its end (a cancelled one was replaced by another of its group, which
# ends later, or the app is closing).
_ENDED = (WorkerState.SUCCESS, WorkerState.ERROR)


# The longest the start may run with the garbage collector paused (seconds).
GC_PAUSE_LIMIT = 10.0
# Seconds the app waits at mount for a first snapshot about to arrive (see on_mount).
FIRST_DATA_GRACE = 0.05
# The collector's generation thresholds while the app runs (CPython's default: 700, 10, 10).
# A log flood (5,000 lines/s) allocates containers fast and keeps the newest lines: with 700 the
# young lines were promoted within milliseconds, the old generation grew, and full collections
# of the whole heap came every second, up to 140 ms each on the UI thread (measured with
# gc.callbacks: 23 in 20 s). With 10,000, short-lived objects die young and there was one.
GC_THRESHOLDS = (10_000, 10, 10)
# Seconds after a log view closes before the heap is settled again (release_heap).
RESETTLE_DELAY = 1.0


class AktuiApp(FixMixin, App[int]):
    # Textual 8 never loads the CSS_PATH of the screen get_default_screen() returns (only of
    # pushed screens and MODES): the dashboard's stylesheet is loaded with the app's.
    CSS_PATH = ["../styles/app.tcss", "../styles/dashboard.tcss"]
    TITLE = "aktui"
    BINDINGS = bindings("global")
    COMMANDS = App.COMMANDS | {RegistryCommands}
    ENABLE_COMMAND_PALETTE = True

    data: var[AppData] = var(AppData, always_update=True)
    # Bumped when a fix starts, changes phase or ends, and every second while one runs:
    # screens showing progress re-render on it.
    progress: var[int] = var(0, always_update=True)

    def _fatal_error(self) -> None:
        # Textual's crash report prints every frame's locals; frames inside httpx hold the
        # Authorization header as plain bytes. Same report, without locals: no token on screen.
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        report = Traceback(show_locals=False, width=None)
        self._exit_renderables.append(Segments(self.console.render(report, self.console.options)))
        self._close_messages_no_wait()

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock | None = None,
        live_refresh: bool = True,
        first_snapshot: Callable[[], object] | None = None,
        first_ready: Callable[[float], bool] | None = None,
    ) -> None:
        """``first_snapshot``: blocking, gives the first fetch's result from elsewhere (run_app's
        helper process): a Snapshot, a one-line error, or None (fetch it here).
        ``first_ready(seconds)``: whether that result is there, waiting at most ``seconds``."""
        overrides = check_keymap(backend.config.keys, backend.config.source)
        super().__init__()
        self.backend = backend
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.live_refresh = live_refresh
        self.commands: tuple[Command, ...] = apply_keymap(overrides)
        self.history: list[ActionRecord] = []
        self.running: dict[str, Progress] = {}  # outpost pk -> its fix under way
        self._progress_timer: Any = None
        self.loading_since: float | None = None  # monotonic start of the fetch under way
        # Seconds a reload/restart has to show a fresh load before it counts as failed.
        self.verify_timeout = 20.0
        self._overrides = overrides
        self._api: Any = None  # the app loop's authentik client, built on first refresh
        self._first_snapshot = first_snapshot
        self._first_ready = first_ready
        self._lab_starting = False
        # Containers once the fetch under way is done: "replace" a read under way (as the key
        # does), "idle" only without one (as the timer does), "" not at all.
        self._containers_after_fetch = ""
        self._again: set[str] = set()  # worker groups to run again once the one under way ends
        self._fetch_after_containers = False  # the demo's outposts are up: API after containers
        self.startup_error = ""  # set when the demo lab fails to start; run_app exits 2
        self._settle_pending = False  # the first data is in: settle the heap once reads end
        self._froze_heap = False
        self._gc_thresholds: tuple[int, ...] = gc.get_threshold()

    # --- state ----------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return bool(self.backend.read_only)

    @property
    def context_name(self) -> str:
        return str(self.backend.name)

    def on_mount(self) -> None:
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        # run_app pauses the garbage collector for the start; the first data's end resumes it
        # (_settle_heap), and this timer does if that end never comes (an unreachable API).
        self.set_timer(GC_PAUSE_LIMIT, gc.enable, name="gc-resume")
        if self._overrides:
            self.set_keymap(self._overrides)
        self.title = f"aktui · {self.context_name}"
        if getattr(self.backend, "lab_pending", False):
            self._lab_starting = True
            self.notify(
                "starting demo lab: API simulator and outpost processes…",
                title="demo",
                markup=False,
            )
            self._start_lab()
        else:
            if self._first_ready is not None:
                # The helper fetches while the UI loads and usually answers about now: a moment
                # waited here (FIRST_DATA_GRACE at most) puts its data in the first frame, rather
                # than an empty first frame and the data in a second one (~60 ms later here).
                self._first_ready(FIRST_DATA_GRACE)
            self.action_refresh_now()
            if getattr(self.backend, "lab_starting", False):
                self._await_lab()
        if self.live_refresh:
            interval = max(0.5, float(self.backend.config.refresh_interval or 5.0))
            self.set_interval(interval, self._refresh_tick, name="refresh")

    def get_default_screen(self) -> Screen[Any]:
        from aktui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def running_labels(self) -> dict[str, str]:
        """Outpost pk -> ``⟳ restarting 12s`` for every fix under way."""
        return {pk: p.label(short=True) for pk, p in self.running.items()}

    def _progress_changed(self) -> None:
        if self.running and self._progress_timer is None:
            self._progress_timer = self.set_interval(1.0, self._progress_tick, name="progress")
        elif not self.running and self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None
        self.progress += 1

    def _progress_tick(self) -> None:
        self.progress += 1

    def _set_data(self, **changes: Any) -> None:
        data = replace(self.data, **changes)
        self.data = replace(data, verdicts=compute_verdicts(data, self.clock()))

    # --- workers --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="lab", exit_on_error=False, description="demo lab")
    def _start_lab(self) -> None:
        # No call_from_thread: the app may have quit meanwhile. The outcome arrives as
        # Worker.StateChanged; run_app's backend.close() waits for this, then stops the lab.
        self.backend.start_lab_api()

    @work(thread=True, exclusive=True, group="lab-up", exit_on_error=False, description="outposts")
    def _await_lab(self) -> None:
        # The lab's outposts answering; close() (run_app, on quit) stops the lab, ending this.
        self.backend.await_lab()

    def _lab_done(self, error: BaseException | None) -> None:
        """The lab's API is up (or failed to start): first fetch, then wait for its outposts."""
        self._lab_starting = False
        if error is not None:
            # Like any other startup error: one line on stderr, exit 2 (run_app prints it).
            self.startup_error = describe(error)
            self.exit(2)
            return
        self.clear_notifications()
        self.action_refresh_now()
        if getattr(self.backend, "lab_starting", False):
            self._await_lab()

    def _lab_up(self, error: BaseException | None) -> None:
        """The lab's outposts answer (or never came up): read containers and API again."""
        if error is not None:
            self.startup_error = describe(error)
            self.exit(2)
            return
        # Read again what was read before they answered: the containers first (their state
        # and the verdicts are what the dashboard waits for), then the API (connections). A
        # read under way finishes first (replacing it would throw its work away).
        if self.backend.runtime is None:
            self._fetch_again()
            return
        self._fetch_after_containers = True
        if "containers" in self._busy():
            self._again.add("containers")
        else:
            self._load_containers()

    def _fetch_again(self) -> None:
        if "refresh" in self._busy():
            self._again.add("refresh")
        else:
            # Once the frame is drawn: this is the app's first fetch of its own in the demo,
            # and its client's import (httpx, ~35 ms on this thread) would hold up the frame
            # with the first data in it.
            self.call_after_refresh(self._load_snapshot)

    def action_refresh_now(self) -> None:
        if self._lab_starting:
            return
        if self.backend.runtime is not None:
            if self._containers_wait():
                self._containers_after_fetch = "replace"
            else:
                self._load_containers()
        self._load_snapshot()

    def _containers_wait(self) -> bool:
        """Whether the containers are read after the fetch that is starting, not beside it."""
        if self.data.snapshot is not None:
            # An update: the rows are on screen, the API's changes are what the key asked for.
            # A thread listing containers and reading logs meanwhile holds the GIL the client
            # and the drawing need (~0.2 s later with 50 outposts); they follow its frame.
            return True
        # Nothing fetched yet, and discovery needs authentik's outpost names: docker's (SDK
        # import, daemon connects) waits for the first fetch instead of slowing it. The lab's
        # runtime knows its outposts and only waits on its processes: at once.
        runtime = self.backend.runtime
        return (
            self.data.last_ok is None and not self.data.error and hasattr(runtime, "set_outposts")
        )

    def _refresh_tick(self) -> None:
        """The timer's refresh: a fetch still in flight is left to finish, not restarted, so
        an API or daemon slower than the interval still delivers (and never stacks)."""
        if self._lab_starting:
            return
        busy = self._busy()
        has_runtime = self.backend.runtime is not None
        if "refresh" not in busy:
            if has_runtime and self._containers_wait():
                self._containers_after_fetch = self._containers_after_fetch or "idle"
            elif has_runtime and "containers" not in busy:
                self._load_containers()
            self._load_snapshot()
            return
        # The fetch in flight is slower than the interval: the containers no longer wait for
        # it (their state would age with the API's slowness), unless discovery needs its names.
        waits_for_names = self.data.snapshot is None and self._containers_after_fetch
        if has_runtime and "containers" not in busy and not waits_for_names:
            self._containers_after_fetch = ""
            self._load_containers()

    def _busy(self) -> set[str]:
        """The groups of the workers running now (refresh, containers, lab, lab-up, ...)."""
        return {w.group for w in self.workers if w.is_running}

    def _api_client(self) -> Any:
        """One client for the app's event loop: refreshes reuse its connections (and its TLS
        context) instead of building new ones every few seconds; closed on unmount."""
        if self._api is None:
            self._api = self.backend.client()
        return self._api

    def _maybe_settle_heap(self) -> None:
        """After the first data's reads (API, containers, the demo's lab) have all ended."""
        busy = self._busy()
        if self._settle_pending and not busy & {"refresh", "containers", "lab", "lab-up"}:
            self._settle_pending = False
            self.call_after_refresh(self._settle_heap)

    def _settle_heap(self) -> None:
        """Once the app is up: everything alive now (modules, widgets, styles, the first
        snapshot's records) moves out of the garbage collector's sight. Its full collections
        otherwise walk all of it again every few refreshes, 40-70 ms on the UI thread at 1000
        providers, often right inside a refresh. Collected first, so no garbage is kept;
        objects frozen still go when nothing refers to them. Once per process (tests run
        many apps), undone at exit."""
        try:
            if self._froze_heap or gc.get_freeze_count():
                return
            gc.collect()
            gc.freeze()
            self._froze_heap = True
        finally:
            gc.enable()  # run_app pauses it for the start (see there)

    def hold_heap(self) -> None:
        """A screen that floods the heap while open (the log view) moves everything alive now
        out of the collector's reach, as the settle does."""
        gc.freeze()

    def release_heap(self) -> None:
        """Undo hold_heap when that screen goes. The interpreter has one frozen set, so this
        thaws the settle's too; the app settles again a moment later, once the leaving
        screen's objects are garbage (else the dashboard's refreshes would walk the whole
        heap again after any visit to a log view)."""
        gc.unfreeze()
        if self._froze_heap:
            self._froze_heap = False
            self.set_timer(RESETTLE_DELAY, self._settle_heap, name="heap-settle")

    async def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_thresholds)  # the process's own, for whatever runs next
        if self._froze_heap:
            self._froze_heap = False
            gc.unfreeze()
        client, self._api = self._api, None
        if client is not None:
            await client.aclose()

    @work(exclusive=True, group="refresh", exit_on_error=False, description="authentik")
    async def _load_snapshot(self) -> None:
        self.loading_since = time.monotonic()
        first, self._first_snapshot = self._first_snapshot, None
        try:
            snapshot = await self._prefetched(first) if first is not None else None
            if isinstance(snapshot, str):  # the helper's fetch failed: as ours would have
                raise AktuiError(snapshot)
            if snapshot is None:
                snapshot = await self._api_client().snapshot()
        except Exception as e:
            self.loading_since = None
            self._set_data(error=describe(e))
        else:
            self.loading_since = None
            changes: dict[str, Any] = {}
            if self.data.containers and self.data.containers_for is None:
                # Listed beside this first fetch (the lab's runtime needs no names): for its
                # outposts, as a listing started with them would be.
                changes["containers_for"] = _outpost_names(snapshot)
            previous = self.data.snapshot
            self._set_data(
                snapshot=snapshot, previous=previous, last_ok=self.clock(), error="", **changes
            )
            self._settle_pending = self._settle_pending or previous is None
        if self._containers_after_fetch:  # after the data, so discovery sees the outposts
            how, self._containers_after_fetch = self._containers_after_fetch, ""
            # Once the data's frame is drawn: the docker SDK's import (~0.1 s, holding the
            # GIL in its thread), its connects and log reads would otherwise delay that frame.
            self.call_after_refresh(self._containers_after, how)

    def _containers_after(self, how: str) -> None:
        if how == "idle" and "containers" in self._busy():
            return  # the timer never stacks reads on a slow daemon; the one under way delivers
        self._load_containers()

    async def _prefetched(self, first: Callable[[], object]) -> Snapshot | str | None:
        import asyncio

        from aktui.authentik.model import Snapshot

        if self._first_ready is not None and self._first_ready(0):
            found = first()  # there already: read at once, before the first frame is drawn
        else:
            found = await asyncio.to_thread(first)
        return found if isinstance(found, (Snapshot, str)) else None

    @work(thread=True, exclusive=True, group="containers", exit_on_error=False)
    def _load_containers(self) -> None:
        runtime = self.backend.runtime
        if runtime is None:  # a context switch to one without docker_hosts since the call
            return
        snap = self.data.snapshot
        looked_for = None
        if snap is not None:
            # Lets docker discovery map labels and names to authentik's outposts.
            tell_outposts(runtime, [(o.pk, o.name) for o in snap.outposts])
            looked_for = _outpost_names(snap)
        try:
            containers = tuple(runtime.containers())
        except Exception as e:
            self.call_from_thread(self._set_data, containers_error=describe(e))
            return
        self.call_from_thread(self._containers_listed, containers, looked_for)
        # Load evidence (recent log lines, metric) decides staleness; it takes a moment per
        # container, so the container state above is shown first.
        evidence = read_evidence(runtime, containers, get_current_worker())
        if evidence is not None:
            self.call_from_thread(self._set_data, evidence=evidence)

    def _containers_listed(
        self, containers: tuple[ContainerInfo, ...], looked_for: frozenset[str] | None
    ) -> None:
        snap = self.data.snapshot
        if looked_for is None and snap is not None:
            # Listed beside the first fetch, which came in meanwhile: for its outposts.
            looked_for = _outpost_names(snap)
        self._set_data(containers=containers, containers_error="", containers_for=looked_for)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group in ("lab", "lab-up"):
            done = self._lab_done if group == "lab" else self._lab_up
            if event.state == WorkerState.SUCCESS:
                done(None)
            elif event.state == WorkerState.ERROR:
                done(event.worker.error)
            return
        if group in self._again and event.state in _ENDED:
            self._again.discard(group)
            if group == "refresh":
                self._fetch_again()
            elif group == "containers" and not self._containers_after_fetch:
                self._load_containers()
        elif group == "containers" and event.state in _ENDED and self._fetch_after_containers:
            self._fetch_after_containers = False
            self._fetch_again()
        # Workers catch what they expect; anything else is a bug, shown but never fatal.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(describe(event.worker.error), title="error", severity="error", markup=False)
        if event.state in _ENDED:
            self._maybe_settle_heap()

    # --- navigation -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in getattr(self.screen, "SHADOWED", ()):
            return False  # the log view keeps these keys for itself (k9s/Toolong habits)
        for c in for_scope("global", self.commands):
            if action_name(c) == action and c.mutates and self.read_only:
                return None
        return True

    async def action_back(self) -> None:
        handle_back = getattr(self.screen, "handle_back", None)
        if handle_back is not None and handle_back():
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_back_or_quit(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.exit(0)

    def _base_screens(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_goto(self, name: str) -> None:
        from aktui.screens.providers import ApplicationsScreen, ProvidersScreen

        self._base_screens()
        if name == "providers":
            self.push_screen(ProvidersScreen())
        elif name == "applications":
            self.push_screen(ApplicationsScreen())

    def action_show_help(self) -> None:
        from aktui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_show_history(self) -> None:
        from aktui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_switch_context(self) -> None:
        from aktui.screens.context import ContextScreen

        names = list(self.backend.config.contexts)
        if len(names) < 2:
            self.notify(
                f"only one context configured ({self.context_name}); add more under contexts:",
                title="context",
                markup=False,
            )
            return
        self.push_screen(ContextScreen(names, self.context_name), self._context_chosen)

    def _context_chosen(self, name: str | None) -> None:
        if name and name != self.context_name:
            self._open_context(name)

    @work(thread=True, exclusive=True, group="context", exit_on_error=False)
    def _open_context(self, name: str) -> None:
        from aktui.backend import open_backend

        source = self.backend.config.source
        try:
            backend = open_backend(
                None if source.startswith("<") else source, name, read_only=self.read_only
            )
        except Exception as e:
            self.call_from_thread(
                self.notify, describe(e), title="context", severity="error", markup=False
            )
            return
        self.call_from_thread(self._swap_backend, backend)

    def _swap_backend(self, backend: Backend) -> None:
        old, self.backend = self.backend, backend
        old.close()
        client, self._api = self._api, None
        if client is not None:
            # The old context's connections; a fetch using them was cancelled by the refresh.
            self.run_worker(client.aclose(), exit_on_error=False)
        self.data = AppData()
        self.title = f"aktui · {self.context_name}"
        self.record("context", self.context_name, True, f"switched to context {self.context_name}")
        self.action_refresh_now()

    def action_show_snippets(self) -> None:
        from aktui.screens.snippets import SnippetsScreen

        self._open_once(SnippetsScreen)

    def action_show_push(self) -> None:
        # Read-only still shows the diffs (a dry run); only "apply" is refused there.
        from aktui.screens.push import PushScreen

        self._open_once(PushScreen)

    def action_show_doctor(self) -> None:
        from aktui.screens.doctor import DoctorScreen

        self._open_once(DoctorScreen)

    def _open_once(self, screen_class: type[Screen[Any]]) -> None:
        """Pressed twice (or from a screen above it): back to the open one, never a copy."""
        if any(isinstance(screen, screen_class) for screen in self.screen_stack):
            while not isinstance(self.screen, screen_class):
                self.pop_screen()
            return
        self.push_screen(screen_class())

    def _command(self, cid: str) -> Command:
        return next(c for c in self.commands if c.id == cid)


def _outpost_names(snapshot: Snapshot) -> frozenset[str]:
    """The outposts a container listing is for (AppData.containers_for)."""
    return frozenset(o.name for o in snapshot.outposts)
