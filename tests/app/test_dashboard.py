"""Dashboard: rows, in-place refresh, stale data, fix keys, read-only, token never shown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import DataTable, Tree

from aktui.screens.capture import screen_text
from aktui.screens.confirm import ConfirmScreen
from aktui.screens.detail import DetailScreen
from tests.fixtures.app import (
    EMBEDDED_PK,
    SINGLE_PK,
    STALE_PK,
    TOKEN,
    FakeBackend,
    make_app,
    settle,
    unreachable,
)

SIZES = [(80, 24), (120, 36)]


async def _ready(app, pilot):  # type: ignore[no-untyped-def]
    await settle(app, pilot)


def _cell(app, key: str, column: str) -> str:  # type: ignore[no-untyped-def]
    # Every column, also those a narrow terminal hides (test_layout checks what is shown).
    return app.screen.outpost_cell(key, column).plain.rstrip()


@pytest.mark.parametrize("size", SIZES)
async def test_outposts_table_shows_recorded_outposts(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await _ready(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        assert table.row_count == 3
        assert _cell(app, STALE_PK, "name") == "outpost-example-dev"
        assert _cell(app, STALE_PK, "stale") == "⟳ STALE"
        assert _cell(app, SINGLE_PK, "stale") == "✔ fresh"
        assert _cell(app, SINGLE_PK, "container") == "running"
        assert _cell(app, SINGLE_PK, "inst") == "✔ 2"
        assert _cell(app, SINGLE_PK, "port") == "9001"
        assert _cell(app, EMBEDDED_PK, "type") == "embedded"
        assert "≠ 2023.10.7" in _cell(app, STALE_PK, "version")
        assert "example.dev" in _cell(app, STALE_PK, "domains")
        text = screen_text(app)
        assert "1 stale" in text
        assert TOKEN not in text


async def test_tree_and_findings_panel() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        tree = app.screen.query_one("#domains", Tree)
        labels = [str(n.label) for n in tree.root.children]
        assert any("example.dev" in label and "domain" in label for label in labels)
        domain = next(
            n
            for n in tree.root.children
            if "example.dev" in str(n.label) and "domain" in str(n.label)
        )
        providers = [str(n.label) for n in domain.children]
        assert any("beta.example.dev" in p for p in providers)
        findings = app.screen.query_one("#findings", DataTable)
        assert findings.row_count == len(app.data.snapshot.findings)
        assert "▲ warning" in screen_text(app)


async def test_refresh_keeps_cursor_on_same_row_key() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        await pilot.press("down", "down")
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        assert key.value == SINGLE_PK
        # A new outpost sorts first: a rebuild would move the cursor off outpost-single.
        snap = backend.snapshot
        extra = replace(snap.outposts[0], pk="0000-new", name="aaa-new-outpost")
        backend.snapshot = replace(snap, outposts=(extra, *snap.outposts))
        app.action_refresh_now()
        await _ready(app, pilot)
        assert table.row_count == 4
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        assert key.value == SINGLE_PK


async def test_api_down_keeps_last_data_marked_stale() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        backend.fail = unreachable()
        app.action_refresh_now()
        await _ready(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        assert table.row_count == 3  # last good data stays
        assert app.screen.query_one("#status").has_class("-stale")
        text = screen_text(app)
        assert "STALE DATA" in text
        assert "cannot connect" in text
        # Recovery clears the mark.
        backend.fail = None
        app.action_refresh_now()
        await _ready(app, pilot)
        assert not app.screen.query_one("#status").has_class("-stale")


async def test_api_down_from_start_shows_error_not_crash() -> None:
    backend = FakeBackend()
    backend.fail = unreachable()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        assert "no data" in screen_text(app)
        await pilot.press("r")  # nothing selected: explains, does not crash
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"


async def test_r_reloads_stale_outpost_after_confirm_and_flag_clears() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(app, pilot)
        await pilot.press("down")  # outpost-example-dev
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Reload outpost-example-dev?" in text
        assert "users stay signed in" in text
        await pilot.press("y")
        await _ready(app, pilot)
        assert ("reload", "outpost-example-dev") in backend.runtime.calls
        assert ("restart", "outpost-example-dev") not in backend.runtime.calls
        # The refresh after the action reads the new "Loaded application" line: fresh.
        assert _cell(app, STALE_PK, "stale") == "✔ fresh"
        record = app.history[-1]
        assert record.ok and record.action == "reload"
        assert "verified" in record.message and "Loaded application" in record.message
        assert any("Loaded application" in str(n.message) for n in app._notifications)


async def test_r_cancel_does_nothing() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "r")
        await pilot.press("n")
        await _ready(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert [c for c in backend.runtime.calls if c[0] != "logs"] == []


async def test_restart_confirm_warns_users_are_logged_out() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Restart outpost-example-dev?" in text
        assert "logged out" in text
        await pilot.press("enter")  # never confirms a restart
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await _ready(app, pilot)
        assert ("restart", "outpost-example-dev") in backend.runtime.calls
        assert app.history[-1].action == "restart"
        assert app.history[-1].message.startswith("verified")


async def test_stopped_container_is_restarted_not_reloaded() -> None:
    backend = FakeBackend()
    rt = backend.runtime
    rt.items["outpost-single"] = replace(rt.items["outpost-single"], state="exited")
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "down", "r")
        await pilot.pause()
        assert "Restart outpost-single?" in screen_text(app)


async def test_fix_all_stale_lists_them_in_one_confirm() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Reload outpost-example-dev?" in text  # one stale outpost
        await pilot.press("y")
        await _ready(app, pilot)
        assert ("reload", "outpost-example-dev") in backend.runtime.calls
        assert app.data.stale_outposts() == ()
        await pilot.press("R")  # nothing stale left: explains instead of confirming
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_failed_action_is_reported_and_in_history() -> None:
    from aktui.errors import DockerUnavailable

    backend = FakeBackend()
    backend.runtime.fail_reload = DockerUnavailable("docker at lab: cannot connect")
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "r", "y")
        await _ready(app, pilot)
        assert not app.history[-1].ok
        assert "cannot connect" in app.history[-1].message
        assert ("restart", "outpost-example-dev") not in backend.runtime.calls
        assert _cell(app, STALE_PK, "stale") == "⟳ STALE"
        await pilot.press("h")
        await pilot.pause()
        assert "✖ failed" in screen_text(app)


async def test_reload_that_loads_nothing_escalates_to_restart() -> None:
    backend = FakeBackend()
    backend.runtime.silent_reload = True
    app = make_app(backend)
    app.verify_timeout = 2.0  # only the silent reload waits it out; a loaded CI machine needs room
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "r", "y")
        await _ready(app, pilot)
        calls = [c[0] for c in backend.runtime.calls if c[0] != "logs"]
        assert calls == ["reload", "restart"]
        record = app.history[-1]
        assert record.ok and record.action == "reload→restart"
        assert "reload did not load" in record.message
        assert _cell(app, STALE_PK, "stale") == "✔ fresh"


@pytest.mark.parametrize("key", ["r", "R", "ctrl+x"])
async def test_read_only_refuses_and_explains(key: str) -> None:
    backend = FakeBackend(read_only=True)
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", key)
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert [c for c in backend.runtime.calls if c[0] != "logs"] == []
        assert any("read-only" in str(n.message) for n in app._notifications)
        assert app.screen.check_action("fix_selected", ()) is None
        assert "read-only" in screen_text(app)


async def test_enter_opens_outpost_detail_and_escape_returns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert "Outpost outpost-example-dev" in text
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DashboardScreen"


async def test_filter_narrows_outposts_and_escape_clears() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("slash", *"single")
        table = app.screen.query_one("#outposts", DataTable)
        assert table.row_count == 1
        await pilot.press("enter", "escape")
        assert table.row_count == 3
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_timer_refresh_does_not_restart_a_slow_fetch() -> None:
    import asyncio

    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        gate = backend.gate = asyncio.Event()
        fetches = backend.fetches
        app._refresh_tick()
        await pilot.pause()
        app._refresh_tick()  # the first fetch is still waiting: no second request
        app._refresh_tick()
        await pilot.pause()
        assert backend.fetches == fetches + 1
        gate.set()
        await _ready(app, pilot)
        assert app.data.error == ""


@pytest.mark.parametrize(
    ("state", "health", "word"),
    [
        ("running", None, "running"),
        ("running", "healthy", "running"),
        ("running", "starting", "starting"),  # never "running" before its healthcheck passed
        ("running", "unhealthy", "unhealthy"),
        ("exited", None, "exited"),
        ("restarting", None, "restarting"),
    ],
)
def test_container_cell_is_one_honest_word(state: str, health: str | None, word: str) -> None:
    from aktui.screens._rows import container_cell

    assert container_cell(state, health).plain == word


async def test_container_column_shown_at_100_columns() -> None:
    # Healthy containers (docker's healthcheck, the lab's ping) once read "running (healthy)":
    # too wide, so at 100x30 the Container column dropped and no container state was on screen.
    backend = FakeBackend()
    runtime = backend.runtime
    with runtime.lock:
        for name, info in runtime.items.items():
            runtime.items[name] = replace(info, health="healthy")
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await _ready(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        assert "Container" in [str(c.label) for c in table.columns.values()]
        assert "running" in screen_text(app)
