"""``aktui`` without a subcommand: open the backend, run the TUI, always close the backend."""

from __future__ import annotations

import argparse
import sys

from aktui.errors import AktuiError


def run_app(args: argparse.Namespace) -> int:
    """Entry point from ``aktui`` without a subcommand."""
    from aktui.backend import open_backend, open_demo

    read_only = bool(getattr(args, "read_only", False))
    try:
        if getattr(args, "demo", False):
            # Started by the app once its first frame is up (shown as "starting demo lab").
            backend = open_demo(read_only=read_only, chaos=True, start=False)
        else:
            backend = open_backend(
                getattr(args, "config", None), getattr(args, "context", None), read_only=read_only
            )
    except AktuiError as e:
        print(f"aktui: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"aktui: this build lacks a part it needs ({e.name})", file=sys.stderr)
        return 2
    try:
        from aktui.screens.app import AktuiApp

        app = AktuiApp(backend)
        code = int(app.run() or 0)
        if app.startup_error:
            print(f"aktui: {app.startup_error}", file=sys.stderr)
            return 2
        return code
    except AktuiError as e:
        print(f"aktui: {e}", file=sys.stderr)
        return 2
    finally:
        backend.close()
