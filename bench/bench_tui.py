"""The control panel's benchmarks (issue 5): cold start, dashboard refresh at scale, log flood.

    .venv/bin/python bench/bench_tui.py [--only start,refresh,flood] [--runs 7]
        [--providers 1000 --outposts 50 --rounds 5] [--rate 5000 --seconds 60]

1. Cold start: ``aktui --demo`` on a pty (a real terminal: frames are written, not skipped as
   in headless runs) until the first frame showing the outposts with their container state and
   config verdict, against a bare Textual app showing a 1000-row DataTable, alternating, median
   of ``--runs`` (goal: <= 1.3x). Then where aktui's time goes: phases of a headless run of the
   real entry point, and the modules it imports that the bare app does not (``-X importtime``).
2. Dashboard refresh on the lab at scale (``--providers``/``--outposts``, 4 outpost processes,
   ``--latency-ms`` per API request): from the refresh key to the outposts table updated and
   to the frame after it (headless; goal: <= 400 ms).
3. Log flood: the real app on a pty, its logs screen fed ``--rate`` authentik lines/s (5%
   cheat-sheet matches) for ``--seconds``; a key every 0.25 s (up, end, a, a), timed from the
   byte written to the pty to the end of the first frame showing its effect (goal: p99 < 100
   ms), and RSS growth (goal: < 50 MB).

Prints tables; asserts nothing. Timings are wall clock on a possibly shared machine: compare
rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _tui_flood import bench_flood  # noqa: E402
from _tui_refresh import bench_refresh  # noqa: E402
from _tui_start import bench_start  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="start,refresh,flood", help="comma separated")
    parser.add_argument("--runs", type=int, default=7, help="cold starts of each program")
    parser.add_argument("--providers", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--outposts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="dashboard refreshes timed")
    parser.add_argument(
        "--latency-ms", type=float, default=20, help="API latency added per request (refresh)"
    )
    parser.add_argument("--rate", type=float, default=5000, help="log lines per second")
    parser.add_argument("--seconds", type=float, default=60, help="log flood duration")
    args = parser.parse_args()
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    if "start" in wanted:
        bench_start(args.runs)
    if "refresh" in wanted:
        bench_refresh(args.providers, args.apps, args.outposts, args.rounds, args.latency_ms)
    if "flood" in wanted:
        bench_flood(args.rate, args.seconds)
    return 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def median_ms(values: list[float]) -> str:
    return ms(statistics.median(values)) if values else "—"


if __name__ == "__main__":
    sys.exit(main())
