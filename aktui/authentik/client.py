"""Async authentik API client (httpx).

Translates every transport or HTTP failure into an ``AuthentikError`` subclass whose message
names the server and the cause, never the token. Pagination follows authentik's own rule:
``pagination.next`` is a page number, 0 means none (FACTS.md a).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from aktui.authentik.model import Snapshot
from aktui.authentik.parse import build_snapshot
from aktui.errors import AuthentikError, AuthentikUnreachable, NotFound, TokenRejected
from aktui.secret import Secret

PAGE_SIZE = 100  # the server's maximum (pagination_max_page_size); fewer round trips
RETRIES = 3
EVENT_MODELS = (
    ("authentik_providers_proxy", "proxyprovider"),
    ("authentik_core", "application"),
    ("authentik_outposts", "outpost"),
)


class AuthentikClient:
    def __init__(
        self,
        url: str,
        token: Secret,
        *,
        verify: bool | str = True,
        timeout: float = 10.0,
        # Requests in flight: a refresh at scale is ~100 small GETs (pages, one health per
        # outpost), latency-bound; a server with fewer workers queues the rest, no harm.
        concurrency: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._verify = verify
        self._timeout = timeout
        self._transport = transport
        self._limit = asyncio.Semaphore(concurrency)
        self._page_counts: dict[str, int] = {}  # list (path + query) -> total_pages last read
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"AuthentikClient({self.url!r})"

    async def __aenter__(self) -> AuthentikClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            verify: bool | ssl.SSLContext = True
            if self.url.lower().startswith("http://"):
                # No TLS on this connection (relative paths, no redirects followed), and
                # httpx's default context costs ~18 ms of certificate loading per client.
                verify = False
            elif isinstance(self._verify, str) and self._verify:
                verify = ssl.create_default_context(cafile=self._verify)
            elif self._verify is False:
                verify = False
            self._http = httpx.AsyncClient(
                base_url=f"{self.url}/api/v3",
                headers={
                    "Authorization": f"Bearer {self._token.reveal()}",
                    "Accept": "application/json",
                    "User-Agent": "aktui",
                },
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)),
                verify=verify,
                transport=self._transport,
                follow_redirects=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- transport ----------------------------------------------------------------------

    async def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        """One API call with bounded retries on 5xx and connection errors."""
        delay = 0.2
        for attempt in range(RETRIES + 1):
            try:
                async with self._limit:
                    response = await self._client().request(method, path, params=params, json=json)
            except httpx.HTTPError as e:
                if attempt < RETRIES and not isinstance(e, httpx.InvalidURL):
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise self._unreachable(e) from None
            if response.status_code >= 500 and attempt < RETRIES:
                await asyncio.sleep(delay)
                delay *= 2
                continue
            return self._decode(response, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, e: httpx.HTTPError) -> AuthentikUnreachable:
        cause = str(e) or type(e).__name__
        text = cause.lower()
        if "certificate" in text or "ssl" in text or "tls" in text:
            kind = "TLS failure"
        elif "name or service not known" in text or "nodename" in text or "resolution" in text:
            kind = "DNS lookup failed"
        elif isinstance(e, httpx.TimeoutException):
            kind = "timed out"
        elif isinstance(e, httpx.ConnectError):
            kind = "cannot connect"
        else:
            kind = "request failed"
        cause = cause.replace(self._token.reveal(), "***") if self._token else cause
        return AuthentikUnreachable(f"authentik at {self.url}: {kind}: {cause}")

    def _decode(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 403:
            if detail == "Token invalid/expired":
                raise TokenRejected(f"token rejected by {self.url} (invalid or expired)")
            if detail == "Authentication credentials were not provided.":
                raise TokenRejected(f"token rejected by {self.url} (no credentials were sent)")
            raise TokenRejected(
                f"authentik at {self.url} answered 403 for {path}: the token lacks permission"
                + (f" ({detail})" if detail else "")
            )
        if status == 404:
            raise NotFound(f"authentik at {self.url}: {path} not found ({detail or 'no detail'})")
        if status >= 400:
            summary = detail or (str(body)[:200] if body is not None else response.text[:200])
            raise AuthentikError(f"authentik at {self.url} answered {status} for {path}: {summary}")
        if body is None:
            raise AuthentikError(
                f"authentik at {self.url}: {path} did not answer JSON "
                f"(content-type {response.headers.get('content-type', '?')}); is this authentik?"
            )
        return body

    # --- pagination ---------------------------------------------------------------------

    async def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every result of a paginated list. As many pages as the list had last time are asked
        for at once (page 1 alone the first time), then any the first page says are missing:
        a refresh costs one round trip per list instead of two."""
        base = {**(params or {}), "page_size": PAGE_SIZE}
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(base.items()))
        guess = self._page_counts.get(key, 1)

        async def page(n: int) -> Any:
            try:
                return await self.request("GET", path, {**base, "page": n})
            except NotFound:
                if n <= 1:
                    raise
                return None  # past the end: the list shrank since last time (checked below)

        pages = list(await asyncio.gather(*(page(n) for n in range(1, guess + 1))))
        first = pages[0]
        results = list(_results(first, path, self.url))
        pagination = first.get("pagination") or {}
        total = pagination.get("total_pages")
        if isinstance(total, int) and total >= 1:
            if total > guess:
                pages += await asyncio.gather(*(page(n) for n in range(guess + 1, total + 1)))
            for n, body in enumerate(pages[1:total], start=2):
                if body is None:  # a page within the total is gone: the list changed meanwhile
                    body = await self.request("GET", path, {**base, "page": n})
                results.extend(_results(body, path, self.url))
            self._page_counts[key] = total
            return results
        # Older/odd servers without total_pages: follow `next` (a page number, 0 = none).
        following = pagination.get("next") or 0
        seen = {1}
        while isinstance(following, int) and following > 0 and following not in seen:
            seen.add(following)
            body = await self.request("GET", path, {**base, "page": following})
            results.extend(_results(body, path, self.url))
            following = (body.get("pagination") or {}).get("next") or 0
        return results

    # --- endpoints ----------------------------------------------------------------------

    async def version(self) -> dict[str, Any]:
        return await self.request("GET", "/admin/version/")

    async def outposts(self) -> list[dict[str, Any]]:
        return await self.list_all("/outposts/instances/")

    async def outpost_health(self, pk: str) -> list[dict[str, Any]] | None:
        """Connected instances; None when the health could not be read (not the same as [])."""
        try:
            health = await self.request("GET", f"/outposts/instances/{pk}/health/")
        except (NotFound, AuthentikError) as e:
            if isinstance(e, (TokenRejected, AuthentikUnreachable)):
                raise
            return None
        return health if isinstance(health, list) else None

    async def providers(self) -> list[dict[str, Any]]:
        return await self.list_all("/providers/proxy/")

    async def applications(self) -> list[dict[str, Any]]:
        return await self.list_all("/core/applications/", {"superuser_full_list": "true"})

    async def groups(self) -> list[dict[str, Any]]:
        return await self.list_all("/core/groups/", {"include_users": "false"})

    async def bindings(self) -> list[dict[str, Any]]:
        return await self.list_all("/policies/bindings/")

    async def service_connections(self) -> list[dict[str, Any]]:
        return await self.list_all("/outposts/service_connections/all/")

    async def root_config(self) -> dict[str, Any]:
        return await self.request("GET", "/root/config/")

    async def recent_changes(self, per_model: int = 100) -> list[dict[str, Any]]:
        """Newest ``model_updated`` events for providers, applications and outposts."""

        async def one(app: str, model: str) -> list[dict[str, Any]]:
            page = await self.request(
                "GET",
                "/events/events/",
                {
                    "action": "model_updated",
                    "context_model_app": app,
                    "context_model_name": model,
                    "ordering": "-created",
                    "page_size": per_model,
                },
            )
            return list(_results(page, "/events/events/", self.url))

        batches = await asyncio.gather(*(one(a, m) for a, m in EVENT_MODELS))
        return [e for batch in batches for e in batch]

    async def patch_outpost(self, pk: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/outposts/instances/{pk}/", json=dict(body))

    async def fetch_raw(self) -> dict[str, Any]:
        """Everything the model needs, independent endpoints concurrently."""
        (
            version,
            (outposts, healths),
            providers,
            applications,
            bindings,
            events,
        ) = await asyncio.gather(
            self.version(),
            self._outposts_with_health(),
            self.providers(),
            self.applications(),
            self.bindings(),
            self._events_or_empty(),
        )
        return {
            "server_url": self.url,
            "version": version,
            "outposts": outposts,
            "health": {o["pk"]: h for o, h in zip(outposts, healths, strict=True) if h is not None},
            "providers": providers,
            "applications": applications,
            "bindings": bindings,
            "events": events,
        }

    async def _outposts_with_health(
        self,
    ) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]] | None]]:
        # Health asked for as soon as the outposts are known, while the longer lists
        # (providers, applications, bindings) are still being paged in.
        outposts = await self.outposts()
        healths = await asyncio.gather(*(self.outpost_health(o["pk"]) for o in outposts))
        return outposts, list(healths)

    async def _events_or_empty(self) -> list[dict[str, Any]]:
        # Events need the "view event" permission; staleness evidence degrades without them.
        try:
            return await self.recent_changes()
        except (TokenRejected, NotFound):
            return []

    async def snapshot(self) -> Snapshot:
        return build_snapshot(await self.fetch_raw())


def _results(page: Any, path: str, url: str) -> list[Any]:
    if isinstance(page, dict) and isinstance(page.get("results"), list):
        return page["results"]
    raise AuthentikError(f"authentik at {url}: {path} answered an unexpected shape (no results)")
