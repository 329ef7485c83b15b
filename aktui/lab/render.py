"""authentik's JSON for the lab's objects: same fields, same order as the recorded answers in
tests/data/recorded/, in the shape of the lab's line (``LabState.api``): 2023.10.7, or 2025.12.4
(``modern``; tests/data/recorded/2025.12.4/README.md lists every difference rendered here)."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any
from urllib.parse import urljoin

from aktui.lab.objects import (
    EVENT_RETENTION,
    Application,
    Binding,
    Event,
    Group,
    Instance,
    Outpost,
    Provider,
    Token,
    User,
    iso,
    jsonb_order,
    seeded_uuid,
    version_tuple,
)
from aktui.lab.scenario import outpost_config
from aktui.lab.state import LabState

_PROXY_META = (
    "ak-provider-proxy-form",
    "Proxy Provider",
    "Proxy Providers",
    "authentik_providers_proxy.proxyprovider",
)
# Outpost.providers_obj is serialised from the plain M2M manager (no select_subclasses), so the
# real server shows the base Provider there: recorded component "", verbose_name "provider".
_BASE_META = ("", "provider", "providers", "authentik_core.provider")


def provider_base(
    state: LabState, p: Provider, meta: tuple[str, ...] = _PROXY_META
) -> dict[str, Any]:
    app = state.application_for(p.pk)
    component, verbose, verbose_plural, model = meta
    out: dict[str, Any] = {
        "pk": p.pk,
        "name": p.name,
        "authentication_flow": None,
        "authorization_flow": state.flow_pk,
    }
    if state.api.modern:  # required since 2024.10
        out["invalidation_flow"] = state.invalidation_flow_pk
    out |= {
        "property_mappings": list(state.property_mappings),
        "component": component,
        "assigned_application_slug": app.slug if app else None,
        "assigned_application_name": app.name if app else None,
    }
    if state.api.modern:
        out |= {
            "assigned_backchannel_application_slug": None,
            "assigned_backchannel_application_name": None,
        }
    return out | {
        "verbose_name": verbose,
        "verbose_name_plural": verbose_plural,
        "meta_model_name": model,
    }


@functools.lru_cache(maxsize=65536)
def _callback(external_host: str) -> str:
    """The outpost's callback URL on a host (urljoin is a third of a provider list's cost)."""
    return urljoin(external_host, "outpost.goauthentik.io/callback")


def redirect_uris(external_host: str, modern: bool = False) -> str | list[dict[str, str]]:
    """_get_callback_url() in providers/proxy/models.py: 2023.10 a newline-joined string of
    regexes ('?' escaped); 2025.x a list of strict matches."""
    callback = _callback(external_host)
    if modern:
        suffix = "?X-authentik-auth-callback=true"
        return [
            {"matching_mode": "strict", "url": f"{callback}{suffix}"},
            {"matching_mode": "strict", "url": f"{external_host}{suffix}"},
        ]
    return redirect_regexes(external_host)


def redirect_regexes(external_host: str) -> str:
    """2023.10's redirect_uris: newline-joined regexes (what the authorize endpoint checks)."""
    callback = _callback(external_host)
    suffix = "\\?X-authentik-auth-callback=true"
    return f"{callback}{suffix}\n{external_host}{suffix}"


def proxy_behaviour(p: Provider) -> dict[str, Any]:
    """The proxy fields in the same order in the provider API and the outpost's own config."""
    return {
        "certificate": None,
        "skip_path_regex": p.skip_path_regex,
        "basic_auth_enabled": p.basic_auth_enabled,
        "basic_auth_password_attribute": p.basic_auth_password_attribute,
        "basic_auth_user_attribute": p.basic_auth_user_attribute,
        "mode": p.mode,
    }


def provider(state: LabState, p: Provider) -> dict[str, Any]:
    return {
        **provider_base(state, p),
        "client_id": p.client_id,
        "internal_host": p.internal_host,
        "external_host": p.external_host,
        "internal_host_ssl_validation": p.internal_host_ssl_validation,
        **proxy_behaviour(p),
        "intercept_header_auth": p.intercept_header_auth,
        "redirect_uris": redirect_uris(p.external_host, state.api.modern),
        "cookie_domain": p.cookie_domain,
        **(
            {"jwt_federation_sources": [], "jwt_federation_providers": []}
            if state.api.modern
            else {"jwks_sources": []}
        ),
        "access_token_validity": p.access_token_validity,
        "refresh_token_validity": p.refresh_token_validity,
        "outpost_set": [f"Outpost {o.name}" for o in state.outposts_of(p.pk)],
    }


def outpost(state: LabState, o: Outpost) -> dict[str, Any]:
    modern: dict[str, Any] = {}
    if state.api.modern:
        # Outpost.refresh_interval_s: config.refresh_interval parsed ("minutes=5" if missing)
        modern["refresh_interval_s"] = _seconds(o.config.get("refresh_interval"), 300)
    return {
        "pk": o.pk,
        "name": o.name,
        "type": o.type,
        "providers": list(o.providers),
        "providers_obj": [
            provider_base(state, state.providers[pk], _BASE_META)
            for pk in o.providers
            if pk in state.providers
        ],
        "service_connection": o.service_connection,
        "service_connection_obj": None,
        **modern,
        "token_identifier": o.token_identifier,
        "config": dict(o.config),
        "managed": o.managed,
    }


def _seconds(value: object, default: int) -> int:
    """timedelta_string_validator's "minutes=5;seconds=30" in whole seconds."""
    units = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    total = 0.0
    for part in str(value or "").split(";"):
        unit, _, amount = part.strip().partition("=")
        try:
            total += float(amount) * units[unit]
        except (KeyError, ValueError):
            return default
    return int(total) or default


def health(state: LabState, i: Instance) -> dict[str, Any]:
    api = state.api
    # OutpostState.version_outdated: only when the build hashes match, then version < server
    outdated = bool(i.version) and i.build_hash == api.build_hash and not i.gone
    outdated = outdated and version_tuple(i.version) < version_tuple(api.version)
    gone = i.gone  # 2025.x: an expired state, listed until purged, reads as empty
    out: dict[str, Any] = {
        "uid": i.uid,
        "last_seen": None if gone else iso(i.last_seen),
        "version": None if gone else i.version,
    }
    if api.modern:
        out |= {
            "golang_version": "" if gone else i.golang_version,
            "openssl_enabled": False,
            "openssl_version": "",
            "fips_enabled": None,  # null without an enterprise licence (recorded)
        }
    return out | {
        "version_should": api.version,
        "version_outdated": outdated,
        "build_hash": "" if gone else i.build_hash,
        "build_hash_should": api.build_hash,
        "hostname": "" if gone else i.hostname,
    }


def application(state: LabState, a: Application) -> dict[str, Any]:
    p = state.providers.get(a.provider) if a.provider is not None else None
    return {
        "pk": a.pk,
        "name": a.name,
        "slug": a.slug,
        "provider": p.pk if p else None,
        "provider_obj": provider_base(state, p) if p else None,
        "backchannel_providers": [],
        "backchannel_providers_obj": [],
        # Application.get_launch_url(): meta_launch_url, else the provider's (external_host)
        "launch_url": a.meta_launch_url or (p.external_host if p else None),
        "open_in_new_tab": a.open_in_new_tab,
        "meta_launch_url": a.meta_launch_url,
        **(
            {"meta_icon": "", "meta_icon_url": None, "meta_icon_themed_urls": None}
            if state.api.modern
            else {"meta_icon": None}
        ),
        "meta_description": a.meta_description,
        "meta_publisher": a.meta_publisher,
        "policy_engine_mode": a.policy_engine_mode,
        "group": a.group,
    }


def avatar(name: str) -> str:
    """authentik's generated initials avatar (lib/avatars.py), as a data URI."""
    parts = name.split()
    parts = [parts[0], parts[-1]] if len(parts) > 2 else parts
    initials = (parts[0][:2] if len(parts) == 1 else "".join(p[0] for p in parts)).upper()
    color = int(hashlib.md5(name.lower().encode()).hexdigest(), 16) % 0xFFFFFF
    rgb = [min(max((color >> s) & 0xFF, 55), 200) for s in (16, 8, 0)]
    bg = "".join(f"{c:02x}" for c in rgb)
    fg = "000" if (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000 > 186 else "fff"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64px" height="64px" viewBox="0 0 64 64" '
        f'version="1.1"><rect fill="#{bg}" cx="32" cy="32" width="64" height="64" r="32"/>'
        f'<text x="50%" y="50%" style="color: #{fg}; line-height: 1; font-family: '
        "'RedHatText','Overpass',overpass,helvetica,arial,sans-serif; \" "
        f'fill="#{fg}" alignment-baseline="middle" dominant-baseline="middle" '
        'text-anchor="middle" font-size="28" font-weight="400" dy=".1em">'
        f"{initials}</text></svg>"
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def group_member(u: User) -> dict[str, Any]:
    return {
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": True,
        "last_login": None,
        "email": u.email,
        "attributes": {},
        "uid": u.uid,
    }


def group(state: LabState, g: Group) -> dict[str, Any]:
    head = {"pk": g.pk, "num_pk": g.num_pk, "name": g.name, "is_superuser": g.is_superuser}
    users = {
        "users": list(g.users),
        "users_obj": [group_member(state.users[pk]) for pk in g.users],
        "attributes": {},
        "roles": [],
        "roles_obj": [],
    }
    if state.api.modern:  # several parents; *_obj only with include_parents/_children
        return {
            **head,
            "parents": [],
            "parents_obj": None,
            **users,
            "inherited_roles_obj": None,
            "children": [],
            "children_obj": None,
        }
    return {**head, "parent": None, "parent_name": None, **users}


def group_ref(state: LabState, g: Group) -> dict[str, Any]:
    """A binding's group_obj: 2025.x sends a slim group (no parent, users or roles)."""
    if state.api.modern:
        return {
            "pk": g.pk,
            "num_pk": g.num_pk,
            "name": g.name,
            "is_superuser": g.is_superuser,
            "attributes": {},
        }
    return group(state, g)


def user_obj(state: LabState, u: User) -> dict[str, Any]:
    modern = state.api.modern
    groups = [g for g in state.groups.values() if u.pk in g.users]
    groups_obj: list[dict[str, Any]] = [
        {
            "pk": g.pk,
            "num_pk": g.num_pk,
            "name": g.name,
            "is_superuser": g.is_superuser,
            **({} if modern else {"parent": None}),
            "attributes": {},
        }
        for g in groups
    ]
    joined = iso(state.created_at - 3600)
    # 2025.x: every user has its managed role (RBAC)
    role = {"pk": seeded_uuid(state.seed, "role", u.pk), "name": f"ak-managed-role--user-{u.pk}"}
    out: dict[str, Any] = {
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": True,
        "last_login": None,
        **({"date_joined": joined} if modern else {}),
        "is_superuser": u.is_superuser,
        "groups": [g.pk for g in groups],
        "groups_obj": groups_obj,
        **({"roles": [role["pk"]], "roles_obj": [role]} if modern else {}),
        "email": u.email,
        "avatar": avatar(u.name),
        "attributes": {},
        "uid": u.uid,
        "path": u.path,
        "type": u.type,
        "uuid": u.uuid,
    }
    if modern:
        out |= {"password_change_date": joined, "last_updated": joined}
    return out


def binding(state: LabState, b: Binding) -> dict[str, Any]:
    policy = state.policies.get(b.policy) if b.policy else None
    g = state.groups.get(b.group) if b.group else None
    u = state.users.get(b.user) if b.user is not None else None
    policy_obj = None
    if policy:
        matcher = policy.kind == "event_matcher"
        kind = (
            (
                "event-matcher",
                "Event Matcher Policy",
                "Event Matcher Policies",
                "event_matcher.eventmatcherpolicy",
            )
            if matcher
            else (
                "expression",
                "Expression Policy",
                "Expression Policies",
                "expression.expressionpolicy",
            )
        )
        policy_obj = {
            "pk": policy.pk,
            "name": policy.name,
            "execution_logging": False,
            "component": f"ak-policy-{kind[0]}-form",
            "verbose_name": kind[1],
            "verbose_name_plural": kind[2],
            "meta_model_name": f"authentik_policies_{kind[3]}",
            "bound_to": sum(1 for x in state.bindings if x.policy == policy.pk),
        }
        if matcher:
            policy_obj.update(action=policy.action, client_ip=None, app=None, model=None)
        else:
            policy_obj["expression"] = policy.expression
    return {
        "pk": b.pk,
        "policy": b.policy,
        "group": b.group,
        "user": b.user,
        "policy_obj": policy_obj,
        "group_obj": group_ref(state, g) if g else None,
        "user_obj": user_obj(state, u) if u else None,
        "target": b.target,
        "negate": b.negate,
        "enabled": b.enabled,
        "order": b.order,
        "timeout": b.timeout,
        "failure_result": b.failure_result,
    }


def token(state: LabState, t: Token) -> dict[str, Any]:
    return {
        "pk": t.pk,
        "managed": t.managed,
        "identifier": t.identifier,
        "intent": t.intent,
        "user": t.user,
        "user_obj": user_obj(state, state.users[t.user]),
        "description": t.description,
        "expires": iso(t.expires),
        "expiring": t.expiring,
    }


def event(state: LabState, e: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pk": e.pk,
        "user": dict(e.user),
        "action": e.action,
        "app": e.app,
        "context": e.context,
        "client_ip": e.client_ip,
        "created": iso(e.created),
        "expires": iso(e.created + EVENT_RETENTION.total_seconds()),
    }
    if state.api.modern:  # tenants became brands (2024.2)
        brand = {
            "pk": state.brand_pk,
            "app": "authentik_brands",
            "name": "Default brand",
            "model_name": "brand",
        }
        body["brand"] = jsonb_order(brand)
    else:
        tenant = {
            "app": "authentik_tenants",
            "model_name": "tenant",
            "pk": state.tenant_pk,
            "name": "Default tenant",
        }
        body["tenant"] = jsonb_order(tenant)
    return body


def version(state: LabState) -> dict[str, Any]:
    # no worker in the recorded labs, so version_latest falls back to the current version
    api = state.api
    if api.modern:
        return {
            "version_current": api.version,
            "version_latest": api.version,
            "version_latest_valid": True,
            "build_hash": api.build_hash,
            "outdated": False,
            "outpost_outdated": False,
        }
    return {
        "version_current": api.version,
        "version_latest": api.version,
        "build_hash": api.build_hash,
        "outdated": False,
    }


def root_config(state: LabState) -> dict[str, Any]:
    config = _root_config()
    if state.api.modern:
        del config["cache_timeout_reputation"]
    return config


# djangoql metadata 2025.x puts in ``autocomplete`` on the lists that support its search
# (recorded for groups and events); every other list sends {}
_AUTOCOMPLETE: dict[str, dict[str, Any]] = {
    "groups": {
        "current_model": "authentik_core.group",
        "models": {
            "authentik_core.group": {
                "name": {"type": "str", "nullable": False, "options": None},
                "is_superuser": {"type": "bool", "nullable": True, "options": None},
                "attributes": {
                    "type": "relation",
                    "nullable": False,
                    "options": None,
                    "relation": "authentik_core.group_attributes",
                },
            }
        },
    },
}


_EVENT_ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "user_write",
    "suspicious_request",
    "password_set",
    "secret_view",
    "secret_rotate",
    "invitation_used",
    "authorize_application",
    "source_linked",
    "impersonation_started",
    "impersonation_ended",
    "flow_execution",
    "policy_execution",
    "policy_exception",
    "property_mapping_exception",
    "system_task_execution",
    "system_task_exception",
    "system_exception",
    "configuration_error",
    "model_created",
    "model_updated",
    "model_deleted",
    "email_sent",
    "update_available",
    "export_ready",
    "custom_",
)


def autocomplete(state: LabState, kind: str = "") -> dict[str, dict[str, Any]]:
    """The list answer's extra top-level keys: none in 2023.10, ``autocomplete`` in 2025.x."""
    if not state.api.modern:
        return {}
    if kind == "events":
        return {"autocomplete": _events_autocomplete(state)}
    return {"autocomplete": _AUTOCOMPLETE.get(kind, {})}


def _field(kind: str, options: Any = None, relation: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "nullable": False, "options": options}
    return out | ({"relation": relation} if relation else {})


def _events_autocomplete(state: LabState) -> dict[str, Any]:
    """As recorded: the event model's fields, the apps seen in events as options."""
    base = "authentik_events.event"
    request = f"{base}_context_http_request"
    apps = sorted({e.app for e in state.events})
    return {
        "current_model": base,
        "models": {
            base: {
                "action": _field("str", list(_EVENT_ACTIONS)),
                "event_uuid": _field("str"),
                "app": _field("str", apps),
                "client_ip": _field("str"),
                "user": _field("relation", relation=f"{base}_user"),
                "brand": _field("relation", relation=f"{base}_brand"),
                "context": _field("relation", relation=f"{base}_context"),
                "created": _field("datetime", []),
            },
            f"{base}_user": {
                "pk": _field("int"),
                "username": _field("str"),
                "email": _field("str"),
            },
            f"{base}_brand": {k: _field("str") for k in ("pk", "app", "name", "model_name")},
            f"{base}_context": {"http_request": _field("relation", relation=request)},
            request: {
                "args": _field("relation", relation=f"{request}_args"),
                **{k: _field("str") for k in ("path", "method", "request_id", "user_agent")},
            },
        },
    }


def _root_config() -> dict[str, Any]:
    return {
        "error_reporting": {
            "enabled": False,
            "sentry_dsn": "https://151ba72610234c4c97c5bcff4e1cffd8@authentik.error-reporting.a7k.io/4504163677503489",
            "environment": "customer",
            "send_pii": False,
            "traces_sample_rate": 0.1,
        },
        "capabilities": ["can_impersonate", "is_enterprise"],
        "cache_timeout": 300,
        "cache_timeout_flows": 300,
        "cache_timeout_policies": 300,
        "cache_timeout_reputation": 300,
    }


def default_settings(state: LabState, base: str) -> dict[str, Any]:
    return {"config": outpost_config(base.rstrip("/") + "/", modern=state.api.modern)}


def raw_bundle(state: LabState, server_url: str = "http://lab") -> dict[str, Any]:
    """What aktui's client hands to parse.build_snapshot(), straight from the state (for tests
    and tools that want the lab's model without HTTP)."""
    with state.lock:
        return {
            "server_url": server_url,
            "version": version(state),
            "outposts": [outpost(state, o) for o in state.outposts.values()],
            "health": {pk: [health(state, i) for i in state.health(pk)] for pk in state.outposts},
            "providers": [provider(state, p) for p in state.providers.values()],
            "applications": [application(state, a) for a in state.applications.values()],
            "bindings": [binding(state, b) for b in state.bindings],
            "events": [event(state, e) for e in state.events],
        }
