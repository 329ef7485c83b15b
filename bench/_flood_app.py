"""The log-flood subject: the real AktuiApp on a real terminal (a pty owned by bench_tui.py),
its logs screen fed by a runtime that writes authentik outpost JSON lines at a fixed rate.

    python bench/_flood_app.py --report-fd N --rate 5000 --seconds 60

Reports JSON lines on fd N, with times from ``time.perf_counter()`` (CLOCK_MONOTONIC on
Linux, so the parent's key-press times compare with them):

- ``{"ready": t}`` once the logs screen is mounted;
- ``{"effect": i, "t": t}``: the end of the first frame written to the terminal showing the
  effect of key number i (the keys cycle through ``KEYS``; the parent waits for each);
- ``{"rss": bytes, "t": t}`` once a second;
- ``{"done": {...}}`` with the line counts, then the app exits.

Every reader of the flooding container gets the flood, as from docker: the log view's stream
and the dashboard's staleness-evidence readers (``recent-*`` threads) underneath it. Only the
view's lines are counted. ``AKTUI_BENCH_QUIET_EVIDENCE=1`` gives the evidence readers a
quiet log instead, to measure the log view alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aktui.config import LogsConfig  # noqa: E402
from aktui.runtime import LogLine  # noqa: E402
from tests.fixtures.app import FakeBackend, FakeRuntime  # noqa: E402

# What each key should leave on screen: (following, annotated only). Consecutive states differ,
# so a state seen on screen can only come from the key just pressed.
KEYS: tuple[tuple[str, tuple[bool, bool]], ...] = (
    ("up", (False, False)),  # scroll up one row: follow pauses
    ("end", (True, False)),  # resume following
    ("a", (True, True)),  # annotated lines only (the first time laid out from the store)
    ("a", (True, False)),  # everything again: the rows kept as the pane's spare swapped in
)
TARGET = "outpost-example-dev"

# Outpost request and status lines as authentik 2023.10 writes them (logrus JSON, sorted keys).
HEALTHY = (
    '{"event":"/outpost.goauthentik.io/auth/nginx","host":"app.example.com","level":"info",'
    '"logger":"authentik.outpost.proxyv2.application","method":"GET","name":"app-provider",'
    '"remote":"172.18.0.5:%N%","runtime":"0.812","scheme":"http","size":21,"status":%S%,'
    '"timestamp":"%T%","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}',
    '{"event":"/outpost.goauthentik.io/start?rd=https://app.example.com/p/%N%","host":'
    '"app.example.com","level":"info","logger":"authentik.outpost.proxyv2.application","method":'
    '"GET","name":"app-provider","remote":"172.18.0.5:41234","runtime":"1.204","scheme":"http",'
    '"size":0,"status":302,"timestamp":"%T%"}',
    '{"event":"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=%N%",'
    '"host":"app.example.com","level":"info","logger":"authentik.outpost.proxyv2.application",'
    '"method":"GET","name":"app-provider","remote":"172.18.0.5:41234","runtime":"3.551",'
    '"scheme":"http","size":0,"status":302,"timestamp":"%T%"}',
)
FAILING = (
    '{"event":"mismatched session ID","is":"","level":"warning","logger":"authentik.outpost.'
    'proxyv2.application","name":"example-dev","should":"d41d8","timestamp":"%T%"}',
    '{"event":"invalid state","level":"warning","logger":"authentik.outpost.proxyv2.application",'
    '"name":"Provider for example-dev","timestamp":"%T%"}',
    '{"error":"403 Forbidden","event":"Failed to fetch outpost configuration, retrying in 3 '
    'seconds","level":"error","logger":"authentik.outpost.ak-api-controller","timestamp":"%T%"}',
)


class FloodRuntime(FakeRuntime):
    """``stream_logs`` yields ``rate`` lines a second (``failures`` of them cheat-sheet
    matches) until stopped; everything else is the test suite's scripted runtime."""

    def __init__(self, rate: float, failures: float) -> None:
        super().__init__()
        self.rate = rate
        self.failures = failures
        self.generated = 0

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        rng = random.Random(5)
        start = time.perf_counter()
        # The dashboard under the log view also reads recent lines (staleness evidence) and
        # a fix watches for a fresh load: those streams load the app but are not the view's.
        counted = not threading.current_thread().name.startswith(("recent-", "verify-"))
        produced = 0
        if not counted and os.environ.get("AKTUI_BENCH_QUIET_EVIDENCE"):
            stop.wait(5.0)  # isolate the log view: evidence readers see a quiet log
            return
        while not stop.is_set():
            due = int((time.perf_counter() - start) * self.rate)
            now = datetime.now(UTC)
            stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            while produced < due and not stop.is_set():
                produced += 1
                if rng.random() < self.failures:
                    text = rng.choice(FAILING)
                else:
                    text = rng.choice(HEALTHY).replace("%S%", rng.choice(("200", "401")))
                    text = text.replace("%N%", str(rng.randrange(100_000)))
                if counted:
                    self.generated += 1
                yield LogLine(name, now, text.replace("%T%", stamp))
            time.sleep(0.002)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--failures", type=float, default=0.05)
    args = parser.parse_args()
    report = os.fdopen(args.report_fd, "w", buffering=1)
    lock = threading.Lock()

    def send(**item: Any) -> None:
        with lock:
            report.write(json.dumps(item) + "\n")

    from aktui.screens.app import AktuiApp
    from aktui.screens.logs import LogSource, LogsScreen
    from aktui.screens.widgets.logpane import LogPane

    runtime = FloodRuntime(args.rate, args.failures)
    backend = FakeBackend(runtime=runtime)
    # The shipped defaults (10,000 lines kept), a refresh every 5 s under the log view.
    backend.config = replace(backend.config, logs=LogsConfig(), refresh_interval=5.0)
    app = AktuiApp(backend)
    stop = threading.Event()

    def sample_rss() -> None:
        while not stop.wait(1.0):
            send(rss=rss_bytes(), t=time.perf_counter())

    async def pilot(p: Any) -> None:
        screen = LogsScreen([LogSource(TARGET, TARGET)], TARGET)
        await app.push_screen(screen)
        pane = screen.query_one(LogPane)
        step = 0
        original = app._display

        def display(shown: Any, renderable: Any) -> None:
            nonlocal step
            batched = app._batch_count > 0 or renderable is None
            original(shown, renderable)  # writes the frame to the terminal
            if batched:
                return
            if (pane.following, screen.annotated_only) == KEYS[step % len(KEYS)][1]:
                send(effect=step, t=time.perf_counter())
                step += 1

        app._display = display  # type: ignore[method-assign]
        send(ready=time.perf_counter(), rss=rss_bytes(), keys=[k for k, _ in KEYS])
        threading.Thread(target=sample_rss, daemon=True).start()
        # CPU used during the flood, the whole process and the UI thread (this coroutine runs
        # on it): on a shared machine latency depends on the neighbours, the CPU demand less.
        cpu_start, ui_start = sum(os.times()[:2]), time.thread_time()
        await asyncio.sleep(args.seconds)
        cpu, ui_cpu = sum(os.times()[:2]) - cpu_start, time.thread_time() - ui_start
        stop.set()
        send(
            done={
                "generated": runtime.generated,
                "stored": len(screen.store) + screen.store.dropped,
                "kept": len(screen.store),
                "behind": screen.behind,
                "inbox": len(screen._inbox),
                "pane_rows": len(pane.rows),
                "rss": rss_bytes(),
                "cpu": cpu,
                "ui_cpu": ui_cpu,
            }
        )
        app.exit()

    app.run(auto_pilot=pilot)
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
