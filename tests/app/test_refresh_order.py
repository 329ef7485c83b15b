"""A refresh with data on screen draws the API's update first, then reads the containers.

Listing containers and reading their logs during the fetch held the GIL the client and the
drawing need; now they follow the update's frame. What must hold meanwhile: one listing per
refresh, a slow API never holds the container state back, a failed fetch still reads them, and
no row calls a container "not found" that was never looked for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from aktui.runtime import ContainerInfo
from tests.fixtures.app import (
    EMBEDDED_PK,
    SINGLE_PK,
    STARTED,
    FakeBackend,
    FakeRuntime,
    make_app,
    settle,
    unreachable,
)

NEW_PK = "0000-new"
NEW_NAME = "aaa-new-outpost"


class WatchingRuntime(FakeRuntime):
    """Notes, at each listing, whether the new outpost's row was already drawn; ``hold``
    keeps a listing waiting until the test sets it."""

    def __init__(self) -> None:
        super().__init__()
        self.app: Any = None
        self.seen: list[bool] = []  # per listing: the new outpost's row was on screen
        self.hold: threading.Event | None = None

    def containers(self) -> list[ContainerInfo]:
        cells = getattr(self.app.screen, "outpost_cells", {})
        self.seen.append(NEW_PK in cells)
        if self.hold is not None:
            assert self.hold.wait(10), "the test never released the listing"
        return super().containers()


def _setup() -> tuple[FakeBackend, WatchingRuntime, Any]:
    runtime = WatchingRuntime()
    backend = FakeBackend(runtime=runtime)
    app = make_app(backend)
    runtime.app = app
    return backend, runtime, app


def _add_outpost(backend: FakeBackend, runtime: FakeRuntime) -> None:
    """A new outpost in authentik, and its container running."""
    snap = backend.snapshot
    extra = replace(snap.outposts[0], pk=NEW_PK, name=NEW_NAME)
    backend.snapshot = replace(snap, outposts=(extra, *snap.outposts))
    runtime.items[NEW_NAME] = ContainerInfo(
        "lab", "c9", NEW_NAME, NEW_NAME, "running", STARTED, ports=(9009,)
    )


async def until(pilot: Any, check: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


def _cell(app: Any, key: str) -> str:
    return str(app.screen.outpost_cell(key, "container").plain.rstrip())


async def _trigger(app: Any, pilot: Any, how: str) -> None:
    if how == "key":
        await pilot.press("ctrl+r")
    else:
        app._refresh_tick()


@pytest.mark.parametrize("how", ["key", "timer"])
async def test_containers_are_listed_after_the_update_is_drawn(how: str) -> None:
    backend, runtime, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        listed = len(runtime.seen)
        assert listed == 1 and app.data.containers
        fetches = backend.fetches
        gate = backend.gate = asyncio.Event()  # the API is answering
        _add_outpost(backend, runtime)
        await _trigger(app, pilot, how)
        await until(pilot, lambda: backend.fetches == fetches + 1, "the fetch")
        await pilot.pause(0.05)
        assert len(runtime.seen) == listed  # nothing listed while the API answers
        gate.set()
        await settle(app, pilot)
        # One listing, once the update's rows were drawn; then the new row has its state.
        assert runtime.seen[listed:] == [True]
        assert _cell(app, NEW_PK) == "running"
        assert NEW_NAME in app.data.evidence


async def test_a_slow_fetch_does_not_hold_the_containers_back() -> None:
    backend, runtime, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        listed = len(runtime.seen)
        gate = backend.gate = asyncio.Event()
        app._refresh_tick()  # the containers wait for this fetch...
        await until(pilot, lambda: backend.fetches == 2, "the fetch")
        await pilot.pause(0.05)
        assert len(runtime.seen) == listed
        app._refresh_tick()  # ...but it is slower than the interval: they are read now
        await until(pilot, lambda: len(runtime.seen) == listed + 1, "the listing")
        assert backend.fetches == 2  # the fetch in flight is not restarted
        gate.set()
        await settle(app, pilot)
        assert len(runtime.seen) == listed + 1  # and not read again after it: one per tick
        assert backend.fetches == 2


async def test_a_failed_fetch_still_reads_the_containers() -> None:
    backend, runtime, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        listed = len(runtime.seen)
        backend.fail = unreachable()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.data.error
        assert len(runtime.seen) == listed + 1
        assert _cell(app, SINGLE_PK) == "running"


async def test_refreshing_twice_during_a_fetch_lists_the_containers_once() -> None:
    backend, runtime, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        listed = len(runtime.seen)
        gate = backend.gate = asyncio.Event()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: backend.fetches == 2, "the first fetch")
        await pilot.press("ctrl+r")  # replaces the fetch under way
        await until(pilot, lambda: backend.fetches == 3, "the second fetch")
        gate.set()
        await settle(app, pilot)
        assert len(runtime.seen) == listed + 1


async def test_a_new_outpost_is_not_called_missing_before_its_container_is_listed() -> None:
    backend, runtime, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        assert _cell(app, EMBEDDED_PK) == "not found"  # looked for: it has no container
        hold = runtime.hold = threading.Event()
        _add_outpost(backend, runtime)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: NEW_PK in app.screen.outpost_cells, "the new row")
        await until(pilot, lambda: len(runtime.seen) == 2, "the listing after it")
        # Drawn with the containers listed before it existed: not looked for, so no claim.
        assert _cell(app, NEW_PK) == "—"
        assert _cell(app, EMBEDDED_PK) == "not found"
        assert _cell(app, SINGLE_PK) == "running"  # the state last read, until read again
        hold.set()
        await settle(app, pilot)
        assert _cell(app, NEW_PK) == "running"


async def test_the_heap_settles_once_the_first_reads_end_and_is_released_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    freezes: list[int] = []
    freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (freezes.append(1), freeze())[1])
    assert gc.get_freeze_count() == 0
    backend, _, app = _setup()
    backend.gate = asyncio.Event()  # the first fetch waits
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: backend.fetches == 1, "the first fetch")
        await pilot.pause(0.05)
        assert not freezes  # never while the first data is being read
        backend.gate.set()
        await settle(app, pilot)
        await until(pilot, lambda: gc.get_freeze_count() > 0, "the heap settled")
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert freezes == [1]  # once
    assert gc.get_freeze_count() == 0


async def test_a_collector_paused_for_the_start_resumes_once_the_first_data_is_read() -> None:
    import gc

    backend, _, app = _setup()
    backend.gate = asyncio.Event()  # the first fetch waits
    gc.disable()  # as run_app does before the imports
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: backend.fetches == 1, "the first fetch")
            assert not gc.isenabled()  # still starting
            backend.gate.set()
            await settle(app, pilot)
            await until(pilot, gc.isenabled, "the collector resumed")
    finally:
        gc.enable()


async def test_a_collector_paused_for_the_start_resumes_when_the_data_never_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    import aktui.screens.app as app_module

    monkeypatch.setattr(app_module, "GC_PAUSE_LIMIT", 0.2)
    backend, _, app = _setup()
    backend.gate = asyncio.Event()  # the first fetch never ends
    gc.disable()
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: backend.fetches == 1, "the first fetch")
            await until(pilot, gc.isenabled, "the collector resumed by the timer")
            backend.gate.set()
    finally:
        gc.enable()


def test_run_app_resumes_the_collector_on_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import gc

    from aktui.cmd import tui

    def no_backend(*args: object, **kwargs: object) -> None:
        assert not gc.isenabled()  # paused for the start
        from aktui.errors import ConfigError

        raise ConfigError("config.yaml: no such file")

    monkeypatch.setattr("aktui.backend.open_backend", no_backend)
    monkeypatch.setattr("aktui.cmd._prefetch.Prefetch", lambda *a: _NoPrefetch())
    try:
        assert tui.run_app(argparse.Namespace(config="x.yaml")) == 2
        assert gc.isenabled()
    finally:
        gc.enable()


class _NoPrefetch:
    def result(self, timeout: float) -> None:
        return None

    def stop(self) -> None:
        pass


async def test_the_collector_thresholds_are_the_app_s_while_it_runs_and_restored_after() -> None:
    import gc

    import aktui.screens.app as app_module

    before = gc.get_threshold()
    _backend, _, app = _setup()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        assert gc.get_threshold() == app_module.GC_THRESHOLDS
    assert gc.get_threshold() == before
