"""Is an outpost serving stale config? Evidence in, a verdict with its reason out. Pure.

authentik exposes no config version (FACTS.md b), so we compare *when the outpost last loaded*
with *when something it serves last changed*. Load times come from the container's start, a
new health ``uid`` (a new process), the last ``Loaded application`` log line (Go; ``loaded
application`` from the Rust outpost of 2026.8+) and the
``authentik_outpost_last_update`` metric. The last two show every refresh; the first two only
restarts, so with only those a later push or interval refresh may have happened unseen, and
the verdict is less sure. Change times are ``model_updated`` events for the outpost, its
providers and their applications. An empty health list means the websocket is down (no push
can arrive); repeated ``Failed to fetch outpost configuration`` means the old config is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from aktui.authentik.model import ModelChange, Outpost, Snapshot
from aktui.runtime import ContainerInfo, LogLine

STALE, FRESH, UNKNOWN = "yes", "no", "unknown"
# A push reaches a connected outpost after a random 0-9 s offset, plus the fetch itself.
PUSH_GRACE = timedelta(seconds=15)
INTERVAL_SLACK = timedelta(seconds=30)
LOADED = "Loaded application"
FETCH_FAILED = ("Failed to fetch outpost configuration", "Failed to fetch providers")
# The messages, casefolded, as the Go outpost (logrus JSON / logfmt) and the Rust outpost of
# 2026.8+ (tracing JSON, message under "event") write them. Rust, src/outpost/proxy/mod.rs:
# info "loaded application" {name, host} per provider at every refresh, error "failed to fetch
# providers"; src/outpost/mod.rs: warn "Failed to fetch outpost from API, retrying in 3 seconds".
_LOADED_MESSAGES = ("loaded application",)
_FAILED_MESSAGES = (
    "failed to fetch outpost configuration",
    "failed to fetch providers",
    "failed to fetch outpost from api",
)


_LOGFMT_MSG = re.compile(r'(?:^|\s)msg=(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _message(text: str) -> str:
    """A log line's message, casefolded: ``event`` (logrus, and the Rust outpost's tracing
    JSON), ``msg``/``message``, logfmt's ``msg=``, else the text. Kept to what staleness needs
    (aktui.logs.format parses fully; outposts/ does not depend on logs/)."""
    body = text.strip()
    if body.startswith("{") and len(body) <= 65536:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return ""
        if not isinstance(data, dict):
            return ""
        raw_fields = data.get("fields")
        nested = raw_fields if isinstance(raw_fields, dict) else {}
        for found in (
            data.get("event"),
            data.get("msg"),
            data.get("message"),
            nested.get("message"),
        ):
            if isinstance(found, str):
                return found.casefold()
        return ""
    match = _LOGFMT_MSG.search(body)
    if match:
        return (match.group(1) if match.group(1) is not None else match.group(2)).casefold()
    return body.casefold()


def is_load_line(text: str) -> bool:
    """A line that shows the outpost (re)loaded its providers, Go or Rust."""
    return "oaded application" in text and _message(text).startswith(_LOADED_MESSAGES)


def is_fetch_failure(text: str) -> bool:
    """A line that shows a config fetch failed (the old config is kept), Go or Rust."""
    return "etch " in text and _message(text).startswith(_FAILED_MESSAGES)


_KIND = {"proxyprovider": "provider", "application": "application", "outpost": "outpost"}
# Changes that authentik pushes over the websocket; application saves only clear a cache.
_PUSHED = {"proxyprovider", "outpost"}


@dataclass(frozen=True, slots=True)
class LoadEvidence:
    """What each source says about the outpost's last config load (None: source unavailable)."""

    container_started: datetime | None = None  # the outpost loads its config at start
    uid_changed_after: datetime | None = None  # a new health uid appeared after this time
    last_loaded_log: datetime | None = None  # newest "Loaded application" line
    metric_last_update: datetime | None = None  # authentik_outpost_last_update
    fetch_failures: tuple[datetime, ...] = ()  # "Failed to fetch outpost configuration" lines


@dataclass(frozen=True, slots=True)
class Staleness:
    outpost: str
    stale: str  # STALE, FRESH or UNKNOWN
    reason: str  # one line an operator can act on
    confidence: str  # "high", "medium", "low"
    loaded_at: datetime | None = None
    load_source: str = ""  # "log", "metric", "container start", "new instance"
    changed_at: datetime | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_stale(self) -> bool:
        return self.stale == STALE


def scan_logs(lines: Iterable[LogLine]) -> tuple[datetime | None, tuple[datetime, ...]]:
    """(last "Loaded application" time, times of failed config fetches) from log lines."""
    loaded: datetime | None = None
    failures: list[datetime] = []
    for line in lines:
        if line.marker or line.at is None:
            continue
        if is_load_line(line.text):
            loaded = line.at if loaded is None or line.at > loaded else loaded
        elif is_fetch_failure(line.text):
            failures.append(line.at)
    return loaded, tuple(sorted(failures))


def gather(
    container: ContainerInfo | None = None,
    lines: Iterable[LogLine] = (),
    metric: datetime | None = None,
) -> LoadEvidence:
    """LoadEvidence from what the runtime offers: the container, its log lines, the metric."""
    loaded, failures = scan_logs(lines)
    return LoadEvidence(
        container_started=container.started_at if container else None,
        last_loaded_log=loaded,
        metric_last_update=metric,
        fetch_failures=failures,
    )


def relevant_changes(snapshot: Snapshot, outpost: Outpost) -> tuple[ModelChange, ...]:
    """Changes to the outpost itself, its providers and those providers' applications."""
    providers = {str(pk) for pk in outpost.provider_pks}
    # events name uuid models by UUID.hex (no dashes); the API's pk fields have dashes.
    # Through the snapshot's index: scanning every application per outpost made each
    # dashboard render quadratic at scale (50 outposts x 2000 apps: ~150 ms on the UI thread).
    served = [a for pk in dict.fromkeys(outpost.provider_pks) for a in snapshot.applications_of(pk)]
    apps = {_hex(a.pk) for a in served}
    app_slugs = {a.slug for a in served}
    out = []
    for c in snapshot.changes:
        if (
            (c.model == "outpost" and _hex(c.pk) == _hex(outpost.pk))
            or (c.model == "proxyprovider" and c.pk in providers)
            or (c.model == "application" and (_hex(c.pk) in apps or c.pk in app_slugs))
        ):
            out.append(c)
    return tuple(sorted(out, key=lambda c: c.at))


def _hex(pk: str) -> str:
    return pk.replace("-", "").lower()


def uid_changed_after(
    previous: Snapshot | None, current: Snapshot, outpost_pk: str
) -> datetime | None:
    """When a health uid unseen in the previous snapshot appears, the process restarted after
    the previous fetch (uids are made at process start)."""
    if previous is None:
        return None
    before, now = previous.outpost(outpost_pk), current.outpost(outpost_pk)
    if before is None or now is None or not before.instances or not now.instances:
        return None  # an empty list says nothing about which process reconnects
    old = {i.uid for i in before.instances}
    return previous.fetched_at if any(i.uid not in old for i in now.instances) else None


def _when(at: datetime, now: datetime, tz: tzinfo, seconds: bool = False) -> str:
    local, today = at.astimezone(tz), now.astimezone(tz)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{local:{clock}}" if local.date() == today.date() else f"{local:%b %d {clock}}"


def _every(seconds: int) -> str:
    """``every 5 min``, ``every 90 s``, ``every 2 h``."""
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"


def _same_minute(a: datetime, b: datetime) -> bool:
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


def _describe(
    change: ModelChange, more: int, now: datetime, tz: tzinfo, seconds: bool = False
) -> str:
    kind = _KIND.get(change.model, change.model)
    text = f"{kind} {change.name or change.pk} changed {_when(change.at, now, tz, seconds)}"
    return text + (f" (+{more} more change{'s' if more > 1 else ''})" if more else "")


def judge(
    outpost: Outpost,
    changes: Sequence[ModelChange],
    evidence: LoadEvidence,
    *,
    now: datetime,
    tz: tzinfo = UTC,
) -> Staleness:
    """The verdict for one outpost. ``changes`` are the ones relevant to it."""
    loads = [
        (t, src)
        for t, src in (
            (evidence.metric_last_update, "metric"),
            (evidence.last_loaded_log, "log"),
            (evidence.container_started, "container start"),
            (evidence.uid_changed_after, "new instance"),
        )
        if t is not None
    ]
    loaded_at, source = max(loads, key=lambda x: x[0]) if loads else (None, "")
    restarted_only = source in ("container start", "new instance")
    started: datetime | None = None  # set when the process started and never loaded since
    if loaded_at and restarted_only and any(f >= loaded_at for f in evidence.fetch_failures):
        # The fetch after that start failed: the new process loaded nothing at all.
        started, loaded_at, source = loaded_at, None, ""
    # Sources that show every refresh (not only restarts): their silence is evidence too.
    sees_refreshes = evidence.metric_last_update is not None or evidence.last_loaded_log is not None
    pending = [c for c in changes if loaded_at is None or c.at > loaded_at]
    failing = [f for f in evidence.fetch_failures if loaded_at is None or f >= loaded_at]
    ws_down = outpost.health_known and not outpost.instances
    notes = []
    if ws_down:
        notes.append("websocket down: pushed updates cannot arrive")
    if failing:
        notes.append(f"config fetch failed {len(failing)}x since {_when(failing[0], now, tz)}")
    # A change and a load in the same minute only read in the right order with seconds.
    secs = loaded_at is not None and any(_same_minute(c.at, loaded_at) for c in changes)
    loaded_text = f"outpost loaded {_when(loaded_at, now, tz, secs)}" if loaded_at else ""

    def verdict(stale: str, reason: str, confidence: str) -> Staleness:
        return Staleness(
            outpost.name,
            stale,
            reason,
            confidence,
            loaded_at,
            source,
            pending[-1].at if pending else (changes[-1].at if changes else None),
            # the failing fetches are already the reason: no need to repeat them
            tuple(n for n in notes if not ("fetch failing" in reason and "fetch failed" in n)),
        )

    if len(failing) >= 2 or (failing and loaded_at is None):
        since = _when(failing[0], now, tz)
        if started:
            # Not stale: it keeps no older config, it has none (an outpost does not serve
            # until its first fetch works). A reload cannot help; the token or URL can.
            return verdict(
                UNKNOWN,
                f"config fetch failing since {since} ({len(failing)}x): nothing loaded since "
                f"it started {_when(started, now, tz)}; changes will not apply",
                "medium",
            )
        if pending:
            what = _describe(pending[-1], len(pending) - 1, now, tz, secs)
            return verdict(
                STALE, f"{what}; config fetch failing since {since}, old config kept", "high"
            )
        return verdict(
            UNKNOWN,
            f"config fetch failing since {since} ({len(failing)}x); changes will not apply",
            "medium",
        )
    if not pending:
        if not changes:
            # Audit events cover API changes only (not blueprints): hence not "high".
            base = "no recorded change to what it serves"
            return verdict(FRESH, f"{base}, {loaded_text}" if loaded_at else base, "medium")
        last = changes[-1]
        what = _describe(last, 0, now, tz, secs)
        return verdict(FRESH, f"{what}, {loaded_text} ({source})", "high")
    newest = pending[-1]
    what = _describe(newest, len(pending) - 1, now, tz, secs)
    # Every outpost also reloads on its own every refresh_interval (5 min by default; the Go
    # outpost on a timer, the Rust one on a timer while its websocket is up and at each
    # reconnect), so a change older than one interval is normally loaded by now.
    every = _every(outpost.refresh_interval_s)
    interval = timedelta(seconds=max(outpost.refresh_interval_s, 30)) + INTERVAL_SLACK
    age = now - newest.at
    if loaded_at is None:
        reason = f"{what}; no load time known (no logs, metric or container)"
        if age > interval and outpost.instances and not failing:
            # connected (so running) for longer than one refresh: e.g. the embedded outpost
            return verdict(
                FRESH,
                f"{reason}, but it is connected and refreshes {every}: very likely loaded",
                "low",
            )
        return verdict(UNKNOWN, reason, "low")
    reason = f"{what}, {loaded_text}"
    pushed = all(c.model in _PUSHED for c in pending)
    if age < PUSH_GRACE and pushed and not ws_down:
        return verdict(UNKNOWN, f"{reason}; a pushed reload is expected within seconds", "low")
    if sees_refreshes:
        due = loaded_at + timedelta(seconds=max(outpost.refresh_interval_s, 30))
        if now > due + INTERVAL_SLACK:
            # the log/metric show every refresh: a missed one means its refreshes fail
            reason = f"{reason}; no reload since, though it refreshes {every}"
        else:
            reason = f"{reason}; its own refresh ({every}) is due by {_when(due, now, tz)}"
        return verdict(STALE, reason, "high")
    # Only restarts are visible: a push or the interval refresh may have loaded it unseen.
    reason = f"{reason} ({source})"
    if age > interval:
        if ws_down:
            return verdict(
                UNKNOWN, f"{reason}; its own refresh ({every}) should have applied it", "low"
            )
        return verdict(
            FRESH,
            f"{reason}; it refreshes {every} and is connected: very likely loaded since "
            "(no log or metric to confirm)",
            "medium",
        )
    if ws_down:
        return verdict(STALE, f"{reason}; websocket down, no push can arrive", "medium")
    if not pushed:
        return verdict(STALE, f"{reason}; application changes are not pushed", "medium")
    return verdict(UNKNOWN, f"{reason}; no log or metric shows if the push arrived", "low")


def assess(
    snapshot: Snapshot,
    outpost: Outpost,
    evidence: LoadEvidence,
    *,
    previous: Snapshot | None = None,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> Staleness:
    """``judge`` with the relevant changes and the health-uid evidence taken from snapshots."""
    uid_after = uid_changed_after(previous, snapshot, outpost.pk)
    if uid_after and (evidence.uid_changed_after is None or uid_after > evidence.uid_changed_after):
        evidence = LoadEvidence(
            evidence.container_started,
            uid_after,
            evidence.last_loaded_log,
            evidence.metric_last_update,
            evidence.fetch_failures,
        )
    return judge(
        outpost,
        relevant_changes(snapshot, outpost),
        evidence,
        now=now or snapshot.fetched_at,
        tz=tz,
    )
