"""The demo's lab in a process of its own, driven from aktui's TUI process.

In the TUI's process the lab competed with the UI for one interpreter: its imports and build
ran before Textual's, and while Textual loaded, every answer the simulator gave the starting
outposts (and the TUI's own first fetch) waited for the UI's thread to let go of the GIL, so
the outposts took ~0.2 s to come up on an idle machine. Here the whole lab (``Lab``: simulator,
zygote and outposts, supervisor, chaos) runs in a child process on the other core, and the TUI
talks to it as to any authentik (HTTP) and any runtime:

- ``LabHost`` has the part of ``Lab``'s interface the demo backend uses (``start_api``,
  ``await_outposts``, ``stop``, ``url``, ``token``, ``runtime``, ``notes``), and
  ``launch()``, which starts the process early without waiting for it;
- ``HostedRuntime`` is the lab's ``LabRuntime`` seen from the TUI: containers, restart, reload
  and lab commands are calls to the host; the logs are read from their files directly, as
  ``LabRuntime`` does.

    python -S -P -m aktui.lab.host --fd N [--first-snapshot]
                                    (started by ``LabHost``; N: its control socket)

One call at a time per request id, over a socket pair: length-prefixed pickles (our own child,
nothing else can write to it), each call answered in its own thread in the host so a restart
or the wait for the outposts never holds up a containers() call. The host stops its lab when
the socket closes: ``stop()``, or aktui dying; a host that dies stops its outposts through
its zygote (its socket closes too).
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

from aktui.errors import ActionRefused, AktuiError
from aktui.lab.logfiles import recent_logs, stream_logs
from aktui.ownprocess import own_env, own_module
from aktui.runtime import ContainerInfo, LogLine

_HEADER = struct.Struct("!I")
# How long stop() waits for the host: its lab gives the outposts 3 s (LabRuntime's STOP_GRACE)
# after SIGTERM, then kills and reaps them.
_STOP_WAIT = 15.0
# How long the first snapshot waits for the outposts to be up (~0.1 s on an idle machine)
# before it is read without them: the TUI's first frame waits for it.
FIRST_SNAPSHOT_WAIT = 1.0
# Errors that cross as themselves; any other is an AktuiError with its text.
_ERRORS: dict[str, type[Exception]] = {
    "ActionRefused": ActionRefused,
    "AktuiError": AktuiError,
    "ValueError": ValueError,
    "RuntimeError": RuntimeError,
}


def _send_frame(sock: socket.socket, lock: threading.Lock, message: Any) -> None:
    data = pickle.dumps(message)
    with lock:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv_frame(sock: socket.socket) -> Any:
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    return pickle.loads(_read_exact(sock, size))  # our own child's (or parent's) frames


class LabHost:
    """A ``Lab`` (same options) run by a child process; ``stop()`` always. With
    ``first_snapshot``, the host reads its API's first snapshot once its outposts are up, for
    ``first_snapshot()`` (the TUI's demo)."""

    def __init__(self, *, first_snapshot: bool = False, **lab_options: Any) -> None:
        self.reads_first_snapshot = first_snapshot
        self.options = lab_options
        self.notes: list[str] = []
        self.url = ""
        self.token = ""
        self.token_file: Path | None = None
        self.workdir: Path | None = None
        self.ports: dict[str, int] = {}
        self.runtime: HostedRuntime | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._calls: dict[int, Future[Any]] = {}
        self._next_id = 0
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()
        self._start: Future[Any] | None = None  # the start_api call, from launch()
        self._first: Future[Any] | None = None  # the first_snapshot call, from launch()

    # --- lifecycle ----------------------------------------------------------------------

    def launch(self) -> LabHost:
        """Start the host process and ask for the lab, without waiting (``start_api()``
        waits): its interpreter, imports and lab build run meanwhile, on another core."""
        with self._lock:
            if self._proc is not None or self._stopping.is_set():
                return self
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            # No site: the host needs the standard library and aktui only.
            argv = own_module("aktui.lab.host", "--fd", str(theirs.fileno()), site=False)
            if self.reads_first_snapshot:
                argv.append("--first-snapshot")
            try:
                self._proc = subprocess.Popen(  # our own module, fixed arguments
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # never onto the TUI's terminal
                    pass_fds=(theirs.fileno(),),
                    env=own_env(),
                    start_new_session=True,  # Ctrl-C in the terminal reaches aktui only
                )
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            self._sock = ours
            self._reader = threading.Thread(target=self._read, daemon=True, name="aktui-lab-host")
            self._reader.start()
        self._start = self._call_async("start_api", self.options)
        if self.reads_first_snapshot:
            # Asked now, so it is here (read by this process's reader thread while the UI
            # loads) when the app wants it, instead of a round trip then.
            self._first = self._call_async("first_snapshot")
        return self

    def start_api(self) -> LabHost:
        """The lab's API answers and its outposts are spawned (``Lab.start_api``). Stops the
        host if that fails, and raises."""
        try:
            self.launch()
            if self._start is None:  # stop() came first
                raise _Stopped()
            info = self._start.result()
        except BaseException:
            self.stop()
            raise
        self.url, self.token = info["url"], info["token"]
        self.workdir, self.token_file = Path(info["workdir"]), Path(info["token_file"])
        self.ports = dict(info["ports"])
        self.notes = list(info["notes"])
        self.runtime = HostedRuntime(self, self.workdir / "logs", list(info["names"]))
        return self

    def await_outposts(self) -> LabHost:
        """Until the lab's outposts answer (``Lab.await_outposts``); returns at once when
        ``stop()`` comes meanwhile (from another thread), stops the lab if it fails."""
        try:
            self.notes = list(self._call("await_outposts"))
        except _Stopped:
            return self
        except BaseException:
            self.stop()
            raise
        return self

    def first_snapshot(self, timeout: float) -> object:
        """The snapshot the host read from its lab's API once its outposts were up
        (``aktui.lab.snapshot``: what aktui's client would fetch), or None: fetch it yourself
        (blocking, at most ``timeout`` s)."""
        try:
            if self._first is None:
                data = self._call("first_snapshot", timeout=timeout)
            else:
                data = self._first.result(timeout)
            # Pickled apart (see serve): unpickled here, by the app's thread that wants it
            return pickle.loads(data) if isinstance(data, bytes) else None
        except Exception:
            return None

    def stop(self) -> None:
        """Idempotent: the host has stopped its lab (every process it started) and exited
        when this returns; a call waiting meanwhile ends."""
        self._stopping.set()
        with self._lock:
            sock, proc = self._sock, self._proc
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # EOF for the host: it stops its lab
        if proc is not None:
            try:
                proc.wait(_STOP_WAIT)  # its outposts get STOP_GRACE, then KILL
            except subprocess.TimeoutExpired:
                proc.kill()  # its zygote then stops the outposts (its socket closes)
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        if sock is not None:
            sock.close()
        if self.workdir is not None and not self.options.get("workdir"):
            # The lab removes the work directory it made when it stops; a host that died
            # (killed, crashed) could not: its process is gone now, so nothing writes there.
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._fail_calls()

    # --- calls --------------------------------------------------------------------------

    def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """One call to the host's lab; its error is raised here."""
        return self._call(method, *args, timeout=timeout)

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        try:
            return self._call_async(method, *args).result(timeout)
        except TimeoutError:
            raise AktuiError(f"the demo lab did not answer {method} in time") from None

    def _call_async(self, method: str, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            sock = self._sock
            if sock is None or self._stopping.is_set():
                future.set_exception(_Stopped())
                return future
            self._next_id += 1
            call_id = self._next_id
            self._calls[call_id] = future
        try:
            _send_frame(sock, self._send_lock, (call_id, method, args))
        except OSError:
            with self._lock:
                mine = self._calls.pop(call_id, None) is not None
            if mine:  # else the reader, seeing the socket close, has failed it already
                future.set_exception(self._gone_error())
        return future

    def _read(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                call_id, ok, value = _recv_frame(sock)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                break
            with self._lock:
                future = self._calls.pop(call_id, None)
            if future is None:
                continue
            if ok:
                future.set_result(value)
            else:
                kind, message, hint = value
                error = _ERRORS.get(kind, AktuiError)
                future.set_exception(
                    error(message, hint) if issubclass(error, AktuiError) else error(message)
                )
        self._fail_calls()

    def _gone_error(self) -> BaseException:
        if self._stopping.is_set():
            return _Stopped()
        return AktuiError("the demo lab's process ended unexpectedly")

    def _fail_calls(self) -> None:
        with self._lock:
            calls, self._calls = list(self._calls.values()), {}
        for future in calls:
            if not future.done():
                future.set_exception(self._gone_error())

    def __enter__(self) -> LabHost:
        self.start_api()
        return self.await_outposts()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Stopped(ActionRefused):
    """A call the lab's stop() ended (or one made after it)."""

    def __init__(self) -> None:
        super().__init__("the demo lab is stopping")


class HostedRuntime:
    """The host's ``LabRuntime``, for aktui (``aktui.runtime.OutpostRuntime``)."""

    def __init__(self, host: LabHost, logs: Path, names: list[str]) -> None:
        self._host = host
        self._logs = logs
        self._names = names
        # Set once a containers() call has returned (aktui.cmd.tui: the demo's first snapshot
        # is handed to the app with its first listing, not a frame ahead of it).
        self.first_listing = threading.Event()

    def _log(self, name: str) -> Path:
        if name not in self._names:
            raise ActionRefused(
                f"no lab outpost container named {name!r}",
                hint="known: " + ", ".join(sorted(self._names)),
            )
        return self._logs / f"{name}.log"

    def containers(self) -> list[ContainerInfo]:
        try:
            return list(self._host.call("containers"))
        finally:
            self.first_listing.set()

    def restart(self, name: str, timeout: float = 30.0) -> None:
        self._host.call("restart", name, timeout)

    def reload(self, name: str) -> None:
        self._host.call("reload", name)

    def send(self, name: str, command: str) -> None:
        self._host.call("send", name, command)

    def log_path(self, name: str) -> Path:
        return self._log(name)

    def recent_logs(self, name: str, *, tail: int) -> list[LogLine]:
        return recent_logs(self._log(name), name, tail=tail)

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        return stream_logs(self._log(name), name, since=since, tail=tail, stop=stop)


# --- the host process -----------------------------------------------------------------------


def _answer(
    sock: socket.socket, lock: threading.Lock, call_id: int, work: Callable[[], Any]
) -> None:
    try:
        reply: tuple[int, bool, Any] = (call_id, True, work())
    except BaseException as exc:
        hint = getattr(exc, "hint", "")
        reply = (call_id, False, (type(exc).__name__, str(getattr(exc, "message", exc)), hint))
    with contextlib.suppress(OSError):  # aktui is gone: the main loop sees EOF
        _send_frame(sock, lock, reply)


def serve(fd: int, first_snapshot: bool = False) -> int:
    """The host's loop: one lab, its calls answered in threads, stopped at EOF. With
    ``first_snapshot``, the first snapshot is read (``aktui.lab.snapshot``, a few ms) in a
    thread once the outposts are up, for ``first_snapshot`` to hand over: the TUI's process
    then neither imports the HTTP client nor parses before its first frame, and that frame
    shows the outposts connected (read before their HELLOs, it showed none for a moment).

    The outposts' wait (``Lab.await_outposts``: /ping, HELLO, then chaos) begins in a thread
    as soon as they are spawned, not when the TUI asks (``await_outposts``, once its UI is
    up): by then they answer, so the TUI's first container listing already finds them healthy
    (their health is what that wait, or the supervisor's ping 0.25 s later, records)."""
    # As run_app does for the TUI: the start (imports, the lab's build, the first snapshot)
    # allocates a lot and frees little, so the collector's passes over it are wasted time
    # (~10% of it); resumed once the start is done.
    gc.disable()
    from aktui.lab.lab import Lab

    sock = socket.socket(fileno=fd)
    lock = threading.Lock()
    lab: Lab | None = None
    up: Future[list[str]] = Future()  # the outposts' wait, begun as soon as they are spawned
    first: Future[object] = Future()
    first.add_done_callback(lambda _: gc.enable())
    if not first_snapshot:
        first.set_result(None)

    def start_api(options: dict[str, Any]) -> dict[str, Any]:
        nonlocal lab
        if lab is not None:
            raise RuntimeError("the lab was started already")
        try:
            lab = Lab(**options)
            lab.start_api()
        except BaseException as exc:
            if not first.done():
                first.set_result(None)  # no snapshot to fetch; the collector back on
            if not up.done():
                up.set_exception(exc)  # no outposts to wait for: await_outposts says why
            raise
        assert lab.runtime is not None and lab.workdir is not None
        started = lab

        def wait_up() -> None:
            try:
                up.set_result(list(started.await_outposts().notes))
            except BaseException as exc:
                up.set_exception(exc)

        threading.Thread(target=wait_up, daemon=True, name="aktui-lab-outposts").start()
        if first_snapshot:
            assert lab.simulator is not None
            sim, token = lab.simulator, lab.token

            def read() -> None:
                try:
                    from aktui.lab.snapshot import read_snapshot

                    # Once the outposts are up (or failed, or are slow: then without them):
                    # their HELLOs and the demo's opening change are in it, as they are when
                    # the TUI draws it.
                    with contextlib.suppress(TimeoutError):
                        up.exception(FIRST_SNAPSHOT_WAIT)
                    first.set_result(read_snapshot(sim, token))
                except BaseException:
                    first.set_result(None)  # the TUI fetches it through its client

            threading.Thread(target=read, daemon=True, name="aktui-lab-first-snapshot").start()
        return {
            "url": lab.url,
            "token": lab.token,
            "workdir": str(lab.workdir),
            "token_file": str(lab.token_file),
            "ports": dict(lab.ports),
            "notes": list(lab.notes),
            "names": [proc.spec.name for proc in lab.runtime._procs.values()],
        }

    def runtime() -> Any:
        if lab is None or lab.runtime is None:
            raise RuntimeError("Lab.start_api() first")
        return lab.runtime

    def await_outposts() -> list[str]:
        if lab is None:
            raise RuntimeError("Lab.start_api() first")
        return up.result()

    def first_snapshot_bytes() -> bytes | None:
        # Pickled on its own: the TUI's reader thread receives it while the UI still imports,
        # and unpickling a Snapshot there would import aktui's model beside those imports.
        snapshot = first.result()
        return None if snapshot is None else pickle.dumps(snapshot)

    calls: dict[str, Callable[..., Any]] = {
        "start_api": start_api,
        "await_outposts": await_outposts,
        "first_snapshot": first_snapshot_bytes,
        "containers": lambda: runtime().containers(),
        "restart": lambda name, timeout: runtime().restart(name, timeout),
        "reload": lambda name: runtime().reload(name),
        "send": lambda name, command: runtime().send(name, command),
    }
    try:
        while True:
            try:
                call_id, method, args = _recv_frame(sock)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                return 0
            call = calls.get(method, partial(_unknown, method))
            work = partial(call, *args)
            if method == "start_api":
                # Here, not in a thread: a stop (EOF) read after it finds the lab whole.
                _answer(sock, lock, call_id, work)
                continue
            threading.Thread(target=_answer, args=(sock, lock, call_id, work), daemon=True).start()
    finally:
        if lab is not None:
            lab.stop()
        sock.close()


def _unknown(method: str, *args: Any) -> None:
    raise RuntimeError(f"no lab call named {method!r}")


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    first = args[2:] == ["--first-snapshot"]
    if len(args) not in (2, 3) or (len(args) == 3 and not first):
        args = []
    if len(args) < 2 or args[0] != "--fd" or not args[1].isdigit():
        print("usage: python -S -P -m aktui.lab.host --fd N [--first-snapshot]", file=sys.stderr)
        return 2
    return serve(int(args[1]), first_snapshot=first)


if __name__ == "__main__":
    sys.exit(main())
