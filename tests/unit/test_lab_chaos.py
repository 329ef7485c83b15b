"""The demo's simulated browser (aktui.lab.chaos.login) on answers it does not expect."""

from __future__ import annotations

import pytest

from aktui.lab import chaos


def test_login_gives_up_on_a_relative_authorize_location(monkeypatch: pytest.MonkeyPatch) -> None:
    # /start answering with a Location that names no host: there is no authentik to go to, so
    # the round trip ends (None) instead of raising in the chaos thread.
    def start(
        _port: int, _path: str, _host: str, _headers: object = None
    ) -> tuple[int, dict[str, str]]:
        return 302, {"set-cookie": "authentik_proxy_x=abc; Path=/", "location": "/authorize?x=1"}

    monkeypatch.setattr(chaos, "request", start)
    assert chaos.login(9001, "app.example.test") is None
