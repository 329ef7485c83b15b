"""`aktui export ansible --out DIR`: inventory + playbook doing `aktui push` for a fleet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aktui.cmd.push import choose_servers
from aktui.cmd.snippets import load
from aktui.deploy.snippets import build_snippets


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=["ansible"], help="what to export")
    parser.add_argument("--out", metavar="DIR", required=True, help="directory to write to")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="only this web server (web_servers key; repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from aktui.deploy.ansible import export_ansible

    backend, snapshot, containers = load(args)
    servers = choose_servers(backend.config.web_servers, args.host, False)
    snippets = build_snippets(snapshot, backend.config, containers)
    for name, why in snippets.skipped:
        print(f"aktui: skipped outpost {name!r}: {why}", file=sys.stderr)
    if not snippets.targets:
        print("aktui: no outpost can get a snippet: nothing to export", file=sys.stderr)
        return 1
    done = export_ansible(Path(args.out), servers, snapshot, snippets)
    print(f"wrote {done.inventory} ({len(servers)} host(s)), {done.playbook}")
    for t in done.templates:
        print(f"wrote {t}")
    print(f"run: ansible-playbook -i {done.inventory} {done.playbook}")
    return 0
