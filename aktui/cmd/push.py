"""`aktui push`: snippets to each web server over SSH: diff, then test, reload or roll back."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from aktui.cmd.snippets import load
from aktui.config import WebServerConfig
from aktui.deploy.push import HostPlan, HostResult, apply_hosts, plan_hosts
from aktui.deploy.snippets import build_snippets
from aktui.errors import ActionRefused, ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="only this web server (web_servers key; repeatable)",
    )
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument("--dry-run", action="store_true", help="show the diffs, change nothing")
    parser.add_argument(
        "--accept-new-host-key",
        action="store_true",
        help="trust web servers whose host key is not in known_hosts yet (like accept-new)",
    )
    parser.add_argument("--parallel", type=int, default=8, help="hosts at once (default 8)")
    parser.add_argument(
        "--lock-wait", type=float, default=0.0, help="seconds to wait for another push's lock"
    )


def choose_servers(
    servers: Mapping[str, WebServerConfig], wanted: list[str], accept_new: bool
) -> dict[str, WebServerConfig]:
    if not servers:
        raise ConfigError("no web_servers in the config: nothing to push to")
    unknown = [w for w in wanted if w not in servers]
    if unknown:
        raise ConfigError(
            f"unknown web server(s): {', '.join(unknown)} (known: {', '.join(servers)})"
        )
    chosen = {k: v for k, v in servers.items() if not wanted or k in wanted}
    if accept_new:
        from dataclasses import replace

        chosen = {k: replace(v, accept_new_host_key=True) for k, v in chosen.items()}
    return chosen


def show_plans(plans: list[HostPlan]) -> None:
    for plan in plans:
        if plan.error:
            print(f"== {plan.name} ({plan.target}): {plan.status}: {plan.error}")
        elif not plan.changed:
            print(f"== {plan.name} ({plan.target}): unchanged")
        else:
            count = sum(c.changed for c in plan.changes)
            print(f"== {plan.name} ({plan.target}): {count} file(s) to change")
            sys.stdout.write(plan.diff())


def show_results(results: list[HostResult]) -> None:
    print()
    width = max((len(r.name) for r in results), default=4)
    for r in results:
        print(f"{r.name:<{width}}  {r.status:<16} {r.detail}")
        if r.nginx_output:
            for line in r.nginx_output.rstrip().splitlines():
                print(f"{'':<{width}}    nginx: {line}")
        if r.status == "rollback-failed":
            for step in r.steps:
                print(f"{'':<{width}}    - {step}")


def confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"Apply to {count} host(s)? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    if args.read_only and not args.dry_run:
        raise ActionRefused("read-only mode: push refused", "use --dry-run to see the diffs")
    backend, snapshot, containers = load(args)
    if backend.read_only and not args.dry_run:
        raise ActionRefused("read-only mode: push refused", "use --dry-run to see the diffs")
    servers = choose_servers(backend.config.web_servers, args.host, args.accept_new_host_key)
    snippets = build_snippets(snapshot, backend.config, containers)
    for name, why in snippets.skipped:
        print(f"aktui: skipped outpost {name!r}: {why}", file=sys.stderr)
    if not snippets.targets:
        print("aktui: no outpost can get a snippet: nothing to push", file=sys.stderr)
        return 1

    def files(name: str, cfg: WebServerConfig) -> dict[str, str]:
        return snippets.files_for_sites(snapshot, cfg.sites)

    plans = plan_hosts(servers, files, max_parallel=args.parallel)
    show_plans(plans)
    pending = [p for p in plans if p.changed and not p.error]
    failed = any(p.error for p in plans)
    if not pending:
        print("nothing to push" + (" (some hosts failed, see above)" if failed else ""))
        return 1 if failed else 0
    if args.dry_run:
        print(f"dry run: {len(pending)} host(s) would change")
        return 1 if failed else 0
    if not args.yes and not confirm(len(pending)):
        print("not applied (answer y, or pass --yes)", file=sys.stderr)
        return 1
    results = apply_hosts(plans, servers, max_parallel=args.parallel, lock_wait=args.lock_wait)
    show_results(results)
    return 0 if all(r.ok for r in results) else 1
