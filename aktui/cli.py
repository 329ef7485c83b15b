"""The ``aktui`` command: the TUI by default, subcommands for scripts and CI."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

from aktui import __version__
from aktui.errors import AktuiError
from aktui.terminal import EscapingStream, escape

# subcommand -> (module under aktui.cmd, help)
SUBCOMMANDS = {
    "init": ("init", "write a commented starter config (mode 0600) and print its path"),
    "status": ("status", "print outposts, providers, cookie-domain groups and findings"),
    "annotate": ("annotate", "annotate log lines with the cheat sheet's cause and fix"),
    "doctor": ("doctor", "check the live setup for every field-guide pitfall"),
    "lint-nginx": ("lint_nginx", "check nginx config for forward-auth pitfalls"),
    "snippets": ("snippets", "render the NGINX snippets for each outpost"),
    "push": ("push", "push snippets to web servers over SSH (diff, test, reload, rollback)"),
    "export": ("export", "export the push as an Ansible inventory and playbook"),
    "lab": ("lab", "run the simulated lab (authentik API + fake outposts)"),
}
# Subcommands that escape their own output: annotate escapes on a terminal only, so a pipe gets
# the log bytes exactly as read (and its hot path stays one write per run of lines).
RAW_OUTPUT = {"annotate"}


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="PATH", default=default, help="config file")
    parser.add_argument("--context", metavar="NAME", default=default, help="authentik context")
    flag_default = argparse.SUPPRESS if suppress else False
    parser.add_argument(
        "--read-only", action="store_true", default=flag_default, help="refuse all actions"
    )
    parser.add_argument(
        "--demo", action="store_true", default=flag_default, help="use the embedded lab"
    )


def _chosen_command(argv: list[str]) -> str | None:
    takes_value = {"--config", "--context"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Only the chosen subcommand's module is imported: startup stays fast, and one
    subcommand's heavy imports (crossplane, docker, paramiko) never slow another."""
    parser = argparse.ArgumentParser(
        prog="aktui",
        description="Terminal control panel for authentik forward auth behind NGINX.",
    )
    parser.add_argument("--version", action="version", version=f"aktui {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(child, suppress=True)
        if name == command:
            importlib.import_module(f"aktui.cmd.{module}").configure(child)
    return parser


@contextlib.contextmanager
def _escaped_output(command: str | None) -> Iterator[None]:
    """stdout and stderr escape terminal controls while a subcommand runs: server details,
    diffs, nginx output and lock owner files are printed from many places, and every one of
    them goes through here (the TUI escapes in its widgets)."""
    if command is None or command in RAW_OUTPUT:
        yield
        return
    saved = sys.stdout, sys.stderr
    sys.stdout = EscapingStream(saved[0])
    sys.stderr = EscapingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _closed_stdout() -> int:
    """``aktui ... | head``: the reader is gone, which is a normal end, not an error. Point
    stdout at /dev/null so the interpreter's final flush does not fail a second time."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_chosen_command(argv))
    args = parser.parse_args(argv)
    try:
        with _escaped_output(args.command):
            if args.command is None:
                from aktui.cmd.tui import run_app

                return run_app(args)
            module = importlib.import_module(f"aktui.cmd.{SUBCOMMANDS[args.command][0]}")
            return int(module.run(args) or 0)
    except AktuiError as e:
        # One line: a server's detail may hold newlines or escape sequences.
        print(f"aktui: {escape(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_stdout()


if __name__ == "__main__":
    sys.exit(main())
