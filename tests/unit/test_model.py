"""Model building and findings: each finding fires on its pitfall and stays silent otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aktui.authentik.model import EMBEDDED_MANAGED, host_in_domain, parse_time
from aktui.authentik.parse import build_snapshot


def load(recorded_dir, name):
    return json.loads((recorded_dir / name).read_text())


@pytest.fixture
def raw(recorded_dir):
    outposts = load(recorded_dir, "outposts_instances.json")["results"]
    health_files = {
        "outpost-single": "outposts_instances_uuid_health.outpost-single.connected.json",
        "outpost-example-dev": "outposts_instances_uuid_health.outpost-single.connected.json",
        "authentik Embedded Outpost": (
            "outposts_instances_uuid_health.authentik-embedded-outpost.json"
        ),
    }
    return {
        "server_url": "http://127.0.0.1:9000",
        "version": load(recorded_dir, "admin_version.json"),
        "outposts": outposts,
        "health": {o["pk"]: load(recorded_dir, health_files[o["name"]]) for o in outposts},
        "providers": load(recorded_dir, "providers_proxy.json")["results"],
        "applications": load(recorded_dir, "core_applications.superuser_full_list.json")["results"],
        "bindings": load(recorded_dir, "policies_bindings.json")["results"],
        "events": [],
    }


def codes(snap):
    return sorted(f.code for f in snap.findings)


def test_recorded_lab_model(raw):
    snap = build_snapshot(raw)
    assert [o.name for o in snap.outposts] == [
        "authentik Embedded Outpost",
        "outpost-example-dev",
        "outpost-single",
    ]
    embedded = snap.outposts[0]
    assert embedded.embedded and not embedded.connected
    groups = {g.key: g for g in snap.groups}
    assert groups["example.dev"].kind == "domain"
    assert groups["example.dev"].outpost_names == ("outpost-example-dev",)
    assert set(groups["example.dev"].application_slugs) == {"alpha-example-dev", "beta-example-dev"}
    assert groups["app.example.com"].kind == "single"
    alpha = next(a for a in snap.applications if a.slug == "alpha-example-dev")
    assert alpha.reach == "group client-alpha"
    assert snap.server_version == "2023.10.7"


def test_well_configured_lab_has_only_the_reach_note(raw):
    # The recorded lab follows the field guide; only "unrestricted app" notes may appear, and
    # outpost-single's two recorded instances (two pods: sessions are per pod, issue 19).
    assert set(codes(build_snapshot(raw))) <= {"application-unrestricted", "outpost-replicas"}


def provider(raw, name):
    return next(p for p in raw["providers"] if p["name"] == name)


def outpost(raw, name):
    return next(o for o in raw["outposts"] if o["name"] == name)


def test_mixed_cookie_domains(raw):
    p = provider(raw, "beta.example.dev")
    p["cookie_domain"] = "example.net"
    p["external_host"] = "https://beta.example.net"
    assert "mixed-cookie-domains" in codes(build_snapshot(raw))


def test_single_and_domain_mixed(raw):
    outpost(raw, "outpost-example-dev")["providers"].append(1)
    snap = build_snapshot(raw)
    finding = next(f for f in snap.findings if f.code == "single-and-domain-mixed")
    assert "provider:1" in finding.subjects and finding.severity == "error"


def test_embedded_forward_auth(raw):
    outpost(raw, "authentik Embedded Outpost")["providers"] = [2]
    finding = next(f for f in build_snapshot(raw).findings if f.code == "embedded-forward-auth")
    assert "404" in finding.evidence and "separate proxy outpost" in finding.fix


def test_auth_url_outside_cookie_domain(raw):
    provider(raw, "example.dev")["external_host"] = "https://auth.otherdomain.com"
    finding = next(
        f for f in build_snapshot(raw).findings if f.code == "auth-url-outside-cookie-domain"
    )
    assert "mismatched session ID" in finding.evidence


def test_external_host_trailing_slash(raw):
    provider(raw, "app.example.com")["external_host"] = "https://app.example.com/"
    assert "external-host-path" in codes(build_snapshot(raw))


def test_provider_without_application_and_outpost(raw):
    extra = dict(provider(raw, "app.example.com"), pk=99, name="orphan")
    extra.update(assigned_application_slug=None, external_host="https://orphan.example.com")
    raw["providers"].append(extra)
    found = codes(build_snapshot(raw))
    assert "provider-without-application" in found and "provider-without-outpost" in found


def test_outpost_not_connected_and_version(raw, recorded_dir):
    dev = outpost(raw, "outpost-example-dev")
    raw["health"][dev["pk"]] = []
    assert "outpost-not-connected" in codes(build_snapshot(raw))
    raw["health"][dev["pk"]] = load(
        recorded_dir, "outposts_instances_uuid_health.outpost-example-dev.connected.json"
    )
    assert "outpost-version-mismatch" in codes(build_snapshot(raw))


def test_unknown_health_is_not_disconnected(raw):
    raw["health"].pop(outpost(raw, "outpost-single")["pk"])
    snap = build_snapshot(raw)
    assert not snap.outpost("outpost-single").health_known
    assert "outpost-not-connected" not in codes(snap)


def test_browser_host_internal(raw):
    outpost(raw, "outpost-single")["config"]["authentik_host"] = "http://server:9000"
    assert "browser-host-internal" in codes(build_snapshot(raw))
    outpost(raw, "outpost-single")["config"]["authentik_host_browser"] = "https://auth.example.com"
    assert "browser-host-internal" not in codes(build_snapshot(raw))


def test_tolerates_missing_fields_and_garbage():
    snap = build_snapshot(
        {
            "outposts": [{"pk": "x", "name": "o", "managed": EMBEDDED_MANAGED}, "junk"],
            "providers": [{"pk": 1}, None],
            "applications": [{}],
            "bindings": [{"target": 5}],
            "events": [{"created": "bad"}, {"context": {"model": {"model_name": "outpost"}}}],
        }
    )
    assert snap.outposts[0].embedded and snap.providers[0].mode == "proxy"
    assert snap.changes == ()


def test_model_updated_events_become_changes(raw):
    raw["events"] = [
        {
            "pk": "e1",
            "action": "model_updated",
            "created": "2026-11-24T06:40:00.123456Z",
            "context": {
                "model": {
                    "app": "authentik_providers_proxy",
                    "model_name": "proxyprovider",
                    "pk": 3,
                    "name": "example.dev",
                }
            },
        }
    ]
    change = build_snapshot(raw).changes[0]
    assert change.model == "proxyprovider" and change.pk == "3"
    assert change.at == datetime(2026, 11, 24, 6, 40, 0, 123456, tzinfo=UTC)


def test_helpers():
    assert host_in_domain("alpha.example.dev", ".example.dev")
    assert host_in_domain("example.dev", "example.dev")
    assert not host_in_domain("badexample.dev", "example.dev")
    assert not host_in_domain("x.example.dev", "")
    assert parse_time("2026-03-29T08:40:20.123456").tzinfo is UTC
    assert parse_time("nope") is None


# --- findings the API shows before a log line does (issue 19) ------------------------------


def test_outpost_without_providers(raw):
    outpost(raw, "outpost-single")["providers"] = []
    snap = build_snapshot(raw)
    assert "outpost-no-providers" in codes(snap)
    # The embedded outpost without providers is normal.
    assert all("Embedded" not in f.title for f in snap.findings if f.code == "outpost-no-providers")


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("http://authentik_server:9000", "authentik-host-underscore"),
        ("https://server:9000/", "authentik-host-scheme-port"),
        ("http://server:9443", "authentik-host-scheme-port"),
    ],
)
def test_authentik_host_shape(raw, host, code):
    outpost(raw, "outpost-single")["config"]["authentik_host"] = host
    assert code in codes(build_snapshot(raw))


@pytest.mark.parametrize("host", ["http://server:9000", "https://server:9443", "https://a.b:443"])
def test_authentik_host_shape_near_misses(raw, host):
    outpost(raw, "outpost-single")["config"]["authentik_host"] = host
    found = codes(build_snapshot(raw))
    assert "authentik-host-underscore" not in found
    assert "authentik-host-scheme-port" not in found


def test_browser_host_localhost_only_when_authentik_is_not_local(raw):
    outpost(raw, "outpost-single")["config"]["authentik_host"] = "http://localhost:9000"
    assert "browser-host-localhost" not in codes(build_snapshot(raw))  # a lab on loopback
    raw["server_url"] = "https://auth.example.com"
    assert "browser-host-localhost" in codes(build_snapshot(raw))
    for o in raw["outposts"]:
        o["config"]["authentik_host_browser"] = "https://auth.example.com"
    assert "browser-host-localhost" not in codes(build_snapshot(raw))


def test_outpost_replicas(raw, recorded_dir):
    assert "outpost-replicas" in codes(build_snapshot(raw))  # two pods recorded
    for pk in raw["health"]:
        raw["health"][pk] = raw["health"][pk][:1]
    assert "outpost-replicas" not in codes(build_snapshot(raw))


def test_snapshot_lookups_match_a_scan_in_order():
    # The index behind provider()/outpost()/... answers what a scan in order would, also
    # for duplicates and an outpost whose name is another's pk.
    from aktui.authentik.model import Application, Finding, Outpost, ProxyProvider, Snapshot

    def outpost(pk: str, name: str, providers: tuple[int, ...]) -> Outpost:
        return Outpost(pk=pk, name=name, type="proxy", provider_pks=providers)

    def provider(pk: int, name: str) -> ProxyProvider:
        return ProxyProvider(pk=pk, name=name, mode="forward_single", external_host="")

    def app(pk: str, provider_pk: int | None) -> Application:
        return Application(pk=pk, slug=pk, name=pk, provider_pk=provider_pk)

    finding = Finding("c", "error", "t", ("provider:1", "outpost:a", "provider:1"), "e", "f")
    snap = Snapshot(
        fetched_at=datetime.now(UTC),
        server_url="",
        server_version="",
        outposts=(outpost("a", "b", (1, 2, 1)), outpost("b", "c", (2,)), outpost("x", "a", ())),
        providers=(provider(1, "one"), provider(2, "two"), provider(1, "dup")),
        applications=(app("p", 1), app("q", 2), app("r", 1), app("s", None)),
        groups=(),
        findings=(finding,),
    )
    for pk in (1, 2, 3):
        assert snap.provider(pk) == next((p for p in snap.providers if p.pk == pk), None)
        assert snap.application_for(pk) == next(
            (a for a in snap.applications if a.provider_pk == pk), None
        )
        assert snap.applications_of(pk) == tuple(
            a for a in snap.applications if a.provider_pk == pk
        )
        assert snap.outposts_serving(pk) == tuple(o for o in snap.outposts if pk in o.provider_pks)
    for key in ("a", "b", "c", "x", "z"):
        assert snap.outpost(key) == next((o for o in snap.outposts if key in (o.pk, o.name)), None)
    assert snap.findings_for("provider:1") == (finding,)
    assert snap.findings_for("provider:2") == ()
    # A snapshot differing only in findings keeps the lookups, not the old findings' index.
    other = Finding("d", "info", "t", ("provider:2",), "e", "f")
    again = snap.with_findings((other,))
    assert again.provider(2) == snap.provider(2) and again.outpost("a") == snap.outpost("a")
    assert again.findings_for("provider:1") == () and again.findings_for("provider:2") == (other,)


def test_a_snapshot_with_its_lookup_index_built_is_plain_json(raw):
    # `aktui status --json` after the findings used the lookups: the index is a cache, not
    # part of the snapshot, and json.dumps failed on it.
    from aktui.authentik.jsonable import to_jsonable

    snap = build_snapshot(raw)
    assert snap.provider(snap.providers[0].pk) is not None  # builds the index
    data = json.loads(json.dumps(to_jsonable(snap)))
    assert "_index" not in data and len(data["providers"]) == len(snap.providers)
