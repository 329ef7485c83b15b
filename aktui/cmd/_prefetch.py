"""The TUI's first snapshot, fetched by a helper process while the TUI loads.

``aktui --config`` spends its first ~0.25 s importing and drawing; the first fetch needs httpx
and its transport (~70 ms of imports) plus the requests and the parsing. A thread would not
help (imports and parsing hold the GIL), a process does: it runs on another core, and against
a real server its requests wait on the network while the UI loads instead of after it.

    python -m aktui.cmd._prefetch [--config PATH] [--context NAME]

The helper opens the same config and token file as the TUI (the token never leaves it) and
writes one pickle to stdout: ``("snapshot", Snapshot)`` or ``("error", one line)``. The TUI
reads it once; anything else (a crash, a timeout, garbage) and it fetches as usual.
"""

from __future__ import annotations

import argparse
import os
import pickle
import select
import subprocess
import sys
from typing import TYPE_CHECKING

from aktui.errors import describe_error
from aktui.ownprocess import own_env, own_module

if TYPE_CHECKING:
    from aktui.authentik.model import Snapshot


class Prefetch:
    """The helper process for one TUI start; ``result()`` once, ``stop()`` always."""

    def __init__(self, config: str | None, context: str | None) -> None:
        argv = own_module("aktui.cmd._prefetch")
        if config:
            argv += ["--config", config]
        if context:
            argv += ["--context", context]
        self._proc = subprocess.Popen(  # our own module, fixed arguments
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # never onto the TUI's terminal
            env=own_env(),
        )

    def result(self, timeout: float) -> Snapshot | str | None:
        """The snapshot, or the fetch's one-line error, or None: fetch it yourself (blocking,
        at most ``timeout`` seconds)."""
        from aktui.authentik.model import Snapshot

        try:
            out, _ = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None
        if self._proc.returncode != 0:
            return None
        try:
            kind, value = pickle.loads(out)  # our own child's output
        except Exception:
            return None
        if kind == "snapshot" and isinstance(value, Snapshot):
            return value
        if kind == "error" and isinstance(value, str):
            return value
        return None

    def done(self, seconds: float) -> bool:
        """Whether the helper has answered (or ended), waiting at most ``seconds`` for it."""
        stdout = self._proc.stdout
        if self._proc.poll() is not None or stdout is None or stdout.closed:
            return True
        readable, _, _ = select.select([stdout], [], [], seconds)
        return bool(readable)

    def stop(self) -> None:
        """Idempotent: the helper is gone when this returns."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aktui.cmd._prefetch")
    parser.add_argument("--config")
    parser.add_argument("--context")
    args = parser.parse_args(argv)
    from aktui.backend import import_httpx_without_its_cli, open_backend

    import_httpx_without_its_cli()
    try:
        backend = open_backend(args.config, args.context, read_only=True)
        answer: tuple[str, object] = ("snapshot", backend.fetch_snapshot())
    except Exception as e:  # the TUI shows it as its own fetch would
        answer = ("error", describe_error(e))
    sys.stdout.buffer.write(pickle.dumps(answer))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    # The TUI reads the answer once this process has ended: the interpreter's teardown
    # (modules, the event loop, the collector) would only delay it. Everything is written.
    os._exit(main())
