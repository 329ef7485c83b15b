"""The incident path on the demo lab (real simulator, real outpost processes, real restarts):
stale outpost -> r -> confirm -> verified reload clears the flag -> l -> annotated line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from textual.widgets import DataTable

from aktui.screens.app import AktuiApp
from aktui.screens.capture import screen_text
from aktui.screens.confirm import ConfirmScreen
from aktui.screens.logs import LogsScreen
from aktui.screens.widgets.logpane import LogPane

OUTPOST = "outpost-example-dev"


async def wait_for(pilot, check: Callable[[], object], timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.2)
        await pilot.pause()


@pytest.fixture
def demo():  # type: ignore[no-untyped-def]
    from aktui.backend import open_demo

    backend = open_demo(chaos=False)
    try:
        yield backend
    finally:
        backend.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_incident_path_on_the_lab(demo) -> None:  # type: ignore[no-untyped-def]
    from aktui.lab.chaos import AUTH, request

    app = AktuiApp(demo)
    async with app.run_test(size=(100, 30)) as pilot:

        def verdict():  # type: ignore[no-untyped-def]
            snap = app.data.snapshot
            o = snap.outpost(OUTPOST) if snap else None
            return app.data.verdicts.get(o.pk) if o else None

        await wait_for(pilot, lambda: (v := verdict()) and not v.stale, 30, "a fresh verdict")
        outpost = demo.lab.state.outpost(OUTPOST)
        demo.lab.state.update_provider(outpost.providers[0], skip_path_regex="^/health$")
        # authentik pushes the change; the lab's outposts (like a broken websocket) miss it.
        await wait_for(pilot, lambda: (v := verdict()) and v.stale, 60, "the stale verdict")
        pk = app.data.snapshot.outpost(OUTPOST).pk
        table = app.screen.query_one("#outposts", DataTable)
        table.move_cursor(row=table.get_row_index(pk))
        # The table is redrawn after the data lands (DataTable lays new rows out when idle).
        await wait_for(pilot, lambda: "⟳ STALE" in screen_text(app), 10, "the flag on screen")

        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Reload {OUTPOST}?" in screen_text(app)
        await pilot.press("y")
        await wait_for(
            pilot, lambda: app.history and not app.history[-1].running, 60, "the outcome"
        )
        record = app.history[-1]
        assert record.ok, record.message
        assert "Loaded application" in record.message
        await wait_for(pilot, lambda: (v := verdict()) and not v.stale, 30, "the flag to clear")
        await wait_for(pilot, lambda: "⟳ STALE" not in screen_text(app), 10, "the flag gone")

        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        port = demo.lab.ports[OUTPOST]
        request(
            port, AUTH, "old-site.example.org", {"X-Original-URL": "https://old-site.example.org/"}
        )
        pane = app.screen.query_one(LogPane)
        await wait_for(
            pilot, lambda: any("↳" in r for r in pane.text_rows), 20, "an annotated line"
        )
        assert "no app for hostname" in screen_text(app)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_tuis_hosted_demo_shows_its_stale_outpost_and_restarts_it() -> None:
    """The demo as ``aktui --demo`` runs it: the lab in its own process (LabHost, with the
    first snapshot fetched there), the opening stale outpost flagged, and a restart from the
    UI going through the host to a new outpost process."""
    from aktui.backend import open_demo
    from aktui.cmd.tui import demo_lab

    demo = open_demo(start=False, lab=demo_lab().launch())
    try:
        demo.start_lab_api()
        lab = demo.lab
        app = AktuiApp(demo, first_snapshot=lambda: lab.first_snapshot(30))  # type: ignore[union-attr]
        async with app.run_test(size=(100, 30)) as pilot:

            def verdict():  # type: ignore[no-untyped-def]
                snap = app.data.snapshot
                o = snap.outpost(OUTPOST) if snap else None
                return app.data.verdicts.get(o.pk) if o else None

            await wait_for(pilot, lambda: (v := verdict()) and v.stale, 30, "the opening stale")
            # The header and the table are redrawn from the data on the next idle, not at once.
            await wait_for(pilot, lambda: "⟳ STALE" in screen_text(app), 10, "the flag on screen")
            running = {c.name: c for c in app.data.containers}
            assert running[OUTPOST].state == "running"
            pk = app.data.snapshot.outpost(OUTPOST).pk  # type: ignore[union-attr]
            table = app.screen.query_one("#outposts", DataTable)
            table.move_cursor(row=table.get_row_index(pk))
            await pilot.pause()
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert f"Restart {OUTPOST}" in screen_text(app)
            await pilot.press("y")
            await wait_for(
                pilot, lambda: app.history and not app.history[-1].running, 60, "the outcome"
            )
            assert app.history[-1].ok, app.history[-1].message
            await wait_for(pilot, lambda: (v := verdict()) and not v.stale, 30, "the flag cleared")
            outpost = app.data.snapshot.outpost(OUTPOST)  # type: ignore[union-attr]
            assert len({i.uid for i in outpost.instances}) >= 1
            assert any(line.marker for line in demo.runtime.recent_logs(OUTPOST, tail=-1))  # type: ignore[union-attr]
    finally:
        demo.close()
