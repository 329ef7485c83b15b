"""The domain model: immutable records built from authentik's API answers.

``build_snapshot(raw)`` is a pure function from the JSON bundle the client fetched (or a
recorded/simulated one) to a ``Snapshot``. Older servers miss fields; every read is tolerant.
No I/O and no Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
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

    @property
    def outdated(self) -> bool:
        # authentik's own version_outdated is false whenever build hashes differ (FACTS.md a),
        # so compare the versions ourselves.
        return bool(self.version and self.version_should and self.version != self.version_should)


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
    instances: tuple[OutpostInstance, ...] = ()
    health_known: bool = True

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

    def provider(self, pk: int) -> ProxyProvider | None:
        return next((p for p in self.providers if p.pk == pk), None)

    def outpost(self, key: str) -> Outpost | None:
        return next((o for o in self.outposts if key in (o.pk, o.name)), None)

    def application_for(self, provider_pk: int) -> Application | None:
        return next((a for a in self.applications if a.provider_pk == provider_pk), None)

    def outposts_serving(self, provider_pk: int) -> tuple[Outpost, ...]:
        return tuple(o for o in self.outposts if provider_pk in o.provider_pks)

    def findings_for(self, subject: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if subject in f.subjects)


# --- building from raw API JSON -------------------------------------------------------------


def _s(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else default


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_instance(raw: Mapping[str, Any]) -> OutpostInstance:
    return OutpostInstance(
        uid=_s(raw, "uid"),
        last_seen=parse_time(raw.get("last_seen")),
        version=_s(raw, "version"),
        version_should=_s(raw, "version_should"),
        build_hash=_s(raw, "build_hash"),
        build_hash_should=_s(raw, "build_hash_should"),
        hostname=_s(raw, "hostname"),
    )


def parse_outpost(raw: Mapping[str, Any], health: Iterable[Mapping[str, Any]] | None) -> Outpost:
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    return Outpost(
        pk=_s(raw, "pk"),
        name=_s(raw, "name"),
        type=_s(raw, "type", "proxy"),
        provider_pks=tuple(p for p in raw.get("providers") or () if isinstance(p, int)),
        managed=raw.get("managed") if isinstance(raw.get("managed"), str) else None,
        service_connection=raw.get("service_connection")
        if isinstance(raw.get("service_connection"), str)
        else None,
        authentik_host=_s(config, "authentik_host"),
        authentik_host_browser=_s(config, "authentik_host_browser"),
        refresh_interval_s=_int(raw.get("refresh_interval_s"), 300),
        token_identifier=_s(raw, "token_identifier"),
        instances=tuple(parse_instance(h) for h in health or () if isinstance(h, dict)),
        health_known=health is not None,
    )


def parse_provider(raw: Mapping[str, Any]) -> ProxyProvider:
    outposts = tuple(
        s.removeprefix("Outpost ") for s in raw.get("outpost_set") or () if isinstance(s, str)
    )
    return ProxyProvider(
        pk=_int(raw.get("pk"), -1),
        name=_s(raw, "name"),
        mode=_s(raw, "mode", "proxy"),
        external_host=_s(raw, "external_host"),
        internal_host=_s(raw, "internal_host"),
        cookie_domain=_s(raw, "cookie_domain"),
        application_slug=raw.get("assigned_application_slug") or None,
        application_name=raw.get("assigned_application_name") or None,
        skip_path_regex=_s(raw, "skip_path_regex"),
        outpost_names=outposts,
    )


def parse_binding(raw: Mapping[str, Any]) -> Binding:
    group = raw.get("group_obj") if isinstance(raw.get("group_obj"), dict) else None
    user = raw.get("user_obj") if isinstance(raw.get("user_obj"), dict) else None
    policy = raw.get("policy_obj") if isinstance(raw.get("policy_obj"), dict) else None
    return Binding(
        pk=_s(raw, "pk"),
        target=_s(raw, "target"),
        order=_int(raw.get("order"), 0),
        enabled=bool(raw.get("enabled", True)),
        negate=bool(raw.get("negate", False)),
        group_name=_s(group, "name") or None if group else None,
        user_name=_s(user, "username") or None if user else None,
        policy_name=_s(policy, "name") or None if policy else None,
    )


def parse_application(raw: Mapping[str, Any], bindings: Iterable[Binding]) -> Application:
    pk = _s(raw, "pk")
    provider = raw.get("provider")
    return Application(
        pk=pk,
        slug=_s(raw, "slug"),
        name=_s(raw, "name"),
        provider_pk=provider if isinstance(provider, int) else None,
        launch_url=_s(raw, "launch_url") or _s(raw, "meta_launch_url"),
        bindings=tuple(sorted((b for b in bindings if b.target == pk), key=lambda b: b.order)),
    )


_EVENT_MODELS = {"proxyprovider", "application", "outpost"}


def parse_change(raw: Mapping[str, Any]) -> ModelChange | None:
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    model = context.get("model") if isinstance(context.get("model"), dict) else {}
    at = parse_time(raw.get("created"))
    name = _s(model, "model_name")
    if at is None or name not in _EVENT_MODELS:
        return None
    return ModelChange(
        model=name,
        pk=str(model.get("pk", "")),
        name=_s(model, "name"),
        at=at,
        action=_s(raw, "action", "model_updated"),
    )


def group_by_cookie_domain(
    providers: Iterable[ProxyProvider], outposts: Iterable[Outpost]
) -> tuple[CookieDomainGroup, ...]:
    outposts = tuple(outposts)
    buckets: dict[str, list[ProxyProvider]] = {}
    for provider in providers:
        buckets.setdefault(provider.group_key, []).append(provider)
    groups = []
    for key in sorted(buckets):
        members = sorted(buckets[key], key=lambda p: p.name)
        pks = tuple(p.pk for p in members)
        groups.append(
            CookieDomainGroup(
                key=key,
                kind="domain" if any(p.mode == "forward_domain" for p in members) else "single",
                provider_pks=pks,
                application_slugs=tuple(p.application_slug for p in members if p.application_slug),
                outpost_names=tuple(
                    sorted({o.name for o in outposts if set(o.provider_pks) & set(pks)})
                ),
            )
        )
    return tuple(groups)


def build_snapshot(raw: Mapping[str, Any], *, now: datetime | None = None) -> Snapshot:
    """Turn the client's raw bundle into a Snapshot (findings included).

    ``raw`` keys: ``server_url``, ``version`` (admin/version object), ``outposts`` (list),
    ``health`` (outpost pk -> list, or missing when it could not be read), ``providers``,
    ``applications``, ``bindings``, ``events`` (lists of API objects).
    """
    from aktui.findings import find_problems  # findings builds on the records above

    health = raw.get("health") or {}
    outposts = tuple(
        parse_outpost(o, health.get(o.get("pk")))
        for o in raw.get("outposts") or ()
        if isinstance(o, dict)
    )
    providers = tuple(parse_provider(p) for p in raw.get("providers") or () if isinstance(p, dict))
    bindings = tuple(parse_binding(b) for b in raw.get("bindings") or () if isinstance(b, dict))
    applications = tuple(
        parse_application(a, bindings) for a in raw.get("applications") or () if isinstance(a, dict)
    )
    changes = tuple(
        c for c in (parse_change(e) for e in raw.get("events") or () if isinstance(e, dict)) if c
    )
    version = raw.get("version") if isinstance(raw.get("version"), dict) else {}
    snapshot = Snapshot(
        fetched_at=now or datetime.now(UTC),
        server_url=str(raw.get("server_url", "")),
        server_version=_s(version, "version_current"),
        outposts=tuple(sorted(outposts, key=lambda o: o.name)),
        providers=tuple(sorted(providers, key=lambda p: p.name)),
        applications=tuple(sorted(applications, key=lambda a: a.slug)),
        groups=group_by_cookie_domain(providers, outposts),
        changes=tuple(sorted(changes, key=lambda c: c.at)),
    )
    return _with_findings(snapshot, find_problems(snapshot))


def _with_findings(snapshot: Snapshot, findings: tuple[Finding, ...]) -> Snapshot:
    from dataclasses import replace

    return replace(snapshot, findings=findings)
