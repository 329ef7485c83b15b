"""Reuse between refreshes: an answer with the same bytes gives the value decoded before, and
records parsed from the very same objects are reused. Both pinned to doing the work anew."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from aktui.authentik.client import AuthentikClient
from aktui.authentik.parse import ParseMemo, build_snapshot
from aktui.errors import AuthentikError
from aktui.secret import Secret
from tests.fixtures.app import NOW, recorded_raw

URL = "http://127.0.0.1:9000"


async def test_same_bytes_same_value_new_bytes_decoded_anew() -> None:
    answers = [
        {"pagination": {"total_pages": 1, "next": 0}, "results": [{"pk": 1}]},
        {"pagination": {"total_pages": 1, "next": 0}, "results": [{"pk": 1}]},
        {"pagination": {"total_pages": 1, "next": 0}, "results": [{"pk": 2}]},  # same length
        {"pagination": {"total_pages": 1, "next": 0}, "results": [{"pk": True}]},  # == 1
    ]
    served: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(1)
        return httpx.Response(200, json=answers[len(served) - 1])

    async with AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler)) as c:
        first = await c.list_all("/x/")
        second = await c.list_all("/x/")
        third = await c.list_all("/x/")
        fourth = await c.list_all("/x/")
    assert first == second and first[0] is second[0]  # the very object: bytes unchanged
    assert third == [{"pk": 2}]
    assert fourth[0]["pk"] is True  # equal to 1 but not the same bytes: decoded anew
    assert len(served) == 4  # every call still asks the server


async def test_errors_and_writes_are_never_reused() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "PATCH":
            return httpx.Response(200, json={"ok": len(calls)})
        return httpx.Response(400, json={"detail": "bad"})

    async with AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler)) as c:
        for _ in range(2):
            with pytest.raises(AuthentikError):
                await c.request("GET", "/y/")
        assert await c.patch_outpost("p", {}) == {"ok": 3}
        assert await c.patch_outpost("p", {}) == {"ok": 4}


def _records(raw: dict[str, Any], memo: ParseMemo | None) -> tuple[Any, ...]:
    snap = build_snapshot(raw, now=NOW, memo=memo)
    return snap.providers, snap.applications, snap.outposts, snap.groups, snap.findings


def test_memo_build_equals_fresh_build_as_objects_come_and_change() -> None:
    raw = recorded_raw()
    memo = ParseMemo()
    steps: list[dict[str, Any]] = [raw, dict(raw)]  # same objects again
    changed = dict(raw)
    changed["providers"] = [dict(raw["providers"][0], name="renamed"), *raw["providers"][1:]]
    steps.append(changed)
    unbound = dict(changed)
    unbound["bindings"] = []  # the same application objects, their bindings gone
    steps.append(unbound)
    doubled = dict(unbound)
    doubled["providers"] = [*unbound["providers"], unbound["providers"][1]]  # listed twice
    steps.append(doubled)
    steps.append(copy.deepcopy(doubled))  # equal values, all new objects
    steps.append(json.loads(json.dumps(raw)))
    for step in steps:
        assert _records(step, memo) == _records(copy.deepcopy(step), None)
    again = build_snapshot(steps[-1], now=NOW, memo=memo)
    fresh = build_snapshot(steps[-1], now=NOW)
    assert all(a is b for a, b in zip(again.providers, _memo_providers(memo), strict=False))
    assert replace(again, fetched_at=NOW) == replace(fresh, fetched_at=NOW)


def _memo_providers(memo: ParseMemo) -> list[Any]:
    return sorted((p for *_, p in memo.providers.values()), key=lambda p: p.name)
