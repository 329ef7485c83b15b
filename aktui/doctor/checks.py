"""`aktui doctor`: every pitfall of the field guide checked against the live setup.

Each check looks, it does not ask: it reads the model, probes the outposts over HTTP the way
NGINX's auth_request does, and (when web servers are configured) reads `nginx -T` over SSH.
A check yields ``CheckResult``s with the evidence it saw and the fix in the seed's words.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from aktui.authentik.model import Outpost, Snapshot, url_hostname

STATUSES = ("ok", "warn", "error", "skipped")


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # stable id, e.g. "outpost-auth-probe"
    status: str  # ok, warn, error, skipped
    title: str
    evidence: str = ""
    fix: str = ""
    subject: str = ""  # row key it concerns: "outpost:<pk>", "provider:<pk>", "host:<name>"
    action: str = ""  # a fix aktui can run itself: "reload", "push"


@dataclass(frozen=True, slots=True)
class OutpostEndpoint:
    """Where the doctor can reach an outpost's :9000 from this machine."""

    outpost: Outpost
    base_url: str  # e.g. http://127.0.0.1:9001


@dataclass
class DoctorInput:
    snapshot: Snapshot
    endpoints: list[OutpostEndpoint] = field(default_factory=list)
    # Extra async checks contributed by other parts (web servers over SSH, staleness, ...).
    extra: list[Callable[[], Awaitable[list[CheckResult]]]] = field(default_factory=list)
    timeout: float = 5.0
    transport: httpx.AsyncBaseTransport | None = None  # tests answer probes without a network


CheckFn = Callable[[DoctorInput], AsyncIterator[CheckResult]]


# --- checks from the model ------------------------------------------------------------------


_FINDING_CHECKS = {
    "embedded-forward-auth": "embedded-outpost",
    "mixed-cookie-domains": "cookie-domains",
    "single-and-domain-mixed": "cookie-domains",
    "auth-url-outside-cookie-domain": "cookie-domains",
    "outpost-version-mismatch": "versions",
    "outpost-not-connected": "websocket",
    "browser-host-internal": "browser-redirect",
    "browser-host-localhost": "browser-redirect",
    "outpost-no-providers": "providers",
    "authentik-host-underscore": "websocket",
    "authentik-host-scheme-port": "websocket",
    "external-host-path": "providers",
    "external-host-invalid": "providers",
    "provider-without-application": "providers",
    "provider-without-outpost": "providers",
}


async def model_checks(inp: DoctorInput) -> AsyncIterator[CheckResult]:
    snap = inp.snapshot
    yield CheckResult(
        "token",
        "ok",
        "API token accepted",
        f"read {len(snap.outposts)} outposts, {len(snap.providers)} proxy providers, "
        f"{len(snap.applications)} applications from {snap.server_url}",
    )
    unknown_health = [o.name for o in snap.outposts if not o.health_known]
    if unknown_health:
        yield CheckResult(
            "token",
            "warn",
            "token cannot read outpost health",
            f"health unreadable for {', '.join(unknown_health)}",
            "Use a token of a user allowed to view outposts (a superuser's API token).",
        )
    yield version_report(snap)
    seen: set[str] = set()
    for finding in snap.findings:
        check = _FINDING_CHECKS.get(finding.code)
        if check is None:
            continue
        seen.add(check)
        yield CheckResult(
            check,
            "error" if finding.severity == "error" else "warn",
            finding.title,
            finding.evidence,
            finding.fix,
            finding.subjects[0] if finding.subjects else "",
        )
    for check in sorted(set(_FINDING_CHECKS.values()) - seen - {"versions"}):
        yield CheckResult(check, "ok", f"{check}: nothing wrong found")


def version_report(snap: Snapshot) -> CheckResult:
    """The server's version and what each connected outpost runs: the overview an operator
    compares after an upgrade. Each mismatch is also its own result, from the finding
    outpost-version-mismatch (the instance's own version and the API's version_outdated)."""
    running = []
    for o in snap.outposts:
        if not o.instances:
            continue
        differs = any(
            i.outdated or (snap.server_version and i.version != snap.server_version)
            for i in o.instances
        )
        running.append(
            f"{o.name} {', '.join(o.versions) or '?'}" + (" (differs)" if differs else "")
        )
    return CheckResult(
        "versions",
        "ok",
        f"authentik server {snap.server_version or '(version unknown)'}",
        "connected outposts: " + ("; ".join(running) if running else "none"),
    )


# --- live probes of the outposts ------------------------------------------------------------


def _explain_auth_status(status: int, body: str, headers: httpx.Headers) -> tuple[str, str, str]:
    """(status, meaning, fix) for an /auth/nginx answer. 401 or 200: the outpost decided. 404:
    nothing claimed the route (the embedded outpost's known failure when it is authentik core
    answering). 500: no X-Original-URL reached the outpost. 400: no provider for this host.
    403: answered where nginx's error_page only catches 401."""
    if status in (401, 200):
        return "ok", f"answered {status} as expected", ""
    if status == 404:
        who = (
            "authentik core (the embedded outpost did not claim this host)"
            if "authentik" in headers.get("x-powered-by", "").lower()
            or "html" in headers.get("content-type", "")
            else "the outpost (route not registered)"
        )
        return (
            "error",
            f"404 from {who}; nginx turns it into 500 ('auth request unexpected status: 404')",
            "Deploy a separate proxy outpost container for forward auth, and make sure the "
            "application is selected in that outpost; restart it.",
        )
    if status == 500:
        return (
            "error",
            f"500 {body.strip()[:60]!r}: the outpost saw no X-Original-URL/X-Original-URI",
            "The auth location must send proxy_set_header X-Original-URL "
            "$scheme://$http_host$request_uri;",
        )
    if status == 400:
        return (
            "error",
            "400 'no app for hostname': the outpost has no provider for this host",
            "Select the application in this outpost (and restart it), or route the site to the "
            "outpost of its cookie domain.",
        )
    if status == 403:
        return (
            "warn",
            "403: the error_page must catch 403 as well as 401",
            "error_page 401 403 = @goauthentik_proxy_signin;",
        )
    return "error", f"unexpected {status}", "Check the outpost logs (l in the TUI)."


async def _probe_host(
    http: httpx.AsyncClient, endpoint: OutpostEndpoint, host: str, scheme: str
) -> list[CheckResult]:
    subject = f"outpost:{endpoint.outpost.pk}"
    name = endpoint.outpost.name
    headers = {"Host": host, "X-Original-URL": f"{scheme}://{host}/"}
    try:
        auth = await http.get(
            f"{endpoint.base_url}/outpost.goauthentik.io/auth/nginx", headers=headers
        )
    except httpx.HTTPError as e:
        return [
            CheckResult(
                "outpost-auth-probe",
                "error",
                f"{name} unreachable at {endpoint.base_url}",
                f"{type(e).__name__}: {e}",
                "Check the container runs and publishes its port; nginx would log "
                "'connect() failed (111: Connection refused)'.",
                subject,
                "restart",
            )
        ]
    status, meaning, fix = _explain_auth_status(auth.status_code, auth.text, auth.headers)
    results = [
        CheckResult(
            "outpost-auth-probe",
            status,
            f"{name}: /auth/nginx for {host}",
            f"GET {endpoint.base_url}/outpost.goauthentik.io/auth/nginx Host: {host} → {meaning}",
            fix,
            subject,
            "reload" if auth.status_code in (400, 404) else "",
        )
    ]
    if auth.status_code != 401:
        return results
    start = await http.get(
        f"{endpoint.base_url}/outpost.goauthentik.io/start",
        params={"rd": f"{scheme}://{host}/"},
        headers={"Host": host, "X-Forwarded-Proto": scheme},
    )
    location = start.headers.get("location", "")
    target = url_hostname(location)
    internal = bool(target) and ("." not in target or urlsplit(location).port == 9000)
    if start.status_code != 302:
        results.append(
            CheckResult(
                "browser-redirect",
                "error",
                f"{name}: /start for {host} answered {start.status_code}",
                f"expected 302 to the authorize URL, got {start.status_code}",
                "Restart the outpost; verify the application is selected in it.",
                subject,
                "restart",
            )
        )
    elif internal:
        results.append(
            CheckResult(
                "browser-redirect",
                "error",
                f"{name}: browsers are sent to {target}",
                f"/start redirects to {location[:120]}",
                "Set AUTHENTIK_HOST_BROWSER on the outpost container to the public authentik URL.",
                subject,
            )
        )
    else:
        results.append(
            CheckResult(
                "browser-redirect", "ok", f"{name}: /start for {host} → {target}", location[:120]
            )
        )
    return results


async def probe_checks(inp: DoctorInput) -> AsyncIterator[CheckResult]:
    if not inp.endpoints:
        yield CheckResult(
            "outpost-auth-probe",
            "skipped",
            "no outpost address known",
            "",
            "Set outposts.<name>.address and port in the config, or let container discovery "
            "find the published ports.",
        )
        return
    jobs = []
    async with httpx.AsyncClient(
        timeout=inp.timeout, follow_redirects=False, transport=inp.transport
    ) as http:
        for endpoint in inp.endpoints:
            for pk in endpoint.outpost.provider_pks:
                provider = inp.snapshot.provider(pk)
                if provider is None or not provider.forward or not provider.host:
                    continue
                scheme = urlsplit(provider.external_host).scheme or "https"
                jobs.append(_probe_host(http, endpoint, provider.host, scheme))
        for batch in await asyncio.gather(*jobs):
            for result in batch:
                yield result


CHECKS: tuple[CheckFn, ...] = (model_checks, probe_checks)


async def run_doctor(inp: DoctorInput, only: Iterable[str] = ()) -> list[CheckResult]:
    wanted = set(only)
    results: list[CheckResult] = []
    for check in CHECKS:
        async for result in check(inp):
            results.append(result)
    for extra in inp.extra:
        results.extend(await extra())
    if wanted:
        results = [r for r in results if r.check in wanted]
    return results


def exit_code(results: Iterable[CheckResult]) -> int:
    statuses = {r.status for r in results}
    if "error" in statuses:
        return 2
    return 1 if "warn" in statuses else 0
