"""The model on real authentik 2025.12.4 answers (tests/data/recorded/2025.12.4/): the shape
differences listed in that README must not change what aktui counts, finds or judges."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aktui.authentik.client import AuthentikClient
from aktui.authentik.model import ModelChange, parse_time
from aktui.authentik.parse import build_snapshot, merge_changes, parse_interval
from aktui.outposts.staleness import relevant_changes
from aktui.secret import Secret
from tests.unit.recorded_server import GOOD_TOKEN, recorded_transport


@pytest.fixture(scope="module")
def rec(recorded_dir: Path) -> Path:
    path = recorded_dir / "2025.12.4"
    if not path.is_dir():
        pytest.skip(f"no 2025.12.4 recordings at {path}")
    return path


def load(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text())


_SLUGS = {
    "outpost-single": "outpost-single",
    "outpost-example-dev": "outpost-example-dev",
    "authentik Embedded Outpost": "authentik-embedded-outpost",
}


def raw_bundle(rec: Path, health: str, events: list[dict[str, Any]] | None = None) -> dict:
    """The client's bundle from the recordings; ``health``: "connected", "after-disconnect"
    or "" (plain: purged)."""
    outposts = load(rec, "outposts_instances.json")["results"]
    suffix = f".{health}.json" if health else ".json"
    return {
        "server_url": "http://127.0.0.1:19200",
        "version": load(rec, "admin_version.json"),
        "outposts": outposts,
        "health": {
            o["pk"]: load(rec, f"outposts_instances_uuid_health.{_SLUGS[o['name']]}{suffix}")
            for o in outposts
        },
        "providers": load(rec, "providers_proxy.json")["results"],
        "applications": load(rec, "core_applications.superuser_full_list.json")["results"],
        "bindings": load(rec, "policies_bindings.json")["results"],
        "events": events or [],
    }


def codes(snap: Any) -> list[str]:
    return sorted(f.code for f in snap.findings)


def test_connected_instances_and_versions(rec: Path) -> None:
    snap = build_snapshot(raw_bundle(rec, "connected"))
    assert snap.server_version == "2025.12.4"
    single, dev = snap.outpost("outpost-single"), snap.outpost("outpost-example-dev")
    assert single is not None and dev is not None
    assert single.connected and len(single.instances) == 2 and not single.disconnected
    assert not any(i.outdated for i in single.instances)
    # 2025.10.1 against a 2025.12.4 server: the API says version_outdated, and so do we
    assert dev.instances[0].version_outdated and dev.instances[0].outdated
    assert "outpost-version-mismatch" in codes(snap)
    assert "outpost-not-connected" not in codes(snap)


def test_closed_websockets_stay_listed_but_are_not_connected(rec: Path) -> None:
    """2025.12 keeps a closed websocket's entry (last_seen/version null, hostname "") until the
    worker purges it: it must read exactly like the purged (empty) health."""
    ghosts = build_snapshot(raw_bundle(rec, "after-disconnect"))
    purged = build_snapshot(raw_bundle(rec, ""))
    for name in ("outpost-single", "outpost-example-dev"):
        outpost = ghosts.outpost(name)
        assert outpost is not None
        assert not outpost.connected and outpost.instances == ()
        assert outpost.disconnected and all(not i.connected for i in outpost.disconnected)
        assert outpost.last_seen is None and outpost.versions == ()
    assert codes(ghosts) == codes(purged)
    assert codes(ghosts).count("outpost-not-connected") == 2
    # a ghost of an old version is no version mismatch: nothing runs that version
    assert "outpost-version-mismatch" not in codes(ghosts)


def test_refresh_interval_from_the_api_and_config() -> None:
    def interval(outpost: dict[str, Any]) -> int:
        snap = build_snapshot({"outposts": [{"pk": "p", "name": "o", **outpost}]})
        return snap.outposts[0].refresh_interval_s

    assert interval({"refresh_interval_s": 300, "config": {"refresh_interval": "minutes=5"}}) == 300
    assert interval({"config": {"refresh_interval": "hours=1;minutes=30"}}) == 5400
    assert interval({"refresh_interval_s": 10}) == 30  # the outposts clamp to 30 s
    assert interval({"config": {"refresh_interval": "soon"}}) == 300  # 2023.10: no such key
    assert interval({"refresh_interval_s": "300", "config": "x"}) == 300
    assert parse_interval("minutes=2.5") == 150
    assert parse_interval("fortnights=1") is None and parse_interval("") is None


def test_recorded_outposts_carry_their_interval(rec: Path) -> None:
    snap = build_snapshot(raw_bundle(rec, ""))
    assert {o.refresh_interval_s for o in snap.outposts} == {300}


def test_one_provider_patch_is_one_change(rec: Path) -> None:
    """The recorded PATCH of provider 1 left two model_updated events 0.2 s apart."""
    events = load(rec, "events_events.model_updated.json")["results"]
    snap = build_snapshot(raw_bundle(rec, "connected", events))
    provider_changes = [c for c in snap.changes if c.model == "proxyprovider"]
    assert len(provider_changes) == 1
    assert provider_changes[0].at == parse_time("2026-12-03T08:14:05.852450Z")
    single = snap.outpost("outpost-single")
    assert single is not None
    relevant = relevant_changes(snap, single)
    # the application change carries the app's UUID.hex (no dashes): it still matches
    assert [(c.model, c.name) for c in relevant] == [
        ("application", "app.example.com"),
        ("proxyprovider", "app.example.com"),
    ]


def test_created_then_updated_is_one_change() -> None:
    at = parse_time("2026-12-03T08:00:00Z")
    assert at is not None
    created = ModelChange("proxyprovider", "5", "new", at, "model_created")
    updated = ModelChange("proxyprovider", "5", "new", at + timedelta(seconds=0.3))
    later = ModelChange("proxyprovider", "5", "new", at + timedelta(minutes=3))
    other = ModelChange("proxyprovider", "6", "other", at + timedelta(seconds=0.1))
    merged = merge_changes([updated, later, other, created])
    assert [(c.pk, c.action, c.at) for c in merged] == [
        ("6", "model_updated", other.at),
        ("5", "model_created", updated.at),
        ("5", "model_updated", later.at),
    ]


async def test_client_reads_2025_lists_with_autocomplete(rec: Path) -> None:
    """Every 2025.12 list has a top-level ``autocomplete`` key: read past it."""
    transport = recorded_transport(rec, connected=True)
    async with AuthentikClient(
        "http://127.0.0.1:19200", Secret(GOOD_TOKEN), transport=transport
    ) as c:
        raw = await c.fetch_raw()
    snap = build_snapshot(raw)
    assert [o.name for o in snap.outposts] == [
        "authentik Embedded Outpost",
        "outpost-example-dev",
        "outpost-single",
    ]
    assert len(snap.providers) == 4 and len(snap.applications) == 4
    alpha = next(a for a in snap.applications if a.slug == "alpha-example-dev")
    assert alpha.reach == "group client-alpha"  # binding group_obj without parent/users
    assert snap.outpost("outpost-single").connected  # type: ignore[union-attr]


def test_not_connected_evidence_names_the_closed_connections(rec: Path) -> None:
    snap = build_snapshot(raw_bundle(rec, "after-disconnect"))
    found = next(f for f in snap.findings if f.code == "outpost-not-connected")
    assert "closed connection(s) (last_seen null)" in found.evidence
    purged = build_snapshot(raw_bundle(rec, ""))
    found = next(f for f in purged.findings if f.code == "outpost-not-connected")
    assert "is empty" in found.evidence


def test_only_the_null_shape_is_a_closed_connection() -> None:
    def outpost(entry: dict[str, Any]) -> Any:
        raw = {"outposts": [{"pk": "p", "name": "o"}], "health": {"p": [entry, "junk", None]}}
        return build_snapshot(raw).outposts[0]

    closed = outpost({"uid": "u", "last_seen": None, "version": None, "hostname": ""})
    assert (len(closed.instances), len(closed.disconnected)) == (0, 1)
    odd_time = outpost({"uid": "u", "last_seen": "yesterday", "version": "2025.12.4"})
    assert (len(odd_time.instances), len(odd_time.disconnected)) == (1, 0)
    assert odd_time.connected and odd_time.last_seen is None
