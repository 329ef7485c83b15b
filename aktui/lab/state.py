"""The lab's authentik data: objects, audited mutations, outpost health.

Everything that identifies an object is seeded: uuids, pks, client ids and secrets derive from
``seed`` and the object's name, so two labs built with the same arguments serialise identically
(tests, snapshots). Only credentials (API tokens) and timestamps are per run. The simulator serves
this from many threads while the chaos thread mutates it, so every public method takes the lock.
The default lab and the scale generator live in ``aktui.lab.scenario``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from typing import Any

from aktui.lab.objects import (
    ADMIN_PK,
    GHOST_PURGE_S,
    HELLO_INTERVAL_S,
    HELLO_TTL_S,
    PREVIOUS,
    Application,
    Binding,
    Deployment,
    Event,
    Group,
    Instance,
    Outpost,
    Policy,
    Provider,
    RequestInfo,
    Token,
    User,
    jsonb_order,
    random_token,
    seeded_secret,
    seeded_uuid,
)
from aktui.lab.versions import ApiVersion, api_version

# (django app label, model name, API path prefix) for audit events
_MODEL_META = {
    Provider: ("authentik_providers_proxy", "proxyprovider", "/api/v3/providers/proxy/"),
    Application: ("authentik_core", "application", "/api/v3/core/applications/"),
    Outpost: ("authentik_outposts", "outpost", "/api/v3/outposts/instances/"),
}


class LabState:
    """authentik's data for one lab run. ``clock`` returns unix time (tests pass a fake)."""

    def __init__(
        self,
        seed: str = "aktui-lab",
        clock: Callable[[], float] = time.time,
        authentik: str | ApiVersion = "2023.10",
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.api = api_version(authentik)  # the version (and API shape) the lab answers as
        self.lock = threading.RLock()
        self.created_at = clock()
        self.tenant_pk = seeded_uuid(seed, "tenant").replace("-", "")
        self.flow_pk = seeded_uuid(seed, "flow", "default-provider-authorization-implicit-consent")
        self.invalidation_flow_pk = seeded_uuid(seed, "flow", "default-provider-invalidation-flow")
        self.brand_pk = seeded_uuid(seed, "brand").replace("-", "")
        self.property_mappings = [seeded_uuid(seed, "scope", s) for s in _SCOPES]
        self.users: dict[int, User] = {}
        self.groups: dict[str, Group] = {}
        self.policies: dict[str, Policy] = {}
        self.bindings: list[Binding] = []
        self.providers: dict[int, Provider] = {}
        self.applications: dict[str, Application] = {}  # by slug
        self.outposts: dict[str, Outpost] = {}  # by pk
        self.deployments: dict[str, Deployment] = {}  # by outpost name
        self.tokens: dict[str, Token] = {}  # by identifier
        self.events: deque[Event] = deque(maxlen=20000)
        self._instances: dict[str, dict[str, Instance]] = {}  # outpost pk -> uid -> state
        self._next_provider_pk = 1
        self.app_cache: dict[int, list[str]] = {}  # per-user allowed apps (authentik caches 24h)
        self._app_index: dict[int, Application] | None = None  # provider pk -> application
        self.admin_token = random_token()

    # --- lookups -----------------------------------------------------------------------------

    def outpost(self, key: str) -> Outpost | None:
        with self.lock:
            found = self.outposts.get(key)
            return found or next((o for o in self.outposts.values() if o.name == key), None)

    def application_for(self, provider_pk: int) -> Application | None:
        # every provider row needs this; a scanned dict made large labs quadratic
        with self.lock:
            if self._app_index is None:
                self._app_index = {
                    a.provider: a for a in self.applications.values() if a.provider is not None
                }
            return self._app_index.get(provider_pk)

    def _applications_changed(self) -> None:
        self._app_index = None
        self.app_cache.clear()  # post_save_application clears the per-user app cache

    def outposts_of(self, provider_pk: int) -> list[Outpost]:
        with self.lock:
            return [o for o in self.outposts.values() if provider_pk in o.providers]

    def token_owner(self, key: str) -> tuple[User, Outpost | None] | None:
        """The user a Bearer key authenticates, and the outpost when it is an outpost token."""
        with self.lock:
            for token in self.tokens.values():
                if token.intent == "api" and secrets.compare_digest(token.key, key):
                    outpost = next(
                        (
                            o
                            for o in self.outposts.values()
                            if o.token_identifier == token.identifier
                        ),
                        None,
                    )
                    return self.users[token.user], outpost
            return None

    def app_allowed(self, user: User, app: Application) -> bool:
        """authentik's PolicyEngine for the demo data: group/user bindings, 'any' or 'all'."""
        bindings = [b for b in self.bindings if b.target == app.pk and b.enabled]
        if not bindings:
            return True
        results = []
        for b in bindings:
            if b.group:
                passed = user.pk in self.groups[b.group].users
            elif b.user is not None:
                passed = b.user == user.pk
            else:
                passed = True  # the lab's expression policies all return True
            results.append(passed != b.negate)
        return any(results) if app.policy_engine_mode == "any" else all(results)

    # --- outpost health (the websocket HELLO, see consumer.py) --------------------------------

    def version_of(self, deploy: Deployment) -> str:
        """What a deployment's outpost reports: its own pinned version, else the server's."""
        if deploy.version == PREVIOUS:
            return self.api.previous
        return deploy.version or self.api.version

    def hello(
        self,
        outpost_pk: str,
        uid: str,
        version: str,
        build_hash: str,
        hostname: str,
        golang_version: str = "",
    ) -> None:
        with self.lock:
            self._instances.setdefault(outpost_pk, {})[uid] = Instance(
                uid, self.clock(), version, build_hash, hostname, golang_version
            )

    def health(self, outpost_pk: str) -> list[Instance]:
        """What /health/ lists. The server's state of an instance expires 15 s after its last
        HELLO (in 2023.10 a closed websocket does not delete it, so a restarted outpost shows
        twice for a while). 2023.10 then forgets it; 2025.x lists it on (``gone``: shown with
        nulls) until the worker purges expired states."""
        now = self.clock()
        keep = HELLO_TTL_S + (GHOST_PURGE_S if self.api.modern else 0.0)
        with self.lock:
            live = self._instances.get(outpost_pk, {})
            for uid in [u for u, i in live.items() if now - i.last_seen > keep]:
                del live[uid]
            found = [
                replace(i, gone=True) if now - i.last_seen > HELLO_TTL_S else i
                for i in live.values()
            ]
            outpost = self.outposts.get(outpost_pk)
            deploy = self.deployments.get(outpost.name) if outpost else None
            if outpost and deploy and not deploy.process and deploy.token_ok:
                found.append(self._virtual_instance(outpost, deploy, now))
            return found

    def connected(self, outpost_pk: str) -> list[Instance]:
        """The instances whose websocket is up (``health`` without the 2025.x leftovers)."""
        return [i for i in self.health(outpost_pk) if not i.gone]

    def _virtual_instance(self, outpost: Outpost, deploy: Deployment, now: float) -> Instance:
        # An instance nobody runs as a process (embedded outpost, scale outposts): HELLO every
        # 10 s since the lab started, so last_seen moves like a real one.
        since = self.created_at + ((now - self.created_at) // HELLO_INTERVAL_S) * HELLO_INTERVAL_S
        host = "authentik-server-7d9f8c" if outpost.managed else f"ak-outpost-{outpost.name}"
        return Instance(
            seeded_uuid(self.seed, "instance", outpost.name),
            since,
            self.version_of(deploy),
            self.api.build_hash,
            host,
            "go1.24.11" if self.api.modern else "",
        )

    # --- audit events -----------------------------------------------------------------------

    def record(self, action: str, obj: Provider | Application | Outpost, req: RequestInfo) -> Event:
        """An Event as AuditMiddleware writes it for a change made through the API."""
        app_label, model_name, _ = _MODEL_META[type(obj)]
        pk: Any = obj.pk if isinstance(obj, Provider) else obj.pk.replace("-", "")  # UUID.hex
        admin = self.users[ADMIN_PK]
        with self.lock:
            event = Event(
                pk=seeded_uuid(self.seed, "event", len(self.events), self.clock()),
                action=action,
                app="authentik.events.middleware",
                context=jsonb_order(
                    {
                        "model": jsonb_order(
                            {"app": app_label, "model_name": model_name, "pk": pk, "name": obj.name}
                        ),
                        "http_request": jsonb_order(self._http_request(req)),
                    }
                ),
                user=jsonb_order(
                    {"pk": admin.pk, "email": admin.email, "username": admin.username}
                ),
                client_ip=req.client_ip,
                created=self.clock(),
            )
            self.events.append(event)
            return event

    def _http_request(self, req: RequestInfo) -> dict[str, Any]:
        request = {
            "path": req.path,
            "method": req.method,
            "args": dict(req.args),
            "user_agent": req.user_agent,
        }
        if self.api.modern:  # 2025.x logs the request id (the X-authentik-id header)
            request["request_id"] = seeded_uuid(self.seed, "request", len(self.events)).replace(
                "-", ""
            )
        return request

    def add_event(
        self, action: str, app: str, context: dict[str, Any], user: User, req: RequestInfo
    ) -> Event:
        """An event created through POST /events/events/ (outposts report errors this way)."""
        with self.lock:
            event = Event(
                pk=seeded_uuid(self.seed, "event", len(self.events), self.clock()),
                action=action,
                app=app,
                context=jsonb_order(dict(context)),
                user=jsonb_order({"pk": user.pk, "email": user.email, "username": user.username}),
                client_ip=req.client_ip,
                created=self.clock(),
            )
            self.events.append(event)
            return event

    def _request(self, obj: Provider | Application | Outpost, method: str) -> RequestInfo:
        _, _, prefix = _MODEL_META[type(obj)]
        key = obj.slug if isinstance(obj, Application) else obj.pk
        return RequestInfo(path=f"{prefix}{key}/" if method != "POST" else prefix, method=method)

    # --- mutations (each leaves the events the real server would) -----------------------------

    def update_provider(self, pk: int, req: RequestInfo | None = None, **changes: Any) -> Provider:
        with self.lock:
            provider = self.providers[pk]
            _check_fields(Provider, changes)
            provider = replace(provider, **changes)
            self.providers[pk] = provider
            req = req or self._request(provider, "PATCH")
            # ProxyProviderSerializer.update() saves, then set_oauth_defaults() saves again:
            # authentik 2023.10 writes two model_updated events per provider update.
            self.record("model_updated", provider, req)
            self.record("model_updated", provider, req)
            return provider

    def update_application(
        self, slug: str, req: RequestInfo | None = None, **changes: Any
    ) -> Application:
        with self.lock:
            app = self.applications[slug]
            _check_fields(Application, changes)
            new = replace(app, **changes)
            if new.slug != slug:
                del self.applications[slug]
            self.applications[new.slug] = new
            self._applications_changed()
            self.record("model_updated", new, req or self._request(app, "PATCH"))
            return new

    def update_outpost(self, key: str, req: RequestInfo | None = None, **changes: Any) -> Outpost:
        with self.lock:
            outpost = self.outpost(key)
            if outpost is None:
                raise KeyError(key)
            _check_fields(Outpost, changes)
            if "config" in changes:
                changes["config"] = jsonb_order(dict(changes["config"]))
            old_name = outpost.name
            outpost = replace(outpost, **changes)
            self.outposts[outpost.pk] = outpost
            if outpost.name != old_name and old_name in self.deployments:
                deploy = self.deployments.pop(old_name)
                self.deployments[outpost.name] = replace(deploy, outpost=outpost.name)
            # one save(); the providers m2m change is not audited (only User/Group m2m are)
            self.record("model_updated", outpost, req or self._request(outpost, "PATCH"))
            return outpost

    def add_provider(self, name: str, mode: str, external_host: str, **extra: Any) -> Provider:
        with self.lock:
            pk = self._next_provider_pk
            self._next_provider_pk += 1
            provider = Provider(
                pk=pk,
                name=name,
                mode=mode,
                external_host=external_host,
                client_id=seeded_secret(self.seed, 40, "client_id", name),
                client_secret=seeded_secret(self.seed, 128, "client_secret", name),
                cookie_secret=seeded_secret(self.seed, 40, "cookie_secret", name),
                **extra,
            )
            self.providers[pk] = provider
            self.record("model_created", provider, self._request(provider, "POST"))
            if self.api.modern:  # 2025.x: the create's set_oauth_defaults() saves once more
                self.record("model_updated", provider, self._request(provider, "POST"))
            return provider

    def remove_provider(self, pk: int) -> None:
        with self.lock:
            provider = self.providers.pop(pk)
            self.record("model_deleted", provider, self._request(provider, "DELETE"))
            for outpost in self.outposts.values():
                if pk in outpost.providers:
                    outpost.providers = [p for p in outpost.providers if p != pk]
            for app in self.applications.values():
                if app.provider == pk:
                    app.provider = None  # Application.provider is SET_NULL
            self._applications_changed()

    def add_application(
        self, name: str, slug: str, provider: int | None, **extra: Any
    ) -> Application:
        with self.lock:
            if provider is not None and self.application_for(provider):
                # Application.provider is a OneToOneField (recorded: 400 on the real server)
                raise ValueError("Application with this provider already exists.")
            app = Application(seeded_uuid(self.seed, "app", slug), name, slug, provider, **extra)
            self.applications[slug] = app
            self._applications_changed()
            self.record("model_created", app, self._request(app, "POST"))
            return app

    def remove_application(self, slug: str) -> None:
        with self.lock:
            app = self.applications.pop(slug)
            self.bindings = [b for b in self.bindings if b.target != app.pk]
            self._applications_changed()
            self.record("model_deleted", app, self._request(app, "DELETE"))

    def add_outpost(
        self, name: str, providers: Iterable[int], config: dict[str, Any], **extra: Any
    ) -> Outpost:
        with self.lock:
            outpost = Outpost(
                seeded_uuid(self.seed, "outpost", name), name, list(providers), config, **extra
            )
            outpost.config = jsonb_order(dict(config))
            self.outposts[outpost.pk] = outpost
            if outpost.managed is None:
                self._outpost_token(outpost)
            self.record("model_created", outpost, self._request(outpost, "POST"))
            return outpost

    def remove_outpost(self, key: str) -> None:
        with self.lock:
            outpost = self.outpost(key)
            if outpost is None:
                raise KeyError(key)
            del self.outposts[outpost.pk]
            self.tokens.pop(outpost.token_identifier, None)
            self.deployments.pop(outpost.name, None)
            self.record("model_deleted", outpost, self._request(outpost, "DELETE"))

    def rotate_outpost_token(self, key: str) -> str:
        """A new key for the outpost's token: a running outpost keeps the old one and gets 403."""
        with self.lock:
            outpost = self.outpost(key)
            if outpost is None:
                raise KeyError(key)
            token = self.tokens[outpost.token_identifier]
            token.key = random_token()
            return token.key

    def _outpost_token(self, outpost: Outpost) -> Token:
        user = User(
            pk=max(self.users) + 1,
            username=f"ak-outpost-{outpost.pk.replace('-', '')}",
            name=f"Outpost {outpost.name} Service-Account",
            path="goauthentik.io/outposts",
            type="internal_service_account",
            uuid=seeded_uuid(self.seed, "user", outpost.name),
            uid=hashlib.sha256(f"{self.seed}|uid|{outpost.name}".encode()).hexdigest(),
        )
        self.users[user.pk] = user
        token = Token(
            pk=seeded_uuid(self.seed, "token", outpost.name),
            identifier=outpost.token_identifier,
            user=user.pk,
            key=random_token(),
            description=f"Autogenerated by authentik for Outpost {outpost.name}",
            managed=f"goauthentik.io/outpost/{outpost.token_identifier}",
            expires=self.clock() + 1800,
        )
        self.tokens[token.identifier] = token
        return token


_SCOPES = ("openid", "email", "profile", "ak_proxy")


def _check_fields(cls: type, changes: dict[str, Any]) -> None:
    known = {f.name for f in fields(cls)} - {"pk"}
    unknown = set(changes) - known
    if unknown:
        raise KeyError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
