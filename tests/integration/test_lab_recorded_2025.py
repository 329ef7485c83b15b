"""The simulator in the shape of authentik 2025.12.4, against that server's recorded answers
(tests/data/recorded/2025.12.4/): same statuses, keys, key order and JSON types, exact error
bodies, and the schema (shared/authentik/schema.yml, 2026.5) without the 2023.10 relaxations.
The 2023.10.7 shape is covered by test_lab_contract.py; live-server parity is
test_simulator_parity.py.

Loopback only; the simulator runs in-process, no outpost processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aktui.lab.scenario import build_lab
from aktui.lab.simulator import Simulator
from aktui.lab.state import LabState
from tests.fixtures.paths import RECORDED
from tests.integration.test_lab_contract import (
    Contract,
    _headers,
    _lab_path,
    openapi,  # noqa: F401  (fixture)
    requests_to_check,
)

NEW = RECORDED / "2025.12.4"


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[LabState, Simulator, Clock]]:
    if not (NEW / "index.json").is_file():
        pytest.skip(f"no 2025.12.4 recordings at {NEW}")
    clock = Clock()
    st = build_lab(authentik="2025.12", clock=clock)
    # the recorded .connected scenario: two instances of outpost-single at the server's
    # version, one of outpost-example-dev reporting 2025.10.1
    single, dev = st.outpost("outpost-single"), st.outpost("outpost-example-dev")
    assert single and dev
    for uid, host in (("1b452939-5fff-4de2-85a7-eea0606984d9", "host-a"),
                      ("8bf1e2f9-d3fb-46a4-bf3b-9ab14db9fa0c", "host-b")):  # fmt: skip
        st.hello(single.pk, uid, "2025.12.4", "", host, "go1.24.11")
    st.hello(dev.pk, "f4a3d472-0000-4000-8000-000000000001", "2025.10.1", "", "host-c", "go1.24.9")
    # as recorded: an application PATCH, then a provider PATCH, the newest change a creation
    clock.now += 1
    st.update_application("app-example-com", meta_description="app")
    clock.now += 1
    st.update_provider(1, skip_path_regex="^/health$")
    clock.now += 1
    st.add_provider("extra.example.com", "forward_single", "https://extra.example.com")
    sim = Simulator(st).start()
    yield st, sim, clock
    sim.stop()


def shape_diff(recorded: Any, ours: Any, where: str = "$") -> list[str]:
    """Same keys and JSON types; null is data (a field set in one lab, unset in the other),
    and a recorded list item matches when any item of ours has its shape."""

    def kind(v: Any) -> str:
        return (
            "number"
            if isinstance(v, int | float) and not isinstance(v, bool)
            else (type(v).__name__)
        )

    if recorded is None or ours is None or where.endswith((".attributes", ".args")):
        return []  # null, and free-form JSON fields, are data
    if kind(recorded) != kind(ours):
        return [f"{where}: recorded {kind(recorded)}, simulator {kind(ours)}"]
    if isinstance(recorded, dict):
        if set(recorded) != set(ours):
            return [
                f"{where}: keys only recorded {sorted(set(recorded) - set(ours))}, "
                f"only simulator {sorted(set(ours) - set(recorded))}"
            ]
        return [d for k in recorded for d in shape_diff(recorded[k], ours[k], f"{where}.{k}")]
    if isinstance(recorded, list) and recorded and ours:
        found: list[str] = []
        for item in recorded:
            tries = [shape_diff(item, mine, f"{where}[]") for mine in ours]
            if all(tries):
                found += tries[0]
        return found
    return []


def _index() -> list[dict[str, Any]]:
    return json.loads((NEW / "index.json").read_text())


def _request(client: httpx.Client, st: LabState, entry: dict[str, Any]) -> httpx.Response:
    auth = {"admin token": "admin", "invalid token": "bad", "none": "none"}[entry["auth"]]
    body = None
    if entry["method"] == "PATCH":  # the recorded failing PATCH: external_host alone
        body = {"external_host": "https://elsewhere.example.com"}
    return client.request(
        entry["method"],
        _lab_path(st, entry),
        params=entry["query"] or None,
        headers=_headers(st, auth),
        json=body,
    )


def test_parity_with_every_recorded_2025_answer(lab: tuple[LabState, Simulator, Clock]) -> None:
    st, sim, _ = lab
    problems = []
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        for entry in _index():
            if entry["file"].endswith(".after-disconnect.json"):
                continue  # another moment: test_closed_websockets_stay_listed_until_purged
            recorded = json.loads((NEW / entry["file"]).read_text())
            resp = _request(client, st, entry)
            name = entry["file"]
            if resp.status_code != entry["status"]:
                problems.append(f"{name}: status {resp.status_code}, recorded {entry['status']}")
                continue
            ours = resp.json()
            if resp.status_code >= 400:
                if ours != recorded:
                    problems.append(f"{name}: {ours} != recorded {recorded}")
                continue
            problems += [f"{name}: {d}" for d in shape_diff(recorded, ours)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("file", "path", "query"),
    [
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
        ("events_events.model_updated.json", "/api/v3/events/events/", {"page_size": "5"}),
    ],
)
def test_key_order_matches_the_2025_recordings(
    lab: tuple[LabState, Simulator, Clock], file: str, path: str, query: dict[str, str]
) -> None:
    st, sim, _ = lab
    recorded = json.loads((NEW / file).read_text())
    ours = httpx.get(sim.url + path, params=query, headers=_headers(st, "admin")).json()
    assert list(ours) == list(recorded)  # pagination, results, autocomplete
    assert list(ours["results"][0]) == list(recorded["results"][0])
    for key in ("config", "providers_obj", "provider_obj", "context", "user_obj", "group_obj"):
        mine, theirs = ours["results"][0].get(key), recorded["results"][0].get(key)
        if isinstance(theirs, list) and theirs and mine:
            mine, theirs = mine[0], theirs[0]
        if isinstance(theirs, dict) and isinstance(mine, dict):
            assert list(mine) == list(theirs), key


def test_health_key_order(lab: tuple[LabState, Simulator, Clock]) -> None:
    st, sim, _ = lab
    single = st.outpost("outpost-single")
    assert single is not None
    recorded = json.loads(
        (NEW / "outposts_instances_uuid_health.outpost-single.connected.json").read_text()
    )
    ours = httpx.get(
        f"{sim.url}/api/v3/outposts/instances/{single.pk}/health/", headers=_headers(st, "admin")
    ).json()
    assert [list(h) for h in ours] == [list(h) for h in recorded]
    assert {h["version"] for h in ours} == {"2025.12.4"}


def test_closed_websockets_stay_listed_until_purged() -> None:
    """2025.12 keeps an expired instance in /health/ with nulls (recorded ~20 s after the
    connections closed); 2023.10 drops it (the same lab's older line)."""
    recorded = json.loads(
        (
            NEW / "outposts_instances_uuid_health.outpost-example-dev.after-disconnect.json"
        ).read_text()
    )
    for line, listed in (("2025.12", True), ("2023.10", False)):
        clock = Clock()
        st = build_lab(authentik=line, clock=clock)
        dev = st.outpost("outpost-example-dev")
        assert dev is not None
        st.hello(dev.pk, "f4a3d472", "2025.10.1", "", "host-c", "go1.24.9")
        sim = Simulator(st).start()
        try:
            url = f"{sim.url}/api/v3/outposts/instances/{dev.pk}/health/"
            headers = _headers(st, "admin")
            clock.now += 20
            ours = httpx.get(url, headers=headers).json()
            if listed:
                assert [{**h, "uid": "x"} for h in ours] == [{**h, "uid": "x"} for h in recorded]
                assert st.connected(dev.pk) == []
            else:
                assert ours == []
            clock.now += 3600  # the worker's cleanup has run
            assert httpx.get(url, headers=headers).json() == []
        finally:
            sim.stop()


def test_lab_breaks_the_schema_only_where_the_real_server_does(
    openapi: dict[str, Any],  # noqa: F811
    lab: tuple[LabState, Simulator, Clock],
) -> None:
    """Unrelaxed, the 2026.5 schema is stricter than what 2025.12.4 really sends (null
    binding objects, the null fields of a closed instance): the lab may deviate from the
    schema only in the ways the recorded answers do."""
    strict = Contract(openapi, relaxed=False)

    def kinds(errors: list[Any]) -> set[tuple[str, str, str]]:
        return {
            (strict.schema_name(e) or "", str(list(e.absolute_path)[-1:]), e.validator)
            for e in errors
        }

    real: set[tuple[str, str, str]] = set()
    for entry in _index():
        body = json.loads((NEW / entry["file"]).read_text())
        real |= kinds(strict.errors(entry["method"], entry["path"], entry["status"], body))
    assert real, "the recordings should show the schema's known deviations"
    st, sim, _ = lab
    failures = []
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        for method, path, query, auth in requests_to_check(st):
            resp = client.request(method, path, params=query, headers=_headers(st, auth))
            errors = strict.errors(method, path, resp.status_code, resp.json())
            for kind in kinds(errors) - real:
                failures.append(f"lab {method} {path} {query}: {kind}")
    assert not failures, "\n".join(failures)


def test_provider_creation_and_patch_events() -> None:
    """2025.12: a created provider leaves model_created then model_updated; a PATCH two
    model_updated (both recorded)."""
    st = build_lab(authentik="2025.12")
    before = len(st.events)
    provider = st.add_provider("new.example.com", "forward_single", "https://new.example.com")
    assert [e.action for e in list(st.events)[before:]] == ["model_created", "model_updated"]
    st.update_provider(provider.pk, skip_path_regex="^/x$")
    assert [e.action for e in list(st.events)[before + 2 :]] == ["model_updated"] * 2
    request = st.events[-1].context["http_request"]
    assert list(request) == ["args", "path", "method", "request_id", "user_agent"]


def test_unknown_version_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown authentik version '2024.2'.*2025.12"):
        build_lab(authentik="2024.2")
    assert build_lab(authentik="2025.12.4").api.version == "2025.12.4"
