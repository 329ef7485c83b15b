"""What one aktui run talks to: an authentik context, the outpost runtime, and its settings.

Built from the config file, or from the embedded demo lab. The CLI and the TUI share it so both
see the same server, the same containers and the same read-only rule.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aktui.config import Config, ContextConfig, LogsConfig, load_config, resolve_token
from aktui.runtime import ContainerInfo, OutpostRuntime, tell_outposts
from aktui.secret import Secret

if TYPE_CHECKING:
    # Imported where used: httpx (~30 ms) is not needed before the first fetch, and the demo
    # starts its lab before it (aktui.cmd.tui).
    from aktui.authentik.client import AuthentikClient
    from aktui.authentik.model import Snapshot
    from aktui.lab.host import LabHost
    from aktui.lab.lab import Lab


def import_httpx_without_its_cli() -> None:
    """Import httpx without its command-line client. httpx's ``__init__`` imports
    ``httpx._main`` (click, pygments lexers, rich.progress/syntax/table: ~20 ms) whenever click
    is installed, and skips it when not; aktui never runs that client, so this import takes
    the not-installed path. Later ``import click`` works as usual."""
    if "httpx" in sys.modules or "click" in sys.modules:
        return
    sys.modules["click"] = None  # type: ignore[assignment]  # "import click" raises ImportError
    try:
        import httpx  # noqa: F401
    finally:
        del sys.modules["click"]


@dataclass
class Backend:
    name: str  # context name, or "demo"
    config: Config
    context: ContextConfig
    read_only: bool
    runtime: OutpostRuntime | None = None
    lab: Lab | LabHost | None = None  # the demo's lab, from open_demo() until close()
    _token: Secret = field(default_factory=lambda: Secret(""), repr=False)
    # Held while the demo lab starts, so close() from another thread waits and then stops it
    # (never a half-started lab left running).
    _lab_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)
    _lab_up: bool = field(default=False, repr=False)  # await_lab() returned

    @property
    def lab_pending(self) -> bool:
        """A demo backend from ``open_demo(start=False)`` whose lab is not started yet."""
        return self.lab is not None and self.runtime is None

    @property
    def lab_starting(self) -> bool:
        """The demo lab's API answers, its outpost processes are still coming up
        (``start_lab_api()`` done, ``await_lab()`` not yet)."""
        return self.lab is not None and self.runtime is not None and not self._lab_up

    def start_lab(self) -> None:
        """Start the demo lab of ``open_demo(start=False)`` and wait for its outposts:
        ``start_lab_api()`` then ``await_lab()``."""
        self.start_lab_api()
        self.await_lab()

    def start_lab_api(self) -> None:
        """Phase 1 of the demo lab (fast, no waiting): its API answers and its outpost
        processes are spawned; this backend's context and runtime are the lab's from here on.
        Does nothing after close() or once done."""
        with self._lab_lock:
            if self._closed or self.lab is None or not self.lab_pending:
                return
            lab = self.lab.start_api()
            ctx = ContextConfig(url=lab.url, token=Secret(lab.token))
            self.context = ctx
            self.config = replace(self.config, contexts={self.name: ctx})
            self._token = Secret(lab.token)
            self.runtime = lab.runtime

    def await_lab(self) -> None:
        """Phase 2 (blocking: ~0.3 s of processes connecting, so the TUI calls it from a
        thread): every outpost answers. Not under the lock: close() from another thread stops
        the lab, which ends this wait at once."""
        lab = self.lab
        if self._closed or lab is None or self.runtime is None or self._lab_up:
            return
        lab.await_outposts()
        self._lab_up = True

    def client(self) -> AuthentikClient:
        """A fresh client, owned by one event loop (the CLI's run, the TUI's app loop)."""
        import_httpx_without_its_cli()
        from aktui.authentik.client import AuthentikClient

        verify: bool | str = self.context.ca_file or self.context.verify_tls
        return AuthentikClient(
            self.context.url,
            self._token,
            verify=verify,
            timeout=self.context.timeout,
            reload_token=self._reread_token if self.context.token_file else None,
        )

    def _reread_token(self) -> Secret:
        """The token file again, after authentik refused the token (it may have rotated)."""
        self._token = resolve_token(self.context, self.name, self.config.source)
        return self._token

    async def snapshot(self) -> Snapshot:
        async with self.client() as client:
            return await client.snapshot()

    def fetch_snapshot(self) -> Snapshot:
        """The CLI's one-shot read (runs its own event loop)."""
        import asyncio  # here: the demo's lab starts before the TUI imports it

        return asyncio.run(self.snapshot())

    def containers(self, snapshot: Snapshot | None = None) -> list[ContainerInfo]:
        """Outpost containers (blocking: call from a thread). With a snapshot, the runtime
        first learns authentik's outpost names, so discovery can match labels and names."""
        if self.runtime is None:
            return []
        if snapshot is not None:
            tell_outposts(self.runtime, ((o.pk, o.name) for o in snapshot.outposts))
        return self.runtime.containers()

    def close(self) -> None:
        """Idempotent; waits for a ``start_lab_api()`` in progress, then stops the lab (which
        also ends an ``await_lab()`` in another thread)."""
        with self._lab_lock:
            self._closed = True
            if self.lab is not None:
                self.lab.stop()
                self.lab = None


def open_backend(
    config_path: str | None, context_name: str | None, *, read_only: bool = False
) -> Backend:
    config = load_config(config_path)
    name, ctx = config.context(context_name)
    token = resolve_token(ctx, name, config.source)
    runtime = _docker_runtime(config, name)
    return Backend(
        name=name,
        config=config,
        context=ctx,
        read_only=read_only or config.read_only or ctx.read_only,
        runtime=runtime,
        _token=token,
    )


def _docker_runtime(config: Config, context_name: str) -> OutpostRuntime | None:
    try:
        from aktui.docker.runtime import DockerRuntime
    except ImportError:
        return None
    return DockerRuntime.from_config(config, context_name)


def open_demo(
    *,
    read_only: bool = False,
    chaos: bool = True,
    start: bool = True,
    lab: Lab | LabHost | None = None,
    **lab_options: Any,
) -> Backend:
    """The demo lab's backend. ``start=False`` returns at once; ``start_lab()`` (or its two
    phases, as the TUI does: the API before the UI, the outposts while it draws) starts it;
    ``close()`` always stops it. ``lab``: one made (and maybe launched) already instead of
    a new one from the options: the TUI's, running in a process of its own
    (``aktui.cmd.tui.demo_lab``), so it neither waits for the UI's thread nor slows it."""
    import aktui.lab  # through the package: tests replace aktui.lab.Lab
    from aktui.lab.versions import CURRENT

    lab_options.setdefault("authentik", CURRENT)  # the demo shows the authentik people run
    backend = Backend(
        name="demo",
        config=Config(
            source="<demo>",
            default_context="demo",
            refresh_interval=2.0,
            contexts={},
            logs=LogsConfig(),
        ),
        context=ContextConfig(url="", token=Secret("")),  # the lab's, once it runs
        read_only=read_only,
        lab=lab or aktui.lab.Lab(chaos=chaos, **lab_options),
    )
    if start:
        try:
            backend.start_lab()
        except BaseException:
            backend.close()
            raise
    return backend
