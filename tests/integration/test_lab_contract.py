"""The simulator answers like authentik 2023.10.7.

1. Every answer (each endpoint, errors and pagination included) validates against authentik's
   OpenAPI schema (shared/authentik/schema.yml, 2026.5). That schema is newer than 2023.10.7:
   fields it requires that 2023.10.7 does not send, and three fields whose type changed since,
   are relaxed in ``LEGACY`` below; a test checks every relaxation against the real recorded
   answers, so the table cannot hide a simulator bug.
2. Parity: for every recorded answer (tests/data/recorded/, both recordings) the simulator's
   answer to the same request has the same status, the same keys at every level (recursively,
   first list item) and the same JSON types.

Loopback only; the simulator runs in-process, no outpost processes.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aktui.lab.scenario import build_lab
from aktui.lab.simulator import Simulator
from aktui.lab.state import LabState
from tests.fixtures.paths import RECORDED, SHARED

SCHEMA = SHARED / "authentik" / "schema.yml"
OLD = RECORDED / "2023.10.7"
ZERO = "00000000-0000-0000-0000-000000000000"

# schema -> required fields authentik 2023.10.7 does not send (all absent from the recordings)
LEGACY_MISSING: dict[str, set[str]] = {
    "Paginated*": {"autocomplete"},  # enterprise AutocompletePagination came later
    "Outpost": {"refresh_interval_s"},
    "Provider": {
        "invalidation_flow",
        "assigned_backchannel_application_slug",
        "assigned_backchannel_application_name",
    },
    "ProxyProvider": {
        "invalidation_flow",
        "assigned_backchannel_application_slug",
        "assigned_backchannel_application_name",
    },
    "Application": {"meta_icon_url", "meta_icon_themed_urls"},
    "Group": {"children", "children_obj", "parents_obj", "inherited_roles_obj"},
    "User": {"date_joined", "last_updated", "password_change_date", "roles_obj"},
    "Version": {"outpost_outdated", "version_latest_valid"},
    "OutpostHealth": {"fips_enabled", "golang_version", "openssl_enabled", "openssl_version"},
}
# (schema, field) -> the type 2023.10.7 sends (also seen in the recordings)
LEGACY_TYPES: dict[tuple[str, str], dict[str, Any]] = {
    ("ProxyProvider", "redirect_uris"): {"type": "string"},  # newline-separated regexes
    ("Application", "meta_icon"): {"type": ["string", "null"]},
    ("PolicyBinding", "policy_obj"): {"type": ["object", "null"]},
    ("PolicyBinding", "group_obj"): {"type": ["object", "null"]},
    ("PolicyBinding", "user_obj"): {"type": ["object", "null"]},
}


# --- OpenAPI 3.0 -> JSON Schema ---------------------------------------------------------------


def _nullable(node: Any) -> Any:
    """OpenAPI's ``nullable: true`` is not JSON Schema: turn it into a null type."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    def __init__(self, spec: dict[str, Any], relaxed: bool) -> None:
        import jsonschema

        self.spec = spec
        self.schemas = _nullable(copy.deepcopy(spec["components"]["schemas"]))
        if relaxed:
            for name, schema in self.schemas.items():
                drop = set()
                for pattern, fields in LEGACY_MISSING.items():
                    if re.fullmatch(pattern.replace("*", ".*"), name):
                        drop |= fields
                schema["required"] = [f for f in schema.get("required", []) if f not in drop]
                for (owner, field), override in LEGACY_TYPES.items():
                    if owner == name:
                        schema["properties"][field] = override
        self._jsonschema = jsonschema
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in spec["paths"]
        ]
        checker = jsonschema.FormatChecker(formats=["uuid"])
        checker.checks("date-time", raises=ValueError)(
            lambda v: (
                not isinstance(v, str) or bool(datetime.fromisoformat(v.replace("Z", "+00:00")))
            )
        )
        self.checker = checker

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any]:
        sub = path.removeprefix("/api/v3")
        exact = sub if sub in self.spec["paths"] else None
        template = exact or next((p for rx, p in self._templates if rx.match(sub)), None)
        assert template, f"{path} is not in authentik's API"
        responses = self.spec["paths"][template][method.lower()]["responses"]
        if str(status) not in responses and status in (403, 404):
            return {"$ref": "#/components/schemas/GenericError"}  # DRF's {"detail": ...}
        response = responses[str(status)]
        if "$ref" in response:
            response = self.spec["components"]["responses"][response["$ref"].split("/")[-1]]
        return _nullable(response["content"]["application/json"]["schema"])

    def errors(self, method: str, path: str, status: int, body: Any) -> list[Any]:
        schema = {
            **self.response_schema(method, path, status),
            "components": {"schemas": self.schemas},
        }
        validator = self._jsonschema.Draft202012Validator(schema, format_checker=self.checker)
        return list(validator.iter_errors(body))

    def schema_name(self, error: Any) -> str | None:
        """Which component schema an error is about (by identity of the failing subschema)."""
        for name, schema in self.schemas.items():
            if error.schema is schema:
                return name
        return None


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    if not SCHEMA.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SCHEMA} is missing (CI=true: the contract tests must run)")
        pytest.skip(f"authentik's OpenAPI schema not found at {SCHEMA}")
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 1.6 MB: the C loader is 10x faster
    return yaml.load(SCHEMA.read_text(), Loader=loader)


@pytest.fixture(scope="session")
def contract(openapi: dict[str, Any]) -> Contract:
    return Contract(openapi, relaxed=True)


# --- the simulator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[LabState, Simulator]]:
    st = build_lab()
    # the recorded .connected scenario: two instances of outpost-single (2023.10.7), one of
    # outpost-example-dev reporting 2023.8.3
    single, dev = st.outpost("outpost-single"), st.outpost("outpost-example-dev")
    assert single and dev
    st.hello(single.pk, "7bf2e3a3-393d-47c8-834a-1952563e0224", "2023.10.7", "", "single-a")
    st.hello(single.pk, "96865e0e-80a3-458b-9944-292bcfb69549", "2023.10.7", "", "single-b")
    st.hello(dev.pk, "115f2ae1-b00a-4abd-a6fd-45310cb2c529", "2023.8.3", "", "dev-a")
    st.update_provider(3, skip_path_regex="^/health$")  # events to list
    st.update_application("alpha-example-dev", meta_description="alpha")
    sim = Simulator(st).start()
    yield st, sim
    sim.stop()


@pytest.fixture(scope="module")
def api(lab: tuple[LabState, Simulator]) -> Iterator[httpx.Client]:
    st, sim = lab
    with httpx.Client(
        base_url=sim.url, timeout=10, headers={"Authorization": f"Bearer {st.admin_token}"}
    ) as client:
        yield client


def requests_to_check(st: LabState) -> list[tuple[str, str, dict[str, str], str]]:
    """(method, path, query, auth) for every endpoint, plus errors and pagination."""
    single = st.outpost("outpost-single")
    assert single is not None
    o = f"/api/v3/outposts/instances/{single.pk}"
    return [
        ("GET", "/api/v3/outposts/instances/", {}, "admin"),
        ("GET", "/api/v3/outposts/instances/", {"page_size": "1", "page": "2"}, "admin"),
        ("GET", "/api/v3/outposts/instances/", {"page_size": "1", "page": "99"}, "admin"),
        ("GET", "/api/v3/outposts/instances/", {"name__iexact": "OUTPOST-SINGLE"}, "admin"),
        ("GET", "/api/v3/outposts/instances/", {}, "bad"),
        ("GET", "/api/v3/outposts/instances/", {}, "none"),
        ("GET", "/api/v3/outposts/instances/", {}, "outpost"),
        ("GET", "/api/v3/outposts/instances/default_settings/", {}, "admin"),
        ("GET", f"{o}/", {}, "admin"),
        ("GET", f"{o}/health/", {}, "admin"),
        ("GET", f"/api/v3/outposts/instances/{ZERO}/", {}, "admin"),
        ("GET", f"/api/v3/outposts/instances/{ZERO}/health/", {}, "admin"),
        ("GET", "/api/v3/outposts/proxy/", {}, "admin"),
        ("GET", "/api/v3/outposts/proxy/", {}, "outpost"),
        ("GET", "/api/v3/outposts/service_connections/all/", {}, "admin"),
        ("GET", "/api/v3/providers/proxy/", {"page_size": "5"}, "admin"),
        ("GET", "/api/v3/providers/proxy/3/", {}, "admin"),
        ("GET", "/api/v3/providers/proxy/999/", {}, "admin"),
        ("GET", "/api/v3/core/applications/", {"superuser_full_list": "true"}, "admin"),
        ("GET", "/api/v3/core/applications/", {}, "admin"),
        ("GET", "/api/v3/core/applications/alpha-example-dev/", {}, "admin"),
        ("GET", "/api/v3/core/applications/does-not-exist/", {}, "admin"),
        ("GET", "/api/v3/core/groups/", {}, "admin"),
        ("GET", "/api/v3/policies/bindings/", {}, "admin"),
        (
            "GET",
            "/api/v3/events/events/",
            {
                "action": "model_updated",
                "context_model_app": "authentik_providers_proxy",
                "context_model_name": "proxyprovider",
                "ordering": "-created",
            },
            "admin",
        ),
        ("GET", "/api/v3/events/events/", {}, "admin"),
        ("GET", "/api/v3/core/tokens/", {}, "admin"),
        ("GET", "/api/v3/admin/version/", {}, "admin"),
        ("GET", "/api/v3/admin/version/", {}, "outpost"),
        ("GET", "/api/v3/root/config/", {}, "none"),
    ]


def _headers(st: LabState, auth: str) -> dict[str, str]:
    single = st.outpost("outpost-single")
    assert single is not None
    keys = {
        "admin": st.admin_token,
        "bad": "not-a-token",
        "outpost": st.tokens[single.token_identifier].key,
    }
    return {"Authorization": f"Bearer {keys[auth]}"} if auth in keys else {}


def test_every_answer_validates_against_the_schema(
    lab: tuple[LabState, Simulator], contract: Contract
) -> None:
    st, sim = lab
    failures = []
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        for method, path, query, auth in requests_to_check(st):
            resp = client.request(method, path, params=query, headers=_headers(st, auth))
            assert resp.headers["content-type"] == "application/json"
            for err in contract.errors(method, path, resp.status_code, resp.json())[:3]:
                failures.append(
                    f"{method} {path} {query} -> {resp.status_code}: "
                    f"{'/'.join(map(str, err.absolute_path))}: {err.message[:120]}"
                )
    assert not failures, "\n".join(failures)


def test_patch_answers_validate(
    lab: tuple[LabState, Simulator], api: httpx.Client, contract: Contract
) -> None:
    st, _ = lab
    single = st.outpost("outpost-single")
    assert single is not None
    cases = [
        ("/api/v3/providers/proxy/1/", {"mode": "forward_single", "skip_path_regex": "^/s/"}, 200),
        ("/api/v3/providers/proxy/1/", {"skip_path_regex": "^/static/"}, 400),
        ("/api/v3/providers/proxy/1/", {"external_host": "not a url"}, 400),
        ("/api/v3/core/applications/blog-example-org/", {"meta_description": "Blog"}, 200),
        ("/api/v3/core/applications/blog-example-org/", {"provider": 3}, 400),
        (f"/api/v3/outposts/instances/{single.pk}/", {"providers": single.providers}, 200),
        (f"/api/v3/outposts/instances/{single.pk}/", {"providers": [999]}, 400),
    ]
    for path, body, status in cases:
        resp = api.patch(path, json=body)
        assert resp.status_code == status, (path, resp.text)
        assert not contract.errors("PATCH", path, status, resp.json()), (path, resp.text)


def test_relaxations_are_what_the_recordings_lack(openapi: dict[str, Any]) -> None:
    """Validated unrelaxed, the real recorded answers fail exactly on the LEGACY entries (so
    the table is needed), and relaxed they pass (so it is enough)."""
    strict, relaxed = Contract(openapi, relaxed=False), Contract(openapi, relaxed=True)
    missing: dict[str, set[str]] = {}
    retyped: set[str] = set()
    for method, path, status, body, name in recorded_requests():
        for err in strict.errors(method, path, status, body):
            owner = strict.schema_name(err) or ""
            if err.validator == "required":
                field = re.findall(r"'([^']+)' is a required property", err.message)[0]
                key = "Paginated*" if owner.startswith("Paginated") else owner
                missing.setdefault(key, set()).add(field)
            elif err.validator == "type" and len(err.absolute_path):
                retyped.add(str(err.absolute_path[-1]))
        errors = relaxed.errors(method, path, status, body)
        assert not errors, f"{name}: {errors[0].message}"
    assert missing == LEGACY_MISSING
    assert retyped == {field for _, field in LEGACY_TYPES}


# --- parity with the recordings -----------------------------------------------------------------

# recorded objects -> the lab's equivalent
_OUTPOSTS = {
    "authentik-embedded-outpost": "authentik Embedded Outpost",
    "outpost-single": "outpost-single",
    "outpost-example-dev": "outpost-example-dev",
    "proxy-single-apps": "outpost-single",
    "proxy-domain": "outpost-example-dev",
}
_APPS = {"app": "app-example-com"}


def _old_index() -> list[dict[str, Any]]:
    """The older recording has no index.json: its README's table says the same."""
    rows = []
    for line in (OLD / "README.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].endswith(".json"):
            query = "" if cells[3] in ("–", "-") else cells[3]
            rows.append(
                {
                    "file": cells[0],
                    "method": cells[1],
                    "path": "/api/v3" + cells[2],
                    "query": query,
                    "status": int(cells[4]),
                    "auth": "invalid token" if "bad_token" in cells[0] else "admin token",
                }
            )
    return rows


def recorded_index() -> list[tuple[Path, dict[str, Any]]]:
    if not (RECORDED / "index.json").is_file():
        pytest.skip(f"recorded answers not found at {RECORDED}")
    entries = [(RECORDED, e) for e in json.loads((RECORDED / "index.json").read_text())]
    return entries + [(OLD, e) for e in _old_index()]


def recorded_requests() -> Iterator[tuple[str, str, int, Any, str]]:
    for folder, entry in recorded_index():
        body = json.loads((folder / entry["file"]).read_text())
        yield entry["method"], entry["path"], entry["status"], body, entry["file"]


def _lab_path(st: LabState, entry: dict[str, Any]) -> str:
    path = entry["path"]
    match = re.search(r"/outposts/instances/([0-9a-f-]{36})/", path)
    if match and match.group(1) != ZERO:
        recorded_name = entry["file"].split(".")[1]
        outpost = st.outpost(_OUTPOSTS[recorded_name])
        assert outpost is not None
        path = path.replace(match.group(1), outpost.pk)
    slug = re.search(r"/core/applications/([^/]+)/", path)
    if slug and slug.group(1) in _APPS:
        path = path.replace(f"/{slug.group(1)}/", f"/{_APPS[slug.group(1)]}/")
    return path


def _shape_diff(recorded: Any, ours: Any, where: str = "$") -> list[str]:
    def kind(v: Any) -> str:
        return (
            "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__
        )

    if kind(recorded) != kind(ours):
        return [f"{where}: recorded {kind(recorded)}, simulator {kind(ours)}"]
    if isinstance(recorded, dict):
        if set(recorded) != set(ours):
            return [
                f"{where}: keys only recorded {sorted(set(recorded) - set(ours))}, "
                f"only simulator {sorted(set(ours) - set(recorded))}"
            ]
        return [d for k in recorded for d in _shape_diff(recorded[k], ours[k], f"{where}.{k}")]
    if isinstance(recorded, list) and recorded and ours:
        # compare with our first item of the same variant (a group binding with a group
        # binding, a policy binding with a policy binding): the same nulls
        first = recorded[0]
        nulls = {k for k, v in first.items() if v is None} if isinstance(first, dict) else None
        twin = next(
            (
                o
                for o in ours
                if isinstance(o, dict) and {k for k, v in o.items() if v is None} == nulls
            ),
            ours[0],
        )
        return _shape_diff(first, twin, f"{where}[0]")
    return []


def test_parity_with_every_recorded_answer(lab: tuple[LabState, Simulator]) -> None:
    st, sim = lab
    problems = []
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        for folder, entry in recorded_index():
            recorded = json.loads((folder / entry["file"]).read_text())
            auth = {"admin token": "admin", "invalid token": "bad", "none": "none"}[entry["auth"]]
            resp = client.request(
                entry["method"],
                _lab_path(st, entry),
                params=entry["query"] or None,
                headers=_headers(st, auth),
            )
            name = f"{folder.name}/{entry['file']}"
            if resp.status_code != entry["status"]:
                problems.append(f"{name}: status {resp.status_code}, recorded {entry['status']}")
                continue
            if isinstance(recorded, dict) and "pagination" in recorded:
                assert (recorded["results"] and resp.json()["results"]) or not recorded["results"]
            problems += [f"{name}: {d}" for d in _shape_diff(recorded, resp.json())]
    assert not problems, "\n".join(problems)


def test_key_order_matches_the_recordings(
    api: httpx.Client, lab: tuple[LabState, Simulator]
) -> None:
    for file, path, query in [
        ("outposts_instances.json", "/api/v3/outposts/instances/", {}),
        ("providers_proxy.json", "/api/v3/providers/proxy/", {}),
        (
            "core_applications.superuser_full_list.json",
            "/api/v3/core/applications/",
            {"superuser_full_list": "true"},
        ),
        ("core_tokens.json", "/api/v3/core/tokens/", {}),
        ("policies_bindings.json", "/api/v3/policies/bindings/", {}),
        ("core_groups.json", "/api/v3/core/groups/", {}),
    ]:
        recorded = json.loads((RECORDED / file).read_text())["results"][0]
        ours = api.get(path, params=query).json()["results"][0]
        assert list(ours) == list(recorded), file
    recorded = json.loads(
        (RECORDED / "outposts_instances_uuid_health.outpost-single.connected.json").read_text()
    )[0]
    single = lab[0].outpost("outpost-single")
    assert single is not None
    assert list(api.get(f"/api/v3/outposts/instances/{single.pk}/health/").json()[0]) == list(
        recorded
    )


# --- behaviour the recordings and FACTS.md describe ----------------------------------------------


def test_pagination(api: httpx.Client, lab: tuple[LabState, Simulator]) -> None:
    total = len(lab[0].providers)
    seen, page = [], 1
    while page:
        body = api.get("/api/v3/providers/proxy/", params={"page_size": 4, "page": page}).json()
        p = body["pagination"]
        assert p["current"] == page and p["count"] == total and p["previous"] == page - 1
        assert (
            p["start_index"] == (page - 1) * 4 + 1
            and p["end_index"] == p["start_index"] + len(body["results"]) - 1
        )
        seen += [r["pk"] for r in body["results"]]
        page = p["next"]
    assert sorted(seen) == sorted(lab[0].providers) and p["total_pages"] == -(-total // 4)
    default = api.get("/api/v3/providers/proxy/").json()["pagination"]
    assert default["end_index"] == min(total, 20)  # page_size default 20
    for bad in ({"page": "0"}, {"page": "abc"}, {"page": "99"}):
        resp = api.get("/api/v3/providers/proxy/", params=bad)
        assert (resp.status_code, resp.json()) == (404, {"detail": "Invalid page."})
    assert api.get("/api/v3/providers/proxy/", params={"page_size": "x"}).json()["pagination"][
        "end_index"
    ] == min(total, 20)
    last = api.get("/api/v3/providers/proxy/", params={"page": "last", "page_size": 4}).json()
    assert last["pagination"]["next"] == 0


def test_page_size_is_clamped_to_100() -> None:
    st = build_lab(providers=150)
    sim = Simulator(st).start()
    try:
        resp = httpx.get(
            f"{sim.url}/api/v3/providers/proxy/",
            params={"page_size": 500},
            headers={"Authorization": f"Bearer {st.admin_token}"},
        )
        p = resp.json()["pagination"]
        assert (p["end_index"], p["total_pages"], p["next"]) == (100, 2, 2)
    finally:
        sim.stop()


def test_authentication_errors(lab: tuple[LabState, Simulator]) -> None:
    st, sim = lab
    url = f"{sim.url}/api/v3/outposts/instances/"
    assert httpx.get(url).json() == {"detail": "Authentication credentials were not provided."}
    for header in ("Basic YWI6Y2Q=", "Bearer", "Token abc"):
        resp = httpx.get(url, headers={"Authorization": header})
        assert resp.status_code == 403 and "not provided" in resp.json()["detail"]
    resp = httpx.get(url, headers={"Authorization": "bearer nope"})
    assert (resp.status_code, resp.json()) == (403, {"detail": "Token invalid/expired"})
    assert "www-authenticate" not in resp.headers  # 403, never 401
    assert httpx.get(url, headers={"Authorization": f"BEARER {st.admin_token}"}).status_code == 200


def test_outpost_token_sees_only_its_outpost(lab: tuple[LabState, Simulator]) -> None:
    st, sim = lab
    dev = st.outpost("outpost-example-dev")
    assert dev is not None
    headers = {"Authorization": f"Bearer {st.tokens[dev.token_identifier].key}"}
    outposts = httpx.get(f"{sim.url}/api/v3/outposts/instances/", headers=headers).json()
    assert [o["name"] for o in outposts["results"]] == ["outpost-example-dev"]
    proxy = httpx.get(f"{sim.url}/api/v3/outposts/proxy/", headers=headers).json()["results"]
    assert sorted(p["pk"] for p in proxy) == sorted(dev.providers)
    assert all(p["client_secret"] and p["cookie_secret"] for p in proxy)
    assert httpx.get(f"{sim.url}/api/v3/admin/version/", headers=headers).status_code == 403


def test_applications_without_full_list_are_filtered(api: httpx.Client) -> None:
    full = api.get("/api/v3/core/applications/", params={"superuser_full_list": "true"}).json()
    mine = api.get("/api/v3/core/applications/").json()
    # ApplicationViewSet.list(): pagination counts every app, results only those akadmin passes
    assert mine["pagination"] == full["pagination"]
    assert [a["slug"] for a in mine["results"]] == ["status-example-net"]


def test_events_filters_and_ordering(api: httpx.Client, lab: tuple[LabState, Simulator]) -> None:
    st, _ = lab
    st.update_outpost("outpost-example-dev", config=dict(st.outpost("outpost-example-dev").config))  # type: ignore[union-attr]
    params = {
        "action": "model_updated",
        "context_model_app": "authentik_outposts",
        "context_model_name": "outpost",
        "ordering": "-created",
    }
    events = api.get("/api/v3/events/events/", params=params).json()["results"]
    assert events and all(e["context"]["model"]["model_name"] == "outpost" for e in events)
    dev = st.outpost("outpost-example-dev")
    assert dev is not None
    by_pk = api.get("/api/v3/events/events/", params={"context_model_pk": dev.pk}).json()
    assert by_pk["results"] and all(
        e["context"]["model"]["pk"] == dev.pk.replace("-", "") for e in by_pk["results"]
    )
    created = [e["created"] for e in api.get("/api/v3/events/events/").json()["results"]]
    assert created == sorted(created, reverse=True)
    ascending = api.get("/api/v3/events/events/", params={"ordering": "created"}).json()
    assert [e["created"] for e in ascending["results"]] == sorted(
        e["created"] for e in ascending["results"]
    )


def test_patch_provider_leaves_events(api: httpx.Client) -> None:
    before = api.get("/api/v3/events/events/", params={"context_model_pk": "2"}).json()
    resp = api.patch(
        "/api/v3/providers/proxy/2/", json={"mode": "forward_single", "skip_path_regex": "^/feed$"}
    )
    assert resp.status_code == 200 and resp.json()["skip_path_regex"] == "^/feed$"
    after = api.get("/api/v3/events/events/", params={"context_model_pk": "2"}).json()
    assert after["pagination"]["count"] == before["pagination"]["count"] + 2
    assert after["results"][0]["context"]["http_request"]["method"] == "PATCH"


def test_hello_and_health(lab: tuple[LabState, Simulator]) -> None:
    st, sim = lab
    net = st.outpost("outpost-example-net")
    assert net is not None
    url = f"{sim.url}/_lab/ws/outpost/{net.pk}/"
    hello = {
        "instruction": 1,
        "args": {"version": "2023.10.7", "buildHash": "", "uuid": "u-1", "hostname": "h"},
    }
    own = {"Authorization": f"Bearer {st.tokens[net.token_identifier].key}"}
    assert httpx.post(url, json=hello, headers=own).json() == {"instruction": 0, "args": {}}
    other = st.outpost("outpost-single")
    assert other is not None
    wrong = {"Authorization": f"Bearer {st.tokens[other.token_identifier].key}"}
    assert httpx.post(url, json=hello, headers=wrong).status_code == 403
    health = httpx.get(
        f"{sim.url}/api/v3/outposts/instances/{net.pk}/health/",
        headers={"Authorization": f"Bearer {st.admin_token}"},
    ).json()
    assert [h["uid"] for h in health] == ["u-1"] and health[0]["hostname"] == "h"
    sim.drop_websocket("outpost-example-net", 0.3)
    assert httpx.post(url, json=hello, headers=own).status_code == 502
    time.sleep(0.35)
    assert httpx.post(url, json=hello, headers=own).status_code == 200


def test_latency_knob() -> None:
    st = build_lab()
    sim = Simulator(st, latency_ms=60).start()
    try:
        began = time.perf_counter()
        httpx.get(f"{sim.url}/api/v3/root/config/")
        assert time.perf_counter() - began >= 0.06
    finally:
        sim.stop()


def test_write_rules_of_2023_10(api: httpx.Client, lab: tuple[LabState, Simulator]) -> None:
    """Quirks the real server showed (tests/integration/test_simulator_parity.py)."""
    st, _ = lab
    # ProxyProviderSerializer.validate() defaults a missing mode to "proxy"
    resp = api.patch("/api/v3/providers/proxy/1/", json={"skip_path_regex": "^/x$"})
    assert (resp.status_code, resp.json()) == (
        400,
        {"internal_host": ["Internal host cannot be empty when forward auth is disabled."]},
    )
    single, embedded = st.outpost("outpost-single"), st.outpost("authentik Embedded Outpost")
    assert single is not None and embedded is not None
    resp = api.patch(f"/api/v3/outposts/instances/{single.pk}/", json={"providers": []})
    assert (resp.status_code, resp.json()) == (400, {"providers": ["This list may not be empty."]})
    before = list(embedded.providers)
    resp = api.patch(f"/api/v3/outposts/instances/{embedded.pk}/", json={"providers": []})
    assert resp.status_code == 200 and resp.json()["providers"] == []
    api.patch(f"/api/v3/outposts/instances/{embedded.pk}/", json={"providers": before})
    # config is a JSONField: PATCH replaces it whole
    old = dict(single.config)
    resp = api.patch(
        f"/api/v3/outposts/instances/{single.pk}/",
        json={"config": {"authentik_host": "https://x.example/"}},
    )
    assert resp.status_code == 200 and resp.json()["config"] == {
        "authentik_host": "https://x.example/"
    }
    resp = api.patch(
        f"/api/v3/outposts/instances/{single.pk}/", json={"config": {"kubernetes_replicas": "two"}}
    )
    assert resp.status_code == 400 and "Failed to validate config" in resp.json()["config"][0]
    assert (
        api.patch(f"/api/v3/outposts/instances/{single.pk}/", json={"config": old}).status_code
        == 200
    )
