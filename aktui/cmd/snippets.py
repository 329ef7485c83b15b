"""`aktui snippets`: the NGINX forward-auth snippets for each outpost, from the live model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aktui.authentik.model import Snapshot
from aktui.backend import Backend
from aktui.cmd._common import backend_from_args
from aktui.deploy.snippets import SnippetSet, build_snippets
from aktui.errors import AktuiError
from aktui.nginx.templates import DEFAULT_INCLUDE_DIR, DEFAULT_PROTECTED_PATH, DEFAULT_UPSTREAM
from aktui.runtime import ContainerInfo


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outpost", metavar="NAME", help="only this outpost's snippet")
    parser.add_argument("--site", metavar="HOST", help="only the outpost serving this hostname")
    parser.add_argument("--out", metavar="DIR", help="write the files there (else print them)")
    parser.add_argument(
        "--include-dir",
        default=DEFAULT_INCLUDE_DIR,
        metavar="DIR",
        help=f"snippet dir the examples include from (default: {DEFAULT_INCLUDE_DIR})",
    )
    parser.add_argument(
        "--path",
        default=DEFAULT_PROTECTED_PATH,
        help=f"protected path in the subdirectory example (default: {DEFAULT_PROTECTED_PATH})",
    )
    parser.add_argument(
        "--upstream",
        default=DEFAULT_UPSTREAM,
        metavar="URL",
        help=f"app in the reverse-proxy example (default: {DEFAULT_UPSTREAM})",
    )
    parser.add_argument(
        "--no-examples", action="store_true", help="leave out the server-block examples"
    )


def load(args: argparse.Namespace) -> tuple[Backend, Snapshot, list[ContainerInfo]]:
    """Snapshot and containers of the live (or demo) setup; shared with `aktui push`."""
    with backend_from_args(args, chaos=False) as backend:
        snapshot = backend.fetch_snapshot()
        containers: list[ContainerInfo] = []
        if backend.runtime is not None:
            try:
                containers = backend.containers(snapshot)
            except AktuiError as e:
                # Config may still name every address and port; say why discovery is missing.
                print(f"aktui: container discovery failed: {e}", file=sys.stderr)
    return backend, snapshot, containers


def render(args: argparse.Namespace) -> tuple[Backend, Snapshot, SnippetSet]:
    backend, snapshot, containers = load(args)
    snippets = build_snippets(
        snapshot,
        backend.config,
        containers,
        outpost=args.outpost,
        site=args.site,
        include_dir=args.include_dir,
        path=args.path,
        upstream=args.upstream,
    )
    for name, why in snippets.skipped:
        print(f"aktui: skipped outpost {name!r}: {why}", file=sys.stderr)
    return backend, snapshot, snippets


def run(args: argparse.Namespace) -> int:
    _, _, snippets = render(args)
    if not snippets.targets:
        print("aktui: no outpost can get a snippet (see the reasons above)", file=sys.stderr)
        return 1
    outputs = dict(snippets.files)
    if not args.no_examples:
        outputs.update(snippets.examples)
    if args.out:
        root = Path(args.out)
        for name, text in outputs.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(path)
        return 0
    for target in snippets.targets:
        print(f"# {target.file_name}: {target.upstream} (from {target.source})", file=sys.stderr)
    for name, text in outputs.items():
        sys.stdout.write(f"# ===== {name} =====\n{text}\n")
    return 0
