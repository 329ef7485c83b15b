"""`aktui status`: the model (outposts, providers, groups, findings) as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from aktui.authentik.jsonable import to_jsonable
from aktui.authentik.model import MODE_LABELS, Snapshot
from aktui.cmd._common import backend_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the model as JSON")


def run(args: argparse.Namespace) -> int:
    with backend_from_args(args) as backend:
        snapshot = backend.fetch_snapshot()
        containers = backend.containers(snapshot)
    if args.json:
        payload = to_jsonable(snapshot)
        payload["context"] = backend.name
        payload["containers"] = to_jsonable(containers)
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(snapshot))
    return 0


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


def render_text(snap: Snapshot) -> str:
    out = [f"authentik {snap.server_version or '?'} at {snap.server_url}", "", "OUTPOSTS"]
    for o in snap.outposts:
        kind = "embedded" if o.embedded else o.type
        out.append(
            f"  {o.name:<32} {kind:<9} instances={len(o.instances)} "
            f"version={','.join(o.versions) or '-'} last_seen={_age(o.last_seen, snap.fetched_at)}"
        )
    out += ["", "COOKIE-DOMAIN GROUPS"]
    for g in snap.groups:
        out.append(f"  {g.key} ({g.kind}) outposts: {', '.join(g.outpost_names) or 'none'}")
        for pk in g.provider_pks:
            p = snap.provider(pk)
            if p:
                mode = MODE_LABELS.get(p.mode, p.mode)
                out.append(f"    {p.name:<30} {mode:<22} {p.external_host}")
    out += ["", f"FINDINGS ({len(snap.findings)})"]
    for f in snap.findings:
        out.append(f"  [{f.severity}] {f.code}: {f.evidence}")
        out.append(f"      fix: {f.fix}")
    return "\n".join(out) + "\n"
