"""What the screens show, in one immutable value: the last good snapshot, containers, verdicts.

The app replaces ``AppData`` after every refresh and the screens re-render from it; nothing here
imports Textual, so the row builders are testable as plain functions. Staleness comes from
``aktui.staleness`` when that module is installed; until then ``fallback_verdicts`` applies the
one piece of evidence every setup has: a config change newer than the container's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aktui.model import Finding, Outpost, Snapshot
from aktui.runtime import ContainerInfo


@dataclass(frozen=True, slots=True)
class Verdict:
    stale: bool
    reason: str  # why, in one line ("provider blog changed 14:02, outpost loaded 13:40")
    action: str = "reload"  # the recommended fix: "reload" or "restart"
    confidence: str = ""


@dataclass(frozen=True, slots=True)
class AppData:
    snapshot: Snapshot | None = None
    last_ok: datetime | None = None  # when `snapshot` was fetched
    error: str = ""  # the last refresh's error; "" when it succeeded
    containers: tuple[ContainerInfo, ...] = ()
    containers_error: str = ""
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)  # outpost pk -> verdict
    # outpost pk -> when this session last reloaded/restarted it (evidence of a fresh load)
    acted: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def stale_data(self) -> bool:
        return bool(self.error) and self.snapshot is not None

    def container_for(self, outpost: Outpost) -> ContainerInfo | None:
        return container_for(outpost, self.containers)

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


def fallback_verdicts(
    snap: Snapshot,
    containers: Iterable[ContainerInfo],
    acted: Mapping[str, datetime] | None = None,
) -> dict[str, Verdict]:
    """Stale when authentik changed something an outpost serves after it last loaded config.

    The load time is the container's start (the outpost loads at start) or the time this
    session reloaded it, whichever is later; without either, nothing can be said.
    """
    acted = acted or {}
    containers = tuple(containers)
    out: dict[str, Verdict] = {}
    for o in snap.outposts:
        c = container_for(o, containers)
        loaded = max((t for t in (c.started_at if c else None, acted.get(o.pk)) if t), default=None)
        action = "restart" if c and (c.state != "running" or c.health == "unhealthy") else "reload"
        if c and c.state != "running":
            out[o.pk] = Verdict(True, f"container {c.state}", "restart", "certain")
            continue
        if loaded is None:
            continue
        slugs = {
            p.application_slug
            for pk in o.provider_pks
            if (p := snap.provider(pk)) and p.application_slug
        }
        app_pks = {a.pk for a in snap.applications if a.slug in slugs}
        relevant = [
            ch
            for ch in snap.changes
            if (ch.model == "proxyprovider" and ch.pk in {str(pk) for pk in o.provider_pks})
            or (ch.model == "application" and ch.pk in app_pks)
            or (ch.model == "outpost" and ch.pk == o.pk)
        ]
        newest = max(relevant, key=lambda ch: ch.at, default=None)
        if newest is not None and newest.at > loaded:
            out[o.pk] = Verdict(
                True,
                f"{_MODEL_NAMES.get(newest.model, newest.model)} {newest.name} changed "
                f"{hhmm(newest.at)}, outpost loaded {hhmm(loaded)}",
                action,
                "likely",
            )
        else:
            out[o.pk] = Verdict(False, f"loaded {hhmm(loaded)}", action)
    return out


_MODEL_NAMES = {"proxyprovider": "provider", "application": "application", "outpost": "outpost"}


def compute_verdicts(
    snap: Snapshot,
    containers: Iterable[ContainerInfo],
    acted: Mapping[str, datetime] | None = None,
) -> dict[str, Verdict]:
    return fallback_verdicts(snap, containers, acted)


SEVERITY_ICON = {"error": "✖", "warning": "▲", "info": "ℹ"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def worst(findings: Iterable[Finding]) -> str | None:
    ranked = sorted((SEVERITY_ORDER.get(f.severity, 9), f.severity) for f in findings)
    return ranked[0][1] if ranked else None
