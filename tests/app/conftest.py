"""An AktuiApp on a fake backend: recorded authentik answers, a scripted runtime, a frozen clock.

The data is the real authentik 2023.10.7 recording (tests/data/recorded), plus one audit event
that makes ``outpost-example-dev`` stale: provider ``beta.example.dev`` changed at 06:20, after
its container started at 06:00. The clock is frozen at 06:37:00, so ages and snapshot SVGs do
not move.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aktui.authentik.model import Snapshot
from aktui.authentik.parse import build_snapshot
from aktui.config import Config, ContextConfig, LogsConfig
from aktui.errors import AuthentikUnreachable
from aktui.runtime import ContainerInfo, LogLine
from aktui.secret import Secret

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded"
NOW = datetime(2026, 11, 24, 6, 37, 0, tzinfo=UTC)
STARTED = datetime(2026, 11, 24, 6, 0, 0, tzinfo=UTC)
TOKEN = "ak-test-token-Zq8rT3vY0pL5mN1x"  # must never appear on any screen
STALE_PK = "6d46a2d7-9000-4fa1-8c3d-12128c540bed"  # outpost-example-dev
SINGLE_PK = "55c3113d-b1cf-4244-8cf6-e9f8928e6223"  # outpost-single
EMBEDDED_PK = "6f10d796-9b50-457c-913d-88454e55acc2"


def _load(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def recorded_raw() -> dict[str, Any]:
    outposts = _load("outposts_instances.json")["results"]
    health = {
        SINGLE_PK: _load("outposts_instances_uuid_health.outpost-single.connected.json"),
        STALE_PK: _load("outposts_instances_uuid_health.outpost-example-dev.connected.json"),
        EMBEDDED_PK: _load("outposts_instances_uuid_health.authentik-embedded-outpost.json"),
    }
    event = {
        "action": "model_updated",
        "created": "2026-11-24T06:20:00Z",
        "context": {
            "model": {
                "app": "authentik_providers_proxy",
                "model_name": "proxyprovider",
                "pk": 4,
                "name": "beta.example.dev",
            }
        },
    }
    return {
        "server_url": "https://auth.example.com",
        "version": _load("admin_version.json"),
        "outposts": outposts,
        "health": health,
        "providers": _load("providers_proxy.json")["results"],
        "applications": _load("core_applications.superuser_full_list.json")["results"],
        "bindings": _load("policies_bindings.json")["results"],
        "events": [event],
    }


def recorded_snapshot() -> Snapshot:
    return build_snapshot(recorded_raw(), now=NOW)


HOSTILE = (
    '{"event":"[bold red]pwned[/bold red] \x1b[31mRED\x1b[0m \x1b]0;title\x07",'
    '"level":"error","timestamp":"2026-11-24T06:36:20Z"}'
)
ANNOTATED = (
    '{"event":"mismatched session ID","level":"warning",'
    '"logger":"authentik.outpost.proxyv2","timestamp":"2026-11-24T06:36:30Z"}'
)
PLAIN = (
    '{"event":"Loaded application","host":"beta.example.dev","level":"info",'
    '"logger":"authentik.outpost.proxyv2","name":"beta","timestamp":"2026-11-24T06:36:00Z"}'
)


def loaded(name: str, host: str, at: datetime) -> LogLine:
    """The line an outpost logs per provider on every config load (the staleness evidence)."""
    text = (
        f'{{"event":"Loaded application","host":"{host}","level":"info",'
        f'"logger":"authentik.outpost.proxyv2","name":"{name}",'
        f'"timestamp":"{at:%Y-%m-%dT%H:%M:%SZ}"}}'
    )
    return LogLine(name, at, text)


class FakeRuntime:
    """The ``OutpostRuntime`` protocol with scripted containers and log lines.

    Like a real outpost, a reload or restart logs "Loaded application" (what
    ``aktui.outposts.fixes`` waits for); every open stream of that container sees it.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.fail_reload: Exception | None = None
        self.silent_reload = False  # a reload that loads nothing (to test escalation)
        self.items = {
            "outpost-single": ContainerInfo(
                "lab",
                "c1",
                "outpost-single",
                "outpost-single",
                "running",
                STARTED,
                ports=(9001,),
                image="ghcr.io/goauthentik/proxy:2023.10.7",
            ),
            "outpost-example-dev": ContainerInfo(
                "lab",
                "c2",
                "outpost-example-dev",
                "outpost-example-dev",
                "running",
                STARTED,
                ports=(9002,),
                image="ghcr.io/goauthentik/proxy:2023.10.7",
            ),
        }
        self.log_lines: dict[str, list[LogLine]] = {
            "outpost-example-dev": [
                loaded("outpost-example-dev", "beta.example.dev", STARTED),
                LogLine("outpost-example-dev", None, PLAIN),
                LogLine("outpost-example-dev", None, HOSTILE),
                LogLine("outpost-example-dev", None, ANNOTATED),
            ],
            "outpost-single": [
                loaded("outpost-single", "app.example.com", STARTED),
                LogLine("outpost-single", None, PLAIN.replace("beta", "app")),
            ],
        }
        self.streams: dict[str, list[queue.Queue[LogLine]]] = {}

    def containers(self) -> list[ContainerInfo]:
        with self.lock:
            return list(self.items.values())

    def reload(self, name: str) -> None:
        self.calls.append(("reload", name))
        if self.fail_reload is not None:
            raise self.fail_reload
        if not self.silent_reload:
            self.feed(name, loaded(name, "reloaded", NOW))

    def restart(self, name: str, timeout: float = 30.0) -> None:
        self.calls.append(("restart", name))
        with self.lock:
            self.items[name] = replace(self.items[name], started_at=NOW, restart_count=1)
        self.feed(name, LogLine(name, NOW, "", marker="re-attached after restart"))
        self.feed(name, loaded(name, "restarted", NOW))

    def feed(self, name: str, line: LogLine) -> None:
        with self.lock:
            self.log_lines.setdefault(name, []).append(line)
            for q in self.streams.get(name, []):
                q.put(line)

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        self.calls.append(("logs", name))
        live: queue.Queue[LogLine] = queue.Queue()
        with self.lock:
            backlog = list(self.log_lines.get(name, []))
            self.streams.setdefault(name, []).append(live)
        try:
            yield from backlog[-tail:] if tail > 0 else backlog
            while not stop.is_set():
                try:
                    yield live.get(timeout=0.02)
                except queue.Empty:
                    continue
        finally:
            with self.lock:
                self.streams[name].remove(live)


class FakeClient:
    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.closed = False

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True

    async def snapshot(self) -> Snapshot:
        self.backend.fetches += 1
        if self.backend.gate is not None:  # a slow API: answers once the test sets the gate
            await self.backend.gate.wait()
        if self.backend.fail is not None:
            raise self.backend.fail
        return self.backend.snapshot


class FakeBackend:
    def __init__(
        self,
        *,
        read_only: bool = False,
        runtime: Any = "default",
        keys: dict[str, str] | None = None,
        contexts: tuple[str, ...] = ("lab",),
    ) -> None:
        self.name = contexts[0]
        self.read_only = read_only
        self.runtime = FakeRuntime() if runtime == "default" else runtime
        self.snapshot = recorded_snapshot()
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.fetches = 0
        self.clients: list[FakeClient] = []  # every client the app asked for
        self.closed = False
        ctx = ContextConfig(url="https://auth.example.com", token=Secret(TOKEN))
        self.context = ctx
        self.config = Config(
            source="<test>",
            default_context=contexts[0],
            refresh_interval=3600.0,
            contexts={c: ctx for c in contexts},
            logs=LogsConfig(max_lines=500, tail=100, since_minutes=0),
            keys=keys or {},
        )
        self._token = Secret(TOKEN)

    def client(self) -> FakeClient:
        client = FakeClient(self)
        self.clients.append(client)
        return client

    def close(self) -> None:
        self.closed = True


def unreachable() -> AuthentikUnreachable:
    return AuthentikUnreachable("authentik at https://auth.example.com: cannot connect: refused")


def make_app(backend: FakeBackend | None = None, **kw: Any) -> Any:
    from aktui.screens.app import AktuiApp

    return AktuiApp(backend or FakeBackend(**kw), clock=lambda: NOW, live_refresh=False)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def app(backend: FakeBackend) -> Any:
    return make_app(backend)


async def settle(app: Any, pilot: Any) -> None:
    """Wait until no worker but log streams runs: an action's result starts a refresh, and
    that refresh starts after the first wait returns."""
    import contextlib

    from textual.worker import WorkerCancelled

    for _ in range(10):
        busy = [w for w in app.workers if w.group != "logs" and w.is_running]
        if not busy:
            break
        for worker in busy:
            with contextlib.suppress(WorkerCancelled):
                await worker.wait()
        await pilot.pause()
    await pilot.pause()
