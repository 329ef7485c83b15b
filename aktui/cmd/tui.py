"""``aktui`` without a subcommand: open the backend, run the TUI, always close the backend."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aktui.errors import AktuiError

if TYPE_CHECKING:
    from aktui.backend import Backend
    from aktui.lab.host import LabHost

# How long the demo's first snapshot waits for the app's first container listing (one call to
# the lab's process, a few ms): see _with_first_listing.
LISTING_WAIT = 0.3


def demo_lab() -> LabHost:
    """The demo's lab, in a process of its own: it builds, answers and boots its outposts on
    another core while Textual loads, and reads the first snapshot from its API
    (aktui.lab.snapshot), as --config's helper fetches it. Launched by the caller."""
    import aktui.lab  # through the package: tests replace aktui.lab.LabHost
    from aktui.lab.versions import CURRENT

    # the options open_demo() gives its own lab: chaos, the current authentik line
    lab: LabHost = aktui.lab.LabHost(first_snapshot=True, chaos=True, authentik=CURRENT)
    return lab


def _with_first_listing(lab: Any, timeout: float) -> object:
    """The demo lab's first snapshot (``LabHost.first_snapshot``), handed over once the app's
    first container listing, begun beside it as the app mounts, is in too (at most
    LISTING_WAIT s more). Both come from the lab's process; handed over apart, the first frame
    with data could show the outposts without their containers (no state, every verdict
    unsure) until the next one, ~50 ms later."""
    snapshot = lab.first_snapshot(timeout)
    listed = getattr(getattr(lab, "runtime", None), "first_listing", None)
    if listed is not None:
        listed.wait(LISTING_WAIT)
    return snapshot


def run_app(args: argparse.Namespace) -> int:
    """Entry point from ``aktui`` without a subcommand."""
    read_only = bool(getattr(args, "read_only", False))
    demo = bool(getattr(args, "demo", False))
    # The start allocates a lot and frees little (modules, widgets, styles, the first
    # snapshot): the collector's passes over it are wasted time (~17 ms of the imports alone).
    # Paused here, resumed by the app once its first data is read (or after GC_PAUSE_LIMIT),
    # and on the way out whatever happens.
    gc.disable()
    prefetch = None
    lab: LabHost | None = None
    backend: Backend | None = None
    try:
        # First, before any import of ours: the helper's fetch runs while the TUI loads.
        if demo:
            lab = demo_lab()
            lab.launch()
        else:
            from aktui.cmd._prefetch import Prefetch

            prefetch = Prefetch(getattr(args, "config", None), getattr(args, "context", None))
        from aktui.backend import open_backend, open_demo

        try:
            if demo:
                backend = open_demo(read_only=read_only, start=False, lab=lab)
            else:
                backend = open_backend(
                    getattr(args, "config", None),
                    getattr(args, "context", None),
                    read_only=read_only,
                )
        except AktuiError as e:
            print(f"aktui: {e}", file=sys.stderr)
            return 2
        except ImportError as e:
            print(f"aktui: this build lacks a part it needs ({e.name})", file=sys.stderr)
            return 2
        from aktui.screens.app import AktuiApp

        if demo:
            # Its API is up by now (it had the UI's imports' time), so the first fetch finds
            # it; the app waits for the outposts in a thread.
            backend.start_lab_api()

        first: Callable[[], object] | None = None
        ready: Callable[[float], bool] | None = None
        timeout = float(backend.context.timeout or 10.0) + 5.0
        if prefetch is not None:
            first, ready = partial(prefetch.result, timeout), prefetch.done
        elif demo:
            # The lab's process read it (aktui.lab.snapshot), as the helper fetches it above.
            hosted = getattr(backend, "lab", None)
            if getattr(hosted, "first_snapshot", None) is not None:
                first = partial(_with_first_listing, hosted, timeout)
        app = AktuiApp(backend, first_snapshot=first, first_ready=ready)
        code = int(app.run() or 0)
        if app.startup_error:
            print(f"aktui: {app.startup_error}", file=sys.stderr)
            return 2
        return code
    except AktuiError as e:
        print(f"aktui: {e}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
        if prefetch is not None:
            prefetch.stop()
        if backend is not None:
            backend.close()  # the demo's backend stops the lab it was given
        if lab is not None:
            # Idempotent: whatever the backend did with it (or if it never took it), the
            # lab's process and outposts are gone when run_app returns.
            lab.stop()
