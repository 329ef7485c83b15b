"""Run a full-screen program in a pseudo-terminal, the way an operator's terminal would.

A headless Textual run skips the work a real terminal costs (turning the screen into escape
sequences and writing them), so cold start and key-to-frame latency are measured on real
programs in a pty instead. The pty answers the synchronized-output query (``CSI ? 2026 $ p``)
as kitty, WezTerm or foot do, so Textual brackets every frame in ``CSI ? 2026 h`` …
``CSI ? 2026 l``: a frame is complete when its closing bracket has been read.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

FRAME_END = b"\x1b[?2026l"
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"  # "supported, currently reset"
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


def plain(data: bytes) -> str:
    """Terminal output without its escape sequences (text only, positions lost)."""
    return _ESCAPES.sub(b"", data).decode("utf-8", "replace")


class PtyProgram:
    """``argv`` on a fresh pty of ``size`` (columns, rows), in its own process group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        size: tuple[int, int] = (100, 30),
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        cols, rows = size
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ if env is None else env)
        env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
            pass_fds=tuple(pass_fds),
        )
        os.close(slave)
        self.received = 0

    def read(self, timeout: float) -> bytes | None:
        """Output available within ``timeout`` (b"" if none); None once the program closed
        the terminal. Answers the synchronized-output query on the way."""
        if not select.select([self.master], [], [], timeout)[0]:
            return b""
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # EIO: no process holds the terminal any more
            return None
        if SYNC_QUERY in chunk:
            os.write(self.master, SYNC_REPLY)
        self.received += len(chunk)
        return chunk

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self, quit_keys: bytes = b"", wait: float = 15.0) -> int | None:
        """Type ``quit_keys`` (so the program cleans up as for a user: the demo stops its
        lab), keep draining while it exits, and signal its process group only if it lingers."""
        try:
            if quit_keys:
                self.write(quit_keys)
            deadline = time.monotonic() + wait
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self.read(0.1) is None:
                    break
        except OSError:
            pass
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        os.close(self.master)
        return self.proc.poll()


@dataclass(frozen=True, slots=True)
class Milestone:
    name: str
    texts: tuple[str, ...]  # all must have been painted (escape sequences ignored)
    any_of: tuple[str, ...] = ()  # and, when given, at least one of these

    def reached(self, screen: str) -> bool:
        return all(t in screen for t in self.texts) and (
            not self.any_of or any(t in screen for t in self.any_of)
        )


@dataclass
class PtyRun:
    times: dict[str, float] = field(default_factory=dict)  # milestone -> s since spawn
    # milestone -> CPU seconds the program's process had used by then (Linux; not its
    # children): steadier than wall time on a shared machine.
    cpu: dict[str, float] = field(default_factory=dict)
    output_bytes: int = 0
    error: str = ""


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None where /proc does not say)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def time_milestones(
    argv: Sequence[str],
    milestones: Sequence[Milestone],
    *,
    size: tuple[int, int] = (100, 30),
    timeout: float = 30.0,
    quit_keys: bytes = b"q",
    env: dict[str, str] | None = None,
) -> PtyRun:
    """Seconds from spawning ``argv`` to the end of the first frame after which each
    milestone's texts have all been painted."""
    prog = PtyProgram(argv, size=size, env=env)
    result = PtyRun()
    buffer = b""
    judged = 0  # output up to here was already checked
    pending = list(milestones)
    try:
        while pending:
            left = timeout - (time.perf_counter() - prog.started)
            if left <= 0:
                result.error = f"timeout; not seen: {', '.join(m.name for m in pending)}"
                break
            chunk = prog.read(min(left, 0.5))
            if chunk is None:
                result.error = "program exited early: " + plain(buffer)[-300:]
                break
            now = time.perf_counter() - prog.started
            buffer += chunk
            end = buffer.rfind(FRAME_END)
            if end < judged:
                continue
            judged = end + 1
            screen = plain(buffer[: end + len(FRAME_END)])
            for m in list(pending):
                if m.reached(screen):
                    result.times[m.name] = now
                    cpu = process_cpu(prog.proc.pid)
                    if cpu is not None:
                        result.cpu[m.name] = cpu
                    pending.remove(m)
    finally:
        result.output_bytes = len(buffer)
        prog.close(quit_keys)
    return result
