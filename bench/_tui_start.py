"""Cold start of ``aktui --demo`` against a bare Textual app (bench_tui.py, part 1)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import _pty
from _pty import Milestone, time_milestones

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
AKTUI = [str(Path(PYTHON).parent / "aktui"), "--demo"]  # the installed console script
BARE = [PYTHON, str(HERE / "_bare_app.py")]
PROBE = str(HERE / "_startup_probe.py")

AKTUI_MILESTONES = (
    Milestone("first frame", ("aktui",)),
    Milestone("outposts listed", ("outpost-example-dev", "outpost-legacy")),
    # The complete dashboard: container state and the staleness verdict are in.
    Milestone("complete", ("outpost-example-dev", "running"), any_of=("fresh", "STALE")),
)
CONFIG_MILESTONES = (  # no docker daemon answers: the outposts' API state is all there is
    Milestone("first frame", ("aktui",)),
    Milestone("complete", ("outpost-example-dev", "outpost-legacy")),
)
# The demo's headline: an outpost flagged stale (issue 21 goal: within 5 s of the start).
STALE_MILESTONES = (Milestone("first stale outpost", ("⟳ STALE",)),)
STALE_GOAL_S = 5.0
BARE_MILESTONES = (
    Milestone("first frame", ("name",)),
    Milestone("complete", ("bare-0000", "bare-0001")),
)


def _compile_bytecode() -> None:
    """Byte-compile aktui as ``pip install`` does. With PYTHONDONTWRITEBYTECODE set (as in
    this project's shells) an editable install never gets a __pycache__, so every run, and
    every fake outpost process of the demo, compiled aktui's sources again: a cost no
    installed aktui pays. (compileall skips symlinked folders: screens/ separately.)"""
    import compileall

    import aktui
    import aktui.screens

    for folder in {Path(aktui.__file__).parent, Path(aktui.screens.__file__).resolve().parent}:
        compileall.compile_dir(str(folder), quiet=1)


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _time_with_children(
    argv: list[str], stones: tuple[Milestone, ...], env: dict[str, str]
) -> tuple[_pty.PtyRun, dict[str, float]]:
    """``time_milestones``, and at each milestone the CPU of the program's child processes
    too (the demo's lab runs in its own: its process, zygote and outposts). Children that
    already exited are not counted."""
    children: dict[str, float] = {}
    own = _pty.process_cpu
    seen: list[float] = []

    def with_children(pid: int) -> float | None:
        seen.append(sum(own(p) or 0.0 for p in _descendants(pid)))
        return own(pid)

    _pty.process_cpu = with_children
    try:
        result = time_milestones(argv, stones, env=env)
    finally:
        _pty.process_cpu = own
    # process_cpu is called once per milestone reached, in the order they were reached
    for name, cpu in zip(result.times, seen, strict=False):
        children[name] = cpu
    return result, children


def bench_start(runs: int) -> None:
    from aktui.lab import Lab

    _compile_bytecode()
    python_start = _python_startup(runs)
    # The UI's own cold start against an API already up (what an operator gets), beside the
    # demo, which also starts its lab: simulator + outpost processes.
    with Lab() as lab, tempfile.TemporaryDirectory(prefix="aktui-bench-") as tmp:
        config = Path(tmp) / "config.yaml"
        # A docker host is configured, as operators have, so the docker SDK and its (failing:
        # no daemon at that socket) connect run where they would, in the containers worker.
        config.write_text(
            f"default_context: bench\ncontexts:\n  bench:\n    url: {lab.url}\n"
            f"    token_file: {lab.token_file}\n    docker_hosts: [local]\n"
            f"docker_hosts:\n  local:\n    url: unix://{tmp}/no-docker.sock\n"
        )
        config.chmod(0o600)
        programs = (
            ("bare", BARE, BARE_MILESTONES),
            ("aktui", AKTUI, AKTUI_MILESTONES),
            ("config", [*AKTUI[:1], "--config", str(config)], CONFIG_MILESTONES),
        )
        times: dict[str, dict[str, list[float]]] = {p[0]: defaultdict(list) for p in programs}
        cpu: dict[str, dict[str, list[float]]] = {p[0]: defaultdict(list) for p in programs}
        child_cpu: dict[str, list[float]] = defaultdict(list)  # the demo's lab processes
        errors: list[str] = []
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        for _ in range(runs):  # interleaved, so a busy moment on the machine hits all
            for name, argv, stones in programs:
                if name == "aktui":
                    result, children = _time_with_children(argv, stones, env)
                    if "complete" in children:
                        child_cpu["complete"].append(children["complete"])
                else:
                    result = time_milestones(argv, stones, env=env)
                if result.error:
                    errors.append(f"{name}: {result.error}")
                for stone, seconds in result.times.items():
                    times[name][stone].append(seconds)
                for stone, seconds in result.cpu.items():
                    cpu[name][stone].append(seconds)
    print(f"\ncold start to first complete frame (pty 100x30, {runs} runs each)")
    print(f"{'program':<46} {'first frame':>11} {'complete':>9} {'min':>6} {'max':>6} {'cpu':>6}")
    print(f"{'python -c pass (interpreter floor)':<46} {'':>11} {_ms(python_start):>9}")
    rows = (
        ("bare Textual app, 1000-row DataTable", "bare", "complete"),
        ("aktui --demo (outposts + state + verdicts)", "aktui", "complete"),
        ("  same, outposts listed", "aktui", "outposts listed"),
        ("aktui --config (running lab, docker host)", "config", "complete"),
    )
    for label, name, stone in rows:
        values = times[name][stone]
        low, high = (_ms([min(values)]), _ms([max(values)])) if values else ("—", "—")
        first = _ms(times[name]["first frame"]) if stone == "complete" else ""
        used = _ms(cpu[name][stone])
        print(f"{label:<46} {first:>11} {_ms(values):>9} {low:>6} {high:>6} {used:>6}")
    bare = times["bare"]["complete"]
    for label, name in (("aktui --demo", "aktui"), ("aktui --config", "config")):
        if bare and times[name]["complete"]:
            ratio = statistics.median(times[name]["complete"]) / statistics.median(bare)
            goal = 1.3 if name == "aktui" else 1.2
            verdict = "met" if ratio <= goal else "NOT met"
            cpu_ratio = ""
            if cpu["bare"]["complete"] and cpu[name]["complete"]:
                by_cpu = statistics.median(cpu[name]["complete"]) / statistics.median(
                    cpu["bare"]["complete"]
                )
                cpu_ratio = f" (cpu {by_cpu:.2f}x)"
            print(
                f"{'ratio ' + label + f' / bare (goal <= {goal}x)':<46} {'':>11} {ratio:>8.2f}x"
                f"  {verdict}{cpu_ratio}"
            )
    print(
        f"{'  its lab (process, zygote, outposts) by then':<46} {'':>11} {'':>9} {'':>6} "
        f"{'':>6} {_ms(child_cpu['complete']):>6}"
    )
    print(
        "(ms from spawn to the end of the frame; complete and ratio are medians; cpu: ms of CPU "
        "the program's own process had used by then, its children not counted, except in the "
        "row that counts the demo's lab processes: on 2 cores they share the UI's CPU)"
    )
    for error in errors:
        print(f"  ! {error}")
    _first_stale(max(3, runs // 2), env)
    _phases(runs)
    _extra_imports()


def _first_stale(runs: int, env: dict[str, str]) -> None:
    """Seconds from starting ``aktui --demo`` to the first frame flagging an outpost stale."""
    times, errors = [], []
    for _ in range(runs):
        result = time_milestones(AKTUI, STALE_MILESTONES, env=env, timeout=60)
        if result.error:
            errors.append(result.error)
        times += result.times.values()
    median = statistics.median(times) if times else None
    shown = f"{median:.1f} s" if median is not None else "—"
    verdict = "met" if median is not None and median <= STALE_GOAL_S else "NOT met"
    print(f"\naktui --demo: first frame with a stale outpost (pty, median of {runs})")
    print(f"{'first stale outpost':<46} {shown:>9}   goal <= {STALE_GOAL_S:g} s -> {verdict}")
    for error in errors:
        print(f"  ! {error}")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}" if values else "—"


def _python_startup(runs: int) -> list[float]:
    import time

    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], check=True)
        out.append(time.perf_counter() - start)
    return out


def _probe(which: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, *flags, PROBE, which], capture_output=True, text=True, timeout=120
    )


def _phases(runs: int) -> None:
    """Where the time goes inside the process (headless, so no terminal output cost)."""
    phases: dict[str, dict[str, list[float]]] = {"aktui": defaultdict(list), "bare": {}}
    phases["bare"] = defaultdict(list)
    for _ in range(runs):
        for which in ("bare", "aktui"):
            done = _probe(which)
            lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
            if done.returncode or not lines:
                print(f"  ! probe {which} failed: {done.stderr.strip()[-300:]}")
                continue
            for key, value in json.loads(lines[-1]).items():
                phases[which][key].append(value)
    print(
        f"\nwhere the time goes (headless, same entry points, ms since the script began, "
        f"median of {runs})"
    )
    keys = (
        "imports",
        "lab start (in setup)",
        "imports + setup",
        "first frame",
        "data on screen",
        "cpu: first frame",
        "cpu: data on screen",
    )
    print(f"{'phase':<28} {'bare':>8} {'aktui':>8}")
    for key in keys:
        print(
            f"{key:<28} {_ms(phases['bare'].get(key, [])):>8} "
            f"{_ms(phases['aktui'].get(key, [])):>8}"
        )


def _parse_importtime(stderr: str) -> dict[str, tuple[int, int, int]]:
    found: dict[str, tuple[int, int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3:
            continue
        name = fields[2].rstrip()
        depth = (len(name) - len(name.lstrip(" "))) // 2
        found[name.strip()] = (int(fields[0]), int(fields[1]), depth)
    return found


def _extra_imports(top: int = 15) -> None:
    """Modules the aktui start imports and the bare app does not, by package and by module."""
    bare = _parse_importtime(_probe("bare", "-X", "importtime").stderr)
    aktui = _parse_importtime(_probe("aktui", "-X", "importtime").stderr)
    extra = {m: v for m, v in aktui.items() if m not in bare}
    by_package: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for module, (self_us, _, _) in extra.items():
        package = module.split(".")[0]
        by_package[package][0] += 1
        by_package[package][1] += self_us
    total = sum(v[1] for v in by_package.values())
    print(
        "\nimported by aktui --demo up to its first data frame but not by the bare app "
        "(-X importtime, one run; self time, inflated by the measurement)"
    )
    print(f"{'package':<28} {'modules':>8} {'self ms':>8}")
    for package, (count, self_us) in sorted(by_package.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{package:<28} {count:>8} {self_us / 1000:>8.1f}")
    print(f"{'all extra':<28} {len(extra):>8} {total / 1000:>8.1f}")
    print(f"\n{'largest extra modules':<44} {'self ms':>8} {'cumul ms':>9}")
    for module, (self_us, cum_us, _) in sorted(extra.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{module:<44} {self_us / 1000:>8.1f} {cum_us / 1000:>9.1f}")
