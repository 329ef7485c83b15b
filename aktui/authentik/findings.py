"""Misconfigurations derived from a Snapshot: one small pure function per pitfall.

Fixes are worded as the forward-auth field guide words them: one outpost container per cookie
domain, ``error_page 401 403``, callback hosts inside the cookie domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from aktui.authentik.model import Finding, Snapshot, host_in_domain, url_hostname

Check = Callable[[Snapshot], Iterator[Finding]]


def _op(o_pk: str) -> str:
    return f"outpost:{o_pk}"


def _pr(pk: int) -> str:
    return f"provider:{pk}"


def mixed_cookie_domains(snap: Snapshot) -> Iterator[Finding]:
    for outpost in snap.outposts:
        providers = [p for pk in outpost.provider_pks if (p := snap.provider(pk)) and p.forward]
        keys = sorted({p.group_key for p in providers if p.mode == "forward_domain"})
        if len(keys) > 1:
            yield Finding(
                "mixed-cookie-domains",
                "error",
                f"{outpost.name} serves {len(keys)} cookie domains",
                (_op(outpost.pk), *(_pr(p.pk) for p in providers)),
                f"outpost {outpost.name} serves cookie domains {', '.join(keys)}",
                "One outpost per cookie domain: deploy a separate outpost container (next port: "
                "9002, 9003, ...) for each cookie domain.",
            )


def single_and_domain_mixed(snap: Snapshot) -> Iterator[Finding]:
    for outpost in snap.outposts:
        providers = [p for pk in outpost.provider_pks if (p := snap.provider(pk))]
        single = [p for p in providers if p.mode == "forward_single"]
        domain = [p for p in providers if p.mode == "forward_domain"]
        if single and domain:
            yield Finding(
                "single-and-domain-mixed",
                "error",
                f"{outpost.name} mixes single-app and domain-level providers",
                (_op(outpost.pk), *(_pr(p.pk) for p in single + domain)),
                f"single-app {', '.join(p.name for p in single)} and domain-level "
                f"{', '.join(p.name for p in domain)} on outpost {outpost.name}",
                "Do not mix domain-level and single-app providers on the same outpost: the "
                "domain-level cookie is applied to all responses. Move the single-app providers "
                "to the standalone outpost (outpost-single, port 9001).",
            )


def embedded_forward_auth(snap: Snapshot) -> Iterator[Finding]:
    for outpost in snap.outposts:
        if not outpost.embedded:
            continue
        forward = [p for pk in outpost.provider_pks if (p := snap.provider(pk)) and p.forward]
        if forward:
            yield Finding(
                "embedded-forward-auth",
                "error",
                "forward auth on the embedded outpost",
                (_op(outpost.pk), *(_pr(p.pk) for p in forward)),
                f"{', '.join(p.name for p in forward)} assigned to {outpost.name}: "
                "/outpost.goauthentik.io/auth/nginx answers 404 (nginx turns it into 500)",
                "Do not use the embedded outpost for forward auth. Deploy a separate proxy "
                "outpost container and move these providers to it.",
            )


def auth_url_outside_cookie_domain(snap: Snapshot) -> Iterator[Finding]:
    for p in snap.providers:
        if p.mode != "forward_domain" or not p.cookie_domain:
            continue
        hostname = url_hostname(p.external_host)
        if hostname and not host_in_domain(hostname, p.cookie_domain):
            yield Finding(
                "auth-url-outside-cookie-domain",
                "error",
                f"{p.name}: Authentication URL outside its cookie domain",
                (_pr(p.pk),),
                f"Authentication URL {p.external_host} is not under cookie domain "
                f"{p.cookie_domain}: the callback arrives without the session cookie "
                '("mismatched session ID" should="")',
                f"Set the Authentication URL to a host under {p.cookie_domain.lstrip('.')} "
                f"(e.g. https://auth.{p.cookie_domain.lstrip('.')}).",
            )


def external_host_shape(snap: Snapshot) -> Iterator[Finding]:
    for p in snap.providers:
        try:
            parts = urlsplit(p.external_host)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            yield Finding(
                "external-host-invalid",
                "error",
                f"{p.name}: external host is not a URL",
                (_pr(p.pk),),
                f"external host {p.external_host!r}",
                "Set External host to the site's URL, e.g. https://app.example.com.",
            )
        elif parts.path not in ("",) or parts.query:
            yield Finding(
                "external-host-path",
                "warning",
                f"{p.name}: external host has a trailing slash or path",
                (_pr(p.pk),),
                f"external host {p.external_host!r}",
                "External host must be scheme and host only, no trailing slash "
                f"(https://{parts.netloc}).",
            )


def provider_orphans(snap: Snapshot) -> Iterator[Finding]:
    for p in snap.providers:
        if not p.application_slug:
            yield Finding(
                "provider-without-application",
                "warning",
                f"{p.name}: no application",
                (_pr(p.pk),),
                f"provider {p.name} has no application, so outposts never load it "
                "(/outposts/proxy/ lists only providers with an application)",
                "Create an application for this provider (Applications → Create).",
            )
        if p.forward and not snap.outposts_serving(p.pk):
            yield Finding(
                "provider-without-outpost",
                "warning",
                f"{p.name}: no outpost serves it",
                (_pr(p.pk),),
                f"provider {p.name} ({p.external_host}) is in no outpost",
                "Add its application to the outpost for its cookie domain, then restart it.",
            )


def unrestricted_applications(snap: Snapshot) -> Iterator[Finding]:
    restricted = [a for a in snap.applications if a.bindings]
    if not restricted:
        return
    for app in snap.applications:
        if not app.bindings:
            yield Finding(
                "application-unrestricted",
                "info",
                f"{app.slug}: reachable by every user",
                (f"app:{app.slug}",),
                f"{app.slug} has no policy/group/user binding while "
                f"{len(restricted)} other application(s) are restricted",
                "Applications → this app → Policy / Group / User Bindings → bind a group, "
                "if it should not be open to every authenticated user.",
            )


def outpost_not_connected(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        if not o.health_known or o.connected:
            continue
        if o.embedded and not o.provider_pks:
            continue  # an unused embedded outpost is normal
        gone = len(o.disconnected)
        health = (
            f"health of {o.name} lists only {gone} closed connection(s) (last_seen null)"
            if gone
            else f"health of {o.name} is empty"
        )
        yield Finding(
            "outpost-not-connected",
            "warning" if o.provider_pks else "info",
            f"{o.name}: no connected instance",
            (_op(o.pk),),
            f"{health}: no outpost process has its websocket connected "
            "(in the last 15 s); config pushes cannot arrive",
            "Check the outpost container is running and AUTHENTIK_HOST/AUTHENTIK_TOKEN are "
            "right; a reverse proxy in front of authentik must pass Upgrade/Connection.",
        )


def outpost_version_mismatch(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        outdated = [i for i in o.instances if i.outdated]
        if outdated:
            i = outdated[0]
            yield Finding(
                "outpost-version-mismatch",
                "warning",
                f"{o.name}: version {i.version}, server {i.version_should}",
                (_op(o.pk),),
                f"{len(outdated)} instance(s) of {o.name} report {i.version}; "
                f"the server is {i.version_should}",
                f"Pin the outpost image to the server's version (ghcr.io/goauthentik/proxy:"
                f"{i.version_should}) and recreate the container.",
            )


def missing_browser_host(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        if o.embedded or o.type != "proxy" or o.authentik_host_browser:
            continue
        host = url_hostname(o.authentik_host)
        if host and "." not in host and host not in ("localhost",):
            yield Finding(
                "browser-host-internal",
                "warning",
                f"{o.name}: browsers may be sent to {o.authentik_host}",
                (_op(o.pk),),
                f"authentik_host is {o.authentik_host!r} (internal) and authentik_host_browser "
                "is empty",
                "Set AUTHENTIK_HOST_BROWSER on the outpost container (and authentik_host_browser "
                "in the outpost config) to the public authentik URL.",
            )


# What an outpost's log would say first: each of these is visible in the API already.


def outpost_without_providers(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        if o.embedded or o.provider_pks:
            continue  # an empty embedded outpost is normal (authentik skips the warning too)
        yield Finding(
            "outpost-no-providers",
            "warning",
            f"{o.name}: no applications assigned",
            (_op(o.pk),),
            f'outpost {o.name} has no providers: its log repeats "No providers assigned to '
            'this outpost" and it answers every host with 404 / "no app for hostname"',
            "Select the applications this outpost serves (Applications → Outposts → edit), or "
            "delete the unused outpost and its container.",
        )


def authentik_host_shape(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        if not o.authentik_host:
            continue
        try:
            parts = urlsplit(o.authentik_host)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            continue  # external_host_shape's kind of problem; the outpost logs it itself
        if "_" in host:
            yield Finding(
                "authentik-host-underscore",
                "error",
                f"{o.name}: authentik_host {host} is not a valid host name",
                (_op(o.pk),),
                f"authentik_host {o.authentik_host!r}: authentik refuses the Host "
                '("Invalid HTTP_HOST header"), so the outpost gets 400 and no configuration',
                "Use a name without underscores: the compose service `server`, a network alias, "
                "or the public URL (AUTHENTIK_HOST=http://server:9000).",
            )
        if (parts.scheme, port) in (("https", 9000), ("http", 9443)):
            yield Finding(
                "authentik-host-scheme-port",
                "error",
                f"{o.name}: {parts.scheme}:// on port {port}",
                (_op(o.pk),),
                f"authentik_host {o.authentik_host!r}: port 9000 speaks HTTP and 9443 HTTPS; "
                "the TLS handshake fails (wrong version number / InvalidContentType)",
                "Use http://server:9000 or https://server:9443 (with AUTHENTIK_INSECURE=true for "
                "its self-signed certificate).",
            )


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def browser_host_localhost(snap: Snapshot) -> Iterator[Finding]:
    # When aktui itself reaches authentik on loopback, browsers are on that machine too (a
    # lab or a laptop): localhost works there. Otherwise it is the visitor's own machine.
    if url_hostname(snap.server_url) in _LOOPBACK:
        return
    for o in snap.outposts:
        if o.embedded or o.type != "proxy" or o.authentik_host_browser or not o.provider_pks:
            continue
        if url_hostname(o.authentik_host) in _LOOPBACK:
            yield Finding(
                "browser-host-localhost",
                "warning",
                f"{o.name}: browsers are sent to {o.authentik_host}",
                (_op(o.pk),),
                f"authentik_host is {o.authentik_host!r} and authentik_host_browser is empty: "
                "the login redirect points at the visitor's own machine",
                "Set AUTHENTIK_HOST_BROWSER on the outpost container (and authentik_host_browser "
                "in the outpost config) to the public authentik URL.",
            )


def outpost_replicas(snap: Snapshot) -> Iterator[Finding]:
    for o in snap.outposts:
        if o.embedded or o.type != "proxy":
            continue
        hosts = sorted({i.hostname for i in o.instances if i.hostname})
        if len(hosts) > 1:
            # info: a sticky load balancer makes replicas work; aktui cannot see that from here.
            yield Finding(
                "outpost-replicas",
                "info",
                f"{o.name}: {len(hosts)} instances share its sessions",
                (_op(o.pk),),
                f"{o.name} runs on {', '.join(hosts)}; proxy outpost sessions live in each "
                "instance's /dev/shm, so a login that lands on another instance fails "
                '("mismatched session ID", 400 on the callback)',
                "Run one instance per outpost, or make the load balancer sticky (by client IP or "
                "the authentik_proxy_* cookie).",
            )


CHECKS: tuple[Check, ...] = (
    embedded_forward_auth,
    mixed_cookie_domains,
    single_and_domain_mixed,
    auth_url_outside_cookie_domain,
    external_host_shape,
    provider_orphans,
    outpost_not_connected,
    outpost_version_mismatch,
    missing_browser_host,
    unrestricted_applications,
    outpost_without_providers,
    authentik_host_shape,
    browser_host_localhost,
    outpost_replicas,
)

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def find_problems(snap: Snapshot) -> tuple[Finding, ...]:
    found = [f for check in CHECKS for f in check(snap)]
    return tuple(sorted(found, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 9), f.code)))
