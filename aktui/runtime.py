"""What aktui needs from whatever runs the outpost processes: docker hosts, or the demo lab.

Both backends (``aktui.docker.runtime.DockerRuntime`` and ``aktui.lab.runtime.LabRuntime``) give the
same blocking interface; callers run it in threads. Nothing here imports docker or Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    host: str  # docker host label (config key) or "lab"
    id: str
    name: str
    outpost_name: str | None  # authentik outpost name it runs, when known
    state: str  # running, exited, restarting, paused, dead, created
    started_at: datetime | None
    restart_count: int = 0
    ports: tuple[int, ...] = ()  # host ports published for the outpost's 9000/tcp
    image: str = ""
    host_browser_set: bool = False  # AUTHENTIK_HOST_BROWSER present (value never kept)
    health: str | None = None  # docker healthcheck status
    matched_by: str = ""  # "config", "label", "name", "port", "lab"


@dataclass(frozen=True, slots=True)
class LogLine:
    source: str  # container / file name
    at: datetime | None  # daemon timestamp (docker) or None when unknown
    text: str  # the line as written, without the docker timestamp prefix
    marker: str = ""  # non-empty for a synthetic "stream interrupted/re-attached" line


class OutpostRuntime(Protocol):
    def containers(self) -> list[ContainerInfo]: ...

    def restart(self, name: str, timeout: float = 30.0) -> None: ...

    def reload(self, name: str) -> None:
        """Send SIGUSR1: the outpost refreshes its config without dropping sessions."""

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Yield log lines until ``stop`` is set; re-attach across restarts with a marker.

        ``since`` is unix seconds; ``tail`` < 0 means every past line, 0 none. Marker lines say
        ``interrupted``, ``reattached`` or ``removed`` where the stream was cut.
        """


def tell_outposts(runtime: OutpostRuntime | None, outposts: Iterable[tuple[str, str]]) -> None:
    """Give a runtime the (pk, name) pairs of authentik's outposts, so labels and container
    names map to outpost names. Runtimes that already know them (the lab) have no hook."""
    hook = getattr(runtime, "set_outposts", None)
    if callable(hook):
        hook(list(outposts))
