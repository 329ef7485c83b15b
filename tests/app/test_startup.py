"""Cold start: the UI is up before the demo lab, the lab always stops, containers wait for the
first fetch, and one API client serves every refresh of an app and is closed at exit."""

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
    """A demo backend whose lab starts when the test opens ``lab_gate``."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__()
        self.lab_pending = True
        self.lab_gate = threading.Event()
        self.lab_fail = fail

    def start_lab(self) -> None:
        assert self.lab_gate.wait(10), "the test never opened the lab gate"
        if self.lab_fail is not None:
            raise self.lab_fail
        self.lab_pending = False


class FakeLab:
    """``aktui.lab.Lab``'s lifecycle, its start held until ``gate`` opens."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.events: list[str] = []
        self.url = "http://127.0.0.1:9"
        self.token = "lab-token"
        self.runtime: Any = None

    def start(self) -> FakeLab:
        self.events.append("start")
        assert self.gate.wait(10), "the test never opened the gate"
        self.runtime = FakeRuntime()
        self.events.append("started")
        return self

    def stop(self) -> None:
        self.events.append("stop")


async def until(pilot: Any, check: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


async def test_ui_is_up_before_the_lab() -> None:
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
        await settle(app, pilot)
        text = screen_text(app)
        assert "outpost-example-dev" in text
        assert "starting demo lab" not in text
        assert backend.fetches == 1


async def test_lab_failure_is_a_startup_error() -> None:
    backend = LabBackend(fail=AktuiError("demo lab: port 9001 refused"))
    backend.lab_gate.set()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.return_value is not None, "the app to exit")
    assert app.return_value == 2
    assert app.startup_error == "demo lab: port 9001 refused"


def test_run_app_prints_a_lab_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = LabBackend()
    monkeypatch.setattr("aktui.backend.open_demo", lambda **kw: backend)

    def run(self: Any, **kw: Any) -> int:
        self.startup_error = "demo lab: port 9001 refused"
        return 2

    monkeypatch.setattr(app_module.AktuiApp, "run", run)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 2
    assert capsys.readouterr().err == "aktui: demo lab: port 9001 refused\n"
    assert backend.closed


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
    assert lab.events == ["start", "started", "stop"]
    assert backend.lab is None
    backend.start_lab()  # after close: never starts again
    assert lab.events == ["start", "started", "stop"]


def test_quit_before_the_lab_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = FakeLab()
    monkeypatch.setattr("aktui.lab.Lab", lambda **kw: lab)
    monkeypatch.setattr(app_module.AktuiApp, "run", lambda self, **kw: 0)
    args = argparse.Namespace(config=None, context=None, read_only=False, demo=True)
    assert tui.run_app(args) == 0
    assert lab.events == ["stop"]


def test_started_demo_backend_has_the_lab_context(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = FakeLab()
    lab.gate.set()
    monkeypatch.setattr("aktui.lab.Lab", lambda **kw: lab)
    backend = open_demo()
    try:
        assert not backend.lab_pending
        assert backend.context.url == lab.url
        assert backend.config.contexts == {"demo": backend.context}
        assert backend.runtime is lab.runtime
        assert backend.client().url == lab.url
    finally:
        backend.close()
    assert lab.events == ["start", "started", "stop"]


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
