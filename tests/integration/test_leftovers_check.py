"""scripts/leftovers.py, the end of scripts/test.sh: a process the run started and left is
named, stopped by PID (SIGTERM, then SIGKILL) and fails the run; a clean run passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fixtures.procs import alive, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "leftovers.py"


def run(*args: str, marker: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, "AKTUI_TEST_RUN": marker},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_daemon_left_behind_fails_the_run_and_is_stopped(tmp_path: Path) -> None:
    marker = f"leftover-test-{os.getpid()}"
    snapshot = tmp_path / "pids"
    assert run("snapshot", str(snapshot), marker=marker).returncode == 0
    # a daemon of the run: its own session, ignores SIGTERM, outlives its parent
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(600)"],
        env={**os.environ, "AKTUI_TEST_RUN": marker},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"up\n"
        done = run("check", str(snapshot), marker=marker)
        assert done.returncode == 1
        assert f"pid {stubborn.pid}:" in done.stderr and "left 1 process" in done.stderr
        stubborn.wait(10)
        assert stubborn.returncode == -signal.SIGKILL  # TERM was ignored
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait(10)


def test_a_clean_run_passes_and_others_processes_do_not_count(tmp_path: Path) -> None:
    marker = f"clean-test-{os.getpid()}"
    snapshot = tmp_path / "pids"
    assert run("snapshot", str(snapshot), marker=marker).returncode == 0
    # started after the snapshot, but by someone else (no marker, none of the run's dirs)
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={k: v for k, v in os.environ.items() if k != "AKTUI_TEST_RUN"},
        cwd="/",
    )
    try:
        wait_for(lambda: alive(other.pid), what="the other process")
        done = run("check", str(snapshot), str(tmp_path / "run-dir"), marker=marker)
        assert done.returncode == 0, done.stderr
        assert "no process started by the run is left" in done.stdout
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(10)
