"""One doctor run against a backend: read the model and containers, find where each outpost
answers, and run every check (model, probes, staleness, web servers). Shared by the CLI and the
TUI's doctor screen, so both show exactly the same results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import urlsplit

from aktui.authentik.model import Outpost, Snapshot
from aktui.backend import Backend
from aktui.config import transport_warnings
from aktui.deploy.upstreams import resolve_target
from aktui.doctor.checks import CheckResult, DoctorInput, OutpostEndpoint, run_doctor
from aktui.doctor.proxies import trusted_proxy_results
from aktui.doctor.staleness import doctor_checks as staleness_checks
from aktui.doctor.web import web_checks
from aktui.errors import UnsafeValue
from aktui.runtime import ContainerInfo


def endpoints(
    backend: Backend, snapshot: Snapshot, containers: Iterable[ContainerInfo]
) -> list[OutpostEndpoint]:
    """Each outpost's :9000 at the address the web servers use (config first, then the
    discovered container); the embedded outpost at authentik's own URL when it holds
    forward-auth providers; outposts with no known address are left to the probe's skip."""
    found = []
    for outpost in snapshot.outposts:
        try:
            target = resolve_target(outpost, backend.config, containers)
        except UnsafeValue:
            if outpost.embedded and (root := embedded_root(snapshot, outpost)):
                found.append(OutpostEndpoint(outpost, root))
            continue
        found.append(OutpostEndpoint(outpost, target.upstream))
    return found


def embedded_root(snapshot: Snapshot, outpost: Outpost) -> str:
    """Where the embedded outpost answers (authentik itself), when it holds forward-auth
    providers. Whether it serves /outpost.goauthentik.io/auth/nginx there differs between
    releases and reports disagree on which: the doctor probes it live instead of trusting a
    list of affected versions."""
    forward = any((p := snapshot.provider(pk)) and p.forward for pk in outpost.provider_pks)
    parts = urlsplit(snapshot.server_url)
    if not forward or parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


async def diagnose(backend: Backend, only: Iterable[str] = ()) -> list[CheckResult]:
    snapshot = await backend.snapshot()
    containers = await asyncio.to_thread(backend.containers, snapshot)
    inp = DoctorInput(
        snapshot=snapshot,
        endpoints=endpoints(backend, snapshot, containers),
        extra=web_checks(backend, snapshot, containers),
    )
    inp.extra.append(lambda: staleness_checks(backend, snapshot, containers))
    inp.extra.append(lambda: token_transport_check(backend))

    async def trusted_proxies() -> list[CheckResult]:
        return trusted_proxy_results(snapshot, inp.endpoints)

    inp.extra.append(trusted_proxies)
    return await run_doctor(inp, only)


async def token_transport_check(backend: Backend) -> list[CheckResult]:
    """Whether the API token (a superuser's, often) can be read on the way to authentik."""
    warnings = transport_warnings(backend.context, backend.name)
    if not warnings:
        return [
            CheckResult("token-transport", "ok", "API token goes over verified TLS or loopback")
        ]
    return [
        CheckResult(
            "token-transport",
            "warn",
            "API token can be read on the network",
            evidence=" ".join(warnings),
            fix="use https:// with a verified certificate (ca_file for a private CA)",
        )
    ]
