"""The TUI's demo lab in a process of its own (aktui.lab.host): the same lab seen through its
runtime and API, its errors as the in-process lab's, and nothing it started left behind,
whether it is stopped, fails to start, is stopped while its outposts come up, or its owner is
killed. Loopback only, bounded waits."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aktui.errors import ActionRefused, AktuiError
from aktui.lab import LabHost
from aktui.lab.host import HostedRuntime
from aktui.lab.runtime import ping
from tests.fixtures.procs import alive, free_base_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every process under ``pid`` now (the host, its zygote, the outposts)."""
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


def api(host: LabHost, path: str) -> object:
    conn = http.client.HTTPConnection(host.url.removeprefix("http://"), timeout=5)
    conn.request("GET", "/api/v3" + path, headers={"Authorization": f"Bearer {host.token}"})
    try:
        response = conn.getresponse()
        assert response.status == 200, response.status
        return json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def host() -> Iterator[LabHost]:
    lab = LabHost(base_port=free_base_port(), chaos=False)
    try:
        yield lab.start_api().await_outposts()
    finally:
        lab.stop()


def test_the_hosted_lab_through_its_runtime_and_api(host: LabHost) -> None:
    runtime = host.runtime
    assert runtime is not None
    assert not runtime.first_listing.is_set()
    containers = {c.name: c for c in runtime.containers()}
    assert runtime.first_listing.is_set()  # aktui.cmd.tui hands the first snapshot over then
    assert set(containers) == set(host.ports)
    assert containers["outpost-example-dev"].state == "running"
    assert containers["outpost-example-dev"].health == "healthy"
    assert all(ping(port) for name, port in host.ports.items() if name != "outpost-staging")
    outposts = api(host, "/outposts/instances/")
    assert {o["name"] for o in outposts["results"]} >= set(host.ports)  # type: ignore[index]

    # logs are read from their files here, as the in-process runtime does
    recent = runtime.recent_logs("outpost-example-dev", tail=-1)
    assert any("Loaded application" in line.text for line in recent)
    stop = threading.Event()
    stream = runtime.stream_logs("outpost-example-dev", since=None, tail=1, stop=stop)
    assert next(stream).text == recent[-1].text
    stop.set()

    before = {i["uid"] for i in health(host, "outpost-example-dev")}
    runtime.restart("outpost-example-dev")  # a new process: a new uid says HELLO
    wait_for(
        lambda: {i["uid"] for i in health(host, "outpost-example-dev")} - before,
        what="the new instance",
    )
    markers = [line.marker for line in runtime.recent_logs("outpost-example-dev", tail=-1)]
    assert "reattached" in markers
    runtime.reload("outpost-example-dev")
    runtime.send("outpost-example-dev", "refresh")
    with pytest.raises(ActionRefused, match="no lab outpost container named 'nope'"):
        runtime.restart("nope")
    with pytest.raises(ActionRefused, match="no lab outpost container named 'nope'"):
        runtime.recent_logs("nope", tail=1)


def health(host: LabHost, name: str) -> list[dict[str, str]]:
    found = api(host, f"/outposts/instances/?name__iexact={name}")
    pk = found["results"][0]["pk"]  # type: ignore[index]
    return api(host, f"/outposts/instances/{pk}/health/")  # type: ignore[return-value]


def test_stop_leaves_nothing_behind() -> None:
    host = LabHost(base_port=free_base_port(), chaos=True).start_api().await_outposts()
    assert host._proc is not None
    started = descendants(host._proc.pid) | {host._proc.pid}
    assert len(started) >= 2 + len(host.ports)  # the host, its zygote, every outpost
    workdir = host.workdir
    host.stop()
    assert not [pid for pid in started if alive(pid)]
    assert workdir is not None and not workdir.exists()
    host.stop()  # idempotent


def test_a_failed_start_is_its_error_and_stops_the_host() -> None:
    host = LabHost(authentik="1999.1")  # an unknown version: Lab() refuses it
    with pytest.raises(ValueError, match=r"1999\.1"):
        host.start_api()
    assert host._proc is not None and host._proc.poll() is not None


def test_stop_while_awaiting_the_outposts_ends_the_wait() -> None:
    host = LabHost(base_port=free_base_port()).start_api()
    assert host._proc is not None
    started = descendants(host._proc.pid) | {host._proc.pid}
    waiter = threading.Thread(target=host.await_outposts)
    waiter.start()
    host.stop()
    waiter.join(10)
    assert not waiter.is_alive()
    assert not [pid for pid in started if alive(pid)]


def test_a_dead_host_is_an_error_not_a_hang() -> None:
    host = LabHost(base_port=free_base_port()).start_api()
    try:
        assert host._proc is not None and host.runtime is not None
        started = descendants(host._proc.pid)
        os.kill(host._proc.pid, signal.SIGKILL)
        with pytest.raises(AktuiError, match="ended unexpectedly"):
            host.runtime.containers()
        with pytest.raises(AktuiError, match="ended unexpectedly"):
            host.await_outposts()  # which stops the lab, as Lab.await_outposts does
        with pytest.raises(ActionRefused, match="stopping"):
            host.runtime.containers()
        # its zygote saw its socket close: the outposts go with it
        wait_for(lambda: not [pid for pid in started if alive(pid)], what="the outposts gone")
    finally:
        host.stop()
    # and the lab's work directory, which the dead host could not remove, goes at stop()
    assert host.workdir is not None and not host.workdir.exists()


# The TUI's process, killed while its lab runs (no stop of any kind).
OWNER = """
import sys
from aktui.lab import LabHost
from aktui.lab.host import HostedRuntime
host = LabHost(base_port=int(sys.argv[1])).start_api().await_outposts()
print(host._proc.pid, flush=True)
sys.stdin.read()
"""


def test_the_host_stops_its_lab_when_aktui_is_killed() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(free_base_port())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line.strip().isdigit(), line
        host = int(line)
        started = descendants(host) | {host}
        assert len(started) >= 3
        owner.kill()
        owner.wait(5)
        wait_for(lambda: not [pid for pid in started if alive(pid)], what="the lab gone")
    finally:
        owner.kill()
        owner.wait(5)
        for pipe in (owner.stdin, owner.stdout):
            if pipe is not None:
                pipe.close()


def test_launch_starts_the_process_and_start_api_takes_its_answer() -> None:
    host = LabHost(base_port=free_base_port())
    try:
        host.launch()  # the process starts; its lab builds meanwhile, not waited for here
        assert host._proc is not None and host._start is not None
        assert (host.url, host.runtime) == ("", None)
        host.start_api()
        assert host.url.startswith("http://127.0.0.1:")
        assert isinstance(host.runtime, HostedRuntime)
    finally:
        host.stop()


def test_the_demo_host_reads_the_first_snapshot_the_client_would_fetch() -> None:
    """The host hands over the snapshot it read in-process (aktui.lab.snapshot) once its
    outposts were up; the client fetches the same from its API. (Health compared apart: a
    HELLO between the two reads changes its time; tests/integration/test_lab_snapshot.py
    compares whole snapshots.)"""
    import asyncio

    from aktui.authentik.client import AuthentikClient
    from aktui.authentik.model import Snapshot
    from aktui.secret import Secret

    host = LabHost(first_snapshot=True, base_port=free_base_port(), chaos=False)
    try:
        host.start_api()
        first = host.first_snapshot(30)
        assert isinstance(first, Snapshot)

        async def fetch() -> Snapshot:
            async with AuthentikClient(host.url, Secret(host.token)) as client:
                return await client.snapshot()

        here = asyncio.run(fetch())
        assert first.server_url == here.server_url and first.server_version == here.server_version
        assert [(o.pk, o.name, o.provider_pks) for o in first.outposts] == [
            (o.pk, o.name, o.provider_pks) for o in here.outposts
        ]
        assert first.providers == here.providers and first.applications == here.applications
        assert first.changes == here.changes
        # read once the outposts were up: every one that can connect is in it, connected
        connected = {o.name for o in first.outposts if o.instances}
        assert connected >= set(host.ports) - {"outpost-staging"}
    finally:
        host.stop()


def test_a_plain_host_has_no_first_snapshot(host: LabHost) -> None:
    assert host.first_snapshot(5) is None  # the TUI fetches it itself


def test_another_aktui_in_the_current_directory_is_not_the_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m`` puts the current directory first on sys.path: started from a checkout of
    another aktui, the host (and its zygote and outposts) ran that one's code."""
    (tmp_path / "aktui").mkdir()
    (tmp_path / "aktui" / "__init__.py").write_text("raise SystemExit('not this aktui')\n")
    monkeypatch.chdir(tmp_path)
    host = LabHost(first_snapshot=True, base_port=free_base_port(), chaos=False)
    try:
        host.start_api().await_outposts()
        assert host.runtime is not None
        assert {c.health for c in host.runtime.containers() if c.name != "outpost-staging"} == {
            "healthy"
        }
        assert host.first_snapshot(30) is not None
    finally:
        host.stop()


def test_await_after_a_failed_start_is_its_error_not_a_hang(tmp_path: Path) -> None:
    """serve() itself: a lab whose start failed after it was made has no outposts to wait
    for; await_outposts answers with the start's error at once."""
    import socket as socketlib

    from aktui.lab.host import _recv_frame, _send_frame, serve

    ours, theirs = socketlib.socketpair(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    server = threading.Thread(target=serve, args=(theirs.detach(),), daemon=True)
    server.start()
    lock = threading.Lock()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    try:
        ours.settimeout(30)
        # its work directory cannot be made (a file is in the way): Lab() is fine, start fails
        options = {"workdir": str(blocker / "lab"), "base_port": free_base_port()}
        _send_frame(ours, lock, (1, "start_api", (options,)))
        call_id, ok, started = _recv_frame(ours)
        assert (call_id, ok) == (1, False), started
        _send_frame(ours, lock, (2, "await_outposts", ()))
        call_id, ok, awaited = _recv_frame(ours)  # within the socket's 30 s, not never
        assert (call_id, ok, awaited) == (2, False, started)  # (kind, message, hint)
    finally:
        ours.close()
        server.join(15)
    assert not server.is_alive()
