"""What one aktui run talks to: an authentik context, the outpost runtime, and its settings.

Built from the config file, or from the embedded demo lab. The CLI and the TUI share it so both
see the same server, the same containers and the same read-only rule.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aktui.authentik.client import AuthentikClient
from aktui.authentik.model import Snapshot
from aktui.config import Config, ContextConfig, LogsConfig, load_config, resolve_token
from aktui.runtime import ContainerInfo, OutpostRuntime, tell_outposts
from aktui.secret import Secret

if TYPE_CHECKING:
    from aktui.lab.lab import Lab


@dataclass
class Backend:
    name: str  # context name, or "demo"
    config: Config
    context: ContextConfig
    read_only: bool
    runtime: OutpostRuntime | None = None
    lab: Lab | None = None  # the demo's lab, from open_demo() until close()
    _token: Secret = field(default_factory=lambda: Secret(""), repr=False)
    # Held while the demo lab starts, so close() from another thread waits and then stops it
    # (never a half-started lab left running).
    _lab_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def lab_pending(self) -> bool:
        """A demo backend from ``open_demo(start=False)`` whose lab is not started yet."""
        return self.lab is not None and self.runtime is None

    def start_lab(self) -> None:
        """Start the demo lab of ``open_demo(start=False)`` (blocking: ~0.3 s of processes
        connecting, so the TUI calls it from a thread once its first frame is up). Does
        nothing after close()."""
        with self._lab_lock:
            if self._closed or self.lab is None or not self.lab_pending:
                return
            lab = self.lab.start()
            ctx = ContextConfig(url=lab.url, token=Secret(lab.token))
            self.context = ctx
            self.config = replace(self.config, contexts={self.name: ctx})
            self._token = Secret(lab.token)
            self.runtime = lab.runtime

    def client(self) -> AuthentikClient:
        """A fresh client, owned by one event loop (the CLI's run, the TUI's app loop)."""
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
        """Idempotent; waits for a lab start in progress, then stops the lab."""
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
    *, read_only: bool = False, chaos: bool = True, start: bool = True, **lab_options: Any
) -> Backend:
    """The demo lab's backend. ``start=False`` returns at once and ``start_lab()`` starts it
    (the TUI draws its first frame meanwhile); ``close()`` always stops it."""
    from aktui.lab import Lab  # through the package: tests replace aktui.lab.Lab
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
        lab=Lab(chaos=chaos, **lab_options),
    )
    if start:
        try:
            backend.start_lab()
        except BaseException:
            backend.close()
            raise
    return backend
