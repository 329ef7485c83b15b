"""`aktui doctor`: run every check against the live (or demo) setup and print the results."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aktui.authentik.jsonable import to_jsonable
from aktui.cmd._common import backend_from_args
from aktui.doctor.checks import CheckResult, exit_code
from aktui.doctor.run import diagnose

MARKS = {"ok": "✓ ok  ", "warn": "! warn", "error": "✗ err ", "skipped": "- skip"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document with all results")
    parser.add_argument("--check", nargs="+", metavar="ID", default=[], help="only these checks")
    parser.add_argument(
        "--nginx", metavar="PATH", nargs="+", help="lint nginx config instead (same as lint-nginx)"
    )


def run(args: argparse.Namespace) -> int:
    if args.nginx:
        from aktui.cmd import lint_nginx

        return lint_nginx.run(argparse.Namespace(paths=args.nginx, json=args.json))
    with backend_from_args(args) as backend:
        results = asyncio.run(diagnose(backend, args.check))
    if args.json:
        json.dump(
            {"results": to_jsonable(results), "exit": exit_code(results)}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(results))
    return exit_code(results)


def render_text(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{MARKS.get(r.status, r.status)} {r.check:<22} {r.title}")
        if r.status in ("warn", "error"):
            if r.evidence:
                lines.append(f"         saw: {r.evidence}")
            if r.fix:
                lines.append(f"         fix: {r.fix}")
    counts = {s: sum(r.status == s for r in results) for s in MARKS}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines) + "\n"
