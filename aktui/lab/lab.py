"""The lab itself: starts the simulator and the outpost processes, and stops them all."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from aktui.lab.chaos import Chaos
from aktui.lab.objects import random_token
from aktui.lab.runtime import READY_POLL, LabRuntime, ProcessSpec
from aktui.lab.scenario import OPENING_OUTPOST, build_lab, opening_change
from aktui.lab.simulator import Simulator
from aktui.lab.state import LabState
from aktui.lab.versions import api_version
from aktui.lab.zygote import Zygote
from aktui.outposts.staleness import LOADED

__all__ = ["Lab", "free_port", "port_free"]


def port_free(port: int) -> bool:
    # the same bind the outpost will do (http.server sets SO_REUSEADDR, so TIME_WAIT is fine)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Lab:
    def __init__(
        self,
        *,
        providers: int = 0,
        apps: int = 0,
        outposts: int = 0,
        base_port: int = 9001,
        port: int = 0,
        latency_ms: float = 0,
        chaos: bool = False,
        seed: str = "aktui-lab",
        max_processes: int = 16,
        refresh_interval: float = 300.0,
        chaos_interval: tuple[float, float] = (20.0, 40.0),
        workdir: str | Path | None = None,
        pitfalls: Iterable[str] | None = None,
        authentik: str = "2023.10",
        outpost_logs: str = "go",
        fork_server: bool = True,
    ) -> None:
        """Totals ``providers``/``apps``/``outposts`` grow the default lab (scale benchmarks);
        outposts beyond ``max_processes`` get simulated instances instead of processes.
        ``authentik`` is the version the API answers as (aktui.lab.versions: "2023.10" or
        "2025.12"; the demo and `aktui lab` use the current line); an unknown one is a
        ValueError here, before anything starts. ``outpost_logs`` "rust" makes the outposts
        log as the Rust proxy outpost of 2026.8+ instead of the Go one. ``fork_server``
        False starts each outpost process from scratch instead of forking it from the lab's
        zygote (``aktui.lab.zygote``)."""
        self.api = api_version(authentik)
        if outpost_logs not in ("go", "rust"):
            raise ValueError(f"outpost_logs must be 'go' or 'rust', not {outpost_logs!r}")
        self.outpost_logs = outpost_logs
        self.options: dict[str, Any] = dict(
            providers=providers,
            apps=apps,
            outposts=outposts,
            pitfalls=None if pitfalls is None else frozenset(pitfalls),
            authentik=self.api,
            refresh_interval=refresh_interval,
        )
        self.base_port = base_port
        self.port = port
        self.latency_ms = latency_ms
        self.chaos_enabled = chaos
        self.chaos_interval = chaos_interval
        self.seed = seed
        self.max_processes = max_processes
        self.fork_server = fork_server
        self.zygote: Zygote | None = None  # from start_api(); the runtime's once it exists
        self.refresh_interval = refresh_interval
        self._workdir_arg = Path(workdir) if workdir else None
        self.notes: list[str] = []  # things the operator should know (ports moved, ...)
        self.ports: dict[str, int] = {}  # outpost name -> port of its process
        self.state: LabState | None = None
        self.simulator: Simulator | None = None
        self.runtime: LabRuntime | None = None
        self.workdir: Path | None = None
        self.chaos: Chaos | None = None  # the demo's chaos thread, when enabled
        self._process_specs: list[ProcessSpec] = []
        self._stopped = False
        # stop() may come from another thread while await_outposts() waits: it ends the wait
        # and, under the lock, keeps a chaos thread from starting after it.
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # --- properties ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.simulator is None:
            raise RuntimeError("Lab.start() first")
        return self.simulator.url

    @property
    def token(self) -> str:
        if self.state is None:
            raise RuntimeError("Lab.start() first")
        return self.state.admin_token

    @property
    def token_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "admin-token"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Lab:
        """Everything up: ``start_api()`` then ``await_outposts()``."""
        self.start_api()
        return self.await_outposts()

    def start_api(self) -> Lab:
        """Phase 1, fast (no waiting): the simulator answers and the outpost processes are
        spawned. The API lists every outpost at once, not yet connected; the processes are
        "starting" until ``await_outposts()``. Stops what it started if it fails."""
        return self._or_stop(self._start_api)

    def await_outposts(self) -> Lab:
        """Phase 2, blocking (~0.3 s on an idle machine): every healthy outpost answers its
        /ping and said HELLO, then chaos starts. Safe from another thread than ``stop()``,
        which ends the wait; stops the lab if the outposts do not come up."""
        return self._or_stop(self._await_outposts)

    def _or_stop(self, step: Callable[[], None]) -> Lab:
        """Run one start phase; on any failure (Ctrl-C included) stop the lab, then raise."""
        try:
            step()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_api(self) -> None:
        if self.simulator is not None or self.zygote is not None:
            raise RuntimeError("the lab was started already")
        if self.fork_server:
            # First: it loads the outpost's code on another core while the lab is built.
            try:
                self.zygote = Zygote()
            except OSError as exc:
                self.notes.append(f"no fork server ({exc}); outposts start one by one")
        self.state = state = build_lab(self.seed, **self.options)
        try:
            self.simulator = Simulator(state, port=self.port, latency_ms=self.latency_ms)
        except OSError:
            self.simulator = Simulator(state, port=0, latency_ms=self.latency_ms)
            self.notes.append(
                f"port {self.port} is busy; the API listens on {self.simulator.port} instead"
            )
        self.simulator.start()
        if self._workdir_arg:
            self._workdir_arg.mkdir(parents=True, exist_ok=True)
            self.workdir = self._workdir_arg
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="aktui-lab-"))
        _write_secret(self.token_file, state.admin_token)
        self._process_specs = self._specs(state)
        self.runtime = LabRuntime(self.workdir, self._process_specs, zygote=self.zygote)
        self.runtime.spawn_all()

    def _await_outposts(self) -> None:
        state, runtime = self.state, self.runtime
        if state is None or runtime is None:
            raise RuntimeError("Lab.start_api() first")
        specs = self._process_specs
        runtime.wait_ready()
        self._wait_connected(state, specs)
        if not self.chaos_enabled:
            return
        chaos = Chaos(self, interval=self.chaos_interval)
        # The demo opens with a stale outpost to explain, at its first refresh: a real
        # change made once the outpost's load is in its log (so the change is newer).
        if self._wait_loaded(OPENING_OUTPOST):
            opening = opening_change(state)
            if opening:
                chaos.done.append(opening)
        with self._lock:  # stop() from another thread: no chaos thread started after it
            if self._stopping.is_set():
                return
            self.chaos = chaos
            chaos.start()

    def _specs(self, state: LabState) -> list[ProcessSpec]:
        assert self.workdir is not None and self.simulator is not None
        specs: list[ProcessSpec] = []
        next_port = self.base_port
        for name, deploy in state.deployments.items():
            outpost = state.outpost(name)
            if outpost is None or not deploy.process:
                continue
            if len(specs) >= self.max_processes:
                deploy.process = False  # simulated instance: health stays realistic at scale
                continue
            port = next_port
            next_port += 1
            if not port_free(port):
                port = free_port()
                self.notes.append(f"port {next_port - 1} is busy; {name} listens on {port}")
            # a revoked token models the outpost whose container holds a stale key (403)
            key = state.tokens[outpost.token_identifier].key if deploy.token_ok else random_token()
            token_file = self.workdir / "tokens" / name
            _write_secret(token_file, key)
            self.ports[name] = port
            specs.append(
                ProcessSpec(
                    name=name,
                    port=port,
                    api_url=self.simulator.url,
                    token_file=token_file,
                    version=state.version_of(deploy),
                    browser_url=deploy.browser_url,
                    refresh_interval=self.refresh_interval,
                    outpost_name=outpost.name,
                    expect_ready=deploy.token_ok,
                    extra_args=["--log-format", self.outpost_logs],
                )
            )
        return specs

    def _wait_connected(
        self, state: LabState, specs: list[ProcessSpec], timeout: float = 3
    ) -> None:
        """start() returns once every healthy outpost said HELLO, so the first refresh of a
        client already sees them connected."""
        pending = {state.outpost(s.name).pk for s in specs if s.expect_ready}  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = {pk for pk in pending if not state.connected(pk)}
            if self._stopping.wait(READY_POLL):
                return

    def _wait_loaded(self, name: str, timeout: float = 3) -> bool:
        """True once the outpost process ``name`` logged its config load (bounded wait)."""
        if self.runtime is None or name not in self.ports:
            return False
        log = self.runtime.log_path(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # Go outposts log "Loaded application", the Rust one "loaded application".
                if LOADED.lower() in log.read_text(encoding="utf-8", errors="replace").lower():
                    return True
            except OSError:
                pass
            if self._stopping.wait(0.02):
                return False
        return False

    def stop(self) -> None:
        """Idempotent, and safe while another thread is in ``await_outposts()``; the objects
        stay readable (state, notes) after it."""
        self._stopping.set()
        with self._lock:
            if self.chaos is not None:
                self.chaos.stop()
                self.chaos = None
            if self.runtime is not None:
                self.runtime.stop_all()
            if self.zygote is not None:
                self.zygote.close()  # idempotent: stop_all() closed it, unless it never ran
            if self.simulator is not None and not self._stopped:
                self.simulator.stop()
            self._stopped = True
            if self.workdir is not None and self._workdir_arg is None:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _write_secret(path: Path, value: str) -> None:
    """0600 from the start: a token file others can read is refused by aktui's config."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
