"""Providers/applications tables, details, help, palette, history, context, navigation keys."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable

from aktui.actions import COMMANDS, for_scope
from aktui.screens._keys import action_name
from aktui.screens.capture import screen_text
from aktui.screens.detail import DetailScreen
from aktui.screens.help import HelpScreen, help_rows
from aktui.screens.history import HistoryScreen
from aktui.screens.logs import LogsScreen
from aktui.screens.providers import ApplicationsScreen, ProvidersScreen
from tests.fixtures.app import TOKEN, FakeBackend, make_app, settle

SIZES = [(80, 24), (120, 36)]


async def _ready(app, pilot):  # type: ignore[no-untyped-def]
    await settle(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_providers_table_filter_sort_detail(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await _ready(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, ProvidersScreen)
        table = app.screen.query_one("#rows", DataTable)
        assert table.row_count == 4
        assert table.get_cell("4", "name").plain == "beta.example.dev"
        assert table.get_cell("4", "mode").plain == "forward (domain)"
        assert table.get_cell("4", "outposts").plain == "outpost-example-dev"
        await pilot.press("slash", *"example.dev")
        assert table.row_count == 2
        await pilot.press("enter")  # leave the filter box
        await pilot.press("o")  # sort by name ascending
        first = table.coordinate_to_cell_key((0, 0)).row_key.value
        await pilot.press("o")  # descending
        assert table.coordinate_to_cell_key((0, 0)).row_key.value != first
        table.move_cursor(row=table.get_row_index("4"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert "Provider beta.example.dev" in text
        assert "outpost-example-dev" in text
        await pilot.press("escape")
        assert isinstance(app.screen, ProvidersScreen)
        await pilot.press("escape")  # clears the filter first
        assert table.row_count == 4
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DashboardScreen"


async def test_applications_show_who_can_reach_them() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, ApplicationsScreen)
        table = app.screen.query_one("#rows", DataTable)
        assert table.get_cell("alpha-example-dev", "reach").plain == "group client-alpha"
        assert table.get_cell("app-example-com", "reach").plain == "every user"
        table.move_cursor(row=table.get_row_index("alpha-example-dev"))
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "group client-alpha" in text
        await pilot.press("l")  # logs of the outposts serving it
        await pilot.pause(0.2)
        assert isinstance(app.screen, LogsScreen)
        await pilot.press("1")
        assert app.screen.__class__.__name__ == "DashboardScreen"
        assert len(app.screen_stack) == 1


@pytest.mark.parametrize("size", SIZES)
async def test_help_lists_every_key_of_the_screen(size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await _ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = [c for _, c in help_rows(app, app.screen.target) if c is not None]
        assert {c.id for c in rows} == {
            c.id for c in (*for_scope("dashboard"), *for_scope("global"), *for_scope("navigation"))
        }
        scroll = app.screen.query_one("#keys")
        seen = ""
        while True:  # every row is on screen at some scroll position
            seen += screen_text(app)
            if scroll.scroll_y >= scroll.max_scroll_y:
                break
            scroll.scroll_page_down(animate=False)
            await pilot.pause()
        for c in rows:
            assert " ".join(c.description.split()[:2]) in seen, c.id  # descriptions wrap
            assert c.label in seen, c.id
        await pilot.press("q")
        assert app.screen.__class__.__name__ == "DashboardScreen"


async def test_help_follows_keymap_overrides_and_bindings_too() -> None:
    backend = FakeBackend(keys={"outposts.fix": "x"})
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("down", "x")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n", "question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert re.search(r"^\W*x\s+Fix\s", text, re.M), text


def test_unknown_keymap_id_is_a_config_error() -> None:
    from aktui.errors import ConfigError

    with pytest.raises(ConfigError, match=r"outposts\.fixx.*did you mean 'outposts\.fix'"):
        make_app(FakeBackend(keys={"outposts.fixx": "x"}))


async def test_read_only_help_marks_mutating_commands() -> None:
    app = make_app(FakeBackend(read_only=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert "disabled: read-only" in screen_text(app)


async def test_palette_offers_every_command_of_the_screen() -> None:
    from aktui.screens.palette import RegistryCommands

    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        provider = RegistryCommands(app.screen)
        titles = [t for t, _, _ in provider._commands()]
        for c in [*for_scope("dashboard"), *for_scope("global")]:
            assert any(t.startswith(f"{c.label} (") for t in titles), c.id
        await pilot.press("colon")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press(*"providers")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ProvidersScreen)


async def test_palette_refuses_mutating_command_in_read_only() -> None:
    from aktui.screens.palette import _run

    backend = FakeBackend(read_only=True)
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(app, pilot)
        fix = next(c for c in app.commands if c.id == "outposts.fix_all")
        await _run(app, app.screen, fix)
        await pilot.pause()
        assert app.screen.__class__.__name__ == "DashboardScreen"
        assert any("read-only" in str(n.message) for n in app._notifications)


def test_every_command_resolves_to_an_action_method() -> None:
    from aktui.screens.app import AktuiApp
    from aktui.screens.confirm import ConfirmScreen
    from aktui.screens.dashboard import DashboardScreen
    from aktui.screens.doctor import DoctorScreen
    from aktui.screens.push import PushScreen
    from aktui.screens.snippets import SnippetsScreen
    from aktui.screens.widgets.nav import NavTable

    targets = {
        "global": AktuiApp,
        "dashboard": DashboardScreen,
        "providers": ProvidersScreen,
        "applications": ApplicationsScreen,
        "logs": LogsScreen,
        "detail": DetailScreen,
        "history": HistoryScreen,
        "confirm": ConfirmScreen,
        "snippets": SnippetsScreen,
        "doctor": DoctorScreen,
        "push": PushScreen,
        "navigation": NavTable,
    }
    for c in COMMANDS:
        owner = AktuiApp if c.action.startswith("app.") else targets[c.scope]
        name = action_name(c)
        assert hasattr(owner, f"action_{name}"), c.id
        binding_ids = {b.id for b in targets[c.scope].BINDINGS}  # type: ignore[union-attr]
        assert c.id in binding_ids, c.id


async def test_history_and_context() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _ready(app, pilot)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert "no actions yet" in screen_text(app)
        await pilot.press("escape", "c")
        await pilot.pause()
        assert any("only one context" in str(n.message) for n in app._notifications)


async def test_context_switch_lists_contexts() -> None:
    app = make_app(FakeBackend(contexts=("lab", "prod")))
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ContextScreen"
        text = screen_text(app)
        assert "lab  (current)" in text and "prod" in text
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DashboardScreen"


@pytest.mark.parametrize("keys", [("down", "enter"), ("2",), ("3",), ("question_mark",), ("h",)])
async def test_token_never_on_screen(keys: tuple[str, ...]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(app, pilot)
        await pilot.press(*keys)
        await pilot.pause()
        assert TOKEN not in screen_text(app)
        assert TOKEN not in app.export_screenshot()
        assert TOKEN not in repr(app.backend.config)


def test_example_config_keymap_ids_exist() -> None:
    from pathlib import Path

    import yaml

    from aktui.actions import check_keymap

    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    keys = (yaml.safe_load(example.read_text()) or {}).get("keys") or {}
    assert keys, "config.example.yaml shows no keys: override"
    check_keymap(keys, str(example))  # raises on an unknown command id
