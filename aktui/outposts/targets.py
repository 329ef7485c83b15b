"""What a key acts on: a selection (outpost, provider, app, cookie domain, finding) resolved to
outposts, and whether reloading or restarting one of them can help at all.

The screens ask this module instead of guessing from whichever table happens to have a cursor:
a fix must act on what the operator sees highlighted, or be refused, never on an invisible
row. No Textual here, so the rules are unit-tested on plain snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aktui.authentik.model import Outpost, Snapshot
from aktui.outposts.staleness import LoadEvidence

# Selection kinds the dashboard, the tables and the detail screen hand over.
KINDS = ("outpost", "provider", "application", "group", "finding")


@dataclass(frozen=True, slots=True)
class Selection:
    kind: str  # one of KINDS
    key: str  # outpost pk, provider pk, application slug, cookie-domain key, finding key


def outposts_for(snap: Snapshot, selection: Selection | None) -> tuple[Outpost, ...]:
    """The outposts a selection stands for, in the snapshot's order; () when none."""
    if selection is None:
        return ()
    kind, key = selection.kind, selection.key
    if kind == "outpost":
        o = snap.outpost(key)
        return (o,) if o else ()
    if kind == "provider":
        return _serving(snap, key)
    if kind == "application":
        app = next((a for a in snap.applications if a.slug == key), None)
        return snap.outposts_serving(app.provider_pk) if app and app.provider_pk is not None else ()
    if kind == "group":
        group = next((g for g in snap.groups if g.key == key), None)
        names = set(group.outpost_names) if group else set()
        return tuple(o for o in snap.outposts if o.name in names)
    if kind == "finding":
        finding = next((f for f in snap.findings if finding_key(f) == key), None)
        if finding is None:
            return ()
        out: list[Outpost] = []
        for subject in finding.subjects:
            for o in outposts_for(snap, subject_selection(subject)):
                if o not in out:
                    out.append(o)
        return tuple(out)
    return ()


def _serving(snap: Snapshot, pk: str) -> tuple[Outpost, ...]:
    try:
        return snap.outposts_serving(int(pk))
    except ValueError:
        return ()


def subject_selection(subject: str) -> Selection | None:
    """A finding subject ("outpost:<pk>", "provider:<pk>", "app:<slug>") as a selection."""
    prefix, _, key = subject.partition(":")
    kind = {"outpost": "outpost", "provider": "provider", "app": "application"}.get(prefix)
    return Selection(kind, key) if kind and key else None


def subject_name(snap: Snapshot, subject: str) -> str:
    """A finding subject as an operator reads it: "outpost outpost-single", not a raw pk."""
    sel = subject_selection(subject)
    if sel is None:
        return subject
    if sel.kind == "outpost":
        o = snap.outpost(sel.key)
        return f"outpost {o.name}" if o else subject
    if sel.kind == "provider":
        try:
            p = snap.provider(int(sel.key))
        except ValueError:
            p = None
        return f"provider {p.name}" if p else subject
    app = next((a for a in snap.applications if a.slug == sel.key), None)
    return f"application {app.name} ({app.slug})" if app else subject


def finding_key(f: object) -> str:
    """The stable row key of a finding (its code and subjects)."""
    return f"{getattr(f, 'code', '')}|{'|'.join(getattr(f, 'subjects', ()))}"


EMBEDDED_NO_FIX = (
    "runs inside the authentik server: no outpost container to reload or restart "
    "(restart the authentik server instead)"
)


def fetch_failing(evidence: LoadEvidence | None) -> datetime | None:
    """When the outpost last failed to fetch its config, if no load succeeded since."""
    if evidence is None or not evidence.fetch_failures:
        return None
    last = max(evidence.fetch_failures)
    loaded = evidence.last_loaded_log
    return last if loaded is None or last > loaded else None


FETCH_FAILS_FIX = (
    'its config fetch fails ("Failed to fetch outpost configuration", e.g. 403): a reload '
    "or restart fetches with the same token and fails again. Fix its token (authentik: "
    "Outposts → this outpost → View deployment info, set AUTHENTIK_TOKEN and recreate the "
    "container) or its AUTHENTIK_HOST / TLS settings"
)


def fix_blocker(outpost: Outpost, evidence: LoadEvidence | None) -> str:
    """Why reloading/restarting this outpost cannot help ("" when it can)."""
    if outpost.embedded:
        return EMBEDDED_NO_FIX
    if fetch_failing(evidence) is not None:
        return FETCH_FAILS_FIX
    return ""


__all__ = [
    "EMBEDDED_NO_FIX",
    "FETCH_FAILS_FIX",
    "KINDS",
    "Selection",
    "fetch_failing",
    "finding_key",
    "fix_blocker",
    "outposts_for",
    "subject_name",
    "subject_selection",
]
