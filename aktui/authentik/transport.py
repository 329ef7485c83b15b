"""The API client's HTTP transport: httpx's own, with a cheaper check of idle connections.

Every time a request is queued or an answer ends, httpcore's pool asks each idle keep-alive
connection whether the server closed it (``get_extra_info("is_readable")``). httpcore's anyio
stream answers by asking anyio for the raw socket, and anyio rebuilds its table of socket
attributes for that, a ``getpeername()`` system call included. A refresh at scale is ~100
requests over 16 connections: ~10,000 such questions, a sixth of the client's CPU. The
wrapper below finds the socket once per connection and then polls it as httpcore does, so
the answer is the same, only cheaper. A "not readable" answer is also kept until the event
loop's next iteration: the pool asks again each time a request is queued or finishes, often
many times in one iteration, and each poll() lets the GIL go (in the demo the lab's API
threads then take it for milliseconds). asyncio handles no I/O within an iteration, and the
request goes out at the earliest in a later one, so httpcore's own check was already that far
from the moment it protects.

Only the network backend is wrapped (httpcore's public ``AsyncNetworkBackend`` interface):
TLS, timeouts and error mapping stay httpx's. httpx reads proxies from the environment only
for a transport it builds, so the client uses this one only when no proxy is set there. If a
future httpx builds its pool differently, the transport is left as it is (stock behaviour).
"""

from __future__ import annotations

import asyncio
import select
import ssl
import sys
from collections.abc import Iterable
from typing import Any, Protocol

import httpcore
import httpx

_POLL = getattr(select, "poll", None) is not None and sys.platform != "win32"


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


def readable(sock: _HasFileno) -> bool:
    """httpcore's ``is_socket_readable``: data (or the end of the stream) is waiting. A
    closed socket counts as readable, as its next read returns the terminating ``b""``."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if _POLL:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    ready, _, _ = select.select([fd], [], [], 0)  # pragma: no cover (Windows)
    return bool(ready)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection's stream; ``is_readable`` from the socket found when it was opened."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        # A socket.socket, or asyncio's TransportSocket around one: both have fileno().
        found = inner.get_extra_info("socket")
        self._socket: _HasFileno | None = (
            found if callable(getattr(found, "fileno", None)) else None
        )
        self._quiet = False  # found not readable during this event-loop iteration

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            if self._quiet:
                return False
            answer = readable(self._socket)
            if not answer:
                try:
                    asyncio.get_running_loop().call_soon(self._forget)
                except RuntimeError:  # no loop (not httpcore's way): nothing to keep it for
                    return answer
                self._quiet = True
            return answer
        return self._inner.get_extra_info(info)

    def _forget(self) -> None:
        self._quiet = False


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover (aktui speaks TCP)
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def api_transport(verify: bool | ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """What ``httpx.AsyncClient(verify=verify)`` would build, with the cheaper idle check."""
    transport = httpx.AsyncHTTPTransport(verify=verify)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(
        backend, httpcore.AsyncNetworkBackend
    ):
        pool._network_backend = _Backend(backend)  # before any connection is made
    return transport


def uses_cheap_check(transport: httpx.AsyncBaseTransport) -> bool:
    """True when ``api_transport`` could wrap the pool's backend (tests pin the versions)."""
    pool = getattr(transport, "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), _Backend)
