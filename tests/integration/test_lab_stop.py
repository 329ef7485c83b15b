"""The lab's outpost processes are stopped by PID whatever they do: one that ignores SIGTERM
gets SIGKILL after the grace period, and one the supervisor is restarting while the lab stops
is not left running. Real processes on loopback, bounded waits; no root, no daemons."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aktui.errors import ActionRefused
from aktui.lab.runtime import LabRuntime, ProcessSpec, ping
from tests.fixtures.procs import alive, free_port, wait_for

# A stand-in 'outpost' answering /ping on argv[1], after ``before`` runs.
PINGER = """
import http.server, signal, sys, time
{before}
class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ping).serve_forever()
"""
# One that ignores SIGTERM (and its stdin closing): only KILL stops it.
STUBBORN = PINGER.format(before="signal.signal(signal.SIGTERM, signal.SIG_IGN)")


class StubbornRuntime(LabRuntime):
    def _command(self, spec: ProcessSpec) -> list[str]:
        return [sys.executable, "-c", STUBBORN, str(spec.port)]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[StubbornRuntime]:
    spec = ProcessSpec(
        name="outpost-stubborn",
        port=free_port(),
        api_url="http://127.0.0.1:9",
        token_file=tmp_path / "token",
    )
    runtime = StubbornRuntime(tmp_path, [spec])
    try:
        yield runtime
    finally:
        runtime.stop_all(grace=0.2)  # a failed test leaves nothing either


def pid_of(runtime: LabRuntime) -> int:
    popen = runtime._procs["outpost-stubborn"].popen
    assert popen is not None
    return popen.pid


def test_an_outpost_ignoring_sigterm_is_killed(runtime: StubbornRuntime) -> None:
    runtime.start_all()
    pid = pid_of(runtime)
    os.kill(pid, signal.SIGTERM)
    assert ping(runtime._procs["outpost-stubborn"].spec.port)  # it really ignores TERM
    runtime.stop_all(grace=0.5)
    assert not alive(pid)
    assert [c.state for c in runtime.containers()] == ["exited"]


def test_no_restart_survives_stop_all(runtime: StubbornRuntime) -> None:
    """The supervisor waits a second before it restarts a crashed outpost; stop_all() in that
    second must not leave the new process behind."""
    runtime.start_all()
    proc = runtime._procs["outpost-stubborn"]
    os.kill(pid_of(runtime), signal.SIGKILL)  # a crash
    wait_for(lambda: proc.state == "restarting", what="the supervisor noticing the crash")
    runtime.stop_all(grace=0.5)
    runtime._supervisor.join(5)
    assert not runtime._supervisor.is_alive()
    assert proc.popen is not None and not alive(proc.popen.pid)
    with pytest.raises(ActionRefused, match="stopping"):
        runtime.restart("outpost-stubborn")


# One that takes a while to listen (as a real one loading its config does).
SLOW = PINGER.format(before="time.sleep(float(sys.argv[2]))")


class SlowRuntime(LabRuntime):
    delay = 0.6

    def _command(self, spec: ProcessSpec) -> list[str]:
        return [sys.executable, "-c", SLOW, str(spec.port), str(self.delay)]


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowRuntime]:
    spec = ProcessSpec("outpost-slow", free_port(), "http://127.0.0.1:9", tmp_path / "token")
    runtime = SlowRuntime(tmp_path, [spec])
    try:
        yield runtime
    finally:
        runtime.stop_all(grace=0.2)


def test_spawn_returns_at_once_and_says_starting_until_it_answers(slow: SlowRuntime) -> None:
    slow.spawn_all()
    [info] = slow.containers()
    assert (info.state, info.health) == ("running", "starting")  # never "healthy" early
    slow.wait_ready(timeout=10)
    [info] = slow.containers()
    assert (info.state, info.health) == ("running", "healthy")


def test_stop_all_ends_a_wait_for_the_outposts(slow: SlowRuntime) -> None:
    import threading
    import time

    slow.delay = 30  # never up within the test
    slow.spawn_all()
    waiter = threading.Thread(target=slow.wait_ready, kwargs={"timeout": 20})
    waiter.start()
    time.sleep(0.2)
    start = time.monotonic()
    slow.stop_all(grace=0.2)
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - start < 5
    assert not alive(pid_of_slow(slow))


def pid_of_slow(runtime: LabRuntime) -> int:
    popen = runtime._procs["outpost-slow"].popen
    assert popen is not None
    return popen.pid


def test_ping_says_not_yet_to_an_answer_that_is_not_http() -> None:
    """A client connected to itself (Linux, while nothing listens on an ephemeral port) reads
    its own request back: ping said so with http.client's BadStatusLine, which failed a
    restart in CI ("GET /outpost.goauthentik.io/ping HTTP/1.1"). The same bytes from a
    listener that echoes them must be "not yet", not an error."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def echo() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(conn.recv(4096))

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    try:
        assert ping(listener.getsockname()[1], timeout=5) is False
    finally:
        thread.join(10)
        listener.close()
