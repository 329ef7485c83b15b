"""Docker log streams that survive restarts and daemon drops (``docker logs -f -t`` + care).

A ``follow`` stream ends when the container stops; we re-attach from the last timestamp shown,
so no line is lost or shown twice, and put a marker line where the stream was interrupted.
Docker's stream read blocks with no timeout, so it runs in a reader thread that we can
interrupt (socket shutdown) when the caller sets ``stop``. Only docker's timestamp and the raw
text are handled here; aktui.logs.format parses the text.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from aktui.errors import DockerUnavailable
from aktui.logs.lines import LineBlocks
from aktui.runtime import LogLine


class ContainerNotFound(DockerUnavailable):
    """No container by that name on the host (or it was removed meanwhile)."""


class Host(Protocol):
    """What a stream needs of a docker host (``aktui.docker.runtime.DockerHost``)."""

    def client(self) -> Any: ...

    def errors(self, what: str) -> AbstractContextManager[None]: ...


_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_NS = 1_000_000_000
# The longest log line kept whole (bytes) in the live stream; a longer one keeps its head and
# is marked cut, so a container writing without line breaks cannot grow a buffer without end
# (nor make each read search it again). 4x the parser's message cap, ~200 screen rows.
LINE_CAP = 16 * 1024


def parse_timestamp_ns(value: str) -> int | None:
    """Docker's RFC 3339 nano timestamp as integer nanoseconds (datetime stops at micro)."""
    m = _TS.match(value)
    if not m:
        return None
    base = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    return int(base.timestamp()) * _NS + int((m[2] or "").ljust(9, "0"))


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // _NS, UTC).replace(microsecond=(ns % _NS) // 1000)


def parse_docker_time(value: str | None) -> datetime | None:
    ns = parse_timestamp_ns(value or "")
    if ns is None or ns <= 0:  # "0001-01-01T00:00:00Z": never started
        return None
    return ns_to_datetime(ns)


def split_stamp(raw: str) -> tuple[int | None, str]:
    """``2026-...Z text`` (``docker logs -t``) -> (ns, text); no stamp -> (None, raw)."""
    stamp, sep, text = raw.partition(" ")
    ns = parse_timestamp_ns(stamp) if sep else None
    return (ns, text) if ns is not None else (None, raw)


class LogCursor:
    """What a stream has shown, so that a re-attached stream shows every line exactly once.

    Docker keeps lines stamped at or after ``since``, but ``since`` travels as float seconds
    and loses the nanoseconds. So we re-attach from a little earlier and, while replaying,
    drop lines older than the last one shown, and at its exact stamp the ones already shown.
    """

    def __init__(self) -> None:
        self.last_ns: int | None = None
        self._at_last: Counter[str] = Counter()
        self._floor: int | None = None
        self._replay: Counter[str] | None = None

    def since(self) -> float | None:
        if self.last_ns is None:
            return None
        return max((self.last_ns // 1000 - 2) / 1e6, 1e-6)

    def rewind(self) -> None:
        if self.last_ns is not None:
            self._floor, self._replay = self.last_ns, Counter(self._at_last)

    def accept(self, ns: int | None, text: str) -> bool:
        if ns is None:
            return True
        if self._replay is not None and self._floor is not None:
            if ns < self._floor:
                return False
            if ns == self._floor and self._replay[text] > 0:
                self._replay[text] -= 1
                return False
            if ns > self._floor:
                self._replay = None
        if self.last_ns is None or ns > self.last_ns:
            self.last_ns, self._at_last = ns, Counter()
        if ns == self.last_ns:
            self._at_last[text] += 1
        return True


_EOF = object()


def _marker(source: str, kind: str, text: str) -> LogLine:
    return LogLine(source=source, at=datetime.now(UTC), text=text, marker=kind)


def _fetch(host: Host, cid: str, *, since: float | None, tail: int | str) -> list[str]:
    with host.errors("read logs"):
        raw = host.client().api.logs(
            cid, stdout=True, stderr=True, timestamps=True, tail=tail, since=since
        )
    text: str = raw.decode("utf-8", "replace")
    return text.splitlines()


def _unblock(sock: Any) -> None:
    # shutdown() wakes a thread blocked in recv(); close() alone does not on Linux.
    for s in (getattr(sock, "_sock", None), sock):
        if s is not None and hasattr(s, "shutdown"):
            try:
                s.shutdown(socket.SHUT_RDWR)
                return
            except (OSError, EOFError):
                continue


def _pump(frames: Iterator[bytes], out: queue.Queue[Any], closed: threading.Event) -> None:
    """Reader thread: docker's stream blocks without a timeout, so it never runs on the caller."""
    try:
        for chunk in frames:
            while not closed.is_set():
                try:
                    out.put(chunk, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if closed.is_set():
                return
        out.put(_EOF)
    except BaseException as e:  # handed to the consumer, which decides
        out.put(e)


def _follow_once(
    host: Host,
    cid: str,
    name: str,
    cursor: LogCursor,
    stop: threading.Event,
    *,
    started: str,
    tty: bool,
    idle_check: float,
) -> Iterator[LogLine]:
    """One ``follow`` request from the cursor; ends when docker ends it, on stop, or when a
    silent stream turns out to be stale (restart missed, daemon gone)."""
    params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1}
    since = cursor.since()
    params.update({"since": since, "tail": "all"} if since else {"tail": "all"})
    with host.errors(f"attach logs of {name}"):
        api = host.client().api
        # The SDK's logs() hides the response, and we need it to interrupt a blocked read.
        res = api._get(api._url("/containers/{0}/logs", cid), params=params, stream=True)
        api._raise_for_status(res)
        sock = api._get_raw_response_socket(res)
        frames = api._stream_helper(res) if tty else api._multiplexed_response_stream_helper(res)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=256)
    closed = threading.Event()
    reader = threading.Thread(target=_pump, args=(frames, chunks, closed), daemon=True)
    reader.start()
    lines = LineBlocks(LINE_CAP)
    quiet_since = time.monotonic()
    try:
        while not stop.is_set():
            try:
                item = chunks.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - quiet_since > idle_check:
                    quiet_since = time.monotonic()
                    try:
                        with host.errors("inspect"):
                            state = host.client().api.inspect_container(cid)["State"]
                    except DockerUnavailable:
                        return
                    if not state.get("Running") or state.get("StartedAt") != started:
                        return
                continue
            ended = item is _EOF or isinstance(item, BaseException)
            quiet_since = time.monotonic()
            block = lines.end() if ended else lines.feed(item)
            for raw in block.split(b"\n")[:-1]:  # a block is whole lines, each ending "\n"
                ns, text = split_stamp(raw.decode("utf-8", "replace").rstrip("\r"))
                if cursor.accept(ns, text):
                    yield LogLine(name, ns_to_datetime(ns) if ns else None, text)
            if ended:
                return
    finally:
        closed.set()
        _unblock(sock)
        res.close()
        reader.join(timeout=2.0)


def _backfill(
    host: Host, cid: str, name: str, cursor: LogCursor, since: float | None, tail: int
) -> Iterator[LogLine]:
    # With tail=0 one line is read silently as the start point, so a line written before we
    # attach is neither lost nor shown twice.
    for raw in _fetch(host, cid, since=since, tail="all" if tail < 0 else max(tail, 1)):
        ns, text = split_stamp(raw)
        if cursor.accept(ns, text) and tail != 0:
            yield LogLine(name, ns_to_datetime(ns) if ns else None, text)
    if cursor.last_ns is None and since:
        cursor.last_ns = int(since * _NS)  # nothing since then: follow from there


def follow_logs(
    host: Host,
    cid: str,
    name: str,
    *,
    since: float | None,
    tail: int,
    stop: threading.Event,
    idle_check: float = 5.0,
) -> Iterator[LogLine]:
    """``docker logs -f -t`` that survives restarts and daemon drops, with markers.

    ``tail`` past lines first (< 0: all of them, 0: none), from ``since`` (unix seconds).
    """
    cursor = LogCursor()
    backfilled = False
    broken = ""  # why the stream is down, once reported
    down_since = 0.0
    attached_start: str | None = None
    delay = 0.05
    while not stop.is_set():
        try:
            with host.errors("inspect"):
                attrs = host.client().api.inspect_container(cid)
            if not backfilled:
                yield from _backfill(host, cid, name, cursor, since, tail)
                backfilled = True
        except ContainerNotFound:
            gone = "was removed; stream ended" if backfilled else "no longer exists"
            yield _marker(name, "removed", f"container {name} {gone}")
            return
        except DockerUnavailable as e:
            if "does not support reading" in e.message:  # log driver "none", "syslog", ...
                yield _marker(name, "removed", f"no logs to read: {e.message}")
                return
            if broken != "daemon":
                yield _marker(name, "interrupted", f"stream interrupted: {e.message}; retrying")
                broken = "daemon"
            stop.wait(delay)
            delay = min(delay * 2, 2.0)
            continue
        state = attrs.get("State") or {}
        if not state.get("Running"):
            if broken != "stopped":
                status = state.get("Status", "stopped")
                yield _marker(name, "interrupted", f"stream interrupted: container {status}")
                broken, down_since = "stopped", time.monotonic()
            stop.wait(delay)
            # A restart takes well under a second: poll briskly at first, then back off.
            if time.monotonic() - down_since > 2.0:
                delay = min(delay * 1.5, 1.0)
            continue
        restarted = state.get("StartedAt") != attached_start
        if attached_start is not None or broken:
            when = parse_docker_time(state.get("StartedAt"))
            what = f"container restarted {when:%H:%M:%S}" if restarted and when else "reconnected"
            yield _marker(name, "reattached", f"stream re-attached ({what})")
        if attached_start is not None and not restarted and not broken:
            # docker ended a stream of a container that still runs: do not spin on it
            stop.wait(delay)
            delay = min(delay * 2, 2.0)
        else:
            delay = 0.05
        broken = ""
        attached_start = state.get("StartedAt", "")
        cursor.rewind()
        try:
            yield from _follow_once(
                host,
                cid,
                name,
                cursor,
                stop,
                started=attached_start,
                tty=bool((attrs.get("Config") or {}).get("Tty")),
                idle_check=idle_check,
            )
        except DockerUnavailable as e:
            # the inspect above tells removal from a lost daemon; an error answer is reported
            if not isinstance(e, ContainerNotFound):
                broken = "daemon"
                yield _marker(name, "interrupted", f"stream interrupted: {e.message}; retrying")
                stop.wait(delay)
                delay = min(delay * 2, 2.0)
