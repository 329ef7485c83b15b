"""Which docker containers are authentik outposts, from docker's own list and inspect JSON.

Strongest first: the explicit ``outposts.<name>.container`` mapping, authentik's own label for
managed outposts (``io.goauthentik.outpost-uuid``), the container or compose service name
(``ak-outpost-<slug>``, the outpost's name or slug), a published port from the mapping or
9001-9099 for the container's 9000, the ``ghcr.io/goauthentik/proxy`` image. Environment values
are never kept: only whether ``AUTHENTIK_HOST_BROWSER`` is set. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aktui.config import OutpostMapping
from aktui.docker.logs import parse_docker_time
from aktui.runtime import ContainerInfo

LABEL_UUID = "io.goauthentik.outpost-uuid"
LABEL_SERVICE = "com.docker.compose.service"
OUTPOST_IMAGES = ("ghcr.io/goauthentik/proxy", "beryju/authentik-proxy")
OUTPOST_PORTS = range(9001, 9100)  # one published port per outpost (homelab convention)


def slugify(name: str) -> str:
    """Django's slugify, which authentik applies to an outpost name for ``ak-outpost-%(name)s``."""
    value = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


@dataclass(frozen=True, slots=True)
class KnownOutposts:
    """Outpost names aktui knows (authentik's list + config mapping), in every form we match."""

    by_uuid: Mapping[str, str]  # uuid hex without dashes -> name
    by_key: Mapping[str, str]  # lower-cased name, slug, "ak-outpost-<slug>" -> name

    @classmethod
    def build(cls, outposts: Iterable[tuple[str, str]], names: Iterable[str] = ()) -> KnownOutposts:
        by_uuid: dict[str, str] = {}
        by_key: dict[str, str] = {}
        for pk, name in outposts:
            by_uuid[pk.replace("-", "").lower()] = name
        for name in [*names, *(n for _, n in outposts)]:
            for key in (name.lower(), slugify(name), f"ak-outpost-{slugify(name)}"):
                by_key.setdefault(key, name)
        return cls(by_uuid, by_key)


def classify(
    name: str,
    labels: Mapping[str, str],
    image: str,
    ports: Iterable[tuple[int, int]],  # (container port, host port), tcp
    *,
    host: str,
    mappings: Mapping[str, OutpostMapping],
    known: KnownOutposts,
) -> tuple[str, str | None] | None:
    """How a container is recognised as an outpost: (matched_by, outpost name) or None."""
    for outpost, m in mappings.items():
        if m.container and m.container == name and m.docker_host in ("", host):
            return "config", outpost
    by_name = known.by_key.get(name.lower()) or known.by_key.get(
        labels.get(LABEL_SERVICE, "").lower()
    )
    if LABEL_UUID in labels:
        return "label", known.by_uuid.get(labels[LABEL_UUID].lower()) or by_name
    if by_name:
        return "name", by_name
    published = [outer for inner, outer in ports if inner == 9000]
    for outpost, m in mappings.items():
        if m.port and m.port in published and m.docker_host in ("", host):
            return "port", outpost
    if any(p in OUTPOST_PORTS for p in published):
        return "port", None
    if image.split("@")[0].rsplit(":", 1)[0] in OUTPOST_IMAGES or name.startswith("ak-outpost-"):
        return "image", None
    return None


def info_from_inspect(
    host: str, attrs: Mapping[str, Any], matched_by: str, outpost: str | None
) -> ContainerInfo:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    env = config.get("Env") or ()
    browser = any(
        e.startswith("AUTHENTIK_HOST_BROWSER=") and len(e) > len("AUTHENTIK_HOST_BROWSER=")
        for e in env
    )
    health = (state.get("Health") or {}).get("Status")
    return ContainerInfo(
        host=host,
        id=str(attrs.get("Id", "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        outpost_name=outpost,
        state=str(state.get("Status", "unknown")),
        started_at=parse_docker_time(state.get("StartedAt")),
        restart_count=int(attrs.get("RestartCount") or 0),
        ports=_published(attrs, 9000),
        image=str(config.get("Image", "")),
        host_browser_set=browser,
        health=health,
        matched_by=matched_by,
    )


def bindings(attrs: Mapping[str, Any], port: int) -> list[dict[str, str]]:
    key = f"{port}/tcp"
    live = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(key)
    # A stopped container has no live ports; its configured bindings still say which it uses.
    return live or ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).get(key) or []


def _published(attrs: Mapping[str, Any], port: int) -> tuple[int, ...]:
    ports = {int(b["HostPort"]) for b in bindings(attrs, port) if b.get("HostPort")}
    return tuple(sorted(ports))


def summary_ports(summary: Mapping[str, Any]) -> list[tuple[int, int]]:
    return [
        (int(p["PrivatePort"]), int(p["PublicPort"]))
        for p in summary.get("Ports") or ()
        if p.get("PublicPort") and p.get("Type", "tcp") == "tcp"
    ]


def configured_ports(attrs: Mapping[str, Any]) -> list[tuple[int, int]]:
    """(container port, host port) a container's config publishes, tcp: a stopped container
    lists no ports, only its config says what it publishes."""
    bound = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    return [
        (int(k.split("/")[0]), int(b["HostPort"]))
        for k, v in bound.items()
        if k.endswith("/tcp")
        for b in v or ()
        if b.get("HostPort")
    ]
