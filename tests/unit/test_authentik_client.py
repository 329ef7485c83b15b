"""The client against real authentik answers (recorded), errors and pagination included."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from aktui.authentik.client import AuthentikClient
from aktui.errors import AuthentikError, AuthentikUnreachable, NotFound, TokenRejected
from aktui.secret import Secret
from tests.unit.recorded_server import GOOD_TOKEN, recorded_transport

URL = "http://127.0.0.1:9000"


def client(recorded_dir, token=GOOD_TOKEN, connected=False) -> AuthentikClient:
    return AuthentikClient(
        URL, Secret(token), transport=recorded_transport(recorded_dir, connected=connected)
    )


async def test_every_recorded_success_parses(recorded_dir):
    async with client(recorded_dir) as c:
        assert len(await c.outposts()) == 3
        assert {p["name"] for p in await c.providers()} >= {"app.example.com", "example.dev"}
        assert len(await c.applications()) == 4
        assert (await c.version())["version_current"] == "2023.10.7"
        assert (await c.root_config())["capabilities"]
        assert await c.bindings()
        assert await c.service_connections() is not None
        for o in await c.outposts():
            assert await c.outpost_health(o["pk"]) == []


async def test_snapshot_from_recorded_server(recorded_dir):
    async with client(recorded_dir, connected=True) as c:
        raw = await c.fetch_raw()
    assert raw["events"] == []
    from aktui.authentik.parse import build_snapshot

    snap = build_snapshot(raw)
    single = snap.outpost("outpost-single")
    assert single is not None and len(single.instances) == 2
    dev = snap.outpost("outpost-example-dev")
    assert dev is not None and dev.instances[0].outdated
    keys = {g.key for g in snap.groups}
    assert keys == {"app.example.com", "blog.example.org", "example.dev"}
    assert any(f.code == "outpost-version-mismatch" for f in snap.findings)


async def test_pagination_follows_page_numbers(recorded_dir):
    pages = {
        "1": recorded_dir / "outposts_instances.page_size_1.json",
        "2": recorded_dir / "outposts_instances.page_size_1.page_2.json",
    }
    served: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page", "1")
        served.append(page)
        body = json.loads(pages.get(page, pages["2"]).read_text())
        if page == "3":
            body["results"] = [{**body["results"][0], "name": "third"}]
            body["pagination"].update(current=3, next=0, previous=2)
        else:
            body["pagination"]["total_pages"] = 3
        return httpx.Response(200, json=body)

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    results = await c.list_all("/outposts/instances/")
    await c.aclose()
    assert sorted(served) == ["1", "2", "3"]
    assert len(results) == 3


async def test_bad_token_is_one_clear_line(recorded_dir):
    async with client(recorded_dir, token="wrong-token-value") as c:
        with pytest.raises(TokenRejected) as err:
            await c.outposts()
    assert str(err.value) == f"token rejected by {URL} (invalid or expired)"
    assert "wrong-token-value" not in repr(err.value)


async def test_not_found_and_page_past_end(recorded_dir):
    async with client(recorded_dir) as c:
        with pytest.raises(NotFound, match="Not found"):
            await c.request("GET", "/outposts/instances/00000000-0000-0000-0000-000000000000/")
        with pytest.raises(NotFound, match="Invalid page"):
            await c.request("GET", "/outposts/instances/", {"page_size": 1, "page": 99})


async def test_unreachable_names_url_and_cause():
    c = AuthentikClient("http://127.0.0.1:9", Secret("secret-token-xyz"), timeout=1)
    with pytest.raises(AuthentikUnreachable) as err:
        await c.version()
    await c.aclose()
    assert "http://127.0.0.1:9" in str(err.value) and "cannot connect" in str(err.value)
    assert "secret-token-xyz" not in str(err.value)


async def test_retries_5xx_then_gives_up():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, json={"error": "failed to connect to authentik backend: x"})

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError, match="502"):
        await c.version()
    assert len(calls) == 4


async def test_html_answer_is_explained():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>", headers={"content-type": "text/html"})

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError, match="did not answer JSON"):
        await c.version()


def test_token_not_in_repr():
    c = AuthentikClient(URL, Secret("tok-123"))
    assert "tok-123" not in repr(c) and "tok-123" not in repr(c.__dict__)


def test_plain_http_builds_no_tls_context(monkeypatch):
    # httpx's default context loads the CA bundle (~18 ms per client): pointless for http://.
    seen = []

    class Recording(httpx.AsyncClient):
        def __init__(self, **kw):
            seen.append(kw["verify"])
            super().__init__(**kw)

    monkeypatch.setattr(httpx, "AsyncClient", Recording)
    AuthentikClient("http://127.0.0.1:9000", Secret("t"))._client()
    AuthentikClient("HTTP://lab:9000/", Secret("t"))._client()
    AuthentikClient("https://auth.example.com", Secret("t"))._client()
    AuthentikClient("https://auth.example.com", Secret("t"), verify=False)._client()
    assert seen == [False, False, True, False]


def _paged_server(items: list[dict], served: list[list[tuple[int, int]]]) -> httpx.MockTransport:
    """DRF page numbers over ``items`` (which tests change between reads). ``served`` gets,
    per read (a read starts with page 1), each page asked for with the number of answers
    of that read already delivered when it was asked."""
    delivered = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal delivered
        page, size = int(request.url.params["page"]), int(request.url.params["page_size"])
        total = max(1, -(-len(items) // size))
        if page == 1:
            served.append([])
            delivered = 0
        served[-1].append((page, delivered))
        for _ in range(5):  # let the other requests of a gather reach the server first
            await asyncio.sleep(0)
        delivered += 1
        if page > total:
            return httpx.Response(404, json={"detail": "Invalid page."})
        body = {
            "pagination": {
                "next": page + 1 if page < total else 0,
                "current": page,
                "count": len(items),
                "total_pages": total,
            },
            "results": items[(page - 1) * size : page * size],
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


async def test_a_refresh_asks_for_every_known_page_at_once():
    items = [{"pk": i} for i in range(350)]
    served: list[list[tuple[int, int]]] = []
    async with AuthentikClient(URL, Secret("t"), transport=_paged_server(items, served)) as c:
        assert await c.list_all("/providers/proxy/") == items  # first read: page 1, then 2-4
        assert await c.list_all("/providers/proxy/") == items
        del items[150:]  # the list shrank: pages 3 and 4 are past the end now (404)
        assert await c.list_all("/providers/proxy/") == items
        assert await c.list_all("/providers/proxy/") == items
        items.extend({"pk": i} for i in range(1000, 1300))  # and grew: 5 pages
        assert await c.list_all("/providers/proxy/") == items
    pages = [sorted(page for page, _ in read) for read in served]
    assert pages == [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2], [1, 2, 3, 4, 5]]
    # The first read needs page 1's answer to know the rest; later ones send every page
    # they expect before any answer came back: one round trip per list.
    assert [delivered for page, delivered in served[0] if page > 1] == [1, 1, 1]
    for read in served[1:4]:
        assert all(delivered == 0 for _, delivered in read)
    assert sorted(delivered for _, delivered in served[4]) == [0, 0, 2, 2, 2]  # 2 known, 3 new


async def test_a_missing_page_within_the_total_is_still_an_error():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            body = {"pagination": {"next": 2, "total_pages": 2}, "results": [{"pk": 1}]}
            return httpx.Response(200, json=body)
        return httpx.Response(404, json={"detail": "Invalid page."})

    async with AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler)) as c:
        c._page_counts["/x/?page_size=100"] = 2
        with pytest.raises(NotFound, match="Invalid page"):
            await c.list_all("/x/")
