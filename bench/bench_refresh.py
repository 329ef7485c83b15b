"""Full refresh (every endpoint the dashboard reads) against `aktui lab` at scale:
concurrent (the client's default) vs sequential (one request at a time), the lab in this
process; then concurrent again with the same lab in its own process, as a real authentik is
(in this process its simulator's threads share the GIL with the client: slower answers, and the
client waits for the GIL). "client CPU" is this thread's (API client and parsing), without the
lab's threads.

    .venv/bin/python bench/bench_refresh.py [--providers 1000 --apps 2000 --outposts 50
                                             --latency-ms 20 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _tui_refresh import _ignore_sigint, _LabManager  # beside this script: on sys.path

from aktui.authentik.client import AuthentikClient
from aktui.authentik.parse import build_snapshot
from aktui.lab import Lab
from aktui.secret import Secret


async def refresh(url: str, token: str, concurrency: int) -> tuple[float, float, int]:
    client = AuthentikClient(url, Secret(token), concurrency=concurrency, timeout=60)
    start, cpu = time.perf_counter(), time.thread_time()
    async with client:
        snapshot = build_snapshot(await client.fetch_raw())
    return time.perf_counter() - start, time.thread_time() - cpu, len(snapshot.applications)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--outposts", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scale = dict(
        providers=args.providers,
        apps=args.apps,
        outposts=args.outposts,
        latency_ms=args.latency_ms,
    )
    lab = Lab(max_processes=4, **scale)  # type: ignore[arg-type]
    lab.start()
    rows = {}

    def measure(label: str, url: str, token: str, concurrency: int) -> None:
        times, cpus = [], []
        for _ in range(args.rounds):
            elapsed, cpu, apps = asyncio.run(refresh(url, token, concurrency))
            times.append(elapsed)
            cpus.append(cpu)
        rows[label] = (statistics.median(times), statistics.median(cpus), apps)

    try:
        for label, concurrency in (("concurrent (16)", 16), ("sequential (1)", 1)):
            measure(label, lab.url, lab.token, concurrency)
    finally:
        lab.stop()
    manager = _LabManager(ctx=multiprocessing.get_context("spawn"))
    manager.start(initializer=_ignore_sigint)
    control: Any = None
    try:
        control = manager.LabControl(scale)  # type: ignore[attr-defined]
        url, token_file, _ = control.info(0)
        token = Path(token_file).read_text(encoding="utf-8").strip()
        measure("concurrent (16), lab in its own process", url, token, 16)
    finally:
        if control is not None:
            with contextlib.suppress(Exception):
                control.stop()
        manager.shutdown()
    scale = f"{args.providers} providers, {args.apps} apps, {args.outposts} outposts"
    print(f"full refresh against aktui lab ({scale}, {args.latency_ms:g} ms latency)")
    print(f"{'mode':<40} {'median s':>9} {'client CPU s':>13} {'apps read':>10}")
    for label, (median, cpu, apps) in rows.items():
        print(f"{label:<40} {median:>9.3f} {cpu:>13.3f} {apps:>10}")
    ratio = rows["sequential (1)"][0] / rows["concurrent (16)"][0]
    print(f"{'ratio':<40} {ratio:>9.2f}x  (sequential / concurrent, lab in this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
