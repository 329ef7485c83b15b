"""`aktui push`: snippets to each web server over SSH: diff, then test, reload or roll back.

SIGINT, SIGTERM and SIGHUP while hosts are planned or pushed do not kill the process: they set
a ``Cancel`` that every host sees at its next step; hosts that wrote files put the old bytes
back (and reload and prove it if they had reloaded), then the command prints one result line
per host and exits 128 + the signal number.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping

from aktui.authentik.model import Snapshot
from aktui.cmd._common import non_negative_float, positive_int
from aktui.cmd.snippets import load
from aktui.config import WebServerConfig
from aktui.deploy.push import (
    Cancel,
    HostPlan,
    HostResult,
    SessionPool,
    apply_hosts,
    audit,
    plan_hosts,
    staged_test,
    unlock_host,
)
from aktui.deploy.snippets import SnippetSet, build_snippets
from aktui.doctor.push_check import site_checks
from aktui.errors import ActionRefused, AktuiError, ConfigError

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="only this web server (web_servers key; repeatable)",
    )
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show the diffs and run nginx -t on a staged copy; change nothing live",
    )
    parser.add_argument(
        "--accept-new-host-key",
        action="store_true",
        help="trust web servers whose host key is not in known_hosts yet (like accept-new)",
    )
    parser.add_argument(
        "--parallel", type=positive_int, default=8, help="hosts at once (default 8)"
    )
    parser.add_argument(
        "--serial",
        type=int,
        default=0,
        metavar="N",
        help="push N hosts per batch (default: the first host alone, then all the rest)",
    )
    parser.add_argument(
        "--max-fail",
        type=int,
        default=0,
        metavar="N",
        help="start no further batch once more than N hosts failed (default 0; -1: never stop)",
    )
    parser.add_argument(
        "--lock-wait",
        type=non_negative_float,
        default=0.0,
        help="seconds to wait for another push's lock",
    )
    parser.add_argument(
        "--unlock",
        action="append",
        default=[],
        metavar="NAME",
        help="remove the push lock a dead push left on this web server, then exit",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip the 302 check of each listed site after the reload",
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
            note = f"; {plan.pending}: it is tested and reloaded" if plan.pending else ""
            print(f"== {plan.name} ({plan.target}): {count} file(s) to change{note}")
            sys.stdout.write(plan.diff())


FAILED_STEPS = ("rollback-failed", "rolled-back", "failed", "verify-failed")


def show_results(results: list[HostResult]) -> None:
    print()
    width = max((len(r.name) for r in results), default=4)
    for r in results:
        print(f"{r.name:<{width}}  {r.status:<16} {r.detail}")
        if r.nginx_output:
            for line in r.nginx_output.rstrip().splitlines():
                print(f"{'':<{width}}    nginx: {line}")
        if r.status in FAILED_STEPS:
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


@contextlib.contextmanager
def cancel_on_signals(cancel: Cancel) -> Iterator[None]:
    """While pushing, SIGINT/SIGTERM/SIGHUP set ``cancel`` instead of killing the process:
    hosts stop at their next step and put the old files back. Only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        again = bool(cancel)
        cancel.set(name)
        # os.write, not print: a handler may run while the main thread is inside a print.
        note = (
            "still stopping: each host ends its current step first (commands time out)"
            if again
            else "stopping; hosts that changed files put the old ones back"
        )
        os.write(2, f"aktui: {name}: {note}\n".encode())

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def exit_code(cancel: Cancel, ok: bool) -> int:
    if cancel:
        return 128 + int(getattr(signal, cancel.reason, signal.SIGINT))
    return 0 if ok else 1


def unlock(servers: Mapping[str, WebServerConfig], names: list[str]) -> int:
    failed = False
    for name in names:
        try:
            print(unlock_host(name, servers[name]))
        except AktuiError as e:
            print(f"aktui: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    if args.read_only and not args.dry_run:
        raise ActionRefused("read-only mode: push refused", "use --dry-run to see the diffs")
    if args.unlock:
        from aktui.config import load_config

        config = load_config(args.config)
        return unlock(choose_servers(config.web_servers, args.unlock, False), args.unlock)
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

    # With --yes the apply follows the plan at once: keep each host's session for it.
    pool = SessionPool() if args.yes and not args.dry_run else None
    try:
        return plan_and_apply(args, servers, files, snapshot, snippets, pool)
    finally:
        if pool is not None:
            pool.close()


def plan_and_apply(
    args: argparse.Namespace,
    servers: Mapping[str, WebServerConfig],
    files: Callable[[str, WebServerConfig], Mapping[str, str]],
    snapshot: Snapshot,
    snippets: SnippetSet,
    pool: SessionPool | None,
) -> int:
    cancel = Cancel()
    with cancel_on_signals(cancel):
        plans = plan_hosts(
            servers,
            files,
            max_parallel=args.parallel,
            lock_wait=args.lock_wait,
            cancel=cancel,
            opener=pool,
        )
    show_plans(plans)
    if cancel:
        return exit_code(cancel, False)
    pending = [p for p in plans if p.changed and not p.error]
    failed = any(p.error for p in plans)
    if not pending:
        print("nothing to push" + (" (some hosts failed, see above)" if failed else ""))
        return 1 if failed else 0
    if args.dry_run:
        return dry_run(pending, servers, failed)
    if not args.yes and not confirm(len(pending)):
        print("not applied (answer y, or pass --yes)", file=sys.stderr)
        return 1
    checks = {} if args.no_check else site_checks(snapshot, snippets, servers)
    serial = (args.serial,) if args.serial > 0 else (1, 0)
    with cancel_on_signals(cancel):
        results = apply_hosts(
            plans,
            servers,
            max_parallel=args.parallel,
            lock_wait=args.lock_wait,
            checks=checks,
            serial=serial,
            max_fail=args.max_fail,
            cancel=cancel,
            opener=pool,
        )
    show_results(results)
    audit(results)
    return exit_code(cancel, all(r.ok for r in results))


def dry_run(pending: list[HostPlan], servers: Mapping[str, WebServerConfig], failed: bool) -> int:
    """Each changed host's candidate under ``nginx -t``: its whole config copied to a private
    temp dir on the host, with the new snippets in it. Nothing live changes."""
    bad = False
    for plan in pending:
        problem = staged_test(plan, servers[plan.name])
        print(f"{plan.name}: staged nginx -t: {problem or 'passed'}")
        bad = bad or bool(problem)
    print(f"dry run: {len(pending)} host(s) would change")
    return 1 if failed or bad else 0
