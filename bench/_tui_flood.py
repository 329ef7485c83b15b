"""Log flood into the logs screen: key-to-frame latency and memory (bench_tui.py, part 3).

The app runs in ``_flood_app.py`` on a pty that this process drains as a terminal would. Keys
are written to the pty (so they go through the real input parser and event queue); the app
reports, on a pipe, when the first frame showing each key's effect was written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _pty import PtyProgram

HERE = Path(__file__).resolve().parent
KEY_BYTES = {"up": b"\x1b[A", "end": b"\x1b[F", "a": b"a"}
KEY_INTERVAL = 0.25  # a key every quarter second: often, yet never two in flight
EFFECT_TIMEOUT = 10.0


def bench_flood(rate: float, seconds: float) -> None:
    read_fd, write_fd = os.pipe()
    argv = [
        sys.executable,
        str(HERE / "_flood_app.py"),
        "--report-fd",
        str(write_fd),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    ]
    prog = PtyProgram(argv, size=(120, 36), pass_fds=(write_fd,))
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    reports = _Reports(read_fd)
    latencies: dict[str, list[float]] = {}
    rss: list[tuple[float, int]] = []
    ready: dict[str, Any] = {}
    done: dict[str, Any] = {}
    missed = 0
    sent: tuple[int, str, float] | None = None  # (step, key, time written)
    next_key_at = 0.0
    step = 0
    deadline = time.perf_counter() + seconds + 60
    try:
        while not done and time.perf_counter() < deadline:
            if prog.read(0.005) is None:
                break
            for item in reports.poll():
                if "ready" in item:
                    ready = item
                    rss.append((item["ready"], item["rss"]))
                    next_key_at = item["ready"] + 1.0  # let the flood reach full rate first
                elif "effect" in item and sent is not None and item["effect"] == sent[0]:
                    latencies.setdefault(sent[1], []).append(item["t"] - sent[2])
                    step, sent = step + 1, None
                    next_key_at = time.perf_counter() + KEY_INTERVAL
                elif "rss" in item:
                    rss.append((item["t"], item["rss"]))
                elif "done" in item:
                    done = item["done"]
            now = time.perf_counter()
            if sent is not None and now - sent[2] > EFFECT_TIMEOUT:
                missed += 1  # never shown: counted, and the cycle goes on
                step, sent = step + 1, None
            if ready and sent is None and now >= next_key_at and not done:
                keys = ready["keys"]
                key = keys[step % len(keys)]
                sent = (step, key, time.perf_counter())
                prog.write(KEY_BYTES[key])
    finally:
        prog.close(b"", wait=20.0)
        os.close(read_fd)
    _print(rate, seconds, latencies, rss, done, missed, ready)


class _Reports:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def poll(self) -> list[dict[str, Any]]:
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _print(
    rate: float,
    seconds: float,
    latencies: dict[str, list[float]],
    rss: list[tuple[float, int]],
    done: dict[str, Any],
    missed: int,
    ready: dict[str, Any],
) -> None:
    print(
        f"\nlog flood: {rate:.0f} lines/s for {seconds:g} s into the logs screen "
        f"(pty 120x36, logs.max_lines 10000, 5% annotated)"
    )
    if not ready:
        print("  ! the app never reported ready")
        return
    every = [v for values in latencies.values() for v in values]
    print(
        f"{'key (written to pty -> frame with effect)':<42} {'n':>4} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}"
    )
    for key, values in [*latencies.items(), ("all keys (goal p99 < 100 ms)", every)]:
        if values:
            print(
                f"{key:<42} {len(values):>4} {_pct(values, 0.5) * 1000:>7.0f} "
                f"{_pct(values, 0.99) * 1000:>7.0f} {max(values) * 1000:>7.0f}"
            )
    if missed:
        print(f"  ! {missed} keys showed no effect within {EFFECT_TIMEOUT:g} s")
    if rss:
        start = rss[0][1]
        peak = max(r for _, r in rss)
        end = done.get("rss", rss[-1][1])
        opened = rss[0][0]

        def at(fraction: float) -> int | None:
            later = [r for t, r in rss if t - opened >= seconds * fraction]
            return later[0] if later else None

        print(f"\n{'memory (RSS of the app process)':<42} {'MB':>8}")
        print(f"{'logs screen opened':<42} {start / 2**20:>8.1f}")
        for fraction in (0.1, 0.25, 0.5, 0.75):
            value = at(fraction)
            if value is not None:
                print(f"{f'after {fraction:.0%} of the flood':<42} {value / 2**20:>8.1f}")
        print(f"{'peak':<42} {peak / 2**20:>8.1f}")
        print(f"{'end':<42} {end / 2**20:>8.1f}")
        print(f"{'growth, end - opened (goal < 50 MB)':<42} {(end - start) / 2**20:>8.1f}")
        filled = at(0.1)
        if filled is not None:
            label = "growth once the store is full, end - 10%"
            print(f"{label:<42} {(end - filled) / 2**20:>8.1f}")
    if done:
        generated = done["generated"]
        print(f"\n{'lines':<42} {'count':>8}")
        print(f"{'written by the runtime':<42} {generated:>8}")
        print(f"{'  per second achieved':<42} {generated / seconds:>8.0f}")
        print(f"{'reached the store (parsed + annotated)':<42} {done['stored']:>8}")
        lost = generated - done["stored"]
        print(f"{'  not (dropped by the inbox bound, or in flight)':<42} {lost:>8}")
        if "behind" in done:
            print(f"{'  dropped, counted on screen (fell behind)':<42} {done['behind']:>8}")
            print(f"{'  in the inbox at the end (in flight)':<42} {done['inbox']:>8}")
        print(f"{'kept (bounded by max_lines)':<42} {done['kept']:>8}")
        print(f"{'rows in the pane':<42} {done['pane_rows']:>8}")
        if "cpu" in done:
            print(f"\n{'CPU during the flood (% of one core)':<42} {'%':>8}")
            print(f"{'the app process':<42} {100 * done['cpu'] / seconds:>8.0f}")
            ui = 100 * done["ui_cpu"] / seconds
            print(f"{'  its UI thread (drain, layout, render)':<42} {ui:>8.0f}")
    else:
        print("  ! no final counts (the app did not finish)")
