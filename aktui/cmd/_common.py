"""Shared plumbing for subcommands that talk to a live (or demo) setup."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from aktui.backend import Backend, open_backend, open_demo
from aktui.config import transport_warnings


def positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more (``--parallel 0`` would wait forever)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


@contextmanager
def backend_from_args(args: argparse.Namespace, *, chaos: bool = False) -> Iterator[Backend]:
    if getattr(args, "demo", False):
        backend = open_demo(read_only=bool(getattr(args, "read_only", False)), chaos=chaos)
    else:
        backend = open_backend(
            getattr(args, "config", None),
            getattr(args, "context", None),
            read_only=bool(getattr(args, "read_only", False)),
        )
        for warning in transport_warnings(backend.context, backend.name, backend.config.source):
            print(f"aktui: warning: {warning}", file=sys.stderr)
    try:
        yield backend
    finally:
        backend.close()
