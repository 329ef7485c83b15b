"""The lab answers as a chosen authentik line; its fake outposts log as the Go or Rust outpost."""

from __future__ import annotations

import io
import json

import pytest

from aktui.authentik.parse import build_snapshot
from aktui.lab import render
from aktui.lab.fake_outpost import RUST_EVENTS, rust_event
from aktui.lab.scenario import build_lab
from aktui.lab.versions import CURRENT, LINES, api_version
from aktui.lab.wire import Logger
from aktui.logs.format import parse_line
from aktui.outposts.staleness import is_fetch_failure, is_load_line, scan_logs
from aktui.runtime import LogLine


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_versions_resolve_by_line_or_release() -> None:
    assert CURRENT == "2025.12" and api_version("2025.12").version == "2025.12.4"
    assert api_version("2023.10.7") is LINES["2023.10"]
    for bad in ("2024.2", "2025.12.3", "latest", "\x1b[31m"):
        with pytest.raises(ValueError, match=r"the lab answers as 2023\.10"):
            api_version(bad)


@pytest.mark.parametrize("line", ["2023.10", "2025.12"])
def test_both_lines_give_the_same_model(line: str) -> None:
    """Whatever shape the lab answers in, aktui finds the same pitfalls in it."""
    reference = build_snapshot(render.raw_bundle(build_lab(authentik="2023.10", clock=Clock())))
    snap = build_snapshot(render.raw_bundle(build_lab(authentik=line, clock=Clock())))
    assert snap.server_version == LINES[line].version
    assert sorted(f.code for f in snap.findings) == sorted(f.code for f in reference.findings)
    assert [o.name for o in snap.outposts] == [o.name for o in reference.outposts]
    legacy = snap.outpost("outpost-legacy")
    assert legacy is not None and legacy.refresh_interval_s == 300


def test_2025_lab_keeps_closed_instances_listed_until_purged() -> None:
    clock = Clock()
    st = build_lab(authentik="2025.12", clock=clock)
    dev = st.outpost("outpost-example-dev")
    assert dev is not None
    st.hello(dev.pk, "old", "2025.12.4", "", "host-a", "go1.24.11")
    clock.now += 5
    st.hello(dev.pk, "new", "2025.12.4", "", "host-b", "go1.24.11")  # a restart: a new uid
    clock.now += 12  # "old" expired, "new" still fresh
    listed = [render.health(st, i) for i in st.health(dev.pk)]
    assert [(h["uid"], h["last_seen"] is None, h["hostname"]) for h in listed] == [
        ("old", True, ""),
        ("new", False, "host-b"),
    ]
    assert [i.uid for i in st.connected(dev.pk)] == ["new"]
    snap = build_snapshot(render.raw_bundle(st))
    outpost = snap.outpost("outpost-example-dev")
    assert outpost is not None
    assert [i.uid for i in outpost.instances] == ["new"]
    assert [i.uid for i in outpost.disconnected] == ["old"]
    clock.now += 600
    assert st.health(dev.pk) == []


def test_2023_lab_drops_closed_instances() -> None:
    clock = Clock()
    st = build_lab(authentik="2023.10", clock=clock)
    dev = st.outpost("outpost-example-dev")
    assert dev is not None
    st.hello(dev.pk, "old", "2023.10.7", "", "host-a")
    clock.now += 16
    assert st.health(dev.pk) == []


def test_refresh_interval_reaches_the_2025_config() -> None:
    st = build_lab(authentik="2025.12", refresh_interval=90)
    single = st.outpost("outpost-single")
    assert single is not None
    assert single.config["refresh_interval"] == "seconds=90"
    assert render.outpost(st, single)["refresh_interval_s"] == 90
    assert "refresh_interval" not in build_lab(refresh_interval=90).outposts[single.pk].config


def _rust_lines(*calls: tuple[str, str, dict]) -> list[str]:
    out = io.StringIO()
    log = Logger(out, clock=lambda: 1_790_000_000.5, rust=rust_event)
    for message, level, fields in calls:
        log(message, level, **fields)
    return out.getvalue().splitlines()


def test_rust_lines_have_the_real_shape() -> None:
    lines = _rust_lines(
        ("Loaded application", "info", {"logger": "authentik.outpost.proxyv2", "name": "a"}),
        ("failed to redeem code", "warning", {"error": "oidc: id token issued by a different"}),
        ("waiting 4 seconds to reconnect", "info", {"logger": "x"}),
    )
    first, redeem, wait = (json.loads(line) for line in lines)
    assert list(first)[:8] == [
        "filename",
        "level",
        "line_number",
        "pid",
        "target",
        "thread_id",
        "thread_name",
        "timestamp",
    ]
    assert list(first)[-1] == "event" and "logger" not in first
    assert (first["event"], first["target"], first["timestamp"]) == (
        "loaded application",
        "authentik::outpost::proxy",
        "2026-09-21T14:13:20.500000",
    )
    assert (redeem["level"], redeem["event"]) == (
        "warn",
        "failed to redeem callback; restarting auth flow",
    )
    assert redeem["err"].startswith("oidc:") and "error" not in redeem
    assert (wait["event"], wait["delay"]) == ("reconnecting websocket in 4s...", "4")


def test_logformat_and_staleness_read_the_rust_lines() -> None:
    lines = _rust_lines(
        ("refresh: interval", "info", {}),
        ("Loaded application", "info", {"name": "a", "host": "a.example.com"}),
        ("Failed to fetch outpost configuration", "error", {"error": "403 Forbidden"}),
    )
    records = [parse_line(line) for line in lines]
    assert [(r.level, r.message) for r in records] == [
        ("info", "refreshing outpost on interval"),
        ("info", "loaded application"),
        ("warning", "Failed to fetch outpost from API, retrying in 3 seconds"),
    ]
    assert [is_load_line(line) for line in lines] == [False, True, False]
    assert [is_fetch_failure(line) for line in lines] == [False, False, True]
    loaded, failures = scan_logs(LogLine("c", None, line) for line in lines)
    assert loaded is None and failures == ()  # no time stamp from the runtime: not evidence


def test_every_mapped_line_is_lowercase_like_the_rust_source() -> None:
    """The Rust outpost's messages start lowercase, except the retrying fetch (as its source)."""
    odd = {e.message for e in RUST_EVENTS.values() if not e.message[:1].islower()}
    assert odd == {"Failed to fetch outpost from API, retrying in 3 seconds"}


def test_staleness_verdicts_agree_on_both_lines() -> None:
    """The lab's creation events differ (2025.12 adds a model_updated per created provider);
    what aktui judges from them must not: each outpost, started after the lab was made and
    connected, gets the same verdict on both lines, also the one whose token is revoked."""
    from datetime import UTC, datetime, timedelta

    from aktui.outposts.staleness import LoadEvidence, assess

    verdicts = {}
    for line in ("2023.10", "2025.12"):
        clock = Clock()
        st = build_lab(authentik=line, clock=clock)
        for name, deploy in st.deployments.items():
            outpost = st.outpost(name)
            assert outpost is not None
            if deploy.process and deploy.token_ok:
                st.hello(outpost.pk, f"uid-{name}", st.version_of(deploy), "", name)
        raw = render.raw_bundle(st)
        # what aktui's client asks for (events/events/?action=model_updated)
        raw["events"] = [e for e in raw["events"] if e["action"] == "model_updated"]
        snap = build_snapshot(raw)
        started = datetime.fromtimestamp(clock.now, UTC)
        later = started + timedelta(minutes=1)
        found = {}
        for outpost in snap.outposts:
            deploy = st.deployments[outpost.name]
            evidence = LoadEvidence(
                container_started=started if deploy.process else None,
                fetch_failures=() if deploy.token_ok else (started + timedelta(seconds=2),) * 2,
            )
            found[outpost.name] = assess(snap, outpost, evidence, now=later).stale
        verdicts[line] = found
    assert verdicts["2023.10"] == verdicts["2025.12"]
    assert verdicts["2025.12"]["outpost-staging"] == "unknown"  # token revoked: not "stale"
