"""A fork server for the lab's fake outposts: one process imports the outpost's code once, then
forks a fresh outpost process for each start the lab's runtime asks for.

A fake outpost started from scratch is an interpreter plus ~60 ms of imports (http.server,
urllib.request, ssl, email, dataclasses...): five of them at once at demo start took ~0.35 s
of CPU from the two cores the TUI was loading on. A fork of this already loaded process costs
a millisecond or two, and is still a real, separate outpost process (its own pid, its own
uid, killed and reaped like any other).

    python -S -P -m aktui.lab.zygote --fd N   (started by ``Zygote``; N: its control socket)

The control socket is a SOCK_SEQPACKET pair, one JSON message per packet:

- lab -> zygote: ``{"id": n, "argv": [...]}`` with two fds attached (the outpost's stdin
  and its stdout+stderr pipe ends); the reply is ``{"id": n, "pid": p}`` (or ``"error"``).
- zygote -> lab: ``{"exit": pid, "code": c}`` once it has reaped an outpost (``c`` as
  ``Popen.returncode``: negative for a signal).

Each outpost is its own session (``start_new_session``, as before: Ctrl-C reaches aktui only)
and still exits when its stdin closes. When the lab's end of the socket closes (the lab
stopped, or aktui died), the zygote SIGTERMs the outposts it still has, SIGKILLs the ones
still there after a grace period, and exits: nothing it started outlives it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from aktui.ownprocess import own_env, own_module

# How long the zygote's outposts get after SIGTERM when the lab goes away without stopping them.
ORPHAN_GRACE = 2.0
_MAX_MESSAGE = 1 << 16


class ZygoteProcess:
    """One outpost forked by the zygote, with the part of ``subprocess.Popen``'s interface the
    lab runtime uses (``pid``, ``stdin``, ``stdout``, ``poll``, ``wait``, ``send_signal``,
    ``kill``). Its exit code comes from the zygote, which is its parent and reaps it."""

    def __init__(self, stdin: Any, stdout: Any) -> None:
        self.stdin = stdin  # our end of its stdin: closing it makes the outpost exit
        self.stdout = stdout  # our end of its stdout+stderr
        self.returncode: int | None = None
        self._pid: int | None = None
        self._forked = threading.Event()  # the zygote said its pid (or failed to fork)
        self._exited = threading.Event()

    @property
    def pid(self) -> int:
        """Its pid (waits, bounded, for the zygote's reply to the start); 0 if never forked."""
        self._forked.wait(10)
        return self._pid or 0

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired("aktui.lab.fake_outpost", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        # As Popen does: nothing once its exit is known. Between the zygote reaping it and
        # us hearing so (well under a millisecond), the pid could in theory be reused.
        pid = self.pid
        if pid and self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _started(self, pid: int) -> None:
        self._pid = pid
        self._forked.set()

    def _ended(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._forked.set()
        self._exited.set()


def _start(fd: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # our own module, fixed arguments
        own_module("aktui.lab.zygote", "--fd", str(fd), site=False),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(fd,),
        env=own_env(),
        start_new_session=True,
    )


class _Forked:
    """The zygote as a fork of this (single-threaded) process, with the part of Popen that
    ``Zygote`` uses. Only ``fd`` (its control socket) and the standard streams stay open in it;
    it never returns into this process's code."""

    def __init__(self, fd: int) -> None:
        pid = os.fork()
        if pid == 0:  # the zygote
            code = 1
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                for std in (0, 1, 2):
                    os.dup2(devnull, std)
                os.closerange(3, fd)
                os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
                code = serve(fd)
            finally:
                os._exit(code)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("aktui.lab.zygote", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class Zygote:
    """The lab's side: starts the zygote process, asks it for outposts, stops it (``close``).
    Safe to call from several threads."""

    def __init__(self) -> None:
        """Forked from this process when it has no other thread (the lab's host process:
        no new interpreter, and what it imported is shared), else a new interpreter."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            if threading.active_count() == 1:
                self._proc: subprocess.Popen[bytes] | _Forked = _Forked(theirs.fileno())
            else:
                self._proc = _start(theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._lock = threading.Lock()
        self._next_id = 0
        self._waiting: dict[int, ZygoteProcess] = {}  # request id -> not forked yet
        self._children: dict[int, ZygoteProcess] = {}  # pid -> forked, exit not heard yet
        self._alive = True
        self._reader = threading.Thread(target=self._read, daemon=True, name="aktui-lab-zygote")
        self._reader.start()

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    def spawn(self, argv: list[str]) -> ZygoteProcess | None:
        """A new outpost with ``argv`` (the fake outpost's arguments), its stdin and output on
        pipes; None when the zygote is gone (the caller starts one the usual way)."""
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        proc = ZygoteProcess(os.fdopen(in_write, "wb"), os.fdopen(out_read, "rb"))
        try:
            with self._lock:
                if not self._alive:
                    raise OSError("the zygote is gone")
                self._next_id += 1
                message = json.dumps({"id": self._next_id, "argv": argv}).encode()
                self._waiting[self._next_id] = proc
                try:
                    socket.send_fds(self._sock, [message], [in_read, out_write])
                except OSError:
                    del self._waiting[self._next_id]
                    raise
        except OSError:
            proc.stdin.close()
            proc.stdout.close()
            return None
        finally:
            os.close(in_read)  # the outpost's ends: the zygote has its own copies now
            os.close(out_write)
        return proc

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(_MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            try:
                message = json.loads(data)
            except ValueError:
                continue
            with self._lock:
                if "pid" in message or "error" in message:
                    proc = self._waiting.pop(int(message.get("id", 0)), None)
                    if proc is None:
                        continue
                    if message.get("pid"):
                        self._children[int(message["pid"])] = proc
                        proc._started(int(message["pid"]))
                    else:
                        proc._ended(1)  # could not fork: as a process that failed at once
                elif "exit" in message:
                    proc = self._children.pop(int(message["exit"]), None)
                    if proc is not None:
                        proc._ended(int(message.get("code", 1)))
        self._gone()

    def _gone(self) -> None:
        """The zygote exited (or was stopped). Its outposts, orphans now, are killed by pid
        (they would exit anyway once their stdin closes); every one reads as exited, so the
        runtime's supervisor starts new ones the usual way."""
        with self._lock:
            self._alive = False
            waiting, self._waiting = list(self._waiting.values()), {}
            children, self._children = list(self._children.items()), {}
        for pid, proc in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            proc._ended(-signal.SIGKILL)
        for proc in waiting:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc._ended(-signal.SIGKILL)

    def close(self, timeout: float = ORPHAN_GRACE + 3) -> None:
        """Idempotent: the zygote, and any outpost it still has, are gone when this returns.
        (The lab stops its outposts first; this is for whatever is left.)"""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # EOF for the zygote: it stops its own
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(5)
        self._sock.close()
        self._gone()


# --- the zygote process ---------------------------------------------------------------------


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the lab is gone: the loop sees EOF next
        sock.send(json.dumps(message).encode())


def _child(argv: list[str], stdin_fd: int, out_fd: int, keep_closed: list[int]) -> None:
    """In the forked outpost: its own session, the pipes as fds 0-2, default signal handling,
    then the fake outpost's main(). Never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        for fd in (stdin_fd, out_fd, *keep_closed):
            with contextlib.suppress(OSError):
                os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        socket.setdefaulttimeout(30)  # as fake_outpost's __main__
        from aktui.lab import fake_outpost

        code = fake_outpost.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _stop_children(children: set[int]) -> None:
    for sig, grace in ((signal.SIGTERM, ORPHAN_GRACE), (signal.SIGKILL, 5.0)):
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid:
                children.discard(pid)
            else:
                time.sleep(0.02)


def serve(fd: int) -> int:
    """The zygote's loop: fork on request, report exits, stop everything at EOF."""
    # The point of the zygote: the outpost's imports, once, before the first fork (without
    # the collector's passes over them; on again for the outposts, which run for long).
    gc.disable()
    import aktui.lab.fake_outpost  # noqa: F401

    gc.enable()

    sock = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGTERM, lambda *_: None)  # stopped by EOF, after its outposts
    children: set[int] = set()
    try:
        while True:
            ready, _, _ = select.select([fd, wake_read], [], [])
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 512)
                _reap(sock, children)
            if fd not in ready:
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                for fd_ in fds:
                    os.close(fd_)
                return 0
            request_id = 0
            try:
                request = json.loads(data)
                request_id = int(request["id"])
                argv = [str(a) for a in request["argv"]]
                if len(fds) != 2:
                    raise ValueError("a start needs its stdin and stdout")
                pid = os.fork()
                if pid == 0:
                    _child(argv, fds[0], fds[1], [sock.fileno(), wake_read, wake_write])
                children.add(pid)
                _send(sock, {"id": request_id, "pid": pid})
            except (ValueError, KeyError, TypeError, OSError) as exc:
                _send(sock, {"id": request_id, "error": str(exc)})
            finally:
                for fd_ in fds:
                    os.close(fd_)
    finally:
        _stop_children(children)
        for child in list(children):
            _send(sock, {"exit": child, "code": -signal.SIGKILL})
        sock.close()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2 or args[0] != "--fd" or not args[1].isdigit():
        print("usage: python -m aktui.lab.zygote --fd N", file=sys.stderr)
        return 2
    return serve(int(args[1]))


if __name__ == "__main__":
    sys.exit(main())
