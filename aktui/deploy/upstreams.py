"""Which outpost serves a site, and where web servers reach that outpost's :9000.

``outpost_for_site`` picks the outpost as the outpost itself would (its ``lookupApp``);
``resolve_target`` finds the outpost's address and port in the config, else from its
discovered container. Pure functions over the model, the config and discovered containers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aktui.authentik.model import Outpost, ProxyProvider, Snapshot, host_in_domain
from aktui.config import Config
from aktui.errors import UnsafeValue
from aktui.nginx.values import (
    OutpostTarget,
    check_hostname,
)
from aktui.runtime import ContainerInfo

# --- which outpost serves a site ------------------------------------------------------------


def provider_for_host(snapshot: Snapshot, hostname: str) -> ProxyProvider | None:
    """The provider the outpost would pick (the Go outpost's ``lookupApp``): exact host first,
    else the forward_domain provider with the longest cookie domain covering the host."""
    host = check_hostname(hostname, "site")
    exact = sorted((p for p in snapshot.providers if p.hostname == host), key=lambda p: p.pk)
    if exact:
        return next((p for p in exact if p.forward), exact[0])
    covering = [
        p
        for p in snapshot.providers
        if p.mode == "forward_domain" and p.cookie_domain and host_in_domain(host, p.cookie_domain)
    ]
    if not covering:
        return None
    return max(covering, key=lambda p: (len(p.cookie_domain.lstrip(".")), -p.pk))


@dataclass(frozen=True, slots=True)
class SiteChoice:
    site: str
    provider: str
    outpost: str  # '' when no outpost serves the provider
    others: tuple[str, ...] = ()  # further outposts serving it (a warning: pick one)


def outpost_for_site(snapshot: Snapshot, hostname: str) -> SiteChoice:
    host = check_hostname(hostname, "site")
    provider = provider_for_host(snapshot, host)
    if provider is None:
        raise UnsafeValue(
            f"site {host!r}: no proxy provider's external host or cookie domain covers it",
            "create a forward-auth provider for it in authentik first",
        )
    serving = sorted(snapshot.outposts_serving(provider.pk), key=lambda o: (o.embedded, o.name))
    names = tuple(o.name for o in serving)
    return SiteChoice(host, provider.name, names[0] if names else "", names[1:])


# --- address and port of each outpost -------------------------------------------------------


def _docker_host_address(config: Config, container: ContainerInfo) -> str:
    if container.host == "lab":
        return "127.0.0.1"
    docker = config.docker_hosts.get(container.host)
    url = docker.url if docker else ""
    m = re.match(r"^(?:tcp|ssh|http|https)://(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)", url)
    # unix:// or $DOCKER_HOST: the docker host's own address as the web server sees it is unknown.
    return m.group(1) if m else ""


def resolve_target(
    outpost: Outpost, config: Config, containers: Iterable[ContainerInfo] = ()
) -> OutpostTarget:
    """Address and port from ``config.outposts[name]``, else from the discovered container.
    Raises UnsafeValue when either is unknown or unsafe."""
    mapping = config.outposts.get(outpost.name)
    address = mapping.address if mapping else ""
    port = mapping.port if mapping else 0
    sources = ["config"] if address or port else []
    found = next(
        (
            c
            for c in sorted(containers, key=lambda c: (c.host, c.name))
            if (mapping and mapping.container and c.name == mapping.container)
            or c.outpost_name == outpost.name
        ),
        None,
    )
    if found and (not address or not port):
        if not port and found.ports:
            port = found.ports[0]
        if not address:
            address = _docker_host_address(config, found)
        sources.append(f"container {found.name} on {found.host}")
    where = f"outposts.{outpost.name}"
    if not address:
        raise UnsafeValue(
            f"{where}.address: unknown",
            "set it in the config: the address web servers use to reach the outpost",
        )
    if not port:
        raise UnsafeValue(
            f"{where}.port: unknown", "set it in the config: the host port published for :9000"
        )
    target = OutpostTarget(outpost.name, address, port, " + ".join(sources))
    target.upstream  # noqa: B018 - validates address and port now, naming the config key
    return target
