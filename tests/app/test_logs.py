"""Logs: annotations under lines, literal text, follow/pause/resume, find, filters, bounds,
re-attach marker after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

import pytest

from aktui.logs.store import make_entry
from aktui.runtime import LogLine
from aktui.screens.capture import screen_text
from aktui.screens.logs import LogSource, LogsScreen
from aktui.screens.widgets.logpane import LogPane
from tests.fixtures.app import ANNOTATED, NOW, PLAIN, TOKEN, FakeBackend, make_app, settle


async def _open_logs(app, pilot, *keys: str):  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press(*keys)
    await _settle(pilot)
    assert isinstance(app.screen, LogsScreen)
    return app.screen.query_one(LogPane)


def _long_log(lines: Iterable[LogLine]) -> FakeBackend:
    """A backend whose stale outpost logs ``lines``, all read at once (tail above them), into
    a view that keeps logs.max_lines = 500."""
    backend = FakeBackend()
    backend.runtime.log_lines["outpost-example-dev"] = list(lines)
    backend.config = replace(backend.config, logs=replace(backend.config.logs, tail=5000))
    return backend


async def _settle(pilot, seconds: float = 0.25) -> None:  # type: ignore[no-untyped-def]
    await asyncio.sleep(seconds)
    await pilot.pause()


async def test_logs_show_annotation_under_matching_line() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        assert ("logs", "outpost-example-dev") in backend.runtime.calls
        rows = pane.text_rows
        index = next(i for i, r in enumerate(rows) if "mismatched session ID" in r)
        assert rows[index + 1].lstrip().startswith("↳ mismatched session ID")
        assert any("fix: Use one outpost container per cookie domain" in r for r in rows)
        text = screen_text(app)
        assert "↳" in text
        assert "1 explained" in text
        assert TOKEN not in text


async def test_hostile_log_text_is_shown_literally() -> None:
    backend = FakeBackend()
    # Valid JSON whose message decodes to markup and real escape characters.
    encoded = '{"event":"[bold]x[/bold] \\u001b[2J\\u001b]0;pwn\\u0007","level":"info"}'
    backend.runtime.log_lines["outpost-example-dev"].append(
        LogLine("outpost-example-dev", None, encoded)
    )
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        rows = pane.text_rows
        assert any("[bold red]pwned[/bold red] \\x1b[31mRED" in r for r in rows)
        assert any("[bold]x[/bold] \\x1b[2J\\x1b]0;pwn\\x07" in r for r in rows)
        assert not any("\x1b" in r or "\x07" in r for r in rows)
        text = screen_text(app)
        assert "[bold red]pwned[/bold red]" in text
        assert "\x1b" not in text


async def test_follow_pauses_on_scroll_up_and_resumes_with_end() -> None:
    backend = FakeBackend()
    backend.runtime.log_lines["outpost-example-dev"] = [
        LogLine("outpost-example-dev", None, PLAIN.replace("beta", f"b{n}")) for n in range(80)
    ]
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        assert pane.following
        assert pane.scroll_y == pane.max_scroll_y > 0
        await pilot.press("up")
        assert not pane.following
        y = pane.scroll_y
        backend.runtime.feed("outpost-example-dev", LogLine("x", None, PLAIN))
        await _settle(pilot)
        assert pane.scroll_y == y  # paused: new lines do not move the view
        assert pane.pending == 1
        assert "PAUSED +1" in screen_text(app)
        await pilot.press("end")
        await pilot.pause()
        assert pane.following and pane.pending == 0
        assert pane.scroll_y == pane.max_scroll_y
        await pilot.press("pageup", "f")
        assert pane.following


async def test_annotated_only_filter_and_find() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        assert any("Loaded application" in r for r in pane.text_rows)
        await pilot.press("a")
        await pilot.pause()
        assert not any("Loaded application" in r for r in pane.text_rows)
        assert any("mismatched session ID" in r for r in pane.text_rows)
        assert "annotated only" in screen_text(app)
        await pilot.press("a")
        await pilot.press("slash", *"loaded")
        await pilot.pause()
        assert pane.find == "loaded"
        assert "find: loaded" in screen_text(app)
        await pilot.press("enter")
        await pilot.press("escape")
        assert pane.find == ""
        assert isinstance(app.screen, LogsScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, LogsScreen)


async def test_time_window_hides_old_lines() -> None:
    backend = FakeBackend()
    old = (NOW - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    backend.runtime.log_lines["outpost-example-dev"].insert(
        0, LogLine("x", None, PLAIN.replace("2026-11-24T06:36:00Z", old).replace("beta", "OLD"))
    )
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        assert any("OLD" in r for r in pane.text_rows)
        await pilot.press("m")  # 5 minutes
        await pilot.pause()
        assert not any("OLD" in r for r in pane.text_rows)
        assert "last 5 min" in screen_text(app)


async def test_memory_is_bounded_by_max_lines() -> None:
    backend = _long_log(LogLine("x", None, PLAIN.replace("beta", f"n{n}")) for n in range(2000))
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        screen_pane = await _open_logs(app, pilot, "down", "l")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert len(screen.store) == 500
        # The pane holds rows of kept entries only: never more entries than max_lines.
        assert screen_pane.entry_count <= 500
        assert {pos for pos, _, _ in screen_pane.rows} == set(
            range(screen.store.first_pos, screen.store.next_pos)
        )
        assert screen.store.entries[-1].extra.startswith("host=n1999")
        await pilot.press("a")  # annotated only: the store drops entries the pane does not show
        await pilot.pause()
        more = [LogLine("x", None, PLAIN.replace("beta", f"m{n}")) for n in range(600)]
        for line in more:
            backend.runtime.feed("outpost-example-dev", line)
        await _settle(pilot)
        assert len(screen.store) == 500
        assert all(pos >= screen.store.first_pos for pos, _, _ in screen_pane.rows)
        assert screen_pane.entry_count <= 500


async def test_lines_dropped_when_the_view_falls_behind_are_counted_and_shown() -> None:
    backend = FakeBackend()  # logs.max_lines = 500: the inbox holds as much
    app = make_app(backend)
    async with app.run_test(size=(120, 24)) as pilot:
        await _open_logs(app, pilot, "down", "l")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert "dropped" not in screen_text(app)
        stored = screen.store.next_pos
        # The UI is "behind": 700 lines reach the inbox between two drains (this loop holds
        # the event loop, as a stalled UI would).
        for n in range(700):
            screen._put(make_entry("x", LogLine("x", None, f"line {n}"), None))
        await _settle(pilot)
        assert screen.behind == 200
        assert screen.store.next_pos - stored == 500
        assert screen.store.entries[-1].message == "line 699"
        assert "200 lines dropped: view fell behind" in screen_text(app)


@pytest.mark.slow
async def test_filter_toggle_renders_only_what_is_visible() -> None:
    backend = _long_log(LogLine("x", None, PLAIN.replace("beta", f"n{n}")) for n in range(2000))
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        for _ in range(100):  # bounded wait: every line read, nothing left to draw but toggles
            if screen.store.next_pos >= 2000 and not screen._inbox:
                break
            await _settle(pilot, 0.05)
        await _settle(pilot)
        assert len(pane.rows) >= 500
        for _ in range(4):  # annotated only, everything, annotated only, everything
            before = pane.built
            await pilot.press("a")
            await pilot.pause()
            # Text is built for the rows on screen, not for the 500 entries kept. Under load a
            # frame may be drawn at the old scroll offset before following re-anchors at the
            # end: two screens at most.
            assert pane.built - before <= 2 * pane.size.height
        assert pane.scroll_y == pane.max_scroll_y  # still following the end


FAILED = (
    '{"error":"403 Forbidden","event":"Failed to fetch outpost configuration, retrying in 3 '
    'seconds","level":"error","logger":"authentik.outpost.ak-api-controller",'
    '"timestamp":"2026-11-24T06:36:40Z"}'
)


def _mixed(start: int, count: int) -> list[LogLine]:
    """Plain lines with two kinds of explained ones among them (each kind repeats)."""
    lines = []
    for n in range(start, start + count):
        text = ANNOTATED if n % 7 == 0 else FAILED if n % 11 == 0 else PLAIN
        lines.append(LogLine("x", None, text.replace("beta", f"n{n}")))
    return lines


def _shown(pane: LogPane) -> tuple[object, ...]:
    top = pane.entry_at(int(pane.scroll_y))
    return (
        pane.text_rows,
        pane.following,
        pane.pending,
        pane.virtual_size.height,
        None if pane.following else top and top.seq,  # following: at the end after a refresh
    )


@pytest.mark.parametrize("view_keys", [(), ("w", "p")], ids=["plain", "wrapped-pretty"])
async def test_annotated_toggle_shows_what_laying_out_the_store_again_shows(
    view_keys: tuple[str, ...],
) -> None:
    """``a`` swaps in spare rows the drain kept current instead of laying out the store
    again: pinned to the slow path (``_rebuild``: every kept entry laid out afresh) while old
    lines leave the store, so the first explanation still kept is shown in full again and
    the later ones count from it. Following and paused; plain, and with wrapped lines and
    pretty JSON rows between a line and its explanation."""
    backend = _long_log(_mixed(0, 450))
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        fed = 450

        async def feed(count: int) -> None:
            nonlocal fed
            for line in _mixed(fed, count):
                backend.runtime.feed("outpost-example-dev", line)
            fed += count
            for _ in range(100):  # bounded wait: every line drained
                await _settle(pilot, 0.05)
                if screen.store.next_pos >= fed and not screen._inbox:
                    break

        await feed(0)
        if view_keys:
            await pilot.press(*view_keys)
            await pilot.pause()
        # Rows appended before the scrollbar came were counted wider than the pane is now;
        # a swap refuses rows counted at another width (the toggle then lays out again), so
        # start from rows laid out at today's width, as any toggle or resize leaves them.
        screen._rebuild()
        for paused in (False, False, True, True):
            await pilot.press("a")  # no spare yet: laid out from the store, the old rows kept
            await pilot.pause()
            assert pane.has_spare
            if paused:
                pane.scroll_to(y=pane.max_scroll_y // 2, animate=False, immediate=True)
                await pilot.press("k")
                assert not pane.following
            await feed(130)  # both sides fed; the oldest lines (and explanations) drop out
            assert screen.store.dropped > 0
            before = pane.entry_at(int(pane.scroll_y))
            swaps = pane.swaps
            screen.action_toggle_annotated()  # the swap: no await, so no drain in between
            assert pane.swaps == swaps + 1  # answered by the swap, not laid out again
            assert pane.has_spare  # the rows shown until now are the spare now
            fast = _shown(pane)
            screen._rebuild()  # the slow path, from the store: drops the spare
            assert not pane.has_spare
            assert _shown(pane) == fast
            if paused:  # the entry on top stays on top, or the next one the filter keeps
                assert before is not None
                top = pane.entry_at(int(pane.scroll_y))
                assert top is not None and top.seq >= before.seq
            else:
                await pilot.pause()
                assert pane.following and pane.scroll_y == pane.max_scroll_y
        assert any("same as above" in r for r in pane.text_rows)


async def test_restart_from_logs_shows_reattach_marker() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _open_logs(app, pilot, "down", "l")
        await pilot.press("r")  # fix from the log view: reload first
        await pilot.pause()
        assert "Reload outpost-example-dev?" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        app.request_fix([app.data.snapshot.outpost("outpost-example-dev")], force_restart=True)
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        await _settle(pilot)
        assert isinstance(app.screen, LogsScreen)
        assert any("re-attached after restart" in r for r in pane.text_rows)
        assert "re-attached after restart" in screen_text(app)


async def test_merged_logs_of_a_cookie_domain_show_sources() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.push_screen(
            LogsScreen(
                [
                    LogSource("outpost-single", "outpost-single"),
                    LogSource("outpost-example-dev", "outpost-example-dev"),
                ],
                "domain example.dev",
            )
        )
        await _settle(pilot)
        pane = app.screen.query_one(LogPane)
        rows = pane.text_rows
        assert any(r.startswith("06:36:00 outpost-single") for r in rows)
        assert any("outpost-example-dev" in r for r in rows)


async def test_logs_without_runtime_explain() -> None:
    backend = FakeBackend(runtime=None)
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("down", "l")
        await pilot.pause()
        assert not isinstance(app.screen, LogsScreen)
        assert any("no container runtime" in str(n.message) for n in app._notifications)


async def test_leaving_the_log_view_settles_the_heap_again() -> None:
    """The log view freezes the heap while open and thaws it on leaving; the interpreter has
    one frozen set, so the app's own settle is undone too and must be redone."""
    import gc

    from aktui.screens.app import RESETTLE_DELAY

    app = make_app(FakeBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await _settle(pilot)
        assert app._froze_heap and gc.get_freeze_count() > 0
        await _open_logs(app, pilot, "down", "l")
        await pilot.press("escape")
        await _settle(pilot)
        assert not isinstance(app.screen, LogsScreen)
        await _settle(pilot, RESETTLE_DELAY)
        assert app._froze_heap and gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # and nothing stays frozen after the app
