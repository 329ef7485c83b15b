"""Regenerate docs/screenshot.txt: the dashboard of `aktui --demo` at 100x30, as plain text.

    .venv/bin/python docs/make_screenshot.py

Uses the demo lab without chaos, edits one provider (as the demo's chaos does) and waits until
aktui judges the outpost serving it stale, then captures the screen with that row selected.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from aktui.backend import open_demo
from aktui.screens.app import AktuiApp
from aktui.screens.capture import screen_text

OUT = Path(__file__).with_name("screenshot.txt")
OUTPOST = "outpost-example-dev"


async def capture() -> str:
    backend = open_demo(chaos=False)
    try:
        app = AktuiApp(backend)
        async with app.run_test(size=(100, 30)) as pilot:

            def stale() -> bool:
                snap = app.data.snapshot
                o = snap.outpost(OUTPOST) if snap else None
                v = app.data.verdicts.get(o.pk) if o else None
                return bool(v and v.stale)

            await asyncio.sleep(3)
            outpost = backend.lab.state.outpost(OUTPOST)
            backend.lab.state.update_provider(outpost.providers[0], skip_path_regex="^/health$")
            deadline = time.monotonic() + 90
            while not stale():
                if time.monotonic() > deadline:
                    raise SystemExit("no stale verdict within 90 s")
                await asyncio.sleep(0.5)
            table = app.screen.query_one("#outposts")
            table.move_cursor(row=table.get_row_index(app.data.snapshot.outpost(OUTPOST).pk))
            await asyncio.sleep(0.5)
            await pilot.pause()
            return screen_text(app)
    finally:
        backend.close()


def main() -> int:
    text = asyncio.run(capture())
    OUT.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
