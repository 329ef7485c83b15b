"""Build a ``Snapshot`` from authentik's API answers: the one pure step from JSON to records.

``build_snapshot(raw)`` takes the JSON bundle the client fetched (or a recorded/simulated one).
Older servers miss fields and newer ones add some; every read is tolerant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from aktui.authentik.findings import find_problems
from aktui.authentik.model import (
    Application,
    Binding,
    CookieDomainGroup,
    Finding,
    ModelChange,
    Outpost,
    OutpostInstance,
    ProxyProvider,
    Snapshot,
    parse_time,
)

# What the client asks for a snapshot (aktui.authentik.client; aktui.lab.snapshot asks the same
# of the demo's simulator, without httpx): objects a page, the server's maximum
# (pagination_max_page_size, fewer round trips), and the newest model_updated events of these
# models, EVENTS_PER_MODEL each.
PAGE_SIZE = 100
EVENTS_PER_MODEL = 100
EVENT_MODELS = (
    ("authentik_providers_proxy", "proxyprovider"),
    ("authentik_core", "application"),
    ("authentik_outposts", "outpost"),
)


def _s(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else default


def _obj(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested JSON object, or an empty one when the field is missing or not an object."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


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
        version_outdated=raw.get("version_outdated") is True,
    )


_INTERVAL_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
DEFAULT_REFRESH_S = 300  # OutpostConfig.refresh_interval "minutes=5"


def parse_interval(value: object) -> int | None:
    """authentik's timedelta strings (``minutes=5``, ``hours=1;minutes=30``) in seconds."""
    if not isinstance(value, str) or not value.strip():
        return None
    total = 0.0
    for part in value.split(";"):
        unit, sep, amount = part.strip().partition("=")
        if not sep or unit.strip() not in _INTERVAL_UNITS:
            return None
        try:
            total += float(amount) * _INTERVAL_UNITS[unit.strip()]
        except ValueError:
            return None
    return int(total) if total > 0 else None


def refresh_interval(raw: Mapping[str, Any], config: object) -> int:
    """Seconds between an outpost's own config refreshes: ``refresh_interval_s`` (2024.x+),
    else ``config.refresh_interval``, else authentik's default; outposts clamp it to >= 30 s."""
    setting = config.get("refresh_interval") if isinstance(config, dict) else None
    seconds = _int(raw.get("refresh_interval_s"), 0) or parse_interval(setting)
    return max(seconds, 30) if seconds and seconds > 0 else DEFAULT_REFRESH_S


def parse_outpost(raw: Mapping[str, Any], health: Iterable[Mapping[str, Any]] | None) -> Outpost:
    config = _obj(raw, "config")
    entries = [parse_instance(h) for h in health or () if isinstance(h, dict)]
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
        refresh_interval_s=refresh_interval(raw, config),
        token_identifier=_s(raw, "token_identifier"),
        instances=tuple(i for i in entries if i.connected),
        health_known=health is not None,
        disconnected=tuple(i for i in entries if not i.connected),
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
    context = _obj(raw, "context")
    model = _obj(context, "model")
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


# One API save can leave several events a moment apart: a proxy provider PATCH writes two
# model_updated (serializer save, then set_oauth_defaults), a creation model_created then
# model_updated. They are one change to the operator.
SAME_SAVE = timedelta(seconds=2)


def merge_changes(changes: Iterable[ModelChange]) -> tuple[ModelChange, ...]:
    """Changes by time, with the events of one save (same object, within ``SAME_SAVE``) merged
    into one: the first one's action, the last one's time."""
    merged: list[ModelChange] = []
    for change in sorted(changes, key=lambda c: c.at):
        last = next(
            (m for m in reversed(merged) if (m.model, m.pk) == (change.model, change.pk)), None
        )
        if last is not None and change.at - last.at <= SAME_SAVE:
            merged[merged.index(last)] = replace(last, at=change.at, name=change.name or last.name)
        else:
            merged.append(change)
    return tuple(sorted(merged, key=lambda c: c.at))


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


class ParseMemo:
    """The records of the last build, by the very API object each was parsed from.

    The client hands back the same decoded objects for a page whose bytes did not change
    (``AuthentikClient._decode_get``); those give the same records again instead of being
    parsed anew. Keyed by identity, never by equality: JSON that merely compares equal
    (``1`` and ``true``) may parse differently. API objects are never modified after decoding."""

    def __init__(self) -> None:
        # id(object) -> (object, what else its record was parsed with, record)
        self.providers: dict[int, tuple[object, object, ProxyProvider]] = {}
        self.bindings: dict[int, tuple[object, object, Binding]] = {}
        self.applications: dict[int, tuple[object, object, Application]] = {}


_R = TypeVar("_R")


def _reused(
    previous: dict[int, tuple[object, object, _R]],
    seen: dict[int, tuple[object, object, _R]],
    obj: object,
    extra: object,
    parse: Callable[[], _R],
) -> _R:
    """The record parsed from this very object with the same ``extra`` last time, or a new
    one; either way noted in ``seen`` (the memo of this build)."""
    hit = previous.get(id(obj))
    record = hit[2] if hit is not None and hit[0] is obj and hit[1] == extra else parse()
    seen[id(obj)] = (obj, extra, record)
    return record


def build_snapshot(
    raw: Mapping[str, Any], *, now: datetime | None = None, memo: ParseMemo | None = None
) -> Snapshot:
    """Turn the client's raw bundle into a Snapshot (findings included).

    ``raw`` keys: ``server_url``, ``version`` (admin/version object), ``outposts`` (list),
    ``health`` (outpost pk -> list, or missing when it could not be read), ``providers``,
    ``applications``, ``bindings``, ``events`` (lists of API objects). With ``memo``, objects
    parsed by the previous call give their records again (the same as parsing them anew).
    """
    memo = memo if memo is not None else ParseMemo()
    health = raw.get("health") or {}
    outposts = tuple(
        parse_outpost(o, health.get(o.get("pk")))
        for o in raw.get("outposts") or ()
        if isinstance(o, dict)
    )
    # Lists, not the memo's dicts, give the records: an object listed twice counts twice.
    seen_providers: dict[int, tuple[object, object, ProxyProvider]] = {}
    providers = tuple(
        _reused(memo.providers, seen_providers, p, None, partial(parse_provider, p))
        for p in raw.get("providers") or ()
        if isinstance(p, dict)
    )
    by_target: dict[str, list[Binding]] = {}
    seen_bindings: dict[int, tuple[object, object, Binding]] = {}
    for b in raw.get("bindings") or ():
        if isinstance(b, dict):
            binding = _reused(memo.bindings, seen_bindings, b, None, partial(parse_binding, b))
            by_target.setdefault(binding.target, []).append(binding)
    app_list: list[Application] = []
    seen_apps: dict[int, tuple[object, object, Application]] = {}
    for a in raw.get("applications") or ():
        if isinstance(a, dict):
            bound = tuple(by_target.get(_s(a, "pk"), ()))
            parse = partial(parse_application, a, bound)
            app_list.append(_reused(memo.applications, seen_apps, a, bound, parse))
    applications = tuple(app_list)
    # Only this build's objects are kept (they stay alive with it, so no id is reused).
    memo.providers, memo.bindings, memo.applications = seen_providers, seen_bindings, seen_apps
    changes = tuple(
        c for c in (parse_change(e) for e in raw.get("events") or () if isinstance(e, dict)) if c
    )
    version = _obj(raw, "version")
    snapshot = Snapshot(
        fetched_at=now or datetime.now(UTC),
        server_url=str(raw.get("server_url", "")),
        server_version=_s(version, "version_current"),
        outposts=tuple(sorted(outposts, key=lambda o: o.name)),
        providers=tuple(sorted(providers, key=lambda p: p.name)),
        applications=tuple(sorted(applications, key=lambda a: a.slug)),
        groups=group_by_cookie_domain(providers, outposts),
        changes=merge_changes(changes),
    )
    return _with_findings(snapshot, find_problems(snapshot))


def _with_findings(snapshot: Snapshot, findings: tuple[Finding, ...]) -> Snapshot:
    return snapshot.with_findings(findings)
