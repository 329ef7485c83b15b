"""Load evidence of outposts: what their containers' logs and metrics say about their config.

Blocking reads (a log stream opened until it goes quiet or live, a metrics GET): callers run them
in threads. ``aktui.outposts.staleness`` turns the evidence into a verdict; nothing here judges.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aktui.errors import AktuiError
from aktui.outposts.metrics import last_update
from aktui.outposts.staleness import LoadEvidence, gather
from aktui.runtime import ContainerInfo, LogLine, OutpostRuntime


def read_recent(
    runtime: OutpostRuntime, name: str, *, tail: int = 300, quiet: float = 0.3, timeout: float = 5.0
) -> list[LogLine]:
    """The last ``tail`` log lines: a stream is opened and closed once it goes quiet, or once
    it is live (a line stamped after we started: a busy log never goes quiet). A runtime
    that knows where its log ends (the lab's: a file) says so at once, with no quiet wait."""
    recent = getattr(runtime, "recent_logs", None)
    if callable(recent):
        return list(recent(name, tail=tail))
    stop = threading.Event()
    lines: queue.Queue[LogLine | BaseException] = queue.Queue()

    def read() -> None:
        try:
            for line in runtime.stream_logs(name, since=None, tail=tail, stop=stop):
                lines.put(line)
                if stop.is_set():
                    return
        except BaseException as e:
            lines.put(e)

    reader = threading.Thread(target=read, daemon=True, name=f"recent-{name}")
    reader.start()
    out: collections.deque[LogLine] = collections.deque(maxlen=tail if tail > 0 else None)
    opened = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                item = lines.get(timeout=quiet)
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                if isinstance(item, AktuiError):
                    raise item
                raise AktuiError(f"reading the log of {name} failed: {item}")
            out.append(item)
            if item.at is not None and item.at >= opened:
                break
    finally:
        stop.set()
        reader.join(timeout=3.0)
    return list(out)


def collect_evidence(
    runtime: OutpostRuntime, container: ContainerInfo, *, tail: int = 300
) -> LoadEvidence:
    """Load evidence of one container: its start, recent log lines and (when published and
    the runtime knows where) the last-update metric."""
    # DockerRuntime takes host/name (names may repeat across hosts); other runtimes the name.
    name = f"{container.host}/{container.name}" if hasattr(runtime, "hosts") else container.name
    try:
        lines = read_recent(runtime, name, tail=tail)
    except AktuiError:
        lines = []
    url_for = getattr(runtime, "metrics_url", None)
    metric = None
    if callable(url_for):
        try:
            metric = last_update(url_for(name))
        except AktuiError:
            metric = None
    return gather(container, lines, metric)


# Each container's recent log is read in parallel; a few at a time keeps a docker daemon calm.
EVIDENCE_PARALLEL = 4


def read_evidence(
    runtime: Any, containers: Iterable[ContainerInfo], worker: Any = None
) -> dict[str, LoadEvidence] | None:
    """Load evidence per outpost name (blocking: call in a thread). None when cancelled."""
    targets = [c for c in containers if c.outpost_name]

    def one(c: ContainerInfo) -> tuple[str, LoadEvidence]:
        return str(c.outpost_name), collect_evidence(runtime, c)

    with ThreadPoolExecutor(max_workers=EVIDENCE_PARALLEL) as pool:
        results = dict(pool.map(one, targets))
    if worker is not None and worker.is_cancelled:
        return None
    return results
