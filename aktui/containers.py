"""Outpost containers on real docker hosts: discovery, restart, reload and log streams.

``DockerRuntime`` implements ``aktui.runtime.OutpostRuntime`` over one or more docker hosts
(``unix://``, ``tcp://``, ``ssh://user@host`` through paramiko, default ``$DOCKER_HOST``). Every
call blocks (callers run it in a thread) and is bounded by the host's timeout. A host that
cannot be reached gives ``DockerUnavailable`` naming it; the other hosts are still listed.

Discovery, strongest first: the explicit ``outposts.<name>.container`` mapping, authentik's own
label for managed outposts (``io.goauthentik.outpost-uuid``), the container or compose service
name (``ak-outpost-<slug>``, the outpost's name or slug), a published port from the mapping or
9001-9099 for the container's 9000, the ``ghcr.io/goauthentik/proxy`` image. Environment values
are never kept: only whether ``AUTHENTIK_HOST_BROWSER`` is set.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.utils
import requests.exceptions
import urllib3.exceptions

from aktui.config import Config, OutpostMapping
from aktui.containerlogs import ContainerNotFound, follow_logs, parse_docker_time
from aktui.errors import ActionRefused, DockerUnavailable
from aktui.runtime import ContainerInfo, LogLine

API_VERSION = "1.41"  # Debian's docker.io 20.10 offers no newer; newer daemons accept it
LABEL_UUID = "io.goauthentik.outpost-uuid"
LABEL_SERVICE = "com.docker.compose.service"
OUTPOST_IMAGES = ("ghcr.io/goauthentik/proxy", "beryju/authentik-proxy")
OUTPOST_PORTS = range(9001, 9100)  # one published port per outpost (homelab convention)
LOCAL_SOCKET = Path("/var/run/docker.sock")


def slugify(name: str) -> str:
    """Django's slugify, which authentik applies to an outpost name for ``ak-outpost-%(name)s``."""
    value = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


_TIMEOUTS = (requests.exceptions.Timeout, TimeoutError, urllib3.exceptions.TimeoutError)


def _reason(exc: BaseException, timeout: float) -> str:
    """One short cause for the operator, from the innermost useful exception."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(
            e, (requests.exceptions.Timeout, TimeoutError, urllib3.exceptions.TimeoutError)
        ):
            return f"no answer within {timeout:g}s"
        if isinstance(e, docker.errors.APIError):
            return str(e.explanation or e)
        if "known_hosts" in str(e):
            return "host key not in known_hosts"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        # requests and urllib3 wrap the real cause in args, .reason or the exception chain
        inner = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        todo += [i for i in inner if isinstance(i, BaseException)]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)
try:  # paramiko is a dependency, but ssh:// is the only user
    import paramiko

    _TRANSPORT_ERRORS = (*_TRANSPORT_ERRORS, paramiko.SSHException)
except ImportError:  # pragma: no cover
    pass


@dataclass
class DockerHost:
    label: str  # docker_hosts key, shown to the operator
    url: str
    timeout: float = 10.0
    _client: docker.DockerClient | None = None
    _lock: threading.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def error(self, what: str, exc: BaseException) -> DockerUnavailable:
        reason = _reason(exc, self.timeout)
        hint = ""
        if "known_hosts" in reason:
            hint = "add the host key first: ssh-keyscan HOST >> ~/.ssh/known_hosts"
        elif self.url.startswith("unix://") and reason in ("No such file or directory",):
            hint = "is dockerd running? check the socket path"
        elif "refused" in reason.lower() or "no answer" in reason:
            hint = "is dockerd running and reachable from here?"
        cls = ContainerNotFound if isinstance(exc, docker.errors.NotFound) else DockerUnavailable
        return cls(f"docker host {self.label} ({self.url}): {what}: {reason}", hint)

    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                with self.errors("connect"):
                    if self.url.startswith("ssh://"):
                        self._check_reachable()
                    base_url, tls = self.url, None
                    if self.url == os.environ.get("DOCKER_HOST") and os.environ.get(
                        "DOCKER_TLS_VERIFY"
                    ):
                        # $DOCKER_HOST with the docker CLI's TLS settings (DOCKER_CERT_PATH)
                        env = docker.utils.kwargs_from_env()
                        base_url, tls = env.get("base_url", base_url), env.get("tls")
                    self._client = docker.DockerClient(
                        base_url=base_url,
                        timeout=self.timeout,
                        version=API_VERSION,
                        use_ssh_client=False,
                        tls=tls,
                    )
            return self._client

    def _check_reachable(self) -> None:
        # paramiko connects in the client's constructor with no connect timeout of its own.
        parts = urlsplit(self.url)
        with socket.create_connection((parts.hostname or "", parts.port or 22), self.timeout):
            pass

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except DockerUnavailable:
            raise
        except _TRANSPORT_ERRORS as e:
            raise self.error(what, e) from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with suppress(*_TRANSPORT_ERRORS):
                    self._client.close()
                self._client = None


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


def _bindings(attrs: Mapping[str, Any], port: int) -> list[dict[str, str]]:
    key = f"{port}/tcp"
    live = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(key)
    # A stopped container has no live ports; its configured bindings still say which it uses.
    return live or ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).get(key) or []


def _published(attrs: Mapping[str, Any], port: int) -> tuple[int, ...]:
    ports = {int(b["HostPort"]) for b in _bindings(attrs, port) if b.get("HostPort")}
    return tuple(sorted(ports))


def _summary_ports(summary: Mapping[str, Any]) -> list[tuple[int, int]]:
    return [
        (int(p["PrivatePort"]), int(p["PublicPort"]))
        for p in summary.get("Ports") or ()
        if p.get("PublicPort") and p.get("Type", "tcp") == "tcp"
    ]


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
            ports = _summary_ports(summary)
            match = classify(
                name, labels, image, ports, host=host.label, mappings=mappings, known=known
            )
            attrs = None
            if match is None and not ports and summary.get("State") != "running":
                # Stopped containers list no ports: only their config says what they publish.
                attrs = self._inspect_raw(host, summary["Id"], quiet=True) or {}
                bound = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
                ports = [
                    (int(k.split("/")[0]), int(b["HostPort"]))
                    for k, v in bound.items()
                    if k.endswith("/tcp")
                    for b in v or ()
                    if b.get("HostPort")
                ]
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

    def _inspect_raw(self, host: DockerHost, cid: str, *, quiet: bool = False) -> dict | None:
        try:
            with host.errors(f"inspect {cid[:12]}"):
                return host.client().api.inspect_container(cid)
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
            return f"http://{mapping.address or _host_address(host)}:{mapping.metrics_port}/metrics"
        attrs = self._inspect_raw(host, info.id, quiet=True) or {}
        for b in _bindings(attrs, 9300):
            if b.get("HostPort"):
                return f"http://{_bind_address(host, b.get('HostIp', ''))}:{b['HostPort']}/metrics"
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
        for b in _bindings(attrs, 9000):
            if b.get("HostPort"):
                _wait_http(_bind_address(host, b.get("HostIp", "")), int(b["HostPort"]), deadline)
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


def _host_address(host: DockerHost) -> str:
    if host.url.startswith(("tcp://", "ssh://", "http://", "https://")):
        return urlsplit(host.url).hostname or "127.0.0.1"
    return "127.0.0.1"


def _bind_address(host: DockerHost, bound: str) -> str:
    return _host_address(host) if bound in ("", "0.0.0.0", "::") else bound


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
