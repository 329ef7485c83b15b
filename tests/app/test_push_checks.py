"""The TUI push applies as `aktui push` does (issue 16.7): the 302 check of each listed site after
each host's reload, the first host alone then the rest, stop at the first failure, and one line
in the local audit log."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aktui.config import WebServerConfig
from aktui.deploy.push import FileChange, HostPlan, HostResult
from aktui.screens.confirm import ConfirmScreen
from aktui.screens.push import PushScreen
from tests.fixtures.app import FakeBackend, make_app, settle


def _plans(servers: Any, files: Any) -> list[HostPlan]:
    change = FileChange("/etc/nginx/snippets/authentik-forward-auth.conf", b"old\n", b"new\n")
    return [HostPlan(name, f"root@{name}:22", (change,)) for name in servers]


async def test_tui_push_runs_the_302_check_canary_first_and_audits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    seen: dict[str, Any] = {}

    def apply_hosts(plans: list[HostPlan], servers: Any, **kw: Any) -> list[HostResult]:
        seen.update(kw)
        return [HostResult(p.name, p.target, "pushed+verified", "1 file(s) changed") for p in plans]

    monkeypatch.setattr("aktui.deploy.push.apply_hosts", apply_hosts)
    backend = FakeBackend()
    servers = {
        "web1": WebServerConfig(host="web1.example.com", sites=["app.example.com"]),
        "web2": WebServerConfig(host="web2.example.com"),
    }
    backend.config = replace(backend.config, web_servers=servers)
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        app.push_screen(PushScreen(planner=_plans))
        await settle(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
    assert seen["serial"] == (1, 0) and seen["max_fail"] == 0
    assert list(seen["checks"]) == ["web1"]  # only a host with listed sites has a 302 check
    assert callable(seen["checks"]["web1"])
    (line,) = (tmp_path / "aktui" / "push-audit.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert [h["name"] for h in record["hosts"]] == ["web1", "web2"] and record["result"] == "ok"
