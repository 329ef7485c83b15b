"""Reading the screen (issue 18): the columns that matter fit 80 columns, findings are readable
at 24 rows, tables keep their order across refreshes and filters, details read cleanly."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest
from textual.widgets import DataTable

from aktui.authentik.model import Finding
from aktui.screens.capture import screen_text
from aktui.screens.detail import DetailScreen
from tests.fixtures.app import SINGLE_PK, STALE_PK, FakeBackend, make_app, settle

VERSION_TITLE = "outpost-example-dev: version 2023.8.3, server 2023.10.7"


def _columns(app) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#outposts", DataTable)
    return [str(c.value) for c in table.columns]


async def test_80x24_shows_version_seen_and_the_whole_finding() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert {"version", "seen", "stale", "port"} <= set(_columns(app))
        text = screen_text(app)
        assert "2023.8.3 ≠ 2023.10.7" in text
        assert "never" in text  # the embedded outpost's Seen
        findings = app.screen.query_one("#findings", DataTable)
        findings.focus()
        row = next(
            i
            for i in range(findings.row_count)
            if "version" in " ".join(str(c) for c in findings.get_row_at(i))
        )
        findings.move_cursor(row=row)
        await pilot.pause()
        # The table cuts the title at ~30 columns; the one-line detail under it does not.
        line = next(r for r in screen_text(app).splitlines() if r.lstrip().startswith("▲"))
        assert VERSION_TITLE in line and "fix:" in line


@pytest.mark.parametrize(("size", "shown"), [((120, 36), "type"), ((200, 50), "domains")])
async def test_wider_terminals_show_more_columns(size: tuple[int, int], shown: str) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        columns = _columns(app)
        assert shown in columns and "version" in columns and "seen" in columns
        if size[0] >= 200:
            assert columns[-1] == "type"
            assert "embedded" in screen_text(app)  # the Type column is on screen


async def test_narrowing_keeps_the_cursor_on_its_row() -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#outposts", DataTable)
        table.move_cursor(row=table.get_row_index(SINGLE_PK))
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        assert "type" not in _columns(app)
        table = app.screen.query_one("#outposts", DataTable)
        assert table.ordered_rows[table.cursor_row].key.value == SINGLE_PK
        await pilot.resize_terminal(200, 50)  # and back: the wide columns return
        await settle(app, pilot)
        assert {"type", "domains"} <= set(_columns(app))
        assert table.ordered_rows[table.cursor_row].key.value == SINGLE_PK


async def test_new_error_lands_above_info_and_filter_keeps_order() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        findings = app.screen.query_one("#findings", DataTable)
        error = Finding(
            code="cookie-domain-mismatch",
            severity="error",
            title="zz new error",  # sorts last by title: only its severity puts it first
            subjects=("provider:4",),
            evidence="evidence",
            fix="fix it",
        )
        snap = backend.snapshot
        backend.snapshot = replace(snap, findings=(*snap.findings, error))
        app.action_refresh_now()
        await settle(app, pilot)
        keys = [r.key.value for r in findings.ordered_rows]
        assert keys[0].startswith("cookie-domain-mismatch|")  # errors first, not appended
        # Filter the outposts and clear it: the rows come back in name order.
        await pilot.press("slash", *"single")
        await pilot.pause()
        table = app.screen.query_one("#outposts", DataTable)
        assert [r.key.value for r in table.ordered_rows] == [SINGLE_PK]
        await pilot.press("escape")
        await pilot.pause()
        names = [table.get_cell(r.key, "name").plain for r in table.ordered_rows]
        assert names == sorted(names, key=str.lower)


async def test_history_is_newest_first() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.record("context", "one", True, "first")
        await pilot.press("h")
        await pilot.pause()
        app.record("context", "two", True, "second")
        await pilot.pause(1.2)  # the history redraws every second
        table = app.screen.query_one("#rows", DataTable)
        targets = [table.get_cell(r.key, "target").plain for r in table.ordered_rows]
        assert targets == ["two", "one"]


async def test_detail_labels_and_subjects_read_cleanly() -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        app.push_screen(DetailScreen("outpost", STALE_PK))
        await pilot.pause()
        text = screen_text(app)
        assert "cookie domains  example.dev" in text  # never "cookie domainsexample.dev"
        assert "(press r)" not in text
        assert "r on the dashboard" in text
        await pilot.press("escape")
        key = next(f for f in app.data.snapshot.findings if f.code == "outpost-version-mismatch")
        app.push_screen(DetailScreen("finding", f"{key.code}|{'|'.join(key.subjects)}"))
        await pilot.pause()
        text = screen_text(app)
        assert "outpost outpost-example-dev" in text
        assert f"outpost:{STALE_PK}" not in text


async def test_loading_shows_how_long_it_has_been_waiting() -> None:
    backend = FakeBackend()
    backend.gate = asyncio.Event()  # a server that accepts and does not answer (yet)
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        app.query_one("StatusBar")._update(app.data)  # type: ignore[attr-defined]
        await pilot.pause()
        assert re.search(r"loading… \d+s", screen_text(app)), screen_text(app)
        backend.gate.set()
        await settle(app, pilot)
        assert "loading…" not in screen_text(app)
