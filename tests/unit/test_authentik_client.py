"""The client against real authentik answers (recorded), errors and pagination included."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from aktui.authentik.client import AuthentikClient
from aktui.errors import (
    AuthentikError,
    AuthentikUnreachable,
    NotAuthentik,
    NotFound,
    TokenRejected,
)
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
    assert "http://127.0.0.1:9" in str(err.value) and "connection refused" in str(err.value)
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


# --- hostile and slow servers (issue 17, issue 18) -------------------------------------------

TOKEN = "ak-secret-Tok3n-value-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(
    "respond",
    [
        # A WAF page that echoes the request headers (the token near the start)...
        lambda r: httpx.Response(
            400, text=f"bad request; Authorization: {r.headers['Authorization']}"
        ),
        # ...or with the token cut by the 200-character summary...
        lambda r: httpx.Response(418, text="x" * 188 + r.headers["Authorization"]),
        # ...a JSON detail, a 403 detail, a 404 detail, a JSON body without detail.
        lambda r: httpx.Response(400, json={"detail": f"header was {r.headers['Authorization']}"}),
        lambda r: httpx.Response(403, json={"detail": f"no rights for {TOKEN}"}),
        lambda r: httpx.Response(404, json={"detail": f"{TOKEN} not found"}),
        lambda r: httpx.Response(422, json={"echo": {"authorization": r.headers["Authorization"]}}),
    ],
)
async def test_token_never_in_an_error_from_a_body(respond):
    c = AuthentikClient(URL, Secret(TOKEN), transport=httpx.MockTransport(respond))
    with pytest.raises(AuthentikError) as err:
        await c.version()
    await c.aclose()
    text = f"{err.value} {err.value!r} {err.value.hint}"
    assert "ak-se" not in text
    assert "\n" not in str(err.value)


async def test_bearer_of_another_token_is_redacted_too():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="Authorization: Bearer someothertoken123 rejected")

    c = AuthentikClient(URL, Secret(TOKEN), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError) as err:
        await c.version()
    assert "someothertoken123" not in str(err.value) and "Bearer ***" in str(err.value)


async def test_read_timeout_is_not_retried_and_says_what_to_check():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikUnreachable) as err:
        await c.version()
    assert len(calls) == 1
    assert "no answer within 10s" in str(err.value) and "`url:`" in str(err.value)


async def test_connect_errors_are_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, json={"version_current": "2025.12.4"})

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    assert (await c.version())["version_current"] == "2025.12.4"
    assert len(calls) == 3


async def test_timeout_bounds_the_whole_call_not_each_attempt():
    # A server that accepts and never answers: one call ends after `timeout`, not 4 x timeout.
    import asyncio

    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    c = AuthentikClient(f"http://127.0.0.1:{port}", Secret("t"), timeout=0.5)
    started = loop.time()
    try:
        with pytest.raises(AuthentikUnreachable, match=r"no answer within 0\.5s"):
            await c.version()
    finally:
        await c.aclose()
        server.close()
    # Generous (a loaded machine): four attempts would take at least 2 s.
    assert loop.time() - started < 1.9


async def test_refused_connection_says_refused():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        c = AuthentikClient(f"http://127.0.0.1:{port}", Secret("t"), timeout=2)
        with pytest.raises(AuthentikUnreachable, match="connection refused"):
            await c.version()
        await c.aclose()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            404, text="<html><h1>Not Found</h1></html>", headers={"content-type": "text/html"}
        ),
        httpx.Response(404, text="404 page not found\n"),
        httpx.Response(404, json={"error": "no route"}),
    ],
)
async def test_a_url_that_is_not_authentik_says_so(response):
    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(lambda r: response))
    with pytest.raises(NotAuthentik) as err:
        await c.outposts()
    assert str(err.value) == (
        f"{URL}: this does not look like an authentik API: 404 on /api/v3/outposts/instances/; "
        "check `url:` (authentik's base URL, without /api/v3)"
    )


async def test_rotated_token_is_read_again_once():
    good = Secret("new-token")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer new-token":
            return httpx.Response(200, json={"version_current": "x"})
        return httpx.Response(403, json={"detail": "Token invalid/expired"})

    reloads = []

    def reload() -> Secret:
        reloads.append(1)
        return good

    c = AuthentikClient(
        URL, Secret("old"), transport=httpx.MockTransport(handler), reload_token=reload
    )
    assert await c.version() == {"version_current": "x"}
    assert seen == ["Bearer old", "Bearer new-token"] and len(reloads) == 1
    await c.aclose()

    # The file did not change: refused once, read once, no loop.
    seen.clear()
    c = AuthentikClient(
        URL,
        Secret("old"),
        transport=httpx.MockTransport(handler),
        reload_token=lambda: Secret("old"),
    )
    with pytest.raises(TokenRejected):
        await c.version()
    assert seen == ["Bearer old"]


async def test_rotated_token_file_through_the_backend(tmp_path, monkeypatch):
    from aktui.backend import open_backend

    token_file = tmp_path / "token"
    token_file.write_text("old\n")
    token_file.chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text(f"contexts:\n  a:\n    url: {URL}\n    token_file: {token_file}\n")
    config.chmod(0o600)
    monkeypatch.setattr("aktui.backend._docker_runtime", lambda config, name: None)
    backend = open_backend(str(config), None)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer rotated":
            return httpx.Response(200, json={"version_current": "x"})
        return httpx.Response(403, json={"detail": "Token invalid/expired"})

    token_file.write_text("rotated\n")
    client = backend.client()
    client._transport = httpx.MockTransport(handler)
    assert await client.version() == {"version_current": "x"}
    await client.aclose()
    assert backend.client()._token == Secret("rotated")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("dir", "is a directory"),
        (b"not a certificate\n", "no PEM certificate"),
        (b"\xff\xfe\x00garbage", "no PEM certificate"),
    ],
)
async def test_bad_ca_file_is_one_line_naming_it(tmp_path, content, message):
    from aktui.errors import ConfigError

    path = tmp_path / "ca.pem"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    c = AuthentikClient("https://auth.example.com", Secret("t"), verify=str(path))
    with pytest.raises(ConfigError) as err:
        await c.version()
    assert str(err.value) == f"ca_file {path}: {message}" or (
        str(err.value).startswith(f"ca_file {path}: {message}")
    )


async def test_a_page_count_bomb_is_refused_before_any_page():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("page"))
        return httpx.Response(
            200, json={"pagination": {"total_pages": 10**9, "next": 2}, "results": []}
        )

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError, match="claims 1000000000 pages"):
        await c.outposts()
    assert calls == ["1"]


async def test_an_endless_next_chain_stops():
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        return httpx.Response(200, json={"pagination": {"next": page + 1}, "results": [{}]})

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError, match="kept naming a next page"):
        await c.outposts()


async def test_a_huge_body_is_refused_as_it_streams(monkeypatch):
    import aktui.authentik.client as module

    monkeypatch.setattr(module, "MAX_BODY", 1 << 20)

    async def endless():
        while True:
            yield b"[" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(handler))
    with pytest.raises(AuthentikError, match="answered more than 1 MiB"):
        await c.version()


async def test_deep_json_and_odd_shapes_are_one_line():
    deep = "[" * 100_000 + "]" * 100_000
    c = AuthentikClient(
        URL, Secret("t"), transport=httpx.MockTransport(lambda r: httpx.Response(200, text=deep))
    )
    with pytest.raises(AuthentikError, match="did not answer JSON"):
        await c.version()

    def odd(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/admin/version/"):
            return httpx.Response(200, json={"version_current": "x"})
        return httpx.Response(200, json={"pagination": "none", "results": [1, "two", None]})

    # Lists of anything (and pks that are no strings) give an empty model, not a traceback.
    c = AuthentikClient(URL, Secret("t"), transport=httpx.MockTransport(odd))
    snap = await c.snapshot()
    assert snap.outposts == [] or all(o.name for o in snap.outposts)


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
