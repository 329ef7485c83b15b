"""The lab's fork server (aktui.lab.zygote): its outposts are real processes forked from it, a
restart is a new process, and nothing it started survives the lab, whether the lab stops, fails
to start, is interrupted, or goes away without stopping it (aktui killed). A forked outpost
starts like one started from scratch. Loopback only, bounded waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import aktui.lab.lab as lab_module
from aktui.lab import Lab
from aktui.lab.runtime import ping
from aktui.lab.zygote import Zygote
from tests.fixtures.procs import alive, free_base_port, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def outpost_pids(lab: Lab) -> dict[str, int]:
    assert lab.runtime is not None
    return {n: p.popen.pid for n, p in lab.runtime._procs.items() if p.popen is not None}


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(base_port=free_base_port()) as lab:
        yield lab


def test_outposts_are_forked_by_the_zygote_and_a_restart_is_a_new_process(lab: Lab) -> None:
    assert lab.zygote is not None and lab.runtime is not None
    zygote = lab.zygote.pid
    pids = outpost_pids(lab)
    assert len(pids) == len(lab.ports) > 1
    assert all(parent_of(pid) == zygote for pid in pids.values())
    assert all(ping(port) for name, port in lab.ports.items() if name != "outpost-staging")

    name = "outpost-example-dev"
    lab.runtime.restart(name)
    new = outpost_pids(lab)[name]
    assert new != pids[name] and not alive(pids[name])
    assert parent_of(new) == zygote and ping(lab.ports[name])


def test_stop_leaves_neither_the_zygote_nor_its_outposts() -> None:
    lab = Lab(base_port=free_base_port()).start()
    assert lab.zygote is not None
    pids = [lab.zygote.pid, *outpost_pids(lab).values()]
    lab.stop()
    assert not [pid for pid in pids if alive(pid)]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_start_stops_the_zygote(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """The zygote is the first thing start_api() starts: a failure (or Ctrl-C) after it
    stops it too."""
    started: list[Zygote] = []

    class Recorded(Zygote):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(lab_module, "Zygote", Recorded)
    monkeypatch.setattr(lab_module, "build_lab", fail)
    lab = Lab(base_port=free_base_port())
    with pytest.raises(type(error)):
        lab.start_api()
    assert len(started) == 1
    assert not alive(started[0].pid)


# A lab process that forks one outpost through its zygote (an outpost retrying a dead API:
# it never exits on its own), says the pids, then waits to be killed.
ORPHANING = """
import sys
from aktui.lab.zygote import Zygote
zygote = Zygote()
argv = ["--name", "orphan", "--port", sys.argv[1], "--api", "http://127.0.0.1:9"]
proc = zygote.spawn(argv + ["--token-file", sys.argv[2]])
assert b"Starting authentik outpost" in proc.stdout.readline()  # really running
print(zygote.pid, proc.pid, flush=True)
sys.stdin.read()
"""


def test_the_zygote_stops_its_outposts_when_the_lab_goes_away(tmp_path: Path) -> None:
    """aktui killed (SIGKILL: no stop of any kind): the zygote sees its control socket close,
    stops its outpost and exits."""
    token = tmp_path / "token"
    token.write_text("x\n")
    lab_process = subprocess.Popen(
        [sys.executable, "-c", ORPHANING, str(free_port()), str(token)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert lab_process.stdout is not None
        zygote, outpost = (int(pid) for pid in lab_process.stdout.readline().split())
        assert alive(zygote) and alive(outpost)
        lab_process.kill()
        lab_process.wait(5)
        wait_for(lambda: not alive(outpost) and not alive(zygote), what="zygote and outpost gone")
    finally:
        lab_process.kill()
        lab_process.wait(5)
        for pipe in (lab_process.stdin, lab_process.stdout):
            if pipe is not None:
                pipe.close()


def test_a_dead_zygote_kills_its_outposts_and_the_supervisor_starts_new_ones(lab: Lab) -> None:
    assert lab.zygote is not None and lab.runtime is not None
    before = outpost_pids(lab)
    os.kill(lab.zygote.pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in before.values()), what="orphans killed")
    # restarted the usual way (python -m aktui.lab.fake_outpost) by the supervisor, one
    # after the other (a second's restart delay each)
    wait_for(
        lambda: all(outpost_pids(lab)[n] != before[n] for n in before),
        timeout=20,
        what="new outposts",
    )
    wait_for(
        lambda: all(ping(lab.ports[n]) for n in before if n != "outpost-staging"),
        what="outposts serving again",
    )
    after = outpost_pids(lab)
    assert all(parent_of(pid) == os.getpid() for pid in after.values())


def events(lab: Lab, name: str) -> list[str]:
    """The outpost's start as its log says it, up to its first websocket line ("Starting HTTP
    server" left out: it races the websocket's thread, in either kind of process)."""
    assert lab.runtime is not None
    out = []
    for line in lab.runtime.recent_logs(name, tail=-1):
        if line.marker:
            continue
        event = json.loads(line.text)["event"]
        if event == "Starting HTTP server":
            continue
        out.append(event)
        if "websocket" in event:
            break
    return out


def uids(lab: Lab) -> dict[str, list[str]]:
    """Outpost name -> the uids of its instances that said HELLO."""
    assert lab.state is not None
    found = {}
    for name in lab.ports:
        outpost = lab.state.outpost(name)
        assert outpost is not None
        found[name] = [i.uid for i in lab.state.health(outpost.pk)]
    return found


def start_of(fork: bool) -> tuple[dict[str, object], list[str]]:
    """What a fresh lab's outposts did and say, and the uids they connected with."""
    with Lab(base_port=free_base_port(), fork_server=fork) as lab:
        assert (lab.zygote is not None) == fork
        assert lab.runtime is not None

        def connected() -> bool:
            return "websocket" in " ".join(events(lab, "outpost-example-dev"))

        def refused() -> bool:
            return "Failed to fetch" in " ".join(events(lab, "outpost-staging"))

        wait_for(connected, what="a connected outpost")
        wait_for(refused, what="the revoked token's failed fetch")
        connections = uids(lab)
        seen: dict[str, object] = {
            "dev": events(lab, "outpost-example-dev"),
            "staging": events(lab, "outpost-staging")[:2],
            "states": [(c.name, c.state) for c in lab.runtime.containers()],
            "connected": sorted(n for n, u in connections.items() if u),
        }
        return seen, [uid for found in connections.values() for uid in found]


def test_a_forked_outpost_starts_as_one_started_from_scratch() -> None:
    """The fast path (fork) against the slow one (a new interpreter): same log, same states,
    the same outposts connected, the revoked-token outpost failing the same way, and a fresh
    uid for every process (none inherited from the zygote)."""
    forked, forked_uids = start_of(True)
    started, started_uids = start_of(False)
    assert forked == started
    assert forked["dev"] == [
        "Starting authentik outpost",
        "Outpost mode",
        "Starting Metrics server",
        "using filesystem session backend",
        "Loaded application",
        "Loaded application",
        "Successfully connected websocket",
    ]
    every = forked_uids + started_uids
    assert len(every) == len(set(every)) >= 2 * 3
