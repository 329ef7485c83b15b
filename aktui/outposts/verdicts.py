"""What the screens show, in one immutable value: the last good snapshot, containers, verdicts.

The app replaces ``AppData`` after every refresh and the screens re-render from it; nothing here
imports Textual, so the row builders are testable as plain functions. Staleness verdicts come
from ``aktui.outposts.staleness`` (load evidence vs. config changes); this module only adapts
them to what a row needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aktui.authentik.model import Finding, Outpost, Snapshot
from aktui.outposts.staleness import FRESH, STALE, UNKNOWN, LoadEvidence, assess
from aktui.runtime import ContainerInfo


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str  # aktui.outposts.staleness STALE ("yes"), FRESH ("no") or UNKNOWN ("unknown")
    reason: str  # why, in one line ("provider blog changed 14:02, outpost loaded 13:40")
    action: str = "reload"  # the recommended fix: "reload" or "restart"
    confidence: str = ""

    @property
    def stale(self) -> bool:
        return self.state == STALE

    @property
    def unknown(self) -> bool:
        return self.state == UNKNOWN


@dataclass(frozen=True, slots=True)
class AppData:
    snapshot: Snapshot | None = None
    last_ok: datetime | None = None  # when `snapshot` was fetched
    error: str = ""  # the last refresh's error; "" when it succeeded
    containers: tuple[ContainerInfo, ...] = ()
    containers_error: str = ""
    # Names of the outposts authentik had when `containers` was listed (None: listed before any
    # snapshot). An outpost that came later was not looked for yet: never "not found".
    containers_for: frozenset[str] | None = None
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)  # outpost pk -> verdict
    # outpost name -> load evidence read from its container (start, log lines, metric)
    evidence: Mapping[str, LoadEvidence] = field(default_factory=dict)
    previous: Snapshot | None = None  # the snapshot before `snapshot`: health uid changes

    @property
    def stale_data(self) -> bool:
        return bool(self.error) and self.snapshot is not None

    def container_for(self, outpost: Outpost) -> ContainerInfo | None:
        return container_for(outpost, self.containers)

    def container_missing(self, outpost: Outpost) -> bool:
        """Its container was looked for and is not there (not merely: not listed yet)."""
        if not self.containers or self.container_for(outpost) is not None:
            return False
        return self.containers_for is None or outpost.name in self.containers_for

    def stale_outposts(self) -> tuple[Outpost, ...]:
        if self.snapshot is None:
            return ()
        return tuple(
            o for o in self.snapshot.outposts if (v := self.verdicts.get(o.pk)) and v.stale
        )


def container_for(outpost: Outpost, containers: Iterable[ContainerInfo]) -> ContainerInfo | None:
    containers = tuple(containers)
    for c in containers:
        if c.outpost_name == outpost.name:
            return c
    return next((c for c in containers if c.name == outpost.name), None)


def age(when: datetime | None, now: datetime) -> str:
    """Short human age ("8s", "3m", "2h", "4d"); "never" without a time."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 90 * 60:
        return f"{seconds // 60}m"
    if seconds < 36 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def hhmm(when: datetime | None) -> str:
    return when.strftime("%H:%M:%S") if when else "?"


def runtime_name(runtime: object, container: ContainerInfo) -> str:
    """How the runtime addresses a container: docker hosts may repeat names, so host/name."""
    return f"{container.host}/{container.name}" if hasattr(runtime, "hosts") else container.name


def compute_verdicts(data: AppData, now: datetime) -> dict[str, Verdict]:
    snap = data.snapshot
    if snap is None:
        return {}
    out: dict[str, Verdict] = {}
    for o in snap.outposts:
        container = data.container_for(o)
        evidence = data.evidence.get(o.name) or LoadEvidence(
            container_started=container.started_at if container else None
        )
        if container is None and not o.provider_pks:
            continue  # nothing served, nothing to run: no verdict to give
        v = assess(snap, o, evidence, previous=data.previous, now=now)
        unwell = container is not None and (
            container.state != "running" or container.health == "unhealthy"
        )
        reason, state = v.reason, v.stale
        if container is not None and container.state != "running":
            reason = f"container {container.state}; {reason}"
        if container is None and state == FRESH:
            # "No recorded change" proves nothing without knowing when it last loaded: only
            # its container (start, log, metric) says that. Honest: unsure, not fresh.
            state, reason = UNKNOWN, f"no docker evidence of its last load; {reason}"
        out[o.pk] = Verdict(state, reason, "restart" if unwell else "reload", v.confidence)
    return out


SEVERITY_ICON = {"error": "✖", "warning": "▲", "info": "ℹ"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def worst(findings: Iterable[Finding]) -> str | None:
    ranked = sorted((SEVERITY_ORDER.get(f.severity, 9), f.severity) for f in findings)
    return ranked[0][1] if ranked else None
