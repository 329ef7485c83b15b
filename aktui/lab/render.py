"""authentik 2023.10.7's JSON for the lab's objects: same fields, same order as the recorded
answers in tests/data/recorded/ (no fields that only newer servers send)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urljoin

from aktui.lab.objects import (
    EVENT_RETENTION,
    SERVER_BUILD_HASH,
    SERVER_VERSION,
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


def provider_base(state: LabState, p: Provider, meta: tuple[str, ...] = _PROXY_META) -> dict:
    app = state.application_for(p.pk)
    component, verbose, verbose_plural, model = meta
    return {
        "pk": p.pk,
        "name": p.name,
        "authentication_flow": None,
        "authorization_flow": state.flow_pk,
        "property_mappings": list(state.property_mappings),
        "component": component,
        "assigned_application_slug": app.slug if app else None,
        "assigned_application_name": app.name if app else None,
        "verbose_name": verbose,
        "verbose_name_plural": verbose_plural,
        "meta_model_name": model,
    }


def redirect_uris(external_host: str) -> str:
    """_get_callback_url() in providers/proxy/models.py (regex-escaped '?', newline-joined)."""
    callback = urljoin(external_host, "outpost.goauthentik.io/callback")
    suffix = "\\?X-authentik-auth-callback=true"
    return f"{callback}{suffix}\n{external_host}{suffix}"


def provider(state: LabState, p: Provider) -> dict:
    return {
        **provider_base(state, p),
        "client_id": p.client_id,
        "internal_host": p.internal_host,
        "external_host": p.external_host,
        "internal_host_ssl_validation": p.internal_host_ssl_validation,
        "certificate": None,
        "skip_path_regex": p.skip_path_regex,
        "basic_auth_enabled": p.basic_auth_enabled,
        "basic_auth_password_attribute": p.basic_auth_password_attribute,
        "basic_auth_user_attribute": p.basic_auth_user_attribute,
        "mode": p.mode,
        "intercept_header_auth": p.intercept_header_auth,
        "redirect_uris": redirect_uris(p.external_host),
        "cookie_domain": p.cookie_domain,
        "jwks_sources": [],
        "access_token_validity": p.access_token_validity,
        "refresh_token_validity": p.refresh_token_validity,
        "outpost_set": [f"Outpost {o.name}" for o in state.outposts_of(p.pk)],
    }


def outpost(state: LabState, o: Outpost) -> dict:
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
        "token_identifier": o.token_identifier,
        "config": dict(o.config),
        "managed": o.managed,
    }


def health(i: Instance) -> dict:
    # OutpostState.version_outdated: only when the build hashes match, then version < server
    outdated = bool(i.version) and i.build_hash == SERVER_BUILD_HASH
    outdated = outdated and version_tuple(i.version) < version_tuple(SERVER_VERSION)
    return {
        "uid": i.uid,
        "last_seen": iso(i.last_seen),
        "version": i.version,
        "version_should": SERVER_VERSION,
        "version_outdated": outdated,
        "build_hash": i.build_hash,
        "build_hash_should": SERVER_BUILD_HASH,
        "hostname": i.hostname,
    }


def application(state: LabState, a: Application) -> dict:
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
        "meta_icon": None,
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


def group_member(u: User) -> dict:
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


def group(state: LabState, g: Group) -> dict:
    return {
        "pk": g.pk,
        "num_pk": g.num_pk,
        "name": g.name,
        "is_superuser": g.is_superuser,
        "parent": None,
        "parent_name": None,
        "users": list(g.users),
        "users_obj": [group_member(state.users[pk]) for pk in g.users],
        "attributes": {},
        "roles": [],
        "roles_obj": [],
    }


def user_obj(state: LabState, u: User) -> dict:
    groups = [g for g in state.groups.values() if u.pk in g.users]
    return {
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": True,
        "last_login": None,
        "is_superuser": u.is_superuser,
        "groups": [g.pk for g in groups],
        "groups_obj": [
            {
                "pk": g.pk,
                "num_pk": g.num_pk,
                "name": g.name,
                "is_superuser": g.is_superuser,
                "parent": None,
                "attributes": {},
            }
            for g in groups
        ],
        "email": u.email,
        "avatar": avatar(u.name),
        "attributes": {},
        "uid": u.uid,
        "path": u.path,
        "type": u.type,
        "uuid": u.uuid,
    }


def binding(state: LabState, b: Binding) -> dict:
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
        "group_obj": group(state, g) if g else None,
        "user_obj": user_obj(state, u) if u else None,
        "target": b.target,
        "negate": b.negate,
        "enabled": b.enabled,
        "order": b.order,
        "timeout": b.timeout,
        "failure_result": b.failure_result,
    }


def token(state: LabState, t: Token) -> dict:
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


def event(state: LabState, e: Event) -> dict:
    tenant = {
        "app": "authentik_tenants",
        "model_name": "tenant",
        "pk": state.tenant_pk,
        "name": "Default tenant",
    }
    return {
        "pk": e.pk,
        "user": dict(e.user),
        "action": e.action,
        "app": e.app,
        "context": e.context,
        "client_ip": e.client_ip,
        "created": iso(e.created),
        "expires": iso(e.created + EVENT_RETENTION.total_seconds()),
        "tenant": jsonb_order(tenant),
    }


def version() -> dict:
    # no worker in the recorded lab, so version_latest falls back to the current version
    return {
        "version_current": SERVER_VERSION,
        "version_latest": SERVER_VERSION,
        "build_hash": SERVER_BUILD_HASH,
        "outdated": False,
    }


def root_config() -> dict:
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


def default_settings(base: str) -> dict:
    config = outpost_config(base.rstrip("/") + "/")
    return {"config": config}


def raw_bundle(state: LabState, server_url: str = "http://lab") -> dict[str, Any]:
    """What aktui's client hands to parse.build_snapshot(), straight from the state (for tests
    and tools that want the lab's model without HTTP)."""
    with state.lock:
        return {
            "server_url": server_url,
            "version": version(),
            "outposts": [outpost(state, o) for o in state.outposts.values()],
            "health": {pk: [health(i) for i in state.health(pk)] for pk in state.outposts},
            "providers": [provider(state, p) for p in state.providers.values()],
            "applications": [application(state, a) for a in state.applications.values()],
            "bindings": [binding(state, b) for b in state.bindings],
            "events": [event(state, e) for e in state.events],
        }
