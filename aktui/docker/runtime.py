"""Outpost containers on real docker hosts: discovery, restart, reload and log streams.

``DockerRuntime`` implements ``aktui.runtime.OutpostRuntime`` over one or more docker hosts
(``aktui.docker.host.DockerHost``: ``unix://``, ``tcp://``, ``ssh://user@host``, default
``$DOCKER_HOST``). Every call blocks (callers run it in a thread) and is bounded by the host's
timeout. A host that cannot be reached gives ``DockerUnavailable`` naming it; the other hosts
are still listed. Which containers are outposts is decided by ``aktui.docker.discovery``; log
streams are ``aktui.docker.logs``.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aktui.config import Config, OutpostMapping
from aktui.docker.discovery import (
    KnownOutposts,
    bindings,
    classify,
    configured_ports,
    info_from_inspect,
    summary_ports,
)
from aktui.docker.host import DockerHost
from aktui.docker.logs import ContainerNotFound, follow_logs
from aktui.errors import ActionRefused, DockerUnavailable
from aktui.runtime import ContainerInfo, LogLine

LOCAL_SOCKET = Path("/var/run/docker.sock")


class DockerRuntime:
    """``OutpostRuntime`` over docker hosts. Thread-safe; one lazily made client per host."""

    def __init__(
        self,
        hosts: Mapping[str, str | tuple[str, float]],
        *,
        mappings: Mapping[str, OutpostMapping] | None = None,
        outposts: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.hosts: dict[str, DockerHost] = {}
        for label, spec in hosts.items():
            url, timeout = (spec, 10.0) if isinstance(spec, str) else spec
            self.hosts[label] = DockerHost(label, url, timeout)
        self.mappings = dict(mappings or {})
        self._known = KnownOutposts.build(outposts, self.mappings)
        self._cache: dict[str, ContainerInfo] = {}
        self.host_errors: dict[str, DockerUnavailable] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, context_name: str) -> DockerRuntime | None:
        ctx = config.contexts.get(context_name)
        keys = list(ctx.docker_hosts) if ctx and ctx.docker_hosts else []
        if not keys:  # hosts no other context claims
            claimed = {h for c in config.contexts.values() for h in c.docker_hosts}
            keys = [k for k in config.docker_hosts if k not in claimed]
        hosts: dict[str, tuple[str, float]] = {}
        env_host = os.environ.get("DOCKER_HOST", "")
        default = env_host or (f"unix://{LOCAL_SOCKET}" if LOCAL_SOCKET.exists() else "")
        for key in keys:
            spec = config.docker_hosts[key]
            if spec.url or default:
                hosts[key] = (spec.url or default, spec.timeout)
        if not hosts and not keys and default:
            hosts["local" if not env_host else "default"] = (default, 10.0)
        if not hosts:
            return None
        mappings = {
            n: m for n, m in config.outposts.items() if not m.docker_host or m.docker_host in hosts
        }
        return cls(hosts, mappings=mappings)

    def set_outposts(self, outposts: Iterable[tuple[str, str]]) -> None:
        """(pk, name) of authentik's outposts, so labels and names map to outpost names."""
        self._known = KnownOutposts.build(list(outposts), self.mappings)

    # --- discovery ---------------------------------------------------------------------------

    def _discover(self, host: DockerHost) -> list[ContainerInfo]:
        with host.errors("list containers"):
            summaries = host.client().api.containers(all=True)
        known, mappings = self._known, self.mappings

        def one(summary: dict[str, Any]) -> ContainerInfo | None:
            name = (summary.get("Names") or ["/"])[0].lstrip("/")
            labels = summary.get("Labels") or {}
            image = str(summary.get("Image", ""))
            ports = summary_ports(summary)
            match = classify(
                name, labels, image, ports, host=host.label, mappings=mappings, known=known
            )
            attrs = None
            if match is None and not ports and summary.get("State") != "running":
                attrs = self._inspect_raw(host, summary["Id"], quiet=True) or {}
                ports = configured_ports(attrs)
                match = classify(
                    name, labels, image, ports, host=host.label, mappings=mappings, known=known
                )
            if match is None:
                return None
            attrs = attrs or self._inspect_raw(host, summary["Id"], quiet=True)
            # None: removed between list and inspect
            return info_from_inspect(host.label, attrs, *match) if attrs else None

        # Inspects are one round trip each: a few at a time (docker-py pools 10 connections).
        with ThreadPoolExecutor(max_workers=4) as pool:
            return [info for info in pool.map(one, summaries) if info is not None]

    def _inspect_raw(
        self, host: DockerHost, cid: str, *, quiet: bool = False
    ) -> dict[str, Any] | None:
        try:
            with host.errors(f"inspect {cid[:12]}"):
                inspected: dict[str, Any] = host.client().api.inspect_container(cid)
                return inspected
        except ContainerNotFound:
            if quiet:
                return None
            raise

    def containers_by_host(self) -> dict[str, list[ContainerInfo] | DockerUnavailable]:
        """Every host's outpost containers, or the error that host gave; hosts in parallel."""
        results: dict[str, list[ContainerInfo] | DockerUnavailable] = {}
        if not self.hosts:
            return results

        def one(host: DockerHost) -> list[ContainerInfo] | DockerUnavailable:
            try:
                return self._discover(host)
            except DockerUnavailable as e:
                return e

        with ThreadPoolExecutor(max_workers=min(8, len(self.hosts))) as pool:
            for host, result in zip(
                self.hosts.values(), pool.map(one, self.hosts.values()), strict=True
            ):
                results[host.label] = result
        return results

    def containers(self) -> list[ContainerInfo]:
        by_host = self.containers_by_host()
        errors = {h: r for h, r in by_host.items() if isinstance(r, DockerUnavailable)}
        found = [c for r in by_host.values() if not isinstance(r, DockerUnavailable) for c in r]
        with self._lock:
            self.host_errors = errors
            self._cache = {f"{c.host}/{c.id}": c for c in found}
        if errors and len(errors) == len(by_host):
            raise next(iter(errors.values()))
        return sorted(found, key=lambda c: (c.outpost_name or "~", c.host, c.name))

    def find(self, name: str) -> tuple[DockerHost, ContainerInfo]:
        """A container by name, id prefix, outpost name or ``host/name``."""
        for refresh in (False, True):
            if refresh:
                self.containers()
            with self._lock:
                cached = list(self._cache.values())
            host_part, _, bare = name.rpartition("/") if "/" in name else ("", "", name)
            hits = [
                c
                for c in cached
                if (not host_part or c.host == host_part)
                and (bare in (c.name, c.outpost_name) or (len(bare) >= 6 and c.id.startswith(bare)))
            ]
            if len(hits) == 1:
                return self.hosts[hits[0].host], hits[0]
            if len(hits) > 1:
                where = ", ".join(f"{c.host}/{c.name}" for c in hits)
                raise ActionRefused(f"{name!r} is ambiguous: {where}", "use host/name")
        raise ContainerNotFound(f"no outpost container {name!r} on {', '.join(self.hosts)}")

    def inspect(self, name: str) -> ContainerInfo:
        """Fresh state of one container (not the discovery cache)."""
        host, info = self.find(name)
        attrs = self._inspect_raw(host, info.id)
        assert attrs is not None
        return info_from_inspect(host.label, attrs, info.matched_by, info.outpost_name)

    def metrics_url(self, name: str) -> str | None:
        """Where the outpost's ``:9300/metrics`` answers from here, when it is published."""
        host, info = self.find(name)
        mapping = self.mappings.get(info.outpost_name or "")
        if mapping and mapping.metrics_port:
            return f"http://{mapping.address or host.address}:{mapping.metrics_port}/metrics"
        attrs = self._inspect_raw(host, info.id, quiet=True) or {}
        for b in bindings(attrs, 9300):
            if b.get("HostPort"):
                return f"http://{host.bind_address(b.get('HostIp', ''))}:{b['HostPort']}/metrics"
        return None

    # --- actions -------------------------------------------------------------------------------

    def reload(self, name: str) -> None:
        host, info = self.find(name)
        try:
            with host.errors(f"signal {info.name}"):
                host.client().api.kill(info.id, signal="SIGUSR1")
        except DockerUnavailable as e:
            if "is not running" in e.message:
                raise ActionRefused(f"{info.name} is not running", "restart it instead") from None
            raise

    def restart(self, name: str, timeout: float = 30.0) -> None:
        """Restart, then wait (bounded) until it runs again and its :9000 answers HTTP."""
        host, info = self.find(name)
        deadline = time.monotonic() + timeout
        grace = max(1, min(10, int(timeout / 3)))
        with host.errors(f"restart {info.name}"):
            # Synchronous: docker answers once the container has been started again.
            host.client().api.restart(info.id, timeout=grace)
        while True:
            attrs = self._inspect_raw(host, info.id) or {}
            state = attrs.get("State") or {}
            if state.get("Running"):
                break
            if time.monotonic() > deadline:
                raise DockerUnavailable(
                    f"{info.name} did not come back within {timeout:g}s "
                    f"(state {state.get('Status', '?')})"
                )
            time.sleep(0.05)
        for b in bindings(attrs, 9000):
            if b.get("HostPort"):
                _wait_http(host.bind_address(b.get("HostIp", "")), int(b["HostPort"]), deadline)
                break

    # --- logs ----------------------------------------------------------------------------------

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        host, info = self.find(name)
        return follow_logs(host, info.id, info.name, since=since, tail=tail, stop=stop)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()


def _wait_http(address: str, port: int, deadline: float) -> None:
    """Until anything answers HTTP there: docker's port proxy accepts TCP before the app does."""
    while True:
        conn = http.client.HTTPConnection(address, port, timeout=1.0)
        try:
            conn.request("GET", "/outpost.goauthentik.io/ping")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise DockerUnavailable(
                    f"outpost restarted but http://{address}:{port} did not answer in time"
                ) from None
            time.sleep(0.05)
        finally:
            conn.close()
