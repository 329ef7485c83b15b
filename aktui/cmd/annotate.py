"""`aktui annotate` (not built yet)."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*")


def run(args: argparse.Namespace) -> int:
    print("aktui annotate: not available yet", file=sys.stderr)
    return 2
