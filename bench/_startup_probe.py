"""Where cold start goes: run ``aktui --demo`` (or the bare baseline) headless to its first frame
with data, print phase times as JSON, exit. Run by bench_tui.py, also under ``-X importtime``.

    python bench/_startup_probe.py aktui|bare|config [CONFIG]

The real entry point runs (``aktui.cli.main(["--demo"])``, or ``["--config", CONFIG]``); only
``App.run`` is wrapped, to go headless with a pilot that watches for the outposts table's rows
(and, for the demo, the first staleness verdict) and then quits with ``q``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

T0 = time.perf_counter()
phases: dict[str, float] = {}


def mark(name: str) -> None:
    phases.setdefault(name, time.perf_counter() - T0)
    # CPU of this process so far (all its threads; the demo's outposts are other processes):
    # steadier than wall time on a shared machine.
    phases.setdefault(f"cpu: {name}", time.process_time())


def wrap_run(table_id: str | None, verdicts: bool = False) -> None:
    from textual.app import App

    original = App.run

    async def pilot(p: Any) -> None:
        mark("first frame")
        app = p.app
        deadline = time.monotonic() + 30
        # Polled at the app's own pace: Pilot.pause() renders the whole screen each time (a
        # few ms of the UI thread's CPU per 2 ms poll) and then waits for the app to go idle
        # (after its background reads too), which made "data on screen" ~250 ms late.
        while time.monotonic() < deadline:
            table = _table(app, table_id)
            if table is not None and table.row_count:
                break
            await asyncio.sleep(0.002)
        app.screen._on_timer_update()  # one screen update with the rows in it
        mark("data on screen")
        while verdicts and time.monotonic() < deadline:
            found = getattr(app, "data", None)
            if found is not None and any(not v.unknown for v in found.verdicts.values()):
                app.screen._on_timer_update()
                mark("verdicts on screen")
                break
            await asyncio.sleep(0.002)
        await p.press("q")

    def run(self: Any, **kw: Any) -> Any:
        mark("imports + setup")
        return original(self, headless=True, size=(100, 30), auto_pilot=pilot)

    App.run = run  # type: ignore[method-assign]


def _table(app: Any, table_id: str | None) -> Any:
    from textual.css.query import NoMatches
    from textual.widgets import DataTable

    try:
        return app.screen.query_one(f"#{table_id}" if table_id else DataTable)
    except NoMatches:
        return None


def main() -> int:
    which = sys.argv[1]
    if which == "bare":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        wrap_run(None)
        from _bare_app import BareApp

        BareApp().run()
    else:
        import aktui.backend

        if which != "aktui":
            wrap_run("outposts")
        mark("imports")
        open_demo = aktui.backend.open_demo

        def timed_open_demo(**kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return open_demo(**kw)
            finally:
                phases["lab start (in setup)"] = time.perf_counter() - start

        aktui.backend.open_demo = timed_open_demo  # type: ignore[assignment]
        start_api = aktui.backend.Backend.start_lab_api

        def timed_start_api(self: Any) -> None:  # phase 1 of the lab, in run_app
            start = time.perf_counter()
            try:
                start_api(self)
            finally:
                phases["lab start (in setup)"] += time.perf_counter() - start
            # run_app calls this after its UI imports: App.run is wrapped only now, so Textual
            # is imported where aktui imports it (after the lab's process was launched).
            wrap_run("outposts", verdicts=True)

        aktui.backend.Backend.start_lab_api = timed_start_api  # type: ignore[method-assign]
        from aktui.cli import main as aktui_main

        aktui_main(["--demo"] if which == "aktui" else ["--config", sys.argv[2]])
    mark("exited")
    print(json.dumps(phases), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
