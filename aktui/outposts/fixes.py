"""Reload or restart outposts, and prove it worked.

An action is not assumed to work: before it, we attach to the outpost's log stream (and read
any extra probes, e.g. the ``authentik_outpost_last_update`` metric or the health uids); after
it, a *fresh load* must show up (a ``Loaded application`` line that arrives after the action,
or a probe value that changed) within a bounded time, or the result says it failed.

Reload (SIGUSR1) is the default fix: the standalone outpost keeps sessions in memory, so a
restart logs everyone out. We restart when the reload shows no fresh load, or when the
container is not running or unhealthy. A reload whose refresh *failed* ("Failed to fetch outpost
configuration") is not escalated: a restart would fetch with the same token and TLS settings,
and log users out for nothing. Works with any ``OutpostRuntime`` (docker or the demo lab).
Every method blocks; refused in read-only mode.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aktui.errors import ActionRefused, AktuiError
from aktui.outposts.staleness import is_fetch_failure, is_load_line
from aktui.runtime import LogLine, OutpostRuntime

Probe = Callable[[str], object]  # outpost/container name -> comparable value, None = unknown


@dataclass(frozen=True, slots=True)
class ActionResult:
    target: str
    action: str  # what finally ran: "reload" or "restart"
    ok: bool
    detail: str  # the evidence of a fresh load, or why it failed
    started_at: datetime
    seconds: float
    attempts: tuple[str, ...] = ()  # ("reload", "restart") when a reload was escalated


class _Watch:
    """Log lines and probe values of one outpost, captured around an action.

    The stream starts with the newest existing line (tail=1) and the action waits for it:
    every line after it in the stream was written after it, so it is new. This needs no
    clock: log stamps come from the docker host's clock, which may differ from ours.
    """

    def __init__(self, runtime: OutpostRuntime, name: str, probes: Mapping[str, Probe]) -> None:
        self.name = name
        self.probes = probes
        self.before = {k: _safe(p, name) for k, p in probes.items()}
        self.lines: queue.Queue[LogLine | BaseException] = queue.Queue()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self._runtime = runtime
        self._thread = threading.Thread(target=self._read, daemon=True, name=f"verify-{name}")
        self._thread.start()

    def _read(self) -> None:
        try:
            stream = self._runtime.stream_logs(self.name, since=None, tail=1, stop=self.stop)
            for line in stream:
                if not self.ready.is_set() and not line.marker:
                    self.ready.set()  # the newest line from before the action: not evidence
                    continue
                self.lines.put(line)
                if self.stop.is_set():
                    break
        except BaseException as e:  # reported by wait(), not lost in a thread
            self.lines.put(e)
        finally:
            self.ready.set()

    def wait(self, deadline: float) -> tuple[bool, str]:
        """(True, evidence) at the first fresh load, (False, why) otherwise."""
        next_probe = 0.0
        while True:
            now = time.monotonic()
            if self.probes and now >= next_probe:
                next_probe = now + 0.5  # probes are HTTP/API calls: not every tick
                for key, probe in self.probes.items():
                    old, value = self.before.get(key), _safe(probe, self.name)
                    if value is not None and value != old:
                        return True, f"{key} changed ({_short(old)} -> {_short(value)})"
            if now >= deadline:
                return False, "no fresh load seen (no 'Loaded application' line"
            try:
                item = self.lines.get(timeout=min(deadline - now, 0.1))
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                msg = item.message if isinstance(item, AktuiError) else str(item)
                return False, f"could not follow its log: {msg}"
            if item.marker:
                continue
            if is_load_line(item.text):
                when = f" at {item.at:%H:%M:%S}" if item.at else ""
                return True, f"'Loaded application' logged{when}"
            if is_fetch_failure(item.text):
                return False, f"refresh failed: {item.text[:200]}"

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=3.0)


def _safe(probe: Probe, name: str) -> object:
    try:
        return probe(name)
    except Exception:  # a probe is extra evidence; its failure is not the action's
        return None


def _short(value: object) -> str:
    text = value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    return text[:40]


class OutpostActions:
    def __init__(
        self,
        runtime: OutpostRuntime,
        *,
        read_only: bool,
        verify_timeout: float = 20.0,
        restart_timeout: float = 30.0,
        probes: Mapping[str, Probe] | None = None,
        max_concurrency: int = 3,
        attach_timeout: float = 3.0,
    ) -> None:
        self.runtime = runtime
        self.read_only = read_only
        self.verify_timeout = verify_timeout
        self.restart_timeout = restart_timeout
        self.probes = dict(probes or {})
        self.max_concurrency = max(1, max_concurrency)
        self.attach_timeout = attach_timeout

    def _refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            raise ActionRefused(f"read-only mode: {what} refused", "start without --read-only")

    def _run(self, name: str, action: str) -> ActionResult:
        started, t0 = datetime.now(UTC), time.monotonic()
        watch = _Watch(self.runtime, name, self.probes)
        try:
            # An empty log never gives a first line: then act after a bounded wait.
            watch.ready.wait(self.attach_timeout)
            try:
                if action == "reload":
                    self.runtime.reload(name)
                else:
                    self.runtime.restart(name, timeout=self.restart_timeout)
            except AktuiError as e:
                return ActionResult(name, action, False, str(e), started, time.monotonic() - t0)
            ok, detail = watch.wait(time.monotonic() + self.verify_timeout)
        finally:
            watch.close()
        if not ok and detail.startswith("no fresh load"):
            detail += f" within {self.verify_timeout:g}s after the {action})"
        return ActionResult(name, action, ok, detail, started, time.monotonic() - t0, (action,))

    def reload(self, name: str) -> ActionResult:
        self._refuse_if_read_only(f"reload of {name}")
        return self._run(name, "reload")

    def restart(self, name: str) -> ActionResult:
        self._refuse_if_read_only(f"restart of {name}")
        return self._run(name, "restart")

    def _needs_restart(self, name: str) -> str:
        try:
            infos = self.runtime.containers()
        except AktuiError:
            return ""
        for info in infos:
            if name in (info.name, info.outpost_name, info.id):
                if info.state != "running":
                    return f"container {info.state}"
                if info.health == "unhealthy":
                    return "container unhealthy"
        return ""

    def fix(self, name: str) -> ActionResult:
        """Reload; restart when the reload shows no fresh load or the container is unwell."""
        self._refuse_if_read_only(f"fixing {name}")
        t0 = time.monotonic()
        why = self._needs_restart(name)
        if why:
            result = self._run(name, "restart")
            return _with(result, detail=f"{why}: {result.detail}")
        first = self._run(name, "reload")
        # Escalate only when the reload went unanswered (or could not be sent to a stopped
        # container): a failed refresh or an unreachable daemon is not cured by a restart.
        if first.ok or not (
            first.detail.startswith("no fresh load") or "is not running" in first.detail
        ):
            return first
        second = self._run(name, "restart")
        return _with(
            second,
            detail=f"reload did not load ({first.detail}); restart: {second.detail}",
            attempts=("reload", "restart"),
            seconds=time.monotonic() - t0,
            started_at=first.started_at,
        )

    def fix_all(self, names: Iterable[str]) -> list[ActionResult]:
        """``fix`` each (stale) outpost, a few at a time; one result per name, in order."""
        targets = list(dict.fromkeys(names))
        self._refuse_if_read_only(f"fixing {len(targets)} outposts")
        if not targets:
            raise ActionRefused("no stale outpost to fix")

        def one(name: str) -> ActionResult:
            try:
                return self.fix(name)
            except AktuiError as e:
                return ActionResult(name, "reload", False, str(e), datetime.now(UTC), 0.0)

        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(targets))) as pool:
            return list(pool.map(one, targets))


def _with(result: ActionResult, **changes: Any) -> ActionResult:
    return replace(result, **changes)
