"""``aktui`` without a subcommand: open the backend, run the TUI, always close the backend."""

from __future__ import annotations

import argparse
import sys

from aktui.errors import AktuiError


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


def run_app(args: argparse.Namespace) -> int:
    """Entry point from ``aktui`` without a subcommand."""
    from aktui.backend import Backend, open_backend, open_demo

    read_only = bool(getattr(args, "read_only", False))
    backend: Backend | None = None
    try:
        try:
            if getattr(args, "demo", False):
                backend = open_demo(read_only=read_only, chaos=True, start=False)
                # The lab's API and outpost processes start before the UI's imports: the
                # processes boot while Textual loads, and the first fetch finds the API up.
                # The app waits for the outposts in a thread.
                backend.start_lab_api()
            import_httpx_without_its_cli()  # before anything imports httpx
            if backend is None:
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
        if backend is not None:
            backend.close()
