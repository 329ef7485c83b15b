"""Cold start: the demo lab's API is up before the UI and its outposts fill in while the UI
runs, the lab always stops, docker discovery waits for the first data frame, and one API client
serves every refresh of an app and is closed at exit."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import Any

import pytest

from aktui.backend import open_demo
from aktui.cmd import tui
from aktui.errors import AktuiError
from aktui.screens import app as app_module
from aktui.screens.capture import screen_text
from tests.fixtures.app import FakeBackend, FakeRuntime, make_app, settle


class LabBackend(FakeBackend):
    """A demo backend whose lab API starts when the test opens ``lab_gate`` and whose
    outposts answer when it opens ``up_gate``."""

    def __init__(
        self,
        fail: Exception | None = None,
        *,
        api_up: bool = False,
        up_fail: Exception | None = None,
    ) -> None:
        super().__init__()
        self.lab_pending = not api_up
        self.lab_starting = api_up
        self.lab_gate = threading.Event()
        self.up_gate = threading.Event()
        self.lab_fail = fail
        self.up_fail = up_fail

    def start_lab_api(self) -> None:
        assert self.lab_gate.wait(10), "the test never opened the lab gate"
        if self.lab_fail is not None:
            raise self.lab_fail
        self.lab_pending = False
        self.lab_starting = True

    def await_lab(self) -> None:
        assert self.up_gate.wait(10), "the test never opened the up gate"
        if self.up_fail is not None:
            raise self.up_fail
        self.lab_starting = False


class FakeLab:
    """``aktui.lab.Lab``'s two-phase lifecycle: ``start_api`` held until ``gate`` opens,
    ``await_outposts`` until ``up`` opens or ``stop()`` is called (as the real one); and
    ``LabHost``'s ``launch()``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.up = threading.Event()
        self.stopped = threading.Event()
        self.events: list[str] = []
        self.url = "http://127.0.0.1:9"
        self.token = "lab-token"
        self.runtime: Any = None

    def launch(self) -> FakeLab:
        self.events.append("launch")
        return self

    def start_api(self) -> FakeLab:
        self.events.append("start")
        assert self.gate.wait(10), "the test never opened the gate"
        self.runtime = FakeRuntime()
        self.events.append("started")
        return self

    def await_outposts(self) -> FakeLab:
        deadline = time.monotonic() + 10
        while not (self.up.is_set() or self.stopped.is_set()):
            assert time.monotonic() < deadline, "neither up nor stopped"
            time.sleep(0.01)
        self.events.append("up" if not self.stopped.is_set() else "wait ended")
        return self

    def stop(self) -> None:
        self.events.append("stop")
        self.stopped.set()


async def until(pilot: Any, check: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


async def test_ui_is_up_before_a_pending_lab() -> None:
    backend = LabBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "starting demo lab" in text
        assert "loading…" in text
        await pilot.press("ctrl+r")  # no fetch from a lab that is not listening yet
        app._refresh_tick()
        assert backend.fetches == 0
        backend.lab_gate.set()
        await until(pilot, lambda: app.data.snapshot is not None, "the first snapshot")
        await until(pilot, lambda: "outpost-example-dev" in screen_text(app), "the rows")
        assert "starting demo lab" not in screen_text(app)
        assert backend.fetches == 1
        backend.up_gate.set()  # its outposts answer: everything is read again
        await until(pilot, lambda: backend.fetches == 2, "the fetch after the outposts")
        await settle(app, pilot)


async def test_table_fills_in_while_the_outposts_start() -> None:
    runtime = LabLikeRuntime()  # knows its outposts: listed at once, not after the fetch
    backend = LabBackend(api_up=True)
    backend.runtime = runtime
    backend.gate = asyncio.Event()  # holds the first fetch
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: backend.fetches == 1, "the first fetch, at once")
        await until(pilot, lambda: runtime.listed == 1, "the containers, at once")
        backend.up_gate.set()  # the outposts answer while the first fetch is under way
        await until(pilot, lambda: runtime.listed == 2, "the containers read again")
        await pilot.pause(0.05)
        assert backend.fetches == 1  # the fetch under way is not thrown away...
        backend.gate.set()
        await until(pilot, lambda: backend.fetches == 2, "...but followed by another")
        await settle(app, pilot)
        assert app.data.snapshot is not None
        assert "outpost-example-dev" in screen_text(app)


@pytest.mark.parametrize("phase", ["api", "outposts"])
async def test_lab_failure_is_a_startup_error(phase: str) -> None:
    error = AktuiError("demo lab: port 9001 refused")
    backend = LabBackend(fail=error) if phase == "api" else LabBackend(up_fail=error)
    backend.lab_gate.set()
    backend.up_gate.set()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.return_value is not None, "the app to exit")
    assert app.return_value == 2
    assert app.startup_error == "demo lab: port 9001 refused"


def test_run_app_prints_a_lab_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = LabBackend()
    backend.lab_gate.set()
    lab = FakeLab()
    monkeypatch.setattr("aktui.lab.LabHost", lambda **kw: lab)
    # A backend that does not take the launched lab over: run_app stops it all the same.
    monkeypatch.setattr("aktui.backend.open_demo", lambda **kw: backend)

    def run(self: Any, **kw: Any) -> int:
        self.startup_error = "demo lab: port 9001 refused"
        return 2

    monkeypatch.setattr(app_module.AktuiApp, "run", run)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 2
    assert capsys.readouterr().err == "aktui: demo lab: port 9001 refused\n"
    assert backend.closed
    assert lab.events == ["launch", "stop"]


def test_run_app_lab_api_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = LabBackend(fail=AktuiError("demo lab: no free port"))
    backend.lab_gate.set()
    lab = FakeLab()
    monkeypatch.setattr("aktui.lab.LabHost", lambda **kw: lab)
    monkeypatch.setattr("aktui.backend.open_demo", lambda **kw: backend)
    monkeypatch.setattr(app_module.AktuiApp, "run", lambda self, **kw: 0)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 2
    assert capsys.readouterr().err == "aktui: demo lab: no free port\n"
    assert backend.closed
    assert lab.events == ["launch", "stop"]


async def test_quit_while_the_lab_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = FakeLab()
    monkeypatch.setattr("aktui.lab.Lab", lambda **kw: lab)
    backend = open_demo(start=False)
    assert backend.lab_pending
    app = app_module.AktuiApp(backend, live_refresh=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: lab.events == ["start"], "the lab to start")
        await pilot.press("q")
    assert lab.events == ["start"]  # still starting when the app is gone
    # run_app's finally: close() waits for the start in progress, then stops the lab.
    closer = threading.Thread(target=backend.close)
    closer.start()
    lab.gate.set()
    closer.join(10)
    assert lab.events[:3] == ["start", "started", "stop"]
    assert backend.lab is None
    backend.start_lab()  # after close: never starts again
    assert "start" not in lab.events[3:]


async def test_quit_while_the_outposts_start_stops_the_lab(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab = FakeLab()
    lab.gate.set()
    monkeypatch.setattr("aktui.lab.Lab", lambda **kw: lab)
    backend = open_demo(start=False)
    backend.start_lab_api()
    assert backend.lab_starting
    app = app_module.AktuiApp(backend, live_refresh=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert [w for w in app.workers if w.group == "lab-up" and w.is_running]
        await pilot.press("q")
    start = time.monotonic()
    backend.close()  # run_app's finally: stops the lab, which ends the wait at once
    assert time.monotonic() - start < 5
    await asyncio.sleep(0.05)
    assert lab.events[:3] == ["start", "started", "stop"]
    assert "wait ended" in lab.events or "up" not in lab.events


def test_run_app_starts_the_lab_api_before_the_ui_and_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TUI's lab runs in its own process (LabHost), launched first."""
    lab = FakeLab()
    lab.gate.set()
    monkeypatch.setattr("aktui.lab.LabHost", lambda **kw: lab)
    monkeypatch.setattr("aktui.lab.Lab", None)  # not this one
    seen: list[list[str]] = []

    def run(self: Any, **kw: Any) -> int:
        seen.append(list(lab.events))
        return 0

    monkeypatch.setattr(app_module.AktuiApp, "run", run)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 0
    assert seen == [["launch", "start", "started"]]  # the API was up when the UI started
    # stopped by the backend and once more by run_app (stop is idempotent), nothing after
    assert lab.events[:4] == ["launch", "start", "started", "stop"]
    assert set(lab.events[4:]) <= {"stop"}


def test_started_demo_backend_has_the_lab_context(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = FakeLab()
    lab.gate.set()
    lab.up.set()
    monkeypatch.setattr("aktui.lab.Lab", lambda **kw: lab)
    backend = open_demo()
    try:
        assert not backend.lab_pending
        assert not backend.lab_starting
        assert backend.context.url == lab.url
        assert backend.config.contexts == {"demo": backend.context}
        assert backend.runtime is lab.runtime
        assert backend.client().url == lab.url
    finally:
        backend.close()
    assert lab.events == ["start", "started", "up", "stop"]


class LabLikeRuntime(FakeRuntime):
    """Counts its listings (the lab's runtime: no outpost names needed)."""

    def __init__(self) -> None:
        super().__init__()
        self.listed = 0

    def containers(self) -> list[Any]:
        self.listed += 1
        return super().containers()


class DockerLikeRuntime(FakeRuntime):
    """A runtime whose discovery maps containers by authentik's outpost names (as docker's)."""

    def __init__(self) -> None:
        super().__init__()
        self.outposts: list[tuple[str, str]] = []
        self.listed = 0

    def set_outposts(self, outposts: list[tuple[str, str]]) -> None:
        self.outposts = outposts

    def containers(self) -> list[Any]:
        self.listed += 1
        return super().containers()


async def test_docker_discovery_waits_for_the_first_fetch() -> None:
    runtime = DockerLikeRuntime()
    backend = FakeBackend(runtime=runtime)
    backend.gate = asyncio.Event()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: backend.fetches == 1, "the first fetch")
        await pilot.pause()
        assert runtime.listed == 0
        assert not [w for w in app.workers if w.group == "containers"]
        backend.gate.set()
        await settle(app, pilot)
        assert runtime.listed == 1
        assert len(runtime.outposts) == 3  # discovery already knew authentik's outposts
        assert app.data.containers


async def test_lab_like_runtime_lists_containers_during_the_first_fetch() -> None:
    backend = FakeBackend()  # FakeRuntime, like the lab's, needs no outpost names
    backend.gate = asyncio.Event()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.data.containers, "the containers")
        assert app.data.snapshot is None
        backend.gate.set()
        await settle(app, pilot)
        assert app.data.snapshot is not None


async def test_one_client_for_every_refresh_closed_at_exit() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.action_refresh_now()
        await settle(app, pilot)
        app._refresh_tick()
        await settle(app, pilot)
        assert backend.fetches == 3
        assert len(backend.clients) == 1
        assert not backend.clients[0].closed
    assert backend.clients[0].closed


def _app_with_first(backend: FakeBackend, first: Any, ready: Any = None) -> Any:
    from tests.fixtures.app import NOW

    return app_module.AktuiApp(
        backend, clock=lambda: NOW, live_refresh=False, first_snapshot=first, first_ready=ready
    )


@pytest.mark.parametrize("there", [True, False])
async def test_a_first_snapshot_about_to_arrive_is_waited_for_briefly_at_mount(
    there: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The helper usually answers while the app mounts: the app waits a moment (at most
    # FIRST_DATA_GRACE) so its data is in the first frame, and reads an answer that is there
    # at once (no thread); one that is not is awaited in a thread, as before.
    import asyncio

    backend = FakeBackend()
    asked: list[float] = []
    threads: list[object] = []

    def ready(seconds: float) -> bool:
        asked.append(seconds)
        return there

    real_to_thread = asyncio.to_thread

    async def to_thread(fn: Any, *args: Any) -> Any:
        threads.append(fn)
        return await real_to_thread(fn, *args)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    app = _app_with_first(backend, lambda: backend.snapshot, ready)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert asked[0] == app_module.FIRST_DATA_GRACE  # at mount, bounded
        assert backend.fetches == 0 and app.data.snapshot == backend.snapshot
        assert (len(threads) == 0) is there


async def test_first_snapshot_from_the_helper_replaces_the_first_fetch() -> None:
    backend = FakeBackend()
    app = _app_with_first(backend, lambda: backend.snapshot)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert backend.fetches == 0
        assert app.data.snapshot == backend.snapshot
        assert "outpost-example-dev" in screen_text(app)
        app.action_refresh_now()  # later refreshes are the app's own
        await settle(app, pilot)
        assert backend.fetches == 1


async def test_helper_error_reads_as_the_apps_own_fetch_error() -> None:
    from aktui.errors import describe_error
    from tests.fixtures.app import unreachable

    own = FakeBackend()
    own.fail = unreachable()
    app = make_app(own)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        expected = app.data.error
    assert expected
    backend = FakeBackend()
    app = _app_with_first(backend, lambda: describe_error(unreachable()))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert backend.fetches == 0
        assert app.data.error == expected


@pytest.mark.parametrize("gives", [None, 42])
async def test_helper_without_an_answer_means_the_app_fetches(gives: object) -> None:
    backend = FakeBackend()
    app = _app_with_first(backend, lambda: gives)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert backend.fetches == 1
        assert app.data.snapshot is not None


def test_run_app_stops_the_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    from aktui.cmd import _prefetch

    made: list[Any] = []

    class Helper:
        def __init__(self, config: str | None, context: str | None) -> None:
            self.args = (config, context)
            self.stopped = False
            made.append(self)

        def result(self, timeout: float) -> None:
            return None

        def done(self, seconds: float) -> bool:
            return True

        def stop(self) -> None:
            self.stopped = True

    backend = FakeBackend()
    monkeypatch.setattr(_prefetch, "Prefetch", Helper)
    monkeypatch.setattr("aktui.backend.open_backend", lambda *a, **kw: backend)
    monkeypatch.setattr(app_module.AktuiApp, "run", lambda self, **kw: 0)
    args = argparse.Namespace(config="/x/config.yaml", context="lab", read_only=False, demo=False)
    assert tui.run_app(args) == 0
    assert [h.args for h in made] == [("/x/config.yaml", "lab")]
    assert made[0].stopped and backend.closed


async def test_outposts_up_reads_containers_before_the_api() -> None:
    # Their state and verdicts are what the dashboard waits for; connections come after.
    backend = LabBackend(api_up=True)
    seen: list[int] = []  # fetches so far at each container listing

    class Runtime(LabLikeRuntime):
        def containers(self) -> list[Any]:
            seen.append(backend.fetches)
            return super().containers()

    backend.runtime = Runtime()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: backend.fetches == 1 and seen, "the first reads")
        await until(
            pilot,
            lambda: (
                not [
                    w for w in app.workers if w.is_running and w.group in ("refresh", "containers")
                ]
            ),
            "them to end",
        )
        backend.up_gate.set()
        await until(pilot, lambda: backend.fetches == 2, "the API read again")
        await settle(app, pilot)
    assert seen == [0, 1] or seen == [1, 1]  # the second listing came before the second fetch


def test_run_app_stops_a_launched_lab_when_the_backend_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lab's process is launched before the backend is opened: if opening fails, the lab
    is stopped all the same."""
    lab = FakeLab()
    monkeypatch.setattr("aktui.lab.LabHost", lambda **kw: lab)

    def fail(**kw: Any) -> None:
        raise AktuiError("demo: broken")

    monkeypatch.setattr("aktui.backend.open_demo", fail)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 2
    assert capsys.readouterr().err == "aktui: demo: broken\n"
    assert lab.events == ["launch", "stop"]
