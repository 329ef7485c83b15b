"""Outpost containers on a real private dockerd: restart, log re-attach and discovery times.

    .venv/bin/python bench/bench_runtime.py [--rounds 5] [--containers 200] [--running 40]

Starts its own dockerd the way the test fixture does (tests/fixtures/dockerd.py; root needed)
and measures:

- restart of one outpost through aktui (``DockerRuntime.restart``: restart, then wait until
  :9000 answers HTTP) against ``docker restart`` on the same container (goal: <= 1.5x), and
  the verified restart (``OutpostActions.restart``: until a fresh "Loaded application");
- "key to re-attached log": from the restart call to the stream's re-attach marker, and to
  the first line of the new process in the stream;
- discovery (``DockerRuntime.containers()``) on a daemon with ``--containers`` containers, of
  which ``--running`` run (20 of them outposts) and the rest are created but stopped, against
  ``docker ps -a`` as the floor.

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aktui.docker.runtime import DockerRuntime  # noqa: E402
from aktui.outposts.fixes import OutpostActions  # noqa: E402
from tests.fixtures.dockerd import IMAGE, Dockerd, DockerdUnavailable, start_dockerd  # noqa: E402


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.0f} ms"


def _free_outpost_port() -> int:
    import socket

    for port in range(9001, 9100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 9001-9099")


def bench_restart(d: Dockerd, rounds: int) -> list[tuple[str, str]]:
    name = "ak-outpost-bench-restart"
    d.run_outpost(name, publish={9000: _free_outpost_port()})
    rt = DockerRuntime({"local": d.url}, outposts=[("x", "bench-restart")])
    rt.containers()
    time.sleep(0.5)
    cli, ours, verified = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        d.cli("restart", "-t", "2", name)
        cli.append(time.perf_counter() - t0)
        time.sleep(0.3)
        t0 = time.perf_counter()
        rt.restart(name)
        ours.append(time.perf_counter() - t0)
        time.sleep(0.3)
    actions = OutpostActions(rt, read_only=False)
    for _ in range(rounds):
        result = actions.restart(name)
        verified.append(result.seconds if result.ok else float("nan"))
        time.sleep(0.3)
    rt.close()
    d.remove(name)
    ratio = statistics.median(ours) / statistics.median(cli)
    return [
        ("restart: docker restart (CLI)", _median_ms(cli)),
        ("restart: aktui, until :9000 answers", _median_ms(ours)),
        ("restart: ratio aktui / CLI (goal <= 1.5)", f"{ratio:8.2f} x"),
        ("restart: aktui verified (fresh 'Loaded application')", _median_ms(verified)),
    ]


def bench_reattach(d: Dockerd, rounds: int) -> list[tuple[str, str]]:
    name = "ak-outpost-bench-logs"
    d.run_outpost(name, env={"FAKE_TICK_MS": "100"})
    rt = DockerRuntime({"local": d.url}, outposts=[("x", "bench-logs")])
    rt.containers()
    time.sleep(0.5)
    marker_times, line_times = [], []
    for _ in range(rounds):
        stop = threading.Event()
        seen_marker, seen_line = threading.Event(), threading.Event()
        t0 = 0.0
        marks: list[float] = []

        def consume(
            stop: threading.Event = stop,
            marks: list[float] = marks,
            seen_marker: threading.Event = seen_marker,
            seen_line: threading.Event = seen_line,
        ) -> None:
            after = False
            for line in rt.stream_logs(name, since=None, tail=0, stop=stop):
                if line.marker == "reattached":
                    marks.append(time.perf_counter())
                    seen_marker.set()
                    after = True
                elif after and "Starting authentik outpost" in line.text:
                    marks.append(time.perf_counter())
                    seen_line.set()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        time.sleep(0.3)
        t0 = time.perf_counter()  # the key press
        rt.restart(name)
        seen_marker.wait(10)
        seen_line.wait(10)
        stop.set()
        reader.join(5)
        if len(marks) == 2:
            marker_times.append(marks[0] - t0)
            line_times.append(marks[1] - t0)
    rt.close()
    d.remove(name)
    return [
        ("key -> log stream re-attached (marker)", _median_ms(marker_times)),
        ("key -> first line of the new process", _median_ms(line_times)),
    ]


def bench_discovery(d: Dockerd, total: int, running: int, rounds: int) -> list[tuple[str, str]]:
    outposts = min(20, total)

    def make(i: int) -> None:
        if i < outposts:
            d.run_outpost(f"ak-outpost-disc-{i}")
        elif i < running:
            d.cli("run", "-d", "--init", "--name", f"akt-other-{i}", "-v", "/usr:/usr:ro",
                  "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro", IMAGE,
                  "/usr/bin/sleep", "3600")  # fmt: skip
        else:
            d.cli("create", "--name", f"akt-stopped-{i}", "-p", f"127.0.0.1:{20000 + i}:80",
                  IMAGE, "/nothing")  # fmt: skip

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(make, range(total)))
    setup = time.perf_counter() - t0
    names = [("x", f"disc-{i}") for i in range(outposts)]
    rt = DockerRuntime({"local": d.url}, outposts=names)
    ours, cli = [], []
    found = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        found = len(rt.containers())
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        d.cli("ps", "-a", "-q")
        cli.append(time.perf_counter() - t0)
    rt.close()
    return [
        (f"discovery: {total} containers set up ({running} running)", f"{setup:8.1f} s"),
        (f"discovery: aktui containers() -> {found} outposts", _median_ms(ours)),
        ("discovery: docker ps -a (CLI, floor)", _median_ms(cli)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--running", type=int, default=40)
    args, _ = parser.parse_known_args()
    try:
        d = start_dockerd()
    except DockerdUnavailable as e:
        print(f"skipped: {e}".splitlines()[0])
        return 0
    rows: list[tuple[str, str]] = [("private dockerd start", f"{d.started_in:8.1f} s")]
    try:
        rows += bench_restart(d, args.rounds)
        rows += bench_reattach(d, args.rounds)
        rows += bench_discovery(d, args.containers, args.running, args.rounds)
    except subprocess.SubprocessError as e:
        print(f"failed: {e}\n{d.log_tail()}")
        return 1
    finally:
        d.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'median':>11}")
    print(f"{'-' * width}  {'-' * 11}")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
