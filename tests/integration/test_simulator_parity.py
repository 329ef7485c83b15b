"""The lab simulator (aktui.lab) answers like the real authentik servers, 2023.10.7 and
2025.12.4 (one run each: the lab answers in the shape of the server's line).

The same requests go to both. Lists, details, health, pagination and error answers must agree in
shape: status codes, the key sets of every object (recursively, list items merged), the JSON
types of every value, and the exact error bodies. The two hold different data (the simulator's
lab is richer), so values are not compared, except the pagination arithmetic and the error
bodies, which do not depend on data.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from aktui.authentik.parse import EVENT_MODELS
from tests.fixtures.realak import TEST_PREFIX, RealAuthentik
from tests.integration.test_real_authentik import OLDER

pytestmark = pytest.mark.integration

ZERO = "00000000-0000-0000-0000-000000000000"
# Objects whose keys are data, not API shape: a group's ``attributes`` is whatever JSON its
# maker stored (2025.12's blueprints give a default group ``{"notes": ...}``).
FREE_FORM = frozenset({"attributes"})
# Differences kept on purpose: "<endpoint> <path>: <difference>" -> reason. Empty: none kept.
KEPT: dict[str, str] = {}


@dataclass
class Server:
    name: str
    url: str
    token: str = field(repr=False)

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        auth: str | None = "good",
        body: Any = None,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if auth == "good":
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth == "bad":
            headers["Authorization"] = "Bearer not-a-valid-token"
        response = httpx.request(
            method,
            f"{self.url}/api/v3/{path}",
            params=params or {},
            headers=headers,
            json=body,
            timeout=30,
        )
        return response.status_code, response.json()

    def get(self, path: str, params: dict[str, Any] | None = None, auth: str | None = "good"):
        return self.call("GET", path, params, auth)

    def pk(self, path: str, **match: str) -> Any:
        status, page = self.get(path, {"page_size": "100"})
        assert status == 200, (self.name, path, status, page)
        hits = [o for o in page["results"] if all(o.get(k) == v for k, v in match.items())]
        assert hits, (self.name, path, match)
        return hits[0]["pk"]

    def outpost_pk(self, name: str) -> str:
        return self.pk("outposts/instances/", name=name)


@contextmanager
def variety(api: httpx.Client) -> Iterator[None]:
    """Objects the real lab lacks but the simulator's has, so their shapes get compared too:
    policy bindings (expression, event matcher), a user binding, a group with a member."""

    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(path, json=body)
        assert response.status_code == 201, (path, response.status_code, response.text)
        return response.json()

    name = f"{TEST_PREFIX}parity"
    admin = api.get("/core/users/", params={"username": "akadmin"}).json()["results"][0]["pk"]
    made: list[str] = []
    try:
        group = create("/core/groups/", {"name": name, "users": [admin]})
        made.append(f"/core/groups/{group['pk']}/")
        app = create("/core/applications/", {"name": name, "slug": name})
        made.append(f"/core/applications/{name}/")
        expression = create(
            "/policies/expression/", {"name": f"{name}-expression", "expression": "return True"}
        )
        made.append(f"/policies/all/{expression['pk']}/")
        event = create("/policies/event_matcher/", {"name": f"{name}-event", "action": "login"})
        made.append(f"/policies/all/{event['pk']}/")
        for order, subject in enumerate(
            [{"policy": expression["pk"]}, {"policy": event["pk"]}, {"user": admin}]
        ):
            create("/policies/bindings/", {"target": app["pk"], "order": order, **subject})
        yield
    finally:
        for path in reversed(made):  # the application's bindings go with it
            api.delete(path)


def touch(server: Server) -> None:
    """A model_updated event for each model aktui reads events of, on either server: each
    object is saved with a value it already has."""
    status, apps = server.get("core/applications/", {"superuser_full_list": "true"})
    app = next(a for a in apps["results"] if a["slug"] == "app-example-com")
    status, outpost = server.get(f"outposts/instances/{server.outpost_pk('outpost-single')}/")
    provider = server.pk("providers/proxy/", name="app.example.com")
    for path, body in (
        (f"core/applications/{app['slug']}/", {"meta_launch_url": app["meta_launch_url"]}),
        (f"outposts/instances/{outpost['pk']}/", {"providers": outpost["providers"]}),
        (f"providers/proxy/{provider}/", {"mode": "forward_single"}),
    ):
        status, answer = server.call("PATCH", path, body=body)
        assert status == 200, (server.name, path, answer)


@pytest.fixture(scope="module")
def servers(real_authentik: RealAuthentik) -> Iterator[tuple[Server, Server]]:
    lab_module = pytest.importorskip("aktui.lab", reason="aktui.lab simulator not available")
    ak = real_authentik
    line = ak.version.rsplit(".", 1)[0]  # "2023.10", "2025.12": what Lab(authentik=) takes
    if "authentik" in inspect.signature(lab_module.Lab).parameters:
        lab = lab_module.Lab(chaos=False, authentik=line)
    elif line == "2023.10":
        lab = lab_module.Lab(chaos=False)  # before Lab(authentik=): it answered as 2023.10 only
    else:
        pytest.fail(f"the lab simulator cannot answer as authentik {line} (no Lab(authentik=))")
    # connected instances on the real side too, so /health/ items can be compared
    fake = ak.fake_outposts(
        120,
        f"outpost-single:{ak.version}:parity-a",
        f"outpost-example-dev:{OLDER[ak.version]}:parity-b",
    )
    try:
        with ak.api() as api, variety(api):
            lab.start()
            real = Server("real", ak.url, ak.token.reveal())
            sim = Server("simulator", lab.url, lab.token)
            for server in (real, sim):
                touch(server)
            ak.wait_connected(real.outpost_pk("outpost-single"), 1)
            ak.wait_connected(real.outpost_pk("outpost-example-dev"), 1)
            yield real, sim
    finally:
        lab.stop()
        fake.stop()


# --- shapes -------------------------------------------------------------------------------------


@dataclass
class Shape:
    """The JSON types seen at one place, object keys and list items merged over all items."""

    types: set[str] = field(default_factory=set)
    keys: dict[str, Shape] = field(default_factory=dict)
    item: Shape | None = None


_TYPE = {dict: "object", list: "array", str: "string", bool: "bool", int: "int", float: "float"}


def shape(value: Any, into: Shape | None = None) -> Shape:
    out = into or Shape()
    out.types.add("null" if value is None else _TYPE[type(value)])
    if isinstance(value, dict):
        for key, inner in value.items():
            out.keys[key] = shape(inner, out.keys.get(key))
    elif isinstance(value, list):
        for inner in value:
            out.item = shape(inner, out.item)
    return out


def differences(real: Shape, sim: Shape, where: str = "") -> list[str]:
    here = where or "(top)"
    found: list[str] = []
    real_types, sim_types = real.types - {"null"}, sim.types - {"null"}
    # null is data (a field unset in one lab, set in the other): compared only when both have
    # a value
    if real_types and sim_types and real_types != sim_types:
        found.append(f"{here}: real {sorted(real_types)}, simulator {sorted(sim_types)}")
    if "object" in real.types and "object" in sim.types:
        for key in sorted(real.keys.keys() - sim.keys.keys()):
            found.append(f"{where}.{key}: missing in the simulator")
        for key in sorted(sim.keys.keys() - real.keys.keys()):
            found.append(f"{where}.{key}: only in the simulator")
        for key in sorted(real.keys.keys() & sim.keys.keys()):
            if key in FREE_FORM:  # the operator's own JSON: only its type is the API's shape
                types = Shape(real.keys[key].types), Shape(sim.keys[key].types)
                found += differences(*types, f"{where}.{key}")
                continue
            found += differences(real.keys[key], sim.keys[key], f"{where}.{key}")
    if real.item is not None and sim.item is not None:
        found += differences(real.item, sim.item, f"{where}[]")
    return found


def _unkept(endpoint: str, found: list[str]) -> list[str]:
    return [f for f in found if f"{endpoint} {f}" not in KEPT]


SHAPES = [
    ("outposts/instances/", {}),
    ("outposts/instances/{outpost}/", {}),
    ("outposts/instances/{outpost}/health/", {}),
    ("outposts/instances/{domain_outpost}/health/", {}),
    ("providers/proxy/", {}),
    ("core/applications/", {"superuser_full_list": "true"}),
    ("core/groups/", {}),
    ("policies/bindings/", {}),
    # as aktui asks for them: one query per model whose changes make an outpost stale
    *(
        (
            "events/events/",
            {"action": "model_updated", "context_model_app": app, "context_model_name": model},
        )
        for app, model in EVENT_MODELS
    ),
    ("admin/version/", {}),
    ("root/config/", {}),
    ("outposts/service_connections/all/", {}),
    ("outposts/instances/", {"page_size": "1", "page": "2"}),
]


def _resolve(server: Server, path: str) -> str:
    return path.format(
        outpost=server.outpost_pk("outpost-single") if "{outpost}" in path else "",
        domain_outpost=server.outpost_pk("outpost-example-dev") if "{domain_" in path else "",
    )


@pytest.mark.parametrize(("path", "params"), SHAPES, ids=[f"{p}?{q}" for p, q in SHAPES])
def test_same_shape(servers: tuple[Server, Server], path: str, params: dict[str, str]) -> None:
    real, sim = servers
    answers = {}
    for server in (real, sim):
        status, body = server.get(_resolve(server, path), params)
        assert status == 200, (server.name, path, status, body)
        answers[server.name] = body
    found = differences(shape(answers["real"]), shape(answers["simulator"]))
    assert not _unkept(path, found), "\n".join(found)
    if path.endswith("/health/") or path.startswith("events/"):
        # both sides have items here, so the item shapes were really compared
        for body in answers.values():
            assert body if path.endswith("/health/") else body["results"], answers


def _expected_pagination(count: int, page: int, size: int) -> dict[str, int]:
    pages = max(1, -(-count // size))
    return {
        "next": page + 1 if page < pages else 0,
        "previous": page - 1 if page > 1 else 0,
        "count": count,
        "current": page,
        "total_pages": pages,
        "start_index": (page - 1) * size + 1 if count else 0,
        "end_index": min(page * size, count),
    }


@pytest.mark.parametrize("page", [1, 2])
def test_pagination_arithmetic(servers: tuple[Server, Server], page: int) -> None:
    for server in servers:
        status, body = server.get("outposts/instances/", {"page_size": "2", "page": str(page)})
        count = body["pagination"]["count"]
        assert status == 200 and count >= 3, (server.name, body)
        assert body["pagination"] == _expected_pagination(count, page, 2), server.name
        assert len(body["results"]) == min(2, count - (page - 1) * 2)


# --- errors: status and exact body -------------------------------------------------------------

ERRORS = [
    ("bad token", "GET", "outposts/instances/", {}, "bad", None),
    ("no auth", "GET", "outposts/instances/", {}, None, None),
    ("bad token, detail", "GET", f"outposts/instances/{ZERO}/", {}, "bad", None),
    ("unknown uuid", "GET", f"outposts/instances/{ZERO}/", {}, "good", None),
    ("unknown uuid health", "GET", f"outposts/instances/{ZERO}/health/", {}, "good", None),
    ("unknown provider", "GET", "providers/proxy/999999/", {}, "good", None),
    ("unknown application", "GET", "core/applications/does-not-exist/", {}, "good", None),
    ("page past end", "GET", "outposts/instances/", {"page": "99"}, "good", None),
    ("page past end, events", "GET", "events/events/", {"page": "9999"}, "good", None),
    # writes the real server refuses (nothing changes): aktui's fixes must not rely on them
    # (OutpostSerializer.validate_providers; ProxyProviderSerializer.validate reads
    # attrs.get("mode", "proxy"), so a PATCH must always carry mode)
    ("outpost without providers", "PATCH", "outposts/instances/{outpost}/", {}, "good",
     {"providers": []}),
    ("provider PATCH without mode", "PATCH", "providers/proxy/{provider}/", {}, "good",
     {"external_host": "https://elsewhere.example.com"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "method", "path", "params", "auth", "body"),
    ERRORS,
    ids=[e[0] for e in ERRORS],
)
def test_same_error(
    servers: tuple[Server, Server],
    case: str,
    method: str,
    path: str,
    params: dict[str, str],
    auth: str | None,
    body: Any,
) -> None:
    answers = []
    for server in servers:
        where = path.format(
            outpost=server.outpost_pk("outpost-single") if "{outpost}" in path else "",
            provider=server.pk("providers/proxy/", name="app.example.com")
            if "{provider}" in path
            else "",
        )
        answers.append(server.call(method, where, params, auth, body))
    real, sim = answers
    assert real[0] in (400, 403, 404), real
    assert sim == real, case
