"""SVG snapshots of what the operator sees, at fixed sizes with frozen data and clock.

Update after an intended change with ``pytest tests/app/test_snapshots.py --snapshot-update``
and review the SVG diff like code.
"""

from __future__ import annotations

import asyncio

from tests.fixtures.app import FakeBackend, make_app, settle, unreachable
from tests.fixtures.incident import five_stale


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot.app, pilot)


def test_dashboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_dashboard_120x36(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=run_before)


def test_logs_with_annotations(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("down", "l")
        await asyncio.sleep(0.3)  # reader thread -> 20 Hz drain
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


def test_help(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


def test_confirm_restart(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("down", "ctrl+x")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_error_state_api_down_keeps_stale_data(snap_compare) -> None:  # type: ignore[no-untyped-def]
    backend = FakeBackend()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        backend.fail = unreachable()
        pilot.app.action_refresh_now()
        await _settle(pilot)

    assert snap_compare(make_app(backend), terminal_size=(80, 24), run_before=run_before)


def test_read_only_dashboard(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)

    app = make_app(FakeBackend(read_only=True))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_fix_all_confirm_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Six stale outposts: one line each, one explanation, the key line on screen."""
    backend = FakeBackend()
    five_stale(backend)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("R")
        await pilot.pause()

    assert snap_compare(make_app(backend), terminal_size=(80, 24), run_before=run_before)
