"""`aktui doctor`: run every check against the live (or demo) setup and print the results."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import urlsplit

from aktui.backend import Backend
from aktui.cmd._common import backend_from_args
from aktui.doctor import CheckResult, DoctorInput, OutpostEndpoint, exit_code, run_doctor
from aktui.doctor_web import web_checks
from aktui.jsonable import to_jsonable
from aktui.model import Snapshot
from aktui.runtime import ContainerInfo
from aktui.staleness import doctor_checks as staleness_checks

MARKS = {"ok": "✓ ok  ", "warn": "! warn", "error": "✗ err ", "skipped": "- skip"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document with all results")
    parser.add_argument("--check", nargs="+", metavar="ID", default=[], help="only these checks")
    parser.add_argument(
        "--nginx", metavar="PATH", nargs="+", help="lint nginx config instead (same as lint-nginx)"
    )


def endpoints(
    backend: Backend, snapshot: Snapshot, containers: list[ContainerInfo]
) -> list[OutpostEndpoint]:
    """Where each outpost's :9000 is reachable from here: config first, then discovery."""
    found = []
    docker_hosts = backend.config.docker_hosts
    for outpost in snapshot.outposts:
        if outpost.embedded:
            continue
        mapping = backend.config.outposts.get(outpost.name)
        if mapping and mapping.port:
            address = mapping.address or "127.0.0.1"
            found.append(OutpostEndpoint(outpost, f"http://{address}:{mapping.port}"))
            continue
        container = next(
            (c for c in containers if c.outpost_name == outpost.name and c.ports), None
        )
        if container is None:
            continue
        host = "127.0.0.1"
        docker_url = docker_hosts[container.host].url if container.host in docker_hosts else ""
        if docker_url.startswith(("ssh://", "tcp://")):
            host = urlsplit(docker_url).hostname or host
        found.append(OutpostEndpoint(outpost, f"http://{host}:{container.ports[0]}"))
    return found


async def _diagnose(backend: Backend, only: list[str]) -> list[CheckResult]:
    snapshot = await backend.snapshot()
    containers = await asyncio.to_thread(backend.containers, snapshot)
    inp = DoctorInput(
        snapshot=snapshot,
        endpoints=endpoints(backend, snapshot, containers),
        extra=web_checks(backend, snapshot, containers),
    )
    inp.extra.append(lambda: staleness_checks(backend, snapshot, containers))
    return await run_doctor(inp, only)


def run(args: argparse.Namespace) -> int:
    if args.nginx:
        from aktui.cmd import lint_nginx

        return lint_nginx.run(argparse.Namespace(paths=args.nginx, json=args.json))
    with backend_from_args(args) as backend:
        results = asyncio.run(_diagnose(backend, args.check))
    if args.json:
        json.dump(
            {"results": to_jsonable(results), "exit": exit_code(results)}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(results))
    return exit_code(results)


def render_text(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{MARKS.get(r.status, r.status)} {r.check:<22} {r.title}")
        if r.status in ("warn", "error"):
            if r.evidence:
                lines.append(f"         saw: {r.evidence}")
            if r.fix:
                lines.append(f"         fix: {r.fix}")
    counts = {s: sum(r.status == s for r in results) for s in MARKS}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines) + "\n"
