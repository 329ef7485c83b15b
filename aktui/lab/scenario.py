"""The default lab (the field guide's architecture, plus one of each misconfiguration) and the
scale generator for benchmarks.

Architecture (shared/seeds/001): ``outpost-single`` on 9001 serves the standalone single-app
sites; each cookie domain gets its own outpost on the next port. Deliberate mistakes, one per
finding in ``aktui/findings.py``:

==============================  ===========================================================
mixed-cookie-domains            outpost-example-net also serves shop.example.io (example.io)
single-and-domain-mixed         outpost-legacy: legacy.example.org (single) + gamma.example.dev
embedded-forward-auth           grafana.example.com on the authentik Embedded Outpost
auth-url-outside-cookie-domain  provider example.net: Authentication URL https://auth.example.com
external-host-path              wiki.example.org has ``https://wiki.example.org/``
provider-without-application    old.example.org (still listed in outpost-single)
provider-without-outpost        new.example.com (has an application, no outpost)
outpost-not-connected           outpost-staging: its container holds a revoked token
outpost-version-mismatch        outpost-legacy runs an older release (2023.8.3 / 2025.10.1)
browser-host-internal           outpost-legacy: authentik_host http://server:9000/, no browser host
application-unrestricted        status-example-net has no binding (every other app has one)
==============================  ===========================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from aktui.lab.objects import (
    ADMIN_PK,
    EMBEDDED_MANAGED,
    EMBEDDED_NAME,
    PREVIOUS,
    Binding,
    Deployment,
    Group,
    Policy,
    Token,
    User,
    jsonb_order,
    seeded_uuid,
)
from aktui.lab.state import LabState

PUBLIC_AUTHENTIK = "https://auth.example.com/"


def refresh_setting(seconds: float) -> str:
    """OutpostConfig.refresh_interval for a refresh every ``seconds`` ("minutes=5")."""
    whole = max(1, round(seconds))
    return f"minutes={whole // 60}" if whole % 60 == 0 else f"seconds={whole}"


def outpost_config(
    authentik_host: str = PUBLIC_AUTHENTIK,
    browser: str = "",
    *,
    modern: bool = False,
    refresh_interval: float = 300.0,
) -> dict[str, Any]:
    """/outposts/instances/default_settings/ as make_lab.py used it: 2023.10's keys, plus the
    ones 2025.x added (``modern``)."""
    config = dict(_legacy_config(authentik_host, browser))
    if modern:
        config.update(
            refresh_interval=refresh_setting(refresh_interval),
            kubernetes_ingress_path_type=None,
            kubernetes_httproute_annotations={},
            kubernetes_httproute_parent_refs=[],
        )
    return jsonb_order(config)


def _legacy_config(authentik_host: str, browser: str) -> dict[str, Any]:
    return jsonb_order(
        {
            "authentik_host": authentik_host,
            "authentik_host_insecure": False,
            "authentik_host_browser": browser,
            "log_level": "info",
            "object_naming_template": "ak-outpost-%(name)s",
            "container_image": None,
            "docker_network": None,
            "docker_map_ports": True,
            "docker_labels": None,
            "kubernetes_replicas": 1,
            "kubernetes_namespace": "default",
            "kubernetes_ingress_annotations": {},
            "kubernetes_ingress_secret_name": "authentik-outpost-tls",
            "kubernetes_ingress_class_name": None,
            "kubernetes_service_type": "ClusterIP",
            "kubernetes_disabled_components": [],
            "kubernetes_image_pull_secrets": [],
            "kubernetes_json_patches": None,
        }
    )


# name, mode, external host (Authentication URL for domain level), cookie domain,
# application slug (None: no application), launch URL, bound group (None: unrestricted)
_PROVIDERS: tuple[tuple[str, str, str, str, str | None, str, str | None], ...] = (
    (
        "app.example.com",
        "forward_single",
        "https://app.example.com",
        "",
        "app-example-com",
        "https://app.example.com",
        "staff",
    ),
    (
        "blog.example.org",
        "forward_single",
        "https://blog.example.org",
        "",
        "blog-example-org",
        "https://blog.example.org",
        "staff",
    ),
    (
        "example.dev",
        "forward_domain",
        "https://auth.example.dev",
        "example.dev",
        "alpha-example-dev",
        "https://alpha.example.dev",
        "client-alpha",
    ),
    (
        "beta.example.dev",
        "forward_domain",
        "https://beta.example.dev",
        "example.dev",
        "beta-example-dev",
        "https://beta.example.dev",
        "client-beta",
    ),
    (
        "example.net",
        "forward_domain",
        "https://auth.example.com",
        "example.net",
        "www-example-net",
        "https://www.example.net",
        "staff",
    ),
    (
        "docs.example.net",
        "forward_domain",
        "https://docs.example.net",
        "example.net",
        "docs-example-net",
        "https://docs.example.net",
        "staff",
    ),
    (
        "status.example.net",
        "forward_domain",
        "https://status.example.net",
        "example.net",
        "status-example-net",
        "https://status.example.net",
        None,
    ),
    (
        "shop.example.io",
        "forward_domain",
        "https://shop.example.io",
        "example.io",
        "shop-example-io",
        "https://shop.example.io",
        "staff",
    ),
    (
        "wiki.example.org",
        "forward_single",
        "https://wiki.example.org/",
        "",
        "wiki-example-org",
        "https://wiki.example.org",
        "staff",
    ),
    (
        "grafana.example.com",
        "forward_single",
        "https://grafana.example.com",
        "",
        "grafana-example-com",
        "https://grafana.example.com",
        "staff",
    ),
    (
        "legacy.example.org",
        "forward_single",
        "https://legacy.example.org",
        "",
        "legacy-example-org",
        "https://legacy.example.org",
        "staff",
    ),
    (
        "gamma.example.dev",
        "forward_domain",
        "https://gamma.example.dev",
        "example.dev",
        "gamma-example-dev",
        "https://gamma.example.dev",
        "client-alpha",
    ),
    ("old.example.org", "forward_single", "https://old.example.org", "", None, "", None),
    (
        "new.example.com",
        "forward_single",
        "https://new.example.com",
        "",
        "new-example-com",
        "https://new.example.com",
        "staff",
    ),
    (
        "staging.example.org",
        "forward_single",
        "https://staging.example.org",
        "",
        "staging-example-org",
        "https://staging.example.org",
        "staff",
    ),
)

# outpost name -> (providers, config, deployment); ports follow this order from base_port
_OUTPOSTS: tuple[tuple[str, tuple[str, ...], dict[str, Any], Deployment], ...] = (
    (
        "outpost-single",
        ("app.example.com", "blog.example.org", "wiki.example.org", "old.example.org"),
        outpost_config(),
        Deployment("outpost-single"),
    ),
    (
        "outpost-example-dev",
        ("example.dev", "beta.example.dev"),
        outpost_config(),
        Deployment("outpost-example-dev"),
    ),
    (
        "outpost-example-net",
        ("example.net", "docs.example.net", "status.example.net", "shop.example.io"),
        outpost_config(),
        Deployment("outpost-example-net"),
    ),
    (
        "outpost-legacy",
        ("legacy.example.org", "gamma.example.dev"),
        outpost_config("http://server:9000/"),
        Deployment("outpost-legacy", version=PREVIOUS, browser_url="http://server:9000"),
    ),
    (
        "outpost-staging",
        ("staging.example.org",),
        outpost_config(),
        Deployment("outpost-staging", token_ok=False),
    ),
)

_USERS = (  # username, display name, groups
    ("alice", "Alice Admin-Ops", ("staff",)),
    ("bob", "Bob Builder", ("staff",)),
    ("carol", "Carol Client", ("client-alpha",)),
    ("dave", "Dave Delivery", ("client-alpha", "client-beta")),
)

# authentik's own bindings (default flows); targets are flows, not applications
_SYSTEM_POLICIES = (
    Policy("", "default-match-update", action="update_available", kind="event_matcher"),
    Policy(
        "",
        "default-source-enrollment-if-username",
        "return 'username' not in context.get('prompt_data', {})",
    ),
    Policy("", "default-authentication-flow-password-stage", "return True"),
)


PITFALLS = (
    "mixed-cookie-domains",
    "single-and-domain-mixed",
    "embedded-forward-auth",
    "auth-url-outside-cookie-domain",
    "external-host-path",
    "provider-without-application",
    "provider-without-outpost",
    "outpost-not-connected",
    "outpost-version-mismatch",
    "browser-host-internal",
    "application-unrestricted",
)

_Provider = tuple[str, str, str, str, str | None, str, str | None]
_Outpost = tuple[str, tuple[str, ...], dict[str, Any], Deployment]


@dataclass
class _OutpostRow:
    """One outpost of ``_OUTPOSTS`` while ``_tables`` corrects it."""

    name: str
    providers: list[str]
    config: dict[str, Any]
    deployment: Deployment


def _tables(
    pitfalls: frozenset[str],
) -> tuple[list[_Provider], list[_Outpost], tuple[str, ...]]:
    """The lab's tables with every pitfall not in ``pitfalls`` corrected the field guide's way
    (providers, outposts, and the embedded outpost's providers)."""
    providers = {p[0]: list(p) for p in _PROVIDERS}
    # each lab gets its own Deployment copies: Lab._specs marks the ones beyond max_processes
    # as simulated, which must not leak into the next lab built in this process
    outposts = {o[0]: _OutpostRow(o[0], list(o[1]), o[2], replace(o[3])) for o in _OUTPOSTS}
    embedded: list[str] = ["grafana.example.com"]

    def move(provider: str, source: list[str] | None, target: str) -> None:
        if source is not None:
            source.remove(provider)
        outposts[target].providers.append(provider)

    if "mixed-cookie-domains" not in pitfalls:
        providers["shop.example.io"][2:4] = ["https://shop.example.net", "example.net"]
    if "single-and-domain-mixed" not in pitfalls:
        move("gamma.example.dev", outposts["outpost-legacy"].providers, "outpost-example-dev")
    if "embedded-forward-auth" not in pitfalls:
        move("grafana.example.com", embedded, "outpost-single")
    if "auth-url-outside-cookie-domain" not in pitfalls:
        providers["example.net"][2] = "https://auth.example.net"
    if "external-host-path" not in pitfalls:
        providers["wiki.example.org"][2] = "https://wiki.example.org"
    if "provider-without-application" not in pitfalls:
        providers["old.example.org"][4:7] = ["old-example-org", "https://old.example.org", "staff"]
    if "provider-without-outpost" not in pitfalls:
        move("new.example.com", None, "outpost-single")
    if "outpost-not-connected" not in pitfalls:
        staging = outposts["outpost-staging"]
        staging.deployment = replace(staging.deployment, token_ok=True)
    if "outpost-version-mismatch" not in pitfalls:
        legacy = outposts["outpost-legacy"]
        legacy.deployment = replace(legacy.deployment, version="")
    if "browser-host-internal" not in pitfalls:
        legacy = outposts["outpost-legacy"]
        legacy.config = outpost_config()
        legacy.deployment = replace(legacy.deployment, browser_url="")
    if "application-unrestricted" not in pitfalls:
        providers["status.example.net"][6] = "staff"
    return (
        [tuple(p) for p in providers.values()],  # type: ignore[misc]
        [(o.name, tuple(o.providers), o.config, o.deployment) for o in outposts.values()],
        tuple(embedded),
    )


def build_default(
    state: LabState, pitfalls: frozenset[str] | None = None, refresh_interval: float = 300.0
) -> LabState:
    """Fill an empty state with the default lab; model_created events predate the lab run by
    an hour so the outposts' first load is newer than every change. ``pitfalls`` picks the
    deliberate mistakes (names in PITFALLS); None keeps them all, an empty set none."""
    provider_table, outpost_table, embedded_providers = _tables(
        frozenset(PITFALLS) if pitfalls is None else pitfalls
    )
    seed = state.seed
    now = state.clock
    state.clock = lambda: state.created_at - 3600 + len(state.events)
    try:
        _users_and_groups(state)
        by_name = {}
        for name, mode, ext, cookie, _slug, _launch, _group in provider_table:
            by_name[name] = state.add_provider(name, mode, ext, cookie_domain=cookie).pk
        for name, _mode, _ext, _cookie, slug, launch, group in provider_table:
            if slug is None:
                continue
            app = state.add_application(name, slug, by_name[name], meta_launch_url=launch)
            if group:
                gpk = next(g.pk for g in state.groups.values() if g.name == group)
                state.bindings.append(Binding(seeded_uuid(seed, "binding", slug), app.pk, 0, gpk))
        for i, template in enumerate(_SYSTEM_POLICIES):
            pk = seeded_uuid(seed, "policy", template.name)
            state.policies[pk] = replace(template, pk=pk)
            target = seeded_uuid(seed, "flow-binding-target", i)
            state.bindings.append(
                Binding(seeded_uuid(seed, "binding", template.name), target, 0, None, policy=pk)
            )
        embedded = state.add_outpost(
            EMBEDDED_NAME,
            [by_name[p] for p in embedded_providers],
            _for_line(state, outpost_config(""), refresh_interval),
            managed=EMBEDDED_MANAGED,
        )
        state.deployments[embedded.name] = Deployment(embedded.name, process=False)
        for name, providers, config, deploy in outpost_table:
            config = _for_line(state, config, refresh_interval)
            state.add_outpost(name, [by_name[p] for p in providers], config)
            state.deployments[name] = deploy
    finally:
        state.clock = now
    return state


def _for_line(state: LabState, config: dict[str, Any], refresh_interval: float) -> dict[str, Any]:
    """A table's outpost config with the keys the lab's authentik line has."""
    return outpost_config(
        config["authentik_host"],
        config["authentik_host_browser"],
        modern=state.api.modern,
        refresh_interval=refresh_interval,
    )


def _users_and_groups(state: LabState) -> None:
    seed = state.seed
    admin = _user(seed, ADMIN_PK, "akadmin", "authentik Default Admin", "admin@example.com")
    admin.is_superuser = True
    state.users[admin.pk] = admin
    names = {"authentik Admins", *(g for _u, _n, gs in _USERS for g in gs)}
    for name in sorted(names):
        pk = seeded_uuid(seed, "group", name)
        num_pk = int(hashlib.sha256(pk.encode()).hexdigest()[:4], 16) + 10000
        state.groups[pk] = Group(pk, num_pk, name, is_superuser=name == "authentik Admins")
    group_pk = {g.name: g.pk for g in state.groups.values()}
    state.groups[group_pk["authentik Admins"]].users.append(admin.pk)
    for i, (username, display, groups) in enumerate(_USERS):
        user = _user(seed, ADMIN_PK + 1 + i, username, display, f"{username}@example.com")
        state.users[user.pk] = user
        for g in groups:
            state.groups[group_pk[g]].users.append(user.pk)
    state.tokens["authentik-bootstrap-token"] = Token(
        pk=seeded_uuid(seed, "token", "bootstrap"),
        identifier="authentik-bootstrap-token",
        user=admin.pk,
        key=state.admin_token,
        expires=state.created_at + 1800,
    )


def _user(seed: str, pk: int, username: str, name: str, email: str) -> User:
    return User(
        pk=pk,
        username=username,
        name=name,
        email=email,
        uuid=seeded_uuid(seed, "user", username),
        uid=hashlib.sha256(f"{seed}|uid|{username}".encode()).hexdigest(),
    )


def add_scale(state: LabState, providers: int = 0, apps: int = 0, outposts: int = 0) -> None:
    """Grow the lab to these totals (never shrinks it). Extra outposts each get their own
    cookie domain ``dNNN.example.test`` (the right architecture); extra providers are spread
    over them (or over outpost-single when no outpost is added); extra applications beyond the
    providers are link-only (no provider). Every generated app is bound to ``staff``."""
    now = state.clock
    state.clock = lambda: state.created_at - 1800 + len(state.events) * 0.001
    try:
        extra_outposts = max(0, outposts - len(state.outposts))
        extra_providers = max(0, providers - len(state.providers))
        extra_apps = max(0, apps - len(state.applications))
        staff = next(g.pk for g in state.groups.values() if g.name == "staff")
        generated = []
        for i in range(1, extra_outposts + 1):
            name = f"outpost-d{i:03d}"
            config = outpost_config(modern=state.api.modern)
            generated.append(state.add_outpost(name, [], config))
            state.deployments[name] = Deployment(name)
        single = state.outpost("outpost-single")
        assert single is not None
        for i in range(1, extra_providers + 1):
            if generated:
                outpost = generated[(i - 1) % len(generated)]
                domain = f"d{(i - 1) % len(generated) + 1:03d}.example.test"
                name = f"app{i:05d}.{domain}"
                p = state.add_provider(
                    name, "forward_domain", f"https://{name}", cookie_domain=domain
                )
            else:
                outpost = single
                name = f"site{i:05d}.example.test"
                p = state.add_provider(name, "forward_single", f"https://{name}")
            outpost.providers.append(p.pk)
            if i <= extra_apps:
                _scale_app(state, name, name.replace(".", "-"), p.pk, staff)
        for i in range(extra_providers + 1, extra_apps + 1):
            _scale_app(state, f"Tool {i:05d}", f"tool-{i:05d}", None, staff)
    finally:
        state.clock = now


def _scale_app(state: LabState, name: str, slug: str, provider: int | None, group: str) -> None:
    launch = f"https://{name}" if provider else f"https://{slug}.example.test"
    app = state.add_application(name, slug, provider, meta_launch_url=launch)
    state.bindings.append(Binding(seeded_uuid(state.seed, "binding", slug), app.pk, 0, group))


# The demo's opening move (``opening_change``): this application, served by this outpost.
OPENING_APP = "beta-example-dev"
OPENING_OUTPOST = "outpost-example-dev"


def opening_change(state: LabState) -> str:
    """The demo's first stale outpost, seconds after start, and a true one: the application
    of beta.example.dev is renamed right after its outpost loaded its configuration.
    authentik pushes provider and outpost saves to the outposts, not application saves (they
    only clear a cache: FACTS "application-side changes do not trigger updates"), so
    outpost-example-dev keeps the old name until its interval refresh (5 min in the lab) or a
    reload, which is what the dashboard flags and its fix does. Returns what was done ("" if
    the lab has no such application)."""
    app = state.applications.get(OPENING_APP)
    if app is None:
        return ""
    renamed = "Beta portal" if app.name != "Beta portal" else "beta.example.dev"
    state.update_application(OPENING_APP, name=renamed)
    return f"renamed application {OPENING_APP} to {renamed!r}: {OPENING_OUTPOST} is now stale"


def build_lab(
    seed: str = "aktui-lab",
    providers: int = 0,
    apps: int = 0,
    outposts: int = 0,
    pitfalls: frozenset[str] | None = None,
    refresh_interval: float = 300.0,
    **kw: Any,
) -> LabState:
    """The default lab, grown to the totals; ``kw`` goes to LabState (``authentik``, the
    version to answer as; ``clock``)."""
    unknown = set(pitfalls or ()) - set(PITFALLS)
    if unknown:
        raise ValueError(f"unknown lab pitfall(s): {', '.join(sorted(unknown))}")
    state = build_default(LabState(seed, **kw), pitfalls, refresh_interval)
    if providers or apps or outposts:
        add_scale(state, providers, apps, outposts)
    return state
