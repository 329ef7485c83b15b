"""The simulator's /api/v3 endpoints: filtering, ordering and write rules as authentik applies
them (viewsets in authentik/*/api/*.py; 2023.10.7 and 2025.12.4 agree on these). Handlers run
under the state lock."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aktui.lab import oidc, render, validate
from aktui.lab.http import (
    FORBIDDEN,
    NOT_FOUND,
    UUID_RE,
    Caller,
    HTTPAnswer,
    paged,
)
from aktui.lab.objects import Outpost, RequestInfo

if TYPE_CHECKING:
    from aktui.lab.simulator import Simulator

# (status, JSON body) for every handler
Reply = tuple[int, Any]
Handler = Callable[..., Reply]
_TRUE = ("true", "1", "True")
_by_name = operator.attrgetter("name")  # the default ordering of most lists


def _ci(value: str) -> str:
    return value.casefold()


def _need_admin(caller: Caller) -> None:
    if not caller.superuser:
        raise HTTPAnswer(403, FORBIDDEN)


def not_found(modern: bool, model: str) -> dict[str, str]:
    """A lookup that found nothing: DRF 3.14 (2023.10) said "Not found."; newer DRF keeps
    Django's get_object_or_404 text, "No <Model> matches the given query." (recorded)."""
    return {"detail": f"No {model} matches the given query."} if modern else NOT_FOUND


def routes(sim: Simulator) -> list[tuple[str, tuple[str, ...], Handler]]:
    st = sim.state
    base = sim.url
    modern = st.api.modern

    def page(
        items: list[Any], q: dict[str, str], dump: Callable[[Any], Any], kind: str = ""
    ) -> dict[str, Any]:
        return {**paged(items, q, dump), **render.autocomplete(st, kind)}

    def visible_outposts(caller: Caller) -> list[Outpost]:
        # an outpost's service account may only view its own outpost (guardian object perms)
        items = sorted(st.outposts.values(), key=lambda o: o.name)
        if caller.superuser:
            return items
        return [o for o in items if caller.outpost and o.pk == caller.outpost.pk]

    def outpost_or_404(caller: Caller, pk: str) -> Outpost:
        found = next((o for o in visible_outposts(caller) if o.pk == pk.lower()), None)
        if found is None:
            raise HTTPAnswer(404, not_found(modern, "Outpost"))
        return found

    def outposts_list(
        _m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo
    ) -> Reply:
        items = visible_outposts(caller)
        if "name__iexact" in q:
            items = [o for o in items if _ci(o.name) == _ci(q["name__iexact"])]
        if "name__icontains" in q:
            items = [o for o in items if _ci(q["name__icontains"]) in _ci(o.name)]
        if "managed__iexact" in q:
            items = [o for o in items if _ci(o.managed or "") == _ci(q["managed__iexact"])]
        if "providers__isnull" in q:
            empty = q["providers__isnull"] in _TRUE
            items = [o for o in items if (not o.providers) == empty]
        if "search" in q:
            term = _ci(q["search"])
            names = {p.pk: _ci(p.name) for p in st.providers.values()}
            items = [
                o
                for o in items
                if term in _ci(o.name) or any(term in names.get(p, "") for p in o.providers)
            ]
        return 200, page(items, q, lambda o: render.outpost(st, o))

    def outpost_detail(
        m: str, _q: dict[str, str], body: Any, caller: Caller, req: RequestInfo, pk: str
    ) -> Reply:
        outpost = outpost_or_404(caller, pk)
        if m == "GET":
            return 200, render.outpost(st, outpost)
        _need_admin(caller)
        if m == "DELETE":
            st.remove_outpost(outpost.pk)
            return 204, None
        changes = validate.strings(body, ("name",))
        if isinstance(body, dict) and "providers" in body:
            pks = body["providers"]
            if not isinstance(pks, list) or not all(isinstance(p, int) for p in pks):
                raise HTTPAnswer(
                    400, {"providers": ['Expected a list of items but got type "str".']}
                )
            missing = [p for p in pks if p not in st.providers]
            if missing:
                raise HTTPAnswer(400, {"providers": [validate.no_pk(missing[0])]})
            if not pks and outpost.managed is None:  # validate_providers(), embedded excepted
                raise HTTPAnswer(400, {"providers": ["This list may not be empty."]})
            changes["providers"] = list(pks)
        if isinstance(body, dict) and "config" in body:
            if not isinstance(body["config"], dict):
                raise HTTPAnswer(400, {"config": [validate.expected("dictionary", body["config"])]})
            # a JSONField: PATCH replaces the whole config with what was sent (dacite only
            # validates it); keys left out are gone from the stored config
            unknown = validate.config_errors(body["config"])
            if unknown:
                raise HTTPAnswer(400, {"config": [unknown]})
            changes["config"] = body["config"]
        return 200, render.outpost(st, st.update_outpost(outpost.pk, req, **changes))

    def outpost_health(
        _m: str, _q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo, pk: str
    ) -> Reply:
        outpost = outpost_or_404(caller, pk)
        return 200, [render.health(st, i) for i in st.health(outpost.pk)]

    def default_settings(
        _m: str, _q: dict[str, str], _b: Any, _c: Caller, _r: RequestInfo
    ) -> Reply:
        return 200, render.default_settings(st, base)

    def outpost_proxy(
        _m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo
    ) -> Reply:
        # ProxyOutpostConfigViewSet: providers that have an application; an outpost token sees
        # the providers of its outpost only. Secrets included, as the outposts need them.
        items = sorted(
            (p for p in st.providers.values() if st.application_for(p.pk)), key=lambda p: p.name
        )
        if not caller.superuser:
            mine = set(caller.outpost.providers) if caller.outpost else set()
            items = [p for p in items if p.pk in mine]
        if "name" in q:
            items = [p for p in items if p.name == q["name"]]
        return 200, page(items, q, lambda p: oidc.proxy_outpost_config(st, p, base))

    def service_connections(
        _m: str, q: dict[str, str], _b: Any, _c: Caller, _r: RequestInfo
    ) -> Reply:
        return 200, page([], q, lambda x: x)

    def providers_list(
        _m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo
    ) -> Reply:
        items = sorted(st.providers.values(), key=_by_name) if caller.superuser else []
        for key in ("mode", "name", "external_host", "internal_host", "cookie_domain"):
            if f"{key}__iexact" in q:
                items = [p for p in items if _ci(getattr(p, key)) == _ci(q[f"{key}__iexact"])]
        if "application__isnull" in q:
            none = q["application__isnull"] in _TRUE
            items = [p for p in items if (st.application_for(p.pk) is None) == none]
        if "search" in q:
            items = [p for p in items if _ci(q["search"]) in _ci(p.name)]
        return 200, page(items, q, lambda p: render.provider(st, p))

    def provider_detail(
        m: str, _q: dict[str, str], body: Any, caller: Caller, req: RequestInfo, pk: str
    ) -> Reply:
        provider = st.providers.get(int(pk)) if pk.isdigit() and caller.superuser else None
        if provider is None:
            raise HTTPAnswer(404, not_found(modern and pk.isdigit(), "ProxyProvider"))
        if m == "GET":
            return 200, render.provider(st, provider)
        if m == "DELETE":
            st.remove_provider(provider.pk)
            return 204, None
        changes = validate.strings(
            body,
            (
                "name",
                "external_host",
                "internal_host",
                "cookie_domain",
                "skip_path_regex",
                "mode",
                "access_token_validity",
                "refresh_token_validity",
                "basic_auth_password_attribute",
                "basic_auth_user_attribute",
            ),
        )
        changes |= validate.bools(
            body, ("internal_host_ssl_validation", "basic_auth_enabled", "intercept_header_auth")
        )
        if "external_host" in changes:
            validate.url(changes["external_host"], "external_host")
        mode = changes.get("mode", "proxy")
        if mode not in ("proxy", "forward_single", "forward_domain"):
            raise HTTPAnswer(400, {"mode": [f'"{mode}" is not a valid choice.']})
        # ProxyProviderSerializer.validate() reads only the submitted fields, defaulting mode to
        # "proxy": in 2023.10 a PATCH that omits mode (and internal_host) is refused, even for a
        # forward-auth provider. Clients must send mode with every provider PATCH.
        if mode == "proxy" and not changes.get("internal_host", ""):
            raise HTTPAnswer(
                400,
                {"internal_host": ["Internal host cannot be empty when forward auth is disabled."]},
            )
        return 200, render.provider(st, st.update_provider(provider.pk, req, **changes))

    def applications_list(
        _m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo
    ) -> Reply:
        items = sorted(st.applications.values(), key=_by_name)
        if "slug" in q:
            items = [a for a in items if a.slug == q["slug"]]
        if "name" in q:
            items = [a for a in items if a.name == q["name"]]
        if "search" in q:
            term = _ci(q["search"])
            items = [a for a in items if term in _ci(a.name) or term in _ci(a.slug)]
        full = q.get("superuser_full_list", "false").lower() == "true"
        if full and caller.superuser:
            return 200, page(items, q, lambda a: render.application(st, a))
        # ApplicationViewSet.list(): paginate for the numbers, then return every application
        # the caller passes policies for (not just this page), cached per user for 24 h.
        body = page(items, q, lambda a: a)
        user = caller.user
        if user is None:
            return 200, {**body, "results": []}
        cached = st.app_cache.get(user.pk) if "search" not in q else None
        if cached is None:
            cached = [a.slug for a in items if st.app_allowed(user, a)]
            if "search" not in q:
                st.app_cache[user.pk] = cached
        allowed = [st.applications[s] for s in cached if s in st.applications]
        return 200, {**body, "results": [render.application(st, a) for a in allowed]}

    def application_detail(
        m: str, _q: dict[str, str], body: Any, caller: Caller, req: RequestInfo, slug: str
    ) -> Reply:
        app = st.applications.get(slug) if caller.superuser else None
        if app is None:
            raise HTTPAnswer(404, not_found(modern, "Application"))
        if m == "GET":
            return 200, render.application(st, app)
        if m == "DELETE":
            st.remove_application(slug)
            return 204, None
        changes = validate.strings(
            body,
            (
                "name",
                "slug",
                "meta_launch_url",
                "meta_description",
                "meta_publisher",
                "policy_engine_mode",
                "group",
            ),
        )
        changes |= validate.bools(body, ("open_in_new_tab",))
        if "provider" in body:
            provider = body["provider"]
            if provider is not None and provider not in st.providers:
                raise HTTPAnswer(400, {"provider": [validate.no_pk(provider)]})
            other = st.application_for(provider) if provider is not None else None
            if other is not None and other.slug != slug:
                raise HTTPAnswer(400, {"provider": [validate.TAKEN]})
            changes["provider"] = provider
        if changes.get("policy_engine_mode", "any") not in ("any", "all"):
            raise HTTPAnswer(
                400,
                {
                    "policy_engine_mode": [
                        f'"{changes["policy_engine_mode"]}" is not a valid choice.'
                    ]
                },
            )
        return 200, render.application(st, st.update_application(slug, req, **changes))

    def groups_list(_m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo) -> Reply:
        items = sorted(st.groups.values(), key=lambda g: g.name) if caller.superuser else []
        if "name" in q:
            items = [g for g in items if g.name == q["name"]]
        return 200, page(items, q, lambda g: render.group(st, g), "groups")

    def group_detail(
        _m: str, _q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo, pk: str
    ) -> Reply:
        group = st.groups.get(pk.lower()) if caller.superuser else None
        if group is None:
            raise HTTPAnswer(404, not_found(modern, "Group"))
        return 200, render.group(st, group)

    def bindings_list(
        _m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo
    ) -> Reply:
        items = list(st.bindings) if caller.superuser else []
        if "target" in q:
            items = [b for b in items if b.target == q["target"]]
        if "target_in" in q:
            wanted = set(q["target_in"].split(","))
            items = [b for b in items if b.target in wanted]
        if "policy" in q:
            items = [b for b in items if b.policy == q["policy"]]
        if "enabled" in q:
            items = [b for b in items if b.enabled == (q["enabled"] in _TRUE)]
        return 200, page(items, q, lambda b: render.binding(st, b))

    def events_list(
        m: str, q: dict[str, str], body: Any, caller: Caller, req: RequestInfo
    ) -> Reply:
        if m == "POST":  # outposts report configuration_error events (ReportMisconfiguration)
            if not isinstance(body, dict) or not isinstance(body.get("action"), str):
                raise HTTPAnswer(400, {"action": ["This field is required."]})
            if caller.user is None:
                raise HTTPAnswer(403, FORBIDDEN)
            event = st.add_event(
                body["action"],
                str(body.get("app", "")),
                body.get("context") or {},
                caller.user,
                req,
            )
            return 201, render.event(st, event)
        items = list(st.events) if caller.superuser else []
        if "action" in q:  # icontains
            action = _ci(q["action"])
            items = [e for e in items if action in _ci(e.action)]
        for key, field in (("context_model_app", "app"), ("context_model_name", "model_name")):
            if key in q:
                items = [e for e in items if e.context.get("model", {}).get(field) == q[key]]
        if "context_model_pk" in q:  # stored as UUID.hex: dashes removed before comparing
            want = q["context_model_pk"].replace("-", "")
            items = [e for e in items if str(e.context.get("model", {}).get("pk")) == want]
        if "username" in q:
            items = [e for e in items if e.user.get("username") == q["username"]]
        if "client_ip" in q:
            items = [e for e in items if e.client_ip == q["client_ip"]]
        ordering = q.get("ordering", "-created")
        items.sort(key=lambda e: e.created, reverse=ordering.startswith("-"))
        return 200, page(items, q, lambda e: render.event(st, e), "events")

    def tokens_list(_m: str, q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo) -> Reply:
        items = sorted(st.tokens.values(), key=lambda t: (t.identifier, t.expires))
        if not caller.superuser:  # TokenViewSet.get_queryset: own tokens only
            items = [t for t in items if caller.user and t.user == caller.user.pk]
        for key in ("identifier", "managed", "intent"):
            if key in q:
                items = [t for t in items if (getattr(t, key) or "") == q[key]]
        if "user__username" in q:
            items = [t for t in items if st.users[t.user].username == q["user__username"]]
        return 200, page(items, q, lambda t: render.token(st, t))

    def token_view_key(
        _m: str, _q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo, identifier: str
    ) -> Reply:
        token = st.tokens.get(identifier)
        if token is None or not (
            caller.superuser or (caller.user and token.user == caller.user.pk)
        ):
            raise HTTPAnswer(404, {"detail": "Token not found or expired"})
        return 200, {"key": token.key}

    def version(_m: str, _q: dict[str, str], _b: Any, caller: Caller, _r: RequestInfo) -> Reply:
        _need_admin(caller)
        return 200, render.version(st)

    def root_config(_m: str, _q: dict[str, str], _b: Any, _c: Caller, _r: RequestInfo) -> Reply:
        return 200, render.root_config(st)

    get, edit = ("GET",), ("GET", "PATCH", "PUT", "DELETE")
    return [
        (r"/outposts/instances/", get, outposts_list),
        (r"/outposts/instances/default_settings/", get, default_settings),
        (rf"/outposts/instances/({UUID_RE})/", edit, outpost_detail),
        (rf"/outposts/instances/({UUID_RE})/health/", get, outpost_health),
        (r"/outposts/instances/([^/]+)/(?:health/)?", get, _not_found),
        (r"/outposts/proxy/", get, outpost_proxy),
        (r"/outposts/service_connections/all/", get, service_connections),
        (r"/providers/proxy/", get, providers_list),
        (r"/providers/proxy/([^/]+)/", edit, provider_detail),
        (r"/core/applications/", get, applications_list),
        (r"/core/applications/([^/]+)/", edit, application_detail),
        (r"/core/groups/", get, groups_list),
        (r"/core/groups/([^/]+)/", get, group_detail),
        (r"/policies/bindings/", get, bindings_list),
        (r"/events/events/", ("GET", "POST"), events_list),
        (r"/core/tokens/", get, tokens_list),
        (r"/core/tokens/([^/]+)/view_key/", get, token_view_key),
        (r"/admin/version/", get, version),
        (r"/root/config/", get, root_config),
    ]


def _not_found(*_args: Any) -> tuple[int, Any]:
    # a malformed uuid in the URL: Django's lookup fails and DRF answers 404
    raise HTTPAnswer(404, NOT_FOUND)
