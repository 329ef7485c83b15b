"""The lab's data: the default lab's shape, determinism, scale knobs, audited mutations, health
TTL, and the wire formats the fake outposts share. No sockets, no processes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aktui.authentik.parse import build_snapshot
from aktui.lab import render, wire
from aktui.lab.objects import EMBEDDED_MANAGED, SERVER_VERSION, jsonb_order, seeded_uuid
from aktui.lab.scenario import build_lab
from aktui.lab.state import LabState

FINDINGS_SRC = Path(__file__).resolve().parents[2] / "aktui" / "authentik" / "findings.py"
# A real server refuses an external host that is not a URL (URLValidator), so the lab cannot
# hold one; every other finding type appears exactly once.
NOT_REPRODUCIBLE = {"external-host-invalid"}
# Findings from issue 19 (what an outpost's log would say, seen in the API first) that the lab
# has no deliberate mistake for yet: tests/unit/test_model.py covers each on recorded data.
NOT_REPRODUCIBLE |= {
    "outpost-no-providers",
    "authentik-host-underscore",
    "authentik-host-scheme-port",
    "browser-host-localhost",
    "outpost-replicas",
}


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def connect_all(st: LabState) -> None:
    """HELLOs as the lab's processes send them (outpost-staging's token is revoked: none)."""
    for name, deploy in st.deployments.items():
        outpost = st.outpost(name)
        assert outpost is not None
        if deploy.process and deploy.token_ok:
            st.hello(outpost.pk, seeded_uuid("t", name), st.version_of(deploy), "", f"host-{name}")


def finding_codes() -> set[str]:
    source = FINDINGS_SRC.read_text()
    return set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))


def test_default_lab_has_one_of_each_finding() -> None:
    st = build_lab()
    connect_all(st)
    snap = build_snapshot(render.raw_bundle(st))
    codes = [f.code for f in snap.findings]
    assert set(codes) == finding_codes() - NOT_REPRODUCIBLE
    assert len(codes) == len(set(codes)), codes


def test_default_lab_architecture() -> None:
    st = build_lab()
    snap = build_snapshot(render.raw_bundle(st))
    domain_groups = [g for g in snap.groups if g.kind == "domain"]
    assert {g.key for g in domain_groups} >= {"example.dev", "example.net", "example.io"}
    assert all(len(g.application_slugs) >= 1 for g in domain_groups)
    assert sum(len(g.application_slugs) >= 2 for g in domain_groups) >= 2
    single = snap.outpost("outpost-single")
    assert single is not None
    standalone = [
        p for pk in single.provider_pks if (p := snap.provider(pk)) and p.application_slug
    ]
    assert len(standalone) >= 2 and all(p.mode == "forward_single" for p in standalone)
    embedded = [o for o in snap.outposts if o.embedded]
    assert [o.name for o in embedded] == ["authentik Embedded Outpost"]
    assert embedded[0].managed == EMBEDDED_MANAGED
    # ports follow the field guide: outpost-single first, then one outpost per cookie domain
    assert list(st.deployments)[1:3] == ["outpost-single", "outpost-example-dev"]
    assert any(b.group for b in st.bindings) and st.groups


def test_seeded_and_deterministic() -> None:
    clock = Clock()
    a, b = build_lab(clock=clock), build_lab(clock=clock)
    assert render.raw_bundle(a) == render.raw_bundle(b)
    assert a.admin_token != b.admin_token  # credentials are per run
    other = build_lab(seed="other", clock=clock)
    assert {o.pk for o in other.outposts.values()}.isdisjoint(a.outposts)
    assert [p.name for p in other.providers.values()] == [p.name for p in a.providers.values()]


def test_scale_knobs_reach_the_totals() -> None:
    st = build_lab(providers=300, apps=500, outposts=20)
    assert (len(st.providers), len(st.applications), len(st.outposts)) == (300, 500, 20)
    generated = [o for o in st.outposts.values() if o.name.startswith("outpost-d")]
    assert generated and all(o.providers for o in generated)
    for outpost in generated:  # the right architecture: one cookie domain per outpost
        domains = {st.providers[pk].cookie_domain for pk in outpost.providers}
        assert len(domains) == 1
    link_only = [a for a in st.applications.values() if a.provider is None]
    assert len(link_only) == 500 - 300 + 1  # +1: the default lab's provider without an app
    assert build_lab(providers=3).providers.keys() == build_lab().providers.keys()  # no shrink


def test_update_provider_records_two_model_updated_events() -> None:
    clock = Clock()
    st = build_lab(clock=clock)
    before = len(st.events)
    clock.now += 60
    st.update_provider(3, skip_path_regex="^/health$")
    new = list(st.events)[before:]
    # ProxyProviderSerializer.update() saves twice in 2023.10: two audit events
    assert [e.action for e in new] == ["model_updated", "model_updated"]
    event = render.event(st, new[0])
    assert list(event) == [
        "pk",
        "user",
        "action",
        "app",
        "context",
        "client_ip",
        "created",
        "expires",
        "tenant",
    ]
    assert event["context"]["model"] == {
        "pk": 3,
        "app": "authentik_providers_proxy",
        "name": "example.dev",
        "model_name": "proxyprovider",
    }
    assert list(event["context"]) == ["model", "http_request"]  # jsonb key order
    assert event["context"]["http_request"]["path"] == "/api/v3/providers/proxy/3/"
    assert event["app"] == "authentik.events.middleware"
    assert event["user"]["username"] == "akadmin"
    assert event["created"].endswith("Z") and render.event(st, new[0])["created"] < event["expires"]
    assert st.providers[3].skip_path_regex == "^/health$"


def test_application_and_outpost_events_carry_uuid_hex() -> None:
    st = build_lab()
    app = st.update_application("alpha-example-dev", meta_description="x")
    outpost = st.update_outpost("outpost-single", name="outpost-single-apps")
    events = list(st.events)[-2:]
    assert events[0].context["model"]["pk"] == app.pk.replace("-", "")
    assert events[0].context["model"]["model_name"] == "application"
    assert events[1].context["model"] == {
        "pk": outpost.pk.replace("-", ""),
        "app": "authentik_outposts",
        "name": "outpost-single-apps",
        "model_name": "outpost",
    }
    assert "outpost-single-apps" in st.deployments  # the lab follows the rename


def test_add_and_remove_objects() -> None:
    st = build_lab()
    provider = st.add_provider("x.example.com", "forward_single", "https://x.example.com")
    app = st.add_application("X", "x-example-com", provider.pk)
    with pytest.raises(ValueError, match="already exists"):
        st.add_application("Y", "y", provider.pk)  # one application per provider
    single = st.outpost("outpost-single")
    assert single is not None
    st.update_outpost("outpost-single", providers=[*single.providers, provider.pk])
    st.remove_provider(provider.pk)
    assert provider.pk not in st.outposts[single.pk].providers
    assert st.applications[app.slug].provider is None
    st.remove_application(app.slug)
    actions = [(e.action, e.context["model"]["name"]) for e in list(st.events)[-5:]]
    assert actions == [
        ("model_created", "x.example.com"),
        ("model_created", "X"),
        ("model_updated", "outpost-single"),
        ("model_deleted", "x.example.com"),
        ("model_deleted", "X"),
    ]
    with pytest.raises(KeyError):
        st.update_provider(1, no_such_field=1)


def test_health_forgets_instances_15_seconds_after_hello() -> None:
    clock = Clock()
    st = build_lab(clock=clock)
    pk = st.outpost("outpost-single").pk  # type: ignore[union-attr]
    assert st.health(pk) == []
    st.hello(pk, "old-uid", SERVER_VERSION, "", "h1")
    clock.now += 5
    st.hello(pk, "new-uid", SERVER_VERSION, "", "h1")  # restarted: a new uid
    assert [i.uid for i in st.health(pk)] == ["old-uid", "new-uid"]
    clock.now += 11
    assert [i.uid for i in st.health(pk)] == ["new-uid"]
    clock.now += 15.1
    assert st.health(pk) == []


def test_embedded_outpost_has_a_simulated_instance() -> None:
    clock = Clock()
    st = build_lab(clock=clock)
    embedded = st.outpost("authentik Embedded Outpost")
    assert embedded is not None
    first = render.health(st, st.health(embedded.pk)[0])
    clock.now += 25
    later = render.health(st, st.health(embedded.pk)[0])
    assert first["uid"] == later["uid"] and later["last_seen"] > first["last_seen"]
    assert later["version"] == SERVER_VERSION and later["version_outdated"] is False


@pytest.mark.parametrize(
    ("version", "build_hash", "outdated"),
    [
        ("2023.8.3", "", True),
        ("2023.10.7", "", False),
        ("2024.2.1", "", False),
        ("2023.8.3", "abc", False),
    ],
)
def test_version_outdated_like_2023_10(version: str, build_hash: str, outdated: bool) -> None:
    st = LabState()
    st.hello("pk", "uid", version, build_hash, "h")
    assert render.health(st, st.health("pk")[0])["version_outdated"] is outdated


def test_applications_visible_to_a_user_follow_bindings() -> None:
    st = build_lab()
    admin = st.users[5]
    alice = next(u for u in st.users.values() if u.username == "alice")
    visible = {a.slug for a in st.applications.values() if st.app_allowed(admin, a)}
    assert visible == {"status-example-net"}  # akadmin is in no group the apps are bound to
    assert st.app_allowed(alice, st.applications["wiki-example-org"])


def test_jsonb_order_matches_the_recorded_config() -> None:
    recorded = json.loads(
        (
            Path(__file__).resolve().parents[1] / "data" / "recorded" / "outposts_instances.json"
        ).read_text()
    )
    config = recorded["results"][1]["config"]
    assert list(jsonb_order(config)) == list(config)
    st = build_lab()
    assert list(st.outpost("outpost-single").config) == list(config)  # type: ignore[union-attr]


def test_log_line_is_logrus_json() -> None:
    line = wire.log_line("Loaded application", ts=1_790_000_000, name="a", host="a.example")
    assert line == (
        '{"event":"Loaded application","host":"a.example","level":"info","name":"a",'
        '"timestamp":"2026-09-21T14:13:20Z"}'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1, "1"),
        (0.5, "0.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1732531123.0, "1.732531123e+09"),
        (1e-5, "1e-05"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert wire.go_float(value) == text


def test_jwt_roundtrip_and_tamper() -> None:
    token = wire.jwt_encode({"sid": "x", "iss": "i"}, "secret")
    assert wire.jwt_decode(token, "secret") == {"sid": "x", "iss": "i"}
    with pytest.raises(wire.JWTError, match="signature is invalid"):
        wire.jwt_decode(token, "other")
    with pytest.raises(wire.JWTError, match="malformed"):
        wire.jwt_decode("garbage", "secret")
    assert wire.jwt_peek(token)["iss"] == "i"


def test_cookie_name_is_sha256_prefix() -> None:
    # application.go: authentik_proxy_ + hex(sha256(client_id))[:8]
    assert wire.cookie_name("abc") == "authentik_proxy_ba7816bf"


def test_redirect_uris_like_2023_10() -> None:
    assert render.redirect_uris("https://app.example.com") == (
        "https://app.example.com/outpost.goauthentik.io/callback\\?X-authentik-auth-callback=true"
        "\nhttps://app.example.com\\?X-authentik-auth-callback=true"
    )


def test_labs_do_not_share_deployments() -> None:
    """Lab._specs marks outposts beyond max_processes as simulated on the lab's Deployment;
    a later lab in the same process must still run them as processes."""
    first = build_lab()
    first.deployments["outpost-example-net"].process = False
    assert build_lab().deployments["outpost-example-net"].process
