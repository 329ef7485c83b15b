"""Snippets, doctor and push screens: opened by s / d / p, workers, confirm, result per host."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList

from aktui.config import WebServerConfig
from aktui.deploy.push import FileChange, HostPlan, HostResult
from aktui.doctor.checks import CheckResult
from aktui.screens.capture import screen_text
from aktui.screens.confirm import ConfirmScreen
from aktui.screens.doctor import DoctorScreen
from aktui.screens.push import PushScreen
from aktui.screens.snippets import SnippetsScreen
from tests.fixtures.app import TOKEN, FakeBackend, make_app, settle

RESULTS = [
    CheckResult("embedded-forward-auth", "ok", "no forward auth on the embedded outpost"),
    CheckResult(
        "outpost-auth-probe",
        "error",
        "outpost-example-dev: /auth/nginx answered 404",
        evidence="GET http://127.0.0.1:9002/outpost.goauthentik.io/auth/nginx -> 404 [bold]x",
        fix="Restart the outpost; check the application is selected in the outpost.",
        subject="outpost:x",
    ),
]


async def fake_runner(backend: Any) -> list[CheckResult]:
    return RESULTS


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_snippets_screen_lists_files_and_shows_text(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SnippetsScreen)
        files = app.screen.query_one("#files", OptionList)
        names = [str(files.get_option_at_index(i).id) for i in range(files.option_count)]
        assert "authentik-forward-auth.conf" in names
        assert "authentik-outpost-example-dev.conf" in names
        assert any(n.startswith("skipped: authentik Embedded Outpost") for n in names)
        await pilot.press("down")
        await pilot.pause()
        assert app.screen.query_one("#file-view").border_title == names[1]
        assert TOKEN not in screen_text(app)


async def test_doctor_screen_runs_checks_in_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aktui.screens.doctor.default_runner", fake_runner)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("d")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorScreen)
        table = app.screen.query_one("#rows", DataTable)
        assert table.row_count == 2
        assert table.get_cell("1:outpost-auth-probe", "status").plain == "✖ error"
        # Errors first, whatever order the checks ran in: the cursor starts on it.
        assert table.ordered_rows[0].key.value == "1:outpost-auth-probe"
        text = screen_text(app)
        assert "-> 404 [bold]x" in text  # evidence shown literally
        assert "fix: Restart the outpost" in text
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert table.row_count == 2


async def test_doctor_failure_is_shown_not_fatal() -> None:
    from aktui.errors import AuthentikUnreachable

    async def failing(backend: Any) -> list[CheckResult]:
        raise AuthentikUnreachable("authentik at https://auth.example.com: cannot connect")

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.push_screen(DoctorScreen(runner=failing))
        await settle(app, pilot)
        assert "cannot connect" in screen_text(app)


def _servers() -> dict[str, WebServerConfig]:
    return {"web1": WebServerConfig(host="web1.example.com"), "web2": WebServerConfig(host="w2")}


def _plans(servers: Any, files: Any) -> list[HostPlan]:
    wanted = files("web1", servers["web1"])
    assert "authentik-forward-auth.conf" in wanted
    change = FileChange("/etc/nginx/snippets/authentik-forward-auth.conf", b"old\n", b"new\n")
    return [
        HostPlan("web1", "web1.example.com", (change,)),
        HostPlan("web2", "w2", error="host key of w2 is not in known_hosts", status="refused"),
    ]


def _backend(**kw: Any) -> FakeBackend:
    backend = FakeBackend(**kw)
    backend.config = replace(backend.config, web_servers=_servers())
    return backend


async def test_push_diff_confirm_apply_result_per_host() -> None:
    applied: list[str] = []

    def applier(plans: list[HostPlan], servers: Any) -> list[HostResult]:
        applied.extend(p.name for p in plans)
        return [HostResult(p.name, p.target, "pushed", "nginx -t ok, reloaded") for p in plans]

    app = make_app(_backend())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        app.push_screen(PushScreen(planner=_plans, applier=applier))
        await settle(app, pilot)
        table = app.screen.query_one("#push-hosts", DataTable)
        assert table.get_cell("web1", "status").plain == "● 1 file(s) to change"
        assert table.get_cell("web2", "status").plain == "✖ refused"
        text = screen_text(app)
        assert "+new" in text and "-old" in text
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Push to 1 web server(s)?" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert applied == ["web1"]  # the refused host is never applied
        assert table.get_cell("web1", "status").plain == "✔ pushed"
        assert app.history[-1].target == "web1" and app.history[-1].ok


async def test_push_read_only_shows_diffs_but_refuses_apply() -> None:
    def applier(plans: list[HostPlan], servers: Any) -> list[HostResult]:
        raise AssertionError("must not apply in read-only mode")

    app = make_app(_backend(read_only=True))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(app, pilot)
        app.push_screen(PushScreen(planner=_plans, applier=applier))
        await settle(app, pilot)
        assert app.screen.check_action("apply", ()) is None
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("read-only" in str(n.message) for n in app._notifications)


async def test_push_without_web_servers_says_so() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, PushScreen)
        text = " ".join(screen_text(app).replace("│", " ").split())
        # Says what to add, and where.
        assert "no web servers to push to: add a web_servers: entry to <test>" in text
