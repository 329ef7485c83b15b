"""The demo's first snapshot, read from the lab's API inside the lab's process.

aktui's client (``aktui.authentik.client``) reads a snapshot as ~15 HTTP requests through
httpx. In the demo's lab process, where the API simulator runs too, that was ~40 ms of CPU to
import httpx and ~50 ms more for the requests (both ends of each in one interpreter), on the
core the fake outposts start on, while the TUI's first frame waited for the result. Here the
same requests are answered by the same simulator code (``Simulator.answer``: authentication,
routes, errors, the JSON the HTTP handler would send) without HTTP in between, and the answers
go through the client's parser (``build_snapshot``): the same Snapshot as the client's, which
tests/integration/test_lab_host.py pins. Every fetch after this first one is the TUI's own,
through its client.
"""

from __future__ import annotations

from typing import Any

from aktui.authentik.model import Snapshot
from aktui.authentik.parse import EVENT_MODELS, EVENTS_PER_MODEL, PAGE_SIZE, build_snapshot
from aktui.errors import AktuiError
from aktui.lab.simulator import Simulator


def read_snapshot(sim: Simulator, token: str) -> Snapshot:
    """The snapshot ``AuthentikClient(sim.url, token).snapshot()`` gives, read in-process.
    Raises ``AktuiError`` for an answer the client would refuse (its caller then lets the TUI
    fetch it through the client, which says why)."""
    authorization = f"Bearer {token}"

    def get(path: str, **params: object) -> Any:
        status, body = sim.answer(
            "GET", path, {k: str(v) for k, v in params.items()}, authorization
        )
        if status != 200:
            raise AktuiError(f"the lab's API answered {status} for {path}")
        return body

    def results(page: Any, path: str) -> list[Any]:
        found = page.get("results") if isinstance(page, dict) else None
        if not isinstance(found, list):
            raise AktuiError(f"the lab's API answered {path} without results")
        return found

    def list_all(path: str, **params: object) -> list[Any]:
        items: list[Any] = []
        number, total = 1, 1
        while number <= total:
            page = get(path, **params, page_size=PAGE_SIZE, page=number)
            items += results(page, path)
            total = page.get("pagination", {}).get("total_pages") or 1
            number += 1
        return items

    outposts = list_all("/outposts/instances/")
    pks = [o["pk"] for o in outposts if isinstance(o, dict) and isinstance(o.get("pk"), str)]
    health = {pk: _health(sim, pk, authorization) for pk in pks}
    events = [
        event
        for app, model in EVENT_MODELS
        for event in results(
            get(
                "/events/events/",
                action="model_updated",
                context_model_app=app,
                context_model_name=model,
                ordering="-created",
                page_size=EVENTS_PER_MODEL,
            ),
            "/events/events/",
        )
    ]
    raw = {
        "server_url": sim.url,
        "version": get("/admin/version/"),
        "outposts": outposts,
        "health": {pk: h for pk, h in health.items() if h is not None},
        "providers": list_all("/providers/proxy/"),
        "applications": list_all("/core/applications/", superuser_full_list="true"),
        "bindings": list_all("/policies/bindings/"),
        "events": events,
    }
    return build_snapshot(raw)


def _health(sim: Simulator, pk: str, authorization: str) -> list[Any] | None:
    """Its connected instances; None when not readable, as the client's ``outpost_health``."""
    status, body = sim.answer("GET", f"/outposts/instances/{pk}/health/", {}, authorization)
    return body if status == 200 and isinstance(body, list) else None
