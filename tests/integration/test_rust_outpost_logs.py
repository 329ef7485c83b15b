"""A lab whose outposts log as the Rust proxy outpost (2026.8+): aktui's staleness evidence and
its log parser read those lines as they read the Go outpost's. Loopback only, bounded waits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aktui.authentik.parse import build_snapshot
from aktui.lab import Lab
from aktui.lab.render import raw_bundle
from aktui.logs.format import parse_line
from aktui.outposts.evidence import collect_evidence
from aktui.outposts.staleness import FRESH, STALE, assess
from tests.fixtures.procs import free_base_port, wait_for

pytestmark = pytest.mark.integration

NAME = "outpost-example-dev"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(
        authentik="2025.12",
        outpost_logs="rust",
        pitfalls=(),
        max_processes=2,
        base_port=free_base_port(),
    ) as lab:
        yield lab


def _log(lab: Lab) -> list[str]:
    assert lab.runtime is not None
    return lab.runtime.log_path(NAME).read_text().splitlines()


def test_every_line_is_rust_tracing_json(lab: Lab) -> None:
    wait_for(lambda: any('"loaded application"' in line for line in _log(lab)), what="a load")
    lines = [line.split(" ", 2)[2] for line in _log(lab)]  # after the runtime stamp and stream
    for line in lines:
        record = json.loads(line)
        assert list(record)[:5] == ["filename", "level", "line_number", "pid", "target"], line
        assert record["filename"].endswith(".rs") and record["target"].startswith("authentik::")
        assert record["level"] in ("info", "warn", "error") and "logger" not in record
        parsed = parse_line(line)
        assert parsed.message == record["event"] and parsed.level is not None
    messages = [json.loads(line)["event"] for line in lines]
    assert "refreshing outpost forcefully" in messages
    assert messages.index("refreshing outpost forcefully") < messages.index("loaded application")


def test_staleness_reads_the_rust_loads(lab: Lab) -> None:
    assert lab.runtime is not None and lab.state is not None
    container = next(c for c in lab.runtime.containers() if c.name == NAME)
    evidence = collect_evidence(lab.runtime, container)
    assert evidence.last_loaded_log is not None
    snap = build_snapshot(raw_bundle(lab.state, lab.url))
    outpost = snap.outpost(NAME)
    assert outpost is not None
    assert assess(snap, outpost, evidence).stale == FRESH
    # a change the outpost has not loaded: stale, from the Rust log (metric aside)
    lab.state.update_provider(3, mode="forward_domain", skip_path_regex="^/health$")
    snap = build_snapshot(raw_bundle(lab.state, lab.url))
    outpost = snap.outpost(NAME)
    assert outpost is not None
    only_log = replace(evidence, metric_last_update=None)
    # a minute on: past the push grace (the lab never pushes, like a broken websocket)
    later = datetime.now(UTC) + timedelta(minutes=1)
    verdict = assess(snap, outpost, only_log, now=later)
    assert (verdict.stale, verdict.load_source) == (STALE, "log"), verdict.reason
    # SIGUSR1: "refreshing outpost on signal", then a fresh "loaded application"
    before = sum('"loaded application"' in line for line in _log(lab))
    lab.runtime.reload(NAME)
    wait_for(
        lambda: sum('"loaded application"' in line for line in _log(lab)) >= before + 2,
        what="loaded application after SIGUSR1",
    )
    assert any('"refreshing outpost on signal"' in line for line in _log(lab))
    again = replace(collect_evidence(lab.runtime, container), metric_last_update=None)
    assert assess(snap, outpost, again, now=later).stale == FRESH
