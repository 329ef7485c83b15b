"""Async authentik API client (httpx).

Translates every transport or HTTP failure into an ``AuthentikError`` subclass whose message
names the server and the cause, never the token. Pagination follows authentik's own rule:
``pagination.next`` is a page number, 0 means none (FACTS.md a).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import os
import re
import socket
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from aktui.authentik.model import Snapshot
from aktui.authentik.parse import (
    EVENT_MODELS,
    EVENTS_PER_MODEL,
    PAGE_SIZE,
    ParseMemo,
    build_snapshot,
)
from aktui.authentik.transport import api_transport
from aktui.errors import (
    AuthentikError,
    AuthentikUnreachable,
    ConfigError,
    NotAuthentik,
    NotFound,
    TokenInvalid,
    TokenRejected,
)
from aktui.secret import Secret

RETRIES = 3
# "Bearer <anything>" as a server may echo it, whatever token it holds.
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;&<>]+")
SUMMARY_CHARS = 200
# A list longer than this many pages is not authentik's (100 objects a page) but a hostile or
# broken server: reading it would hold the memory of every page.
MAX_PAGES = 1000
# An API answer larger than this is not JSON authentik sends (the biggest list page is ~1 MiB).
MAX_BODY = 64 * 1024 * 1024
# Answers remembered for reuse: every page of a 1000-page list, with room for health and more.
MAX_ANSWERS = 4096
# Shorter "tokens" are test values; replacing every "t" in a message would hide the message.
MIN_REDACTED = 6


def _default_transport(verify: bool | ssl.SSLContext) -> httpx.AsyncBaseTransport | None:
    """The cheaper transport, unless a proxy is set in the environment (HTTP(S)_PROXY,
    ALL_PROXY): httpx honours those only when it builds the transport itself, and an operator
    behind a proxy must keep reaching authentik through it (None: httpx's own)."""
    if urllib.request.getproxies():
        return None
    return api_transport(verify)


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
        reload_token: Callable[[], Secret] | None = None,
    ) -> None:
        """``timeout``: seconds for one call in total, retries included. ``reload_token``:
        reads the token again (a ``token_file`` rotated while aktui runs)."""
        self.url = url.rstrip("/")
        self._token = token
        self._reload_token = reload_token
        self._verify = verify
        self._timeout = timeout
        self._transport = transport
        self._limit = asyncio.Semaphore(concurrency)
        self._page_counts: dict[str, int] = {}  # list (path + query) -> total_pages last read
        # GET (path + query) -> the last successful answer's bytes and what they decoded to.
        # Most pages come back byte for byte as they were a refresh ago: the decoded value is
        # handed out again (callers only read it), and parsing reuses its records (ParseMemo).
        self._answers: dict[str, tuple[bytes, Any]] = {}
        self._parse_memo = ParseMemo()
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
                verify = _ca_context(self._verify)
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
                transport=self._transport or _default_transport(verify),
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
        """One API call. A rejected token is re-read once (a rotated ``token_file``) and the
        call made again if it changed."""
        try:
            return await self._bounded(method, path, params, json)
        except TokenInvalid:
            if not self._reload():
                raise
        return await self._bounded(method, path, params, json)

    def _reload(self) -> bool:
        """A fresh token from the reloader, if it differs from the one refused."""
        if self._reload_token is None:
            return False
        fresh = self._reload_token()
        if not fresh or fresh == self._token:
            return False
        self._token = fresh
        if self._http is not None:
            self._http.headers["Authorization"] = f"Bearer {fresh.reveal()}"
        return True

    async def _bounded(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any
    ) -> Any:
        """``timeout`` bounds the whole call, retries included. Retried: a connection that
        could not be made and a 5xx (a proxy while authentik restarts). Not retried: a read
        timeout: the server took the request, and asking again only multiplies the wait."""
        delay = 0.2
        last: httpx.HTTPError | None = None
        answering: list[str] = []  # the path whose answer had begun when time ran out
        async with self._limit:  # the bound starts when this call may go out
            try:
                async with asyncio.timeout(self._timeout):
                    for attempt in range(RETRIES + 1):
                        try:
                            response, content = await self._send(
                                method, path, params, json, answering
                            )
                        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                            last = e
                            if attempt < RETRIES:
                                await asyncio.sleep(delay)
                                delay *= 2
                                continue
                            raise self._unreachable(e) from None
                        except httpx.HTTPError as e:
                            raise self._unreachable(e) from None
                        if response.status_code >= 500 and attempt < RETRIES:
                            await asyncio.sleep(delay)
                            delay *= 2
                            continue
                        return self._decode_get(method, path, params, response, content)
            except TimeoutError:
                if last is not None:
                    raise self._unreachable(last) from None
                if answering:
                    raise AuthentikUnreachable(
                        f"authentik at {self.url}: {path} answer not complete within "
                        f"{self._timeout:g}s (it kept sending; is this authentik?)"
                    ) from None
                raise self._no_answer() from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        answering: list[str],
    ) -> tuple[httpx.Response, bytes]:
        """The answer and its body, refusing a body over ``MAX_BODY`` (decompressed) as it
        streams in: memory stays bounded whatever the server sends."""
        request = self._client().build_request(method, path, params=params, json=json)
        response = await self._client().send(request, stream=True)
        answering.append(path)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY:
                    raise AuthentikError(
                        f"authentik at {self.url}: {path} answered more than "
                        f"{MAX_BODY >> 20} MiB; is this authentik?"
                    )
                chunks.append(chunk)
        finally:
            await response.aclose()
        return response, b"".join(chunks)

    def _no_answer(self) -> AuthentikUnreachable:
        return AuthentikUnreachable(
            f"authentik at {self.url}: no answer within {self._timeout:g}s "
            "(connected, but nothing came back: check that `url:` is authentik's address "
            "and not another service, and that the server is not overloaded)"
        )

    def _redact(self, text: str) -> str:
        """The token out of text a server or library produced: a proxy, WAF or debug page may
        echo the Authorization header back in its error body."""
        token = self._token.reveal()
        if len(token) >= MIN_REDACTED:
            text = text.replace(token, "***")
        return _BEARER.sub(r"\1***", text)

    def _unreachable(self, e: httpx.HTTPError) -> AuthentikUnreachable:
        if isinstance(e, httpx.ReadTimeout):
            return self._no_answer()
        cause = str(e) or type(e).__name__
        # httpx says "All connection attempts failed"; the socket error under it says why.
        inner = _os_error(e)
        if inner is not None:
            # asyncio words a refusal "Connect call failed (...)"; the errno says it plainly.
            # (getaddrinfo errors have negative numbers of their own, and a good strerror.)
            number = inner.errno or 0
            plain = number > 0 and not isinstance(inner, socket.gaierror)
            cause = os.strerror(number) if plain else str(inner.strerror)
        text = cause.lower()
        if "certificate" in text or "ssl" in text or "tls" in text:
            kind = "TLS failure"
        elif "name or service not known" in text or "nodename" in text or "resolution" in text:
            kind = "DNS lookup failed"
        elif "refused" in text:
            return AuthentikUnreachable(
                f"authentik at {self.url}: cannot connect: connection refused"
            )
        elif isinstance(e, httpx.TimeoutException):
            kind = "timed out"
        elif isinstance(e, httpx.ConnectError):
            kind = "cannot connect"
        else:
            kind = "request failed"
        return AuthentikUnreachable(f"authentik at {self.url}: {kind}: {self._redact(cause)}")

    def _error(self, cls: type[AuthentikError], message: str) -> AuthentikError:
        return cls(self._redact(message))

    def _summary(self, value: object) -> str:
        """A server-sent value for a one-line message: token removed before it is cut, so
        the cut cannot leave a prefix of the token behind."""
        return _cut(self._redact(value if isinstance(value, str) else str(value)))

    def _decode_get(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        response: httpx.Response,
        content: bytes,
    ) -> Any:
        """``_decode``; a successful GET answered with the same bytes as last time gives the
        value decoded then (the same bytes decode to the same value)."""
        if method != "GET" or not 200 <= response.status_code < 300:
            return self._decode(response, content, path)
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        last = self._answers.get(key)
        if last is not None and last[0] == content:
            return last[1]
        body = self._decode(response, content, path)
        self._answers.pop(key, None)
        if len(self._answers) >= MAX_ANSWERS:  # the oldest goes (dicts keep insertion order)
            self._answers.pop(next(iter(self._answers)))
        self._answers[key] = (content, body)
        return body

    def _decode(self, response: httpx.Response, content: bytes, path: str) -> Any:
        status = response.status_code
        try:
            body = jsonlib.loads(content)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python goes
            body = None
        raw_detail = body.get("detail") if isinstance(body, dict) else None
        detail = self._summary(raw_detail) if raw_detail else ""
        if status == 403:
            if raw_detail == "Token invalid/expired":
                raise TokenInvalid(f"token rejected by {self.url} (invalid or expired)")
            if raw_detail == "Authentication credentials were not provided.":
                raise TokenInvalid(f"token rejected by {self.url} (no credentials were sent)")
            raise self._error(
                TokenRejected,
                f"authentik at {self.url} answered 403 for {path}: the token lacks permission"
                + (f" ({detail})" if detail else ""),
            )
        if status == 404:
            if raw_detail is None:
                # authentik's API answers every 404 with a DRF {"detail": ...}; an HTML page
                # or a bare "404 page not found" is some other service at that address.
                raise NotAuthentik(
                    f"{self.url}: this does not look like an authentik API: 404 on "
                    f"/api/v3{path}; check `url:` (authentik's base URL, without /api/v3)"
                )
            raise self._error(NotFound, f"authentik at {self.url}: {path} not found ({detail})")
        if status >= 400:
            text = content[: SUMMARY_CHARS * 8].decode("utf-8", "replace")
            summary = detail or self._summary(body if body is not None else text)
            raise self._error(
                AuthentikError, f"authentik at {self.url} answered {status} for {path}: {summary}"
            )
        if body is None:
            raise AuthentikError(
                f"authentik at {self.url}: {path} did not answer JSON "
                f"(content-type {self._summary(response.headers.get('content-type', '?'))}); "
                "is this authentik?"
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

        pages = list(await _gather(*(page(n) for n in range(1, guess + 1))))
        first = pages[0]
        results = list(_results(first, path, self.url))
        pagination = _pagination(first)
        total = pagination.get("total_pages")
        if isinstance(total, int) and total > MAX_PAGES:
            raise AuthentikError(
                f"authentik at {self.url}: {path} claims {total} pages of {PAGE_SIZE}; "
                f"more than {MAX_PAGES} is not read (is this authentik?)"
            )
        if isinstance(total, int) and total >= 1:
            if total > guess:
                pages += await _gather(*(page(n) for n in range(guess + 1, total + 1)))
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
            if len(seen) >= MAX_PAGES:
                raise AuthentikError(
                    f"authentik at {self.url}: {path} kept naming a next page after "
                    f"{MAX_PAGES} pages (is this authentik?)"
                )
            seen.add(following)
            body = await self.request("GET", path, {**base, "page": following})
            results.extend(_results(body, path, self.url))
            following = _pagination(body).get("next") or 0
        return results

    # --- endpoints ----------------------------------------------------------------------

    # version(), root_config() and patch_outpost() return the answer as authentik sent it
    # (any JSON value): the parser (aktui.authentik.parse) checks its shape, so a hostile
    # answer degrades the snapshot instead of failing it.
    async def version(self) -> object:
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

    async def root_config(self) -> object:
        return await self.request("GET", "/root/config/")

    async def recent_changes(self, per_model: int = EVENTS_PER_MODEL) -> list[dict[str, Any]]:
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

        batches = await _gather(*(one(a, m) for a, m in EVENT_MODELS))
        return [e for batch in batches for e in batch]

    async def patch_outpost(self, pk: str, body: Mapping[str, Any]) -> object:
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
        ) = await _gather(
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
            "health": healths,
            "providers": providers,
            "applications": applications,
            "bindings": bindings,
            "events": events,
        }

    async def _outposts_with_health(
        self,
    ) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        # Health asked for as soon as the outposts are known, while the longer lists
        # (providers, applications, bindings) are still being paged in.
        outposts = await self.outposts()
        # pks as sent: a hostile list may hold anything, and the parser names that shape.
        pks = [o["pk"] for o in outposts if isinstance(o, dict) and isinstance(o.get("pk"), str)]
        healths = await _gather(*(self.outpost_health(pk) for pk in pks))
        return outposts, {pk: h for pk, h in zip(pks, healths, strict=True) if h is not None}

    async def _events_or_empty(self) -> list[dict[str, Any]]:
        # Events need the "view event" permission; staleness evidence degrades without them.
        try:
            return await self.recent_changes()
        except (TokenRejected, NotFound):
            return []

    async def snapshot(self) -> Snapshot:
        return build_snapshot(await self.fetch_raw(), memo=self._parse_memo)


def _ca_context(ca_file: str) -> ssl.SSLContext:
    """A TLS context trusting ``ca_file``; a missing or unusable file is one line naming it."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise ConfigError(f"ca_file {ca_file}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"ca_file {ca_file}: is a directory, not a PEM file") from None
    except PermissionError:
        raise ConfigError(f"ca_file {ca_file}: permission denied") from None
    except (ssl.SSLError, OSError, ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"ca_file {ca_file}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)"
        ) from None


def _os_error(e: BaseException) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current
        current = current.__cause__ or current.__context__
    return None


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"


async def _gather(*calls: Awaitable[Any]) -> list[Any]:
    """``asyncio.gather`` that cancels and awaits the other calls when one fails: left
    running, they fail later with nobody waiting, and ``asyncio.run`` prints their traceback
    under the one-line error."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _pagination(page: Any) -> dict[str, Any]:
    found = page.get("pagination") if isinstance(page, dict) else None
    return found if isinstance(found, dict) else {}


def _results(page: Any, path: str, url: str) -> list[Any]:
    results = page.get("results") if isinstance(page, dict) else None
    if isinstance(results, list):
        return results
    raise AuthentikError(f"authentik at {url}: {path} answered an unexpected shape (no results)")
