"""Find the processes a test run started and left running; stop them and say so loudly.

    python3 scripts/leftovers.py snapshot FILE          # before the run: PIDs alive now
    python3 scripts/leftovers.py check FILE DIR...      # after it: exit 1 if any is left

A process counts as the run's when it was not alive at the snapshot and either carries the
run's marker in its environment (``AKTUI_TEST_RUN``, inherited by everything the run starts,
daemons included) or names one of DIR in its command line or working directory: nginx and
redis overwrite their environment with their process title, but their config paths (the run's
TMPDIR, the authentik install dirs) stay visible. Leftovers are stopped by PID: SIGTERM, a short
grace, then SIGKILL. Standard library only: this runs with the system python3.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path

MARKER = "AKTUI_TEST_RUN"
GRACE = 5.0


def _pids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def _read(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _ancestors(pid: int) -> set[int]:
    """This checker and the shells that ran it (new since the snapshot, but not leftovers)."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        stat = _stat(pid)
        if stat is None:
            break
        pid = stat[1]
    return seen


def _cmdline(pid: int) -> str:
    return _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()


def leftovers(before: set[int], marker: str, dirs: list[str]) -> list[int]:
    mine = _ancestors(os.getpid())
    found = []
    tag = f"{MARKER}={marker}".encode()
    for pid in sorted(_pids() - before - mine):
        stat = _stat(pid)
        if stat is None or stat[0] == "Z":  # gone, or a zombie: nothing runs any more
            continue
        environ = _read(pid, "environ").split(b"\0")
        where = _cmdline(pid) + " " + _cwd(pid)
        if tag in environ or any(d and d in where for d in dirs):
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def stop(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in filter(_alive, pids):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("snapshot", "check"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    command, path = argv[0], Path(argv[1])
    if command == "snapshot":
        path.write_text("\n".join(map(str, sorted(_pids()))) + "\n")
        return 0
    marker = os.environ.get(MARKER, "")
    if not marker:
        print(f"leftovers.py check: {MARKER} is not set", file=sys.stderr)
        return 2
    before = {int(line) for line in path.read_text().split()}
    dirs = [str(Path(d).resolve()) for d in argv[2:] if d]
    found = leftovers(before, marker, dirs)
    if not found:
        print("==> no process started by the run is left")
        return 0
    print(f"error: the test run left {len(found)} process(es) running:", file=sys.stderr)
    for pid in found:
        print(f"  pid {pid}: {_cmdline(pid)[:200]}", file=sys.stderr)
    stop(found)
    still = [pid for pid in found if _alive(pid)]
    state = f"{len(still)} still alive" if still else "all stopped now"
    print(f"       (stopped by PID: SIGTERM, then SIGKILL; {state})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
