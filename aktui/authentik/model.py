"""The domain model: immutable records of what authentik's API answered.

Records only: ``aktui.authentik.parse.build_snapshot`` builds them from the API's JSON and
``aktui.authentik.findings`` derives the misconfigurations. No I/O and no Textual here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

EMBEDDED_MANAGED = "goauthentik.io/outposts/embedded"

MODE_LABELS = {
    "proxy": "proxy",
    "forward_single": "forward (single app)",
    "forward_domain": "forward (domain)",
}


def parse_time(value: object) -> datetime | None:
    """authentik sends ISO 8601 with ``Z`` (API) or without zone (server logs, local=UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def url_host(url: str) -> str:
    """Host (with port, as the outpost compares it) of a URL; '' when there is none."""
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def url_hostname(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_in_domain(hostname: str, domain: str) -> bool:
    domain = domain.lstrip(".").lower()
    hostname = hostname.lower()
    return bool(domain) and (hostname == domain or hostname.endswith("." + domain))


@dataclass(frozen=True, slots=True)
class OutpostInstance:
    """One connected outpost process, from ``/outposts/instances/{uuid}/health/``."""

    uid: str
    last_seen: datetime | None
    version: str
    version_should: str
    build_hash: str = ""
    build_hash_should: str = ""
    hostname: str = ""
    version_outdated: bool = False  # the API's own flag (see ``outdated``)

    @property
    def connected(self) -> bool:
        """False for the entry authentik 2025.x keeps after a websocket closed (``last_seen``
        and ``version`` null, ``hostname`` "") until its worker purges expired states. A
        version alone still counts (a last_seen we could not read is no closed websocket)."""
        return self.last_seen is not None or bool(self.version)

    @property
    def outdated(self) -> bool:
        # authentik's own version_outdated is false whenever build hashes differ (FACTS.md a),
        # so compare the versions ourselves too.
        differs = bool(self.version and self.version_should and self.version != self.version_should)
        return differs or self.version_outdated


@dataclass(frozen=True, slots=True)
class Outpost:
    pk: str
    name: str
    type: str
    provider_pks: tuple[int, ...]
    managed: str | None = None
    service_connection: str | None = None
    authentik_host: str = ""
    authentik_host_browser: str = ""
    refresh_interval_s: int = 300
    token_identifier: str = ""
    instances: tuple[OutpostInstance, ...] = ()  # connected ones only
    health_known: bool = True
    # Health entries of closed websockets that authentik 2025.x still lists until purged: not
    # connected, never counted as instances.
    disconnected: tuple[OutpostInstance, ...] = ()

    @property
    def embedded(self) -> bool:
        return self.managed == EMBEDDED_MANAGED

    @property
    def connected(self) -> bool:
        return bool(self.instances)

    @property
    def last_seen(self) -> datetime | None:
        seen = [i.last_seen for i in self.instances if i.last_seen]
        return max(seen) if seen else None

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(sorted({i.version for i in self.instances if i.version}))


@dataclass(frozen=True, slots=True)
class ProxyProvider:
    pk: int
    name: str
    mode: str
    external_host: str
    internal_host: str = ""
    cookie_domain: str = ""
    application_slug: str | None = None
    application_name: str | None = None
    skip_path_regex: str = ""
    outpost_names: tuple[str, ...] = ()

    @property
    def forward(self) -> bool:
        return self.mode in ("forward_single", "forward_domain")

    @property
    def host(self) -> str:
        return url_host(self.external_host)

    @property
    def hostname(self) -> str:
        return url_hostname(self.external_host)

    @property
    def group_key(self) -> str:
        """Cookie-domain group: domain-level providers share their cookie domain; every other
        provider is its own group, keyed by its host (a host-only cookie)."""
        if self.mode == "forward_domain" and self.cookie_domain:
            return self.cookie_domain.lstrip(".").lower()
        return self.host or f"provider-{self.pk}"


@dataclass(frozen=True, slots=True)
class Binding:
    pk: str
    target: str
    order: int
    enabled: bool
    negate: bool = False
    group_name: str | None = None
    user_name: str | None = None
    policy_name: str | None = None

    @property
    def label(self) -> str:
        if self.group_name:
            return f"group {self.group_name}"
        if self.user_name:
            return f"user {self.user_name}"
        return f"policy {self.policy_name or self.pk}"


@dataclass(frozen=True, slots=True)
class Application:
    pk: str
    slug: str
    name: str
    provider_pk: int | None
    launch_url: str = ""
    bindings: tuple[Binding, ...] = ()

    @property
    def reach(self) -> str:
        enabled = [b.label for b in self.bindings if b.enabled]
        return ", ".join(enabled) if enabled else "every user"


@dataclass(frozen=True, slots=True)
class ModelChange:
    """A ``model_updated`` (or created) audit event: evidence that config changed at ``at``."""

    model: str  # "proxyprovider", "application", "outpost"
    pk: str
    name: str
    at: datetime
    action: str = "model_updated"


@dataclass(frozen=True, slots=True)
class CookieDomainGroup:
    key: str
    kind: str  # "domain" or "single"
    provider_pks: tuple[int, ...]
    application_slugs: tuple[str, ...]
    outpost_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: str  # "error", "warning", "info"
    title: str
    subjects: tuple[str, ...]  # row keys: "outpost:<pk>", "provider:<pk>", "app:<slug>"
    evidence: str
    fix: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    fetched_at: datetime
    server_url: str
    server_version: str
    outposts: tuple[Outpost, ...]
    providers: tuple[ProxyProvider, ...]
    applications: tuple[Application, ...]
    groups: tuple[CookieDomainGroup, ...]
    changes: tuple[ModelChange, ...] = ()
    findings: tuple[Finding, ...] = field(default=())
    # Lookups by key, built once: findings, rows and detail screens ask per provider, and a
    # scan per question made a 1000-provider refresh quadratic. Not part of the value.
    _index: _SnapshotIndex | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    @property
    def _lookup(self) -> _SnapshotIndex:
        index = self._index
        if index is None:  # built on first use
            index = _SnapshotIndex(self)
            object.__setattr__(self, "_index", index)
        return index

    def with_findings(self, findings: tuple[Finding, ...]) -> Snapshot:
        """This snapshot with ``findings``; the lookups built so far carry over."""
        from dataclasses import replace

        new = replace(self, findings=findings)
        if self._index is not None:
            object.__setattr__(new, "_index", self._index.other_findings())
        return new

    def provider(self, pk: int) -> ProxyProvider | None:
        return self._lookup.providers.get(pk)

    def outpost(self, key: str) -> Outpost | None:
        return self._lookup.outposts.get(key)

    def application_for(self, provider_pk: int) -> Application | None:
        return self._lookup.applications.get(provider_pk)

    def applications_of(self, provider_pk: int) -> tuple[Application, ...]:
        """Every application using this provider (authentik allows one; data may not)."""
        return self._lookup.apps_of.get(provider_pk, ())

    def outposts_serving(self, provider_pk: int) -> tuple[Outpost, ...]:
        return self._lookup.serving.get(provider_pk, ())

    def findings_for(self, subject: str) -> tuple[Finding, ...]:
        return self._lookup.findings_for(self.findings, subject)


class _SnapshotIndex:
    """First match in the snapshot's order, as the linear scans it replaces returned."""

    __slots__ = ("_findings", "applications", "apps_of", "outposts", "providers", "serving")

    def __init__(self, snap: Snapshot) -> None:
        self.providers: dict[int, ProxyProvider] = {}
        for p in snap.providers:
            self.providers.setdefault(p.pk, p)
        self.outposts: dict[str, Outpost] = {}
        serving: dict[int, list[Outpost]] = {}
        for o in snap.outposts:
            self.outposts.setdefault(o.pk, o)
            self.outposts.setdefault(o.name, o)
            for pk in dict.fromkeys(o.provider_pks):
                serving.setdefault(pk, []).append(o)
        self.serving = {pk: tuple(found) for pk, found in serving.items()}
        self.applications: dict[int | None, Application] = {}
        apps_of: dict[int | None, list[Application]] = {}
        for a in snap.applications:
            self.applications.setdefault(a.provider_pk, a)
            apps_of.setdefault(a.provider_pk, []).append(a)
        self.apps_of = {pk: tuple(found) for pk, found in apps_of.items()}
        self._findings: dict[str, tuple[Finding, ...]] | None = None

    def other_findings(self) -> _SnapshotIndex:
        """The same lookups for a snapshot that differs only in its findings."""
        index = copy.copy(self)
        index._findings = None
        return index

    def findings_for(self, findings: tuple[Finding, ...], subject: str) -> tuple[Finding, ...]:
        if self._findings is None:
            by_subject: dict[str, list[Finding]] = {}
            for f in findings:
                for s in dict.fromkeys(f.subjects):
                    by_subject.setdefault(s, []).append(f)
            self._findings = {s: tuple(found) for s, found in by_subject.items()}
        return self._findings.get(subject, ())
