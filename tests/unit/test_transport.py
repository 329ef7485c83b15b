"""The API transport's idle-connection check answers as httpcore's own (which it replaces for
speed), and it is really in use with the httpx/httpcore versions installed."""

from __future__ import annotations

import socket

import httpcore._utils

from aktui.authentik.transport import _Stream, api_transport, readable, uses_cheap_check


def test_installed_on_the_pinned_httpx() -> None:
    # If this fails after an httpx upgrade, the client still works (stock check), only slower.
    assert uses_cheap_check(api_transport(False))
    assert uses_cheap_check(api_transport(True))


def test_readable_matches_httpcore_in_every_socket_state() -> None:
    a, b = socket.socketpair()
    try:
        states = []
        states.append((readable(a), httpcore._utils.is_socket_readable(a)))  # idle
        b.sendall(b"x")
        states.append((readable(a), httpcore._utils.is_socket_readable(a)))  # data waiting
        a.recv(1)
        b.close()
        states.append((readable(a), httpcore._utils.is_socket_readable(a)))  # peer closed
        a.close()
        states.append((readable(a), httpcore._utils.is_socket_readable(a)))  # closed here
    finally:
        a.close()
        b.close()
    assert states == [(False, False), (True, True), (True, True), (True, True)]


class _Inner(httpcore.AsyncNetworkStream):
    def __init__(self, sock: object) -> None:
        self.sock = sock
        self.asked: list[str] = []

    def get_extra_info(self, info: str) -> object:
        self.asked.append(info)
        return self.sock if info == "socket" else f"inner {info}"


def test_stream_answers_is_readable_from_its_socket_and_passes_the_rest() -> None:
    a, b = socket.socketpair()
    try:
        inner = _Inner(a)
        stream = _Stream(inner)
        assert stream.get_extra_info("is_readable") is False
        b.sendall(b"x")
        assert stream.get_extra_info("is_readable") is True
        assert stream.get_extra_info("ssl_object") == "inner ssl_object"
        assert inner.asked == ["socket", "ssl_object"]  # the socket was looked up once
    finally:
        a.close()
        b.close()


def test_stream_without_a_socket_asks_the_inner_stream() -> None:
    inner = _Inner(None)
    assert _Stream(inner).get_extra_info("is_readable") == "inner is_readable"


async def test_not_readable_is_kept_for_this_loop_iteration_only() -> None:
    import asyncio

    a, b = socket.socketpair()
    try:
        stream = _Stream(_Inner(a))
        assert stream.get_extra_info("is_readable") is False
        b.sendall(b"x")
        # Same iteration: the answer stands (asyncio handled no I/O since).
        assert stream.get_extra_info("is_readable") is False
        await asyncio.sleep(0)
        assert stream.get_extra_info("is_readable") is True
        b.close()
        assert stream.get_extra_info("is_readable") is True
    finally:
        a.close()
        b.close()


def test_a_proxy_in_the_environment_keeps_httpx_own_transport(monkeypatch) -> None:
    # httpx applies HTTP(S)_PROXY only to a transport it builds itself: with the cheaper one
    # an operator behind a proxy would silently connect directly (or not at all).
    from aktui.authentik.client import AuthentikClient
    from aktui.secret import Secret

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = AuthentikClient("https://auth.example.com", Secret("t"))._client()
    assert uses_cheap_check(direct._transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = AuthentikClient("https://auth.example.com", Secret("t"))._client()
    assert not uses_cheap_check(proxied._transport)
    mounted = [t for t in proxied._mounts.values() if t is not None]
    assert mounted, "the environment's proxy is mounted as httpx does without a transport"
