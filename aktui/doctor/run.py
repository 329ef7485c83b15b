"""One doctor run against a backend: read the model and containers, find where each outpost
answers, and run every check (model, probes, staleness, web servers). Shared by the CLI and the
TUI's doctor screen, so both show exactly the same results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aktui.authentik.model import Snapshot
from aktui.backend import Backend
from aktui.deploy.upstreams import resolve_target
from aktui.doctor.checks import CheckResult, DoctorInput, OutpostEndpoint, run_doctor
from aktui.doctor.staleness import doctor_checks as staleness_checks
from aktui.doctor.web import web_checks
from aktui.errors import UnsafeValue
from aktui.runtime import ContainerInfo


def endpoints(
    backend: Backend, snapshot: Snapshot, containers: Iterable[ContainerInfo]
) -> list[OutpostEndpoint]:
    """Each outpost's :9000 at the address the web servers use (config first, then the
    discovered container); outposts with no known address are left to the probe's skip."""
    found = []
    for outpost in snapshot.outposts:
        if outpost.embedded:
            continue
        try:
            target = resolve_target(outpost, backend.config, containers)
        except UnsafeValue:
            continue
        found.append(OutpostEndpoint(outpost, target.upstream))
    return found


async def diagnose(backend: Backend, only: Iterable[str] = ()) -> list[CheckResult]:
    snapshot = await backend.snapshot()
    containers = await asyncio.to_thread(backend.containers, snapshot)
    inp = DoctorInput(
        snapshot=snapshot,
        endpoints=endpoints(backend, snapshot, containers),
        extra=web_checks(backend, snapshot, containers),
    )
    inp.extra.append(lambda: staleness_checks(backend, snapshot, containers))
    return await run_doctor(inp, only)
