"""``LabRuntime``: the fake outposts as 'containers' for aktui (``aktui.runtime.OutpostRuntime``).

Each outpost is a real process (``python -m aktui.lab.fake_outpost``). Like dockerd, the runtime
reads the process's stdout+stderr, stamps each line on arrival and appends it to a per-container
log that survives restarts; ``stream_logs`` tails that log and puts a marker where the process
died or was replaced. Like ``restart: unless-stopped``, a process that dies on its own is
started again after a second (``restart_count`` counts those, as docker's RestartCount does).
"""

from __future__ import annotations

import contextlib
import http.client
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aktui.errors import ActionRefused, AktuiError
from aktui.lab.logfiles import recent_logs, stamp, stream_logs
from aktui.lab.zygote import Zygote, ZygoteProcess
from aktui.ownprocess import own_env, own_module
from aktui.runtime import ContainerInfo, LogLine

# How long a stopping outpost gets after SIGTERM before SIGKILL (it normally exits in ~50 ms).
STOP_GRACE = 3.0
# Seconds between the start's checks that the outposts answer (and, in Lab, said HELLO).
READY_POLL = 0.005
# Seconds for every outpost process to answer /ping: ~0.3 s on an idle machine, but one fork
# took over 10 s on a 2-core machine running a test suite beside the lab. The wait ends as
# soon as all answer, so only a process that never starts pays it in full.
READY_TIMEOUT = 30.0


@dataclass
class ProcessSpec:
    name: str  # the 'container' name; the outpost's name in the default lab
    port: int
    api_url: str
    token_file: Path
    version: str = "2023.10.7"
    browser_url: str = ""
    refresh_interval: float = 300.0
    outpost_name: str | None = None
    extra_args: list[str] = field(default_factory=list)
    expect_ready: bool = True  # False: it is meant to fail before serving (revoked token)


@dataclass
class _Proc:
    spec: ProcessSpec
    log_path: Path
    popen: subprocess.Popen[bytes] | ZygoteProcess | None = None
    reader: threading.Thread | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    state: str = "created"
    stopping: bool = False  # set while we stop/restart it on purpose
    ready: bool = False  # answered /ping since its start
    lock: threading.Lock = field(default_factory=threading.Lock)


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether an outpost answers /ping on ``port``; anything else (no listener, a reset, an
    answer that is not HTTP) is "not yet". While no process listens on a port in the ephemeral
    range, Linux may connect a client to itself (its source port chosen equal to the port):
    the client then reads back its own request, and that socket holds the port the restarted
    outpost is about to bind, so it is closed at once."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.connect()
        if conn.sock is None or conn.sock.getsockname() == conn.sock.getpeername():
            return False
        conn.request("GET", "/outpost.goauthentik.io/ping")
        return conn.getresponse().status == 204
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class LabRuntime:
    """Runs and supervises the fake outposts; every method is safe to call from threads."""

    def __init__(
        self,
        workdir: Path,
        specs: list[ProcessSpec],
        auto_restart: bool = True,
        zygote: Zygote | None = None,
    ) -> None:
        """With a ``zygote`` (the lab's), the outposts are forked by it instead of each
        started from scratch (``aktui.lab.zygote``); this runtime then owns it and closes it
        in ``stop_all()``. Without one, or once it is gone, ``_command()`` runs."""
        self.workdir = workdir
        self.auto_restart = auto_restart
        self.zygote = zygote
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._procs = {s.name: _Proc(s, workdir / "logs" / f"{s.name}.log") for s in specs}
        self._stop = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, daemon=True, name="aktui-lab-supervisor"
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start_all(self, timeout: float = READY_TIMEOUT) -> None:
        """``spawn_all()`` then ``wait_ready()``."""
        self.spawn_all()
        self.wait_ready(timeout)

    def spawn_all(self) -> None:
        """Start every process and the supervisor, without waiting: until a process answers
        its /ping, ``containers()`` says its health is "starting" (the supervisor pings)."""
        for proc in self._procs.values():
            with proc.lock:
                if proc.popen is None:
                    self._spawn(proc)
        if not self._supervisor.is_alive() and not self._stop.is_set():
            self._supervisor.start()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every process meant to serve answers /ping (``AktuiError`` after
        ``timeout`` seconds); returns at once once ``stop_all()`` has begun."""
        deadline = time.monotonic() + timeout
        waiting = [p for p in self._procs.values() if p.spec.expect_ready]
        while waiting and time.monotonic() < deadline:
            waiting = [p for p in waiting if not p.ready and not ping(p.spec.port, 0.5)]
            # Often: the demo's first frame waits for this (a refused connect costs ~0.1 ms)
            if waiting and self._stop.wait(READY_POLL):
                return
        for proc in self._procs.values():
            proc.ready = proc not in waiting and proc.spec.expect_ready
        if waiting:
            names = ", ".join(p.spec.name for p in waiting)
            raise AktuiError(
                f"lab outposts did not start within {timeout:.0f} s: {names}",
                hint=f"see their logs in {self.workdir / 'logs'}",
            )

    def stop_all(self, grace: float = STOP_GRACE) -> None:
        """Stop every outpost process by its PID: SIGTERM to all at once, ``grace`` seconds to
        exit, then SIGKILL for any that ignored it. The supervisor goes first, so nothing is
        restarted behind our back; a restart in progress finishes (under its lock) and is then
        stopped like the rest."""
        self._stop.set()
        if self._supervisor.is_alive():
            self._supervisor.join(grace + 10)  # at most one restart in progress (1 s delay)
        for proc in self._procs.values():
            proc.lock.acquire()
        try:
            procs = list(self._procs.values())
            for proc in procs:  # signal all first: they shut down in parallel
                proc.stopping = True
                if proc.popen is not None and proc.popen.poll() is None:
                    proc.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for proc in procs:
                self._kill(proc, grace=max(0.0, deadline - time.monotonic()))
                proc.state = "exited"
        finally:
            for proc in self._procs.values():
                proc.lock.release()
            if self.zygote is not None:
                self.zygote.close()  # its outposts are stopped: the zygote itself now

    def _command(self, spec: ProcessSpec) -> list[str]:
        # No site: the outpost needs the standard library and aktui only, and site's work is
        # paid five times at once while the demo's UI loads.
        return own_module("aktui.lab.fake_outpost", *self._outpost_args(spec), site=False)

    def _outpost_args(self, spec: ProcessSpec) -> list[str]:
        """The fake outpost's arguments (``aktui.lab.fake_outpost.main``)."""
        return [
            "--name",
            spec.name,
            "--port",
            str(spec.port),
            "--api",
            spec.api_url,
            "--token-file",
            str(spec.token_file),
            "--version",
            spec.version,
            "--refresh-interval",
            str(spec.refresh_interval),
            "--browser-url",
            spec.browser_url,
            "--exit-on-stdin-eof",
            *spec.extra_args,
        ]

    def _spawn(self, proc: _Proc) -> None:
        if self._stop.is_set():  # stop_all() has begun: a process started now would be left
            proc.state = "exited"
            return
        popen: subprocess.Popen[bytes] | ZygoteProcess | None = None
        if self.zygote is not None:
            popen = self.zygote.spawn(self._outpost_args(proc.spec))
        if popen is None:
            popen = subprocess.Popen(  # our own module, fixed arguments
                self._command(proc.spec),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=own_env(),
                start_new_session=True,  # Ctrl-C in the terminal reaches aktui only
            )
        proc.popen = popen
        proc.started_at = datetime.now(UTC)
        proc.state = "running"
        proc.ready = False
        proc.reader = threading.Thread(target=self._read, args=(proc, popen), daemon=True)
        proc.reader.start()

    def _read(self, proc: _Proc, popen: subprocess.Popen[bytes] | ZygoteProcess) -> None:
        """dockerd's job: stamp each output line on arrival and append it to the log."""
        assert popen.stdout is not None
        with popen.stdout, proc.log_path.open("a", encoding="utf-8") as log:
            for raw in popen.stdout:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(f"{stamp(time.time())} O {text}\n")
                log.flush()

    def _note(self, proc: _Proc, kind: str, text: str) -> None:
        with proc.log_path.open("a", encoding="utf-8") as log:
            log.write(f"{stamp(time.time())} M {kind} {text}\n")

    def _kill(self, proc: _Proc, grace: float = STOP_GRACE) -> None:
        """SIGTERM (unless already sent), ``grace`` seconds, then SIGKILL; reaped either way."""
        popen = proc.popen
        proc.stopping = True
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait(5)
        if proc.reader is not None:
            proc.reader.join(5)  # its last lines reach the log before anything else
        if popen is not None and popen.stdin:
            popen.stdin.close()

    def _supervise(self) -> None:
        last_ping = 0.0
        while not self._stop.wait(0.25):
            check = time.monotonic() - last_ping > 2
            if check:
                last_ping = time.monotonic()
            for proc in list(self._procs.values()):
                with proc.lock:
                    self._check(proc, check)

    def _check(self, proc: _Proc, ping_now: bool) -> None:
        popen = proc.popen
        if popen is None or proc.stopping or self._stop.is_set():
            return
        code = popen.poll()
        if code is None:
            if ping_now or not proc.ready:
                proc.ready = ping(proc.spec.port, 0.5)
            return
        if proc.reader is not None:
            proc.reader.join(5)
        if popen.stdin is not None:
            with contextlib.suppress(OSError):
                popen.stdin.close()  # its successor gets a pipe of its own
        self._note(proc, "interrupted", f"stream interrupted: container exited with code {code}")
        if not self.auto_restart:
            proc.state = "exited"
            return
        proc.state = "restarting"
        if self._stop.wait(1.0):  # docker's first restart delay; stop_all() may come meanwhile
            proc.state = "exited"
            return
        proc.restart_count += 1
        # the marker goes in before the new process can write its first line
        self._note(proc, "reattached", f"stream re-attached (restart {proc.restart_count})")
        self._spawn(proc)

    # --- OutpostRuntime ----------------------------------------------------------------------

    def _get(self, name: str) -> _Proc:
        proc = self._procs.get(name)
        if proc is None:
            raise ActionRefused(
                f"no lab outpost container named {name!r}",
                hint="known: " + ", ".join(sorted(self._procs)),
            )
        return proc

    def containers(self) -> list[ContainerInfo]:
        out = []
        for proc in self._procs.values():
            spec = proc.spec
            running = proc.popen is not None and proc.popen.poll() is None
            state = proc.state if not (proc.state == "running" and not running) else "exited"
            if state == "running":
                fresh = (
                    proc.started_at and (datetime.now(UTC) - proc.started_at).total_seconds() < 10
                )
                health = "healthy" if proc.ready else ("starting" if fresh else "unhealthy")
            else:
                health = None
            out.append(
                ContainerInfo(
                    host="lab",
                    id=f"lab-{spec.name}",
                    name=spec.name,
                    outpost_name=spec.outpost_name or spec.name,
                    state=state,
                    started_at=proc.started_at,
                    restart_count=proc.restart_count,
                    ports=(spec.port,),
                    image=f"ghcr.io/goauthentik/proxy:{spec.version}",
                    host_browser_set=bool(spec.browser_url),
                    health=health,
                    matched_by="lab",
                )
            )
        return out

    def restart(self, name: str, timeout: float = 30.0) -> None:
        """Kill and start the process again (a new uid, sessions lost); return once it answers
        /ping. A manual restart does not count in restart_count, as with docker."""
        proc = self._get(name)
        with proc.lock:
            if self._stop.is_set():
                raise ActionRefused(f"the lab is stopping; {name} is not restarted")
            self._kill(proc)
            proc.state = "restarting"
            self._note(proc, "reattached", "stream re-attached (container restarted)")
            self._spawn(proc)
            proc.stopping = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ping(proc.spec.port, 0.5):
                proc.ready = True
                return
            if proc.popen is not None and proc.popen.poll() is not None and not self.auto_restart:
                break
            time.sleep(0.05)
        raise AktuiError(
            f"{name} did not answer /outpost.goauthentik.io/ping within "
            f"{timeout:.0f} s after the restart",
            hint=f"its log ({proc.log_path}) says why",
        )

    def reload(self, name: str) -> None:
        proc = self._get(name)
        if proc.popen is None or proc.popen.poll() is not None:
            raise ActionRefused(f"{name} is not running; restart it instead")
        proc.popen.send_signal(signal.SIGUSR1)

    def send(self, name: str, command: str) -> None:
        """A lab command on the process's stdin (``crash``, ``refresh``)."""
        proc = self._get(name)
        popen = proc.popen
        if popen is not None and popen.stdin and popen.poll() is None:
            try:
                popen.stdin.write(command.encode() + b"\n")
                popen.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

    def log_path(self, name: str) -> Path:
        return self._get(name).log_path

    def recent_logs(self, name: str, *, tail: int) -> list[LogLine]:
        """``docker logs -t --tail`` without ``-f``: the lines so far, at once. The log is a
        file, so its end is known; a stream's reader has to wait for it to go quiet."""
        return recent_logs(self._get(name).log_path, name, tail=tail)

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        """``docker logs -f -t --since --tail``: see ``stream_logs()``."""
        return stream_logs(self._get(name).log_path, name, since=since, tail=tail, stop=stop)
