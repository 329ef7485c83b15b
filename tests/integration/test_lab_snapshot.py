"""aktui.lab.snapshot: the demo's first snapshot, read inside the lab's process, is the one
aktui's client fetches over HTTP from the same simulator (the slow path): on the demo's lab
and on one large enough to page every list, in both API lines. Loopback only."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from aktui.authentik.client import AuthentikClient
from aktui.authentik.model import Snapshot
from aktui.errors import AktuiError
from aktui.lab.scenario import build_lab
from aktui.lab.simulator import Simulator
from aktui.lab.snapshot import read_snapshot
from aktui.lab.versions import CURRENT, api_version
from aktui.secret import Secret


def fetch(sim: Simulator, token: str) -> Snapshot:
    async def run() -> Snapshot:
        async with AuthentikClient(sim.url, Secret(token)) as client:
            return await client.snapshot()

    return asyncio.run(run())


@pytest.mark.parametrize("size", [{}, {"providers": 250, "apps": 260, "outposts": 30}])
@pytest.mark.parametrize("authentik", ["2023.10", CURRENT])
def test_read_in_process_is_the_clients_fetch(size: dict[str, Any], authentik: str) -> None:
    state = build_lab("aktui-lab", authentik=api_version(authentik), **size)
    provider = next(iter(state.providers))
    state.update_provider(provider, skip_path_regex="^/health$")  # an event to read
    sim = Simulator(state).start()
    try:
        fast = read_snapshot(sim, state.admin_token)
        slow = fetch(sim, state.admin_token)
    finally:
        sim.stop()
    assert fast.outposts and fast.providers and fast.applications and fast.changes
    if size:
        assert len(fast.providers) > 200  # more than one page of each list was read
    assert replace(fast, fetched_at=slow.fetched_at) == slow
    assert fast.findings == slow.findings


def test_a_refused_read_is_an_error_not_a_snapshot() -> None:
    state = build_lab("aktui-lab", authentik=api_version(CURRENT))
    sim = Simulator(state).start()
    try:
        with pytest.raises(AktuiError, match="403"):
            read_snapshot(sim, "not-the-token")
    finally:
        sim.stop()
