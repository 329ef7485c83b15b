"""The lab runtime's recent log lines at once: the same lines its log stream's backlog gives,
and the evidence reader takes them without waiting for the stream to go quiet."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aktui.lab.runtime import LabRuntime, ProcessSpec
from aktui.outposts import evidence

LOG = (
    "2026-01-01T10:00:00.000000000Z O "
    '{"event":"Starting authentik outpost","level":"info"}\n'
    "2026-01-01T10:00:01.000000000Z O "
    '{"event":"Loaded application","name":"beta","level":"info"}\n'
    "2026-01-01T10:00:02.000000000Z M interrupted stream interrupted: container exited\n"
    "2026-01-01T10:00:03.000000000Z M reattached stream re-attached (restart 1)\n"
    "not a log line\n"
    "2026-01-01T10:00:04.000000000Z O "
    '{"event":"Loaded application","name":"beta again","level":"info"}\n'
    "2026-01-01T10:00:05.000000000Z O half a li"  # still being written
)


class StreamOnly:
    """The same runtime without ``recent_logs``: the evidence reader's slow path."""

    def __init__(self, runtime: LabRuntime) -> None:
        self.stream_logs = runtime.stream_logs


@pytest.fixture
def runtime(tmp_path: Path) -> LabRuntime:
    spec = ProcessSpec("op", 1, "http://127.0.0.1:1", tmp_path / "token")
    rt = LabRuntime(tmp_path, [spec])
    rt.log_path("op").write_text(LOG, encoding="utf-8")
    return rt


@pytest.mark.parametrize("tail", [-1, 0, 2, 300])
def test_recent_logs_are_the_streams_backlog(runtime: LabRuntime, tail: int) -> None:
    stop = threading.Event()
    stop.set()  # the stream ends after its backlog
    streamed = list(runtime.stream_logs("op", since=None, tail=tail, stop=stop))
    assert runtime.recent_logs("op", tail=tail) == streamed
    if tail == -1:
        assert [ln.marker for ln in streamed].count("interrupted") == 1


def test_evidence_reads_recent_logs_at_once(runtime: LabRuntime) -> None:
    start = time.monotonic()
    fast = evidence.read_recent(runtime, "op", tail=300, quiet=2.0)
    assert time.monotonic() - start < 1.0  # no quiet wait
    slow = evidence.read_recent(StreamOnly(runtime), "op", tail=300, quiet=0.1)
    assert fast == slow
    assert sum("Loaded application" in ln.text for ln in fast) == 2


def test_recent_logs_of_an_outpost_that_never_logged(tmp_path: Path) -> None:
    rt = LabRuntime(tmp_path, [ProcessSpec("op", 1, "http://127.0.0.1:1", tmp_path / "t")])
    assert rt.recent_logs("op", tail=10) == []


def test_unstamp_reads_what_strptime_read() -> None:
    """logfiles.unstamp's fast path (fromisoformat on stamp()'s shape) against the strptime
    it replaced, on stamps across the year and on text that is not one."""
    import random
    from datetime import UTC, datetime

    from aktui.lab.logfiles import stamp, unstamp

    def slow(text: str) -> datetime | None:
        try:
            return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
        except ValueError:
            return None

    rng = random.Random(7)
    stamps = [stamp(rng.uniform(0, 4_000_000_000)) + " O line" for _ in range(500)]
    bad = [
        "",
        "not a log line",
        "2026-01-01T10:00:00",
        "2026-01-01 10:00:00.000000000Z O x",
        "2026-01-01T10:00:00.00000Z O x",
        "2026-13-01T10:00:00.000000000Z O x",
        "2026-02-30T10:00:00.000000000Z O x",
        "2026-01-01T24:00:00.000000000Z O x",
        "2026-01-01T10:00:00,000000000Z O x",
        "2026-01-01T10:00:00.+00000000Z O x",
        "2026-1-01T10:00:00.0000000000Z O x",
    ]
    for text in stamps + bad:
        assert unstamp(text) == slow(text), text
    assert all(unstamp(text) is not None for text in stamps)
    assert all(unstamp(text) is None for text in bad)
