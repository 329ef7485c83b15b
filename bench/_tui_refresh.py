"""Dashboard refresh on the lab at scale (bench_tui.py, part 2).

The app runs headless (``run_test``) on ``open_demo`` with a scaled lab: the API simulator runs
in this process, as it does for ``aktui --demo``, so the fetch time includes serving it. Between
rounds one provider changes, so every refresh has a real change to show.

The process's CPU per refresh is split: the main thread is aktui (API client, parsing, UI),
the lab API's request threads are the simulator (a real authentik spends that on its own
machine), the rest is other threads (container state, log readers). In-process, both halves
share the GIL, so the wall-clock rows include the simulator's share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import threading
import time
from typing import Any

from aktui.backend import open_demo

GOAL_MS = 400  # key -> frame with the update (issue 21)


def bench_refresh(
    providers: int, apps: int, outposts: int, rounds: int, latency_ms: float = 20
) -> None:
    from aktui.screens.app import AktuiApp
    from aktui.screens.dashboard import DashboardScreen

    renders: list[tuple[float, float, Any]] = []  # (start, end, data) of each dashboard render
    original = DashboardScreen._render_data

    def timed(self: Any, data: Any) -> None:
        start = time.perf_counter()
        original(self, data)
        renders.append((start, time.perf_counter(), data))

    DashboardScreen._render_data = timed  # type: ignore[method-assign]
    backend = open_demo(
        chaos=False,
        providers=providers,
        apps=apps,
        outposts=outposts,
        max_processes=4,
        latency_ms=latency_ms,
    )
    try:
        _count_lab_api_cpu(backend)
        app = AktuiApp(backend, live_refresh=False)
        rows = asyncio.run(_rounds(app, backend, renders, rounds))
    finally:
        DashboardScreen._render_data = original  # type: ignore[method-assign]
        backend.close()
    print(
        f"\ndashboard refresh, lab with {providers} providers / {apps} apps / {outposts} outposts,"
        f" {latency_ms:g} ms API latency (headless 120x36, key ctrl+r, median of {rounds})"
    )
    print(f"{'step':<52} {'median ms':>10} {'max ms':>8}")
    for label, values in rows.items():
        if values:
            print(
                f"{label:<52} {statistics.median(values) * 1000:>10.0f} {max(values) * 1000:>8.0f}"
            )
        else:
            print(f"{label:<52} {'—':>10} {'—':>8}")
    frame = rows["key -> frame with the update"]
    if frame:
        median = statistics.median(frame) * 1000
        verdict = "met" if median <= GOAL_MS else "NOT met"
        print(f"goal: key -> frame <= {GOAL_MS} ms (median) -> {verdict}")


async def _rounds(
    app: Any, backend: Any, renders: list[tuple[float, float, Any]], rounds: int
) -> dict[str, list[float]]:
    from textual.widgets import DataTable

    from aktui.screens.widgets.sync import selected_key

    rows: dict[str, list[float]] = {
        "key -> snapshot fetched (authentik API -> Snapshot)": [],
        "render: outposts, findings, tree synced (UI thread)": [],
        "key -> outposts table updated": [],
        "key -> frame with the update": [],
        "key -> last render of the refresh (containers, evidence)": [],
        "CPU of the process per refresh (client, lab API, UI)": [],
        "  main thread: aktui (API client, parsing, UI)": [],
        "  lab API request threads (simulator, not aktui)": [],
    }
    state = backend.lab.state
    provider_pks = sorted(state.providers)[:rounds]
    async with app.run_test(size=(120, 36)) as pilot:
        await _settle(app, pilot)
        frames: list[float] = []
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                frames.append(time.perf_counter())

        app._display = timed_display
        table = app.screen.query_one("#outposts", DataTable)
        table.move_cursor(row=min(10, table.row_count - 1))
        cursor_before = selected_key(table)
        for i in range(rounds):
            pk = provider_pks[i % len(provider_pks)]
            state.update_provider(pk, skip_path_regex=f"^/bench-{i}$")
            previous = app.data.snapshot
            renders.clear()
            frames.clear()
            start, cpu = time.perf_counter(), sum(os.times()[:2])
            main, lab_api = time.thread_time(), LAB_API_CPU[0]
            await pilot.press("ctrl+r")
            await _settle(app, pilot)
            rows["CPU of the process per refresh (client, lab API, UI)"].append(
                sum(os.times()[:2]) - cpu
            )
            rows["  main thread: aktui (API client, parsing, UI)"].append(time.thread_time() - main)
            rows["  lab API request threads (simulator, not aktui)"].append(
                LAB_API_CPU[0] - lab_api
            )
            fresh = [r for r in renders if r[2].snapshot is not previous]
            if not fresh:
                continue
            first = fresh[0]
            rows["key -> snapshot fetched (authentik API -> Snapshot)"].append(first[0] - start)
            rows["render: outposts, findings, tree synced (UI thread)"].append(first[1] - first[0])
            rows["key -> outposts table updated"].append(first[1] - start)
            after = [f for f in frames if f >= first[1]]
            if after:
                rows["key -> frame with the update"].append(after[0] - start)
            rows["key -> last render of the refresh (containers, evidence)"].append(
                renders[-1][1] - start
            )
        if selected_key(table) != cursor_before:
            print(
                f"  ! the cursor moved during refreshes: {cursor_before} -> {selected_key(table)}"
            )
    return rows


LAB_API_CPU = [0.0]  # seconds of CPU the lab API's request threads used so far
_LOCK = threading.Lock()


def _count_lab_api_cpu(backend: Any) -> None:
    """Count the CPU of each API request the simulator serves, in the thread serving it."""
    handler = backend.lab.simulator._server.RequestHandlerClass  # the bench may look inside
    serve = handler.handle_one_request

    def counted(self: Any) -> None:
        start = time.thread_time()
        try:
            serve(self)
        finally:
            with _LOCK:
                LAB_API_CPU[0] += time.thread_time() - start

    handler.handle_one_request = counted


async def _settle(app: Any, pilot: Any) -> None:
    await pilot.pause()
    for _ in range(50):
        busy = [w for w in app.workers if w.is_running]
        if not busy:
            break
        for worker in busy:
            with contextlib.suppress(Exception):
                await worker.wait()
        await pilot.pause()
    await pilot.pause()
