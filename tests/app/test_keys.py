"""Keys people already have in their fingers (issue 18): ctrl+p / ctrl+c, j k g G ctrl+d
ctrl+u home end on every list, the log view's in-log keys (find with a counter, grep filter,
wrap, dates, pretty JSON, fold, copy, save, merged sources), screens that never stack, sort
arrows, the doctor's filter."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Tree

from aktui.runtime import LogLine
from aktui.screens.capture import screen_text
from aktui.screens.logs import LogsScreen
from aktui.screens.providers import ProvidersScreen
from aktui.screens.widgets.logpane import LogPane
from tests.fixtures.app import (
    ANNOTATED,
    PLAIN,
    SINGLE_PK,
    STALE_PK,
    FakeBackend,
    focus_tree_node,
    make_app,
    settle,
)
from tests.fixtures.incident import doctor_runner


async def _pause(pilot: Any, seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)  # reader thread -> 20 Hz drain
    await pilot.pause()


async def test_ctrl_p_opens_the_palette_and_ctrl_c_quits() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.return_code == 0


async def test_list_keys_move_the_row_cursor() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        assert table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("G")
        assert table.cursor_row == 2
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")  # the last row, not the last column
        assert table.cursor_row == 2 and table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("ctrl+d")
        assert table.cursor_row > 0
        await pilot.press("ctrl+u")
        assert table.cursor_row == 0
        tree = app.screen.query_one("#domains", Tree)
        tree.focus()
        await pilot.press("G")
        assert tree.cursor_line == tree.last_line
        await pilot.press("g")
        assert tree.cursor_line == 0


async def _logs(app: Any, pilot: Any, backend: FakeBackend) -> LogPane:
    await settle(app, pilot)
    table = app.screen.query_one("#outposts", DataTable)
    table.move_cursor(row=table.get_row_index(STALE_PK))
    await pilot.press("l")
    await _pause(pilot)
    assert isinstance(app.screen, LogsScreen)
    return app.screen.query_one(LogPane)


async def test_find_closes_on_enter_counts_and_esc_steps_back() -> None:
    backend = FakeBackend()
    backend.runtime.log_lines["outpost-example-dev"] += [
        LogLine("outpost-example-dev", None, PLAIN.replace("beta", f"host{n}")) for n in range(3)
    ]
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await _logs(app, pilot, backend)
        await pilot.press("slash", *"host", "enter")
        await pilot.pause()
        box = app.screen.query_one("#find")
        assert box.has_class("-hidden") and pane.find == "host"  # closed, highlight kept
        assert "find: host 1/" in screen_text(app)
        total = len(app.screen.find_hits)
        assert total >= 3
        await pilot.press("n")
        assert f"2/{total}" in screen_text(app)
        await pilot.press("N", "N")
        assert f"{total}/{total}" in screen_text(app)
        await pilot.press("escape")  # clears the highlight, stays in the log
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen) and pane.find == ""
        # With the box open, esc closes it and keeps the text; again clears; again leaves.
        await pilot.press("slash", *"loaded", "escape")
        await pilot.pause()
        assert pane.find == "loaded" and isinstance(app.screen, LogsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert pane.find == "" and isinstance(app.screen, LogsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogsScreen)


async def test_grep_filter_shows_only_matching_lines() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await _logs(app, pilot, backend)
        await pilot.press("ampersand", *"mismatched", "enter")
        await pilot.pause()
        heads = [r for r in pane.text_rows if not r.startswith(" ")]
        assert heads and all("mismatched" in r.lower() for r in heads), heads
        assert "only: mismatched" in screen_text(app)
        # New lines that do not match stay out.
        backend.runtime.feed("outpost-example-dev", LogLine("x", None, PLAIN))
        await _pause(pilot)
        assert all("mismatched" in r.lower() for r in pane.text_rows if not r.startswith(" "))
        await pilot.press("escape")
        await pilot.pause()
        assert any("Loaded application" in r for r in pane.text_rows)


async def test_view_toggles_wrap_dates_pretty_and_fold() -> None:
    backend = FakeBackend()
    long = PLAIN.replace("Loaded application", "Loaded " + "x" * 150)
    backend.runtime.log_lines["outpost-example-dev"].append(LogLine("x", None, long))
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _logs(app, pilot, backend)
        before = len(pane.rows)
        await pilot.press("w")
        await pilot.pause()
        assert len(pane.rows) > before and pane.virtual_size.width <= pane.size.width
        await pilot.press("w", "t")
        await pilot.pause()
        assert any(r.startswith("2026-11-24 06:36:30 +00:00") for r in pane.text_rows)
        await pilot.press("t", "p")
        await pilot.pause()
        assert any(r.strip() == '"level": "warning",' for r in pane.text_rows)
        await pilot.press("p", "z")
        await pilot.pause()
        notes = [r for r in pane.text_rows if "↳" in r]
        assert notes and all("z unfolds" in r for r in notes)
        assert not any(r.strip().startswith("fix:") for r in pane.text_rows)


async def test_repeated_explanations_are_shown_once() -> None:
    backend = FakeBackend()
    backend.runtime.log_lines["outpost-example-dev"] += [
        LogLine("outpost-example-dev", None, ANNOTATED) for _ in range(6)
    ]
    app = make_app(backend)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _logs(app, pilot, backend)
        rows = pane.text_rows
        assert sum(1 for r in rows if r.strip().startswith("fix:")) == 1
        assert any(r.strip() == "↳ same as above (×7)" for r in rows)
        assert sum(1 for r in rows if "same as above" in r) == 6


async def test_copy_and_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _logs(app, pilot, backend)
        await pilot.press("slash", *"mismatched", "enter", "c")
        await pilot.pause()
        assert "mismatched session ID" in app.clipboard
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = list((tmp_path / "aktui").glob("*.log"))
        assert len(saved) == 1
        assert any(str(saved[0]) in str(n.message) for n in app._notifications)
        assert stat.S_IMODE(os.stat(saved[0]).st_mode) == 0o600
        text = saved[0].read_text()
        assert "\x1b" not in text  # the hostile line's colour codes are gone
        assert "pwned" in text and "2026-11-24 06:36:30 +00:00" in text
        assert "fix:" in text


async def test_in_log_keys_do_not_leave_the_view() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await _logs(app, pilot, backend)
        for key in ("s", "s", "p", "p", "d", "c"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, LogsScreen), key
        assert pane.following  # s twice: paused, then resumed


async def test_logs_merge_every_outpost_of_any_selection() -> None:
    backend = FakeBackend()
    snap = backend.snapshot
    single = snap.outpost(SINGLE_PK)
    both = replace(single, provider_pks=(*single.provider_pks, 4))  # beta served twice
    backend.snapshot = replace(
        snap, outposts=tuple(both if o.pk == SINGLE_PK else o for o in snap.outposts)
    )
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        focus_tree_node(app, "provider", 4)
        await pilot.press("l")
        await _pause(pilot)
        assert isinstance(app.screen, LogsScreen)
        assert sorted(s.label for s in app.screen.sources) == [
            "outpost-example-dev",
            "outpost-single",
        ]
        assert "provider beta.example.dev" in screen_text(app)


async def test_screens_never_stack_and_sort_shows_arrows() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "s")
        await pilot.pause()
        assert len(app.screen_stack) == 2
        await pilot.press("d", "s")
        await pilot.pause()
        assert len(app.screen_stack) == 2  # back to the open snippets, doctor closed
        assert app.screen.__class__.__name__ == "SnippetsScreen"
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, ProvidersScreen)
        table = app.screen.query_one("#rows", DataTable)
        await pilot.press("o")
        await pilot.pause()
        labels = [str(c.label) for c in table.columns.values()]
        assert "Provider ▲" in labels
        names = [table.get_cell(r.key, "name").plain for r in table.ordered_rows]
        assert names == sorted(names)
        await pilot.press("o")
        await pilot.pause()
        labels = [str(c.label) for c in table.columns.values()]
        assert "Provider ▼" in labels
        names = [table.get_cell(r.key, "name").plain for r in table.ordered_rows]
        assert names == sorted(names, reverse=True)


async def test_doctor_filter() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        from aktui.screens.doctor import DoctorScreen

        app.push_screen(DoctorScreen(runner=doctor_runner))
        await settle(app, pilot)
        table = app.screen.query_one("#rows", DataTable)
        assert table.row_count == 2
        await pilot.press("slash", *"probe", "enter")
        await pilot.pause()
        assert [r.key.value for r in table.ordered_rows] == ["1:outpost-auth-probe"]
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 2
