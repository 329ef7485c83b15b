"""`aktui lint-nginx [PATH ...|-]`: check NGINX config for the field guide's forward-auth
pitfalls, with file:line. Exit 0 clean (info only), 1 warnings, 2 errors, as `aktui doctor`.

`aktui doctor --nginx` calls ``run`` (or ``aktui.nginx.lint``) with the same options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from aktui import __version__
from aktui.errors import AktuiError
from aktui.nginx.config import Config, load_paths, load_text
from aktui.nginx.lint import RULES, Env, LintReport, lint_configs, make_env
from aktui.nginx.report import format_json, format_sarif, format_text
from aktui.nginx.sources import MAX_TOTAL_BYTES

DEFAULT_CONFIG = "/etc/nginx/nginx.conf"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check nginx config files, directories or an `nginx -T` dump (`-`: stdin) for "
        "authentik forward-auth pitfalls. Exit 0 clean, 1 warnings, 2 errors."
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"config file, directory, or - for stdin (default: stdin if piped, "
        f"else {DEFAULT_CONFIG})",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object on stdout")
    out.add_argument("--sarif", action="store_true", help="SARIF 2.1.0 for CI code scanning")
    parser.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="also read includes under DIR (includes outside the given paths are not read)",
    )
    parser.add_argument(
        "--follow-includes",
        action="store_true",
        help="read includes wherever they point",
    )
    parser.add_argument(
        "--prefix", metavar="DIR", help="nginx conf prefix for relative includes (nginx -p)"
    )
    parser.add_argument(
        "--authentik-url",
        action="append",
        default=[],
        metavar="URL",
        help="the authentik server's address: outpost locations proxying there are errors",
    )
    parser.add_argument(
        "--outpost",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="an outpost container's address (never reported as the embedded outpost)",
    )
    parser.add_argument("--list-checks", action="store_true", help="print the check ids")


def _opt(args: argparse.Namespace, name: str, default: object = None) -> object:
    """Options by name with defaults: `aktui doctor --nginx` builds its own Namespace and
    passes only what it has (at least ``paths``)."""
    value = getattr(args, name, default)
    return default if value is None else value


def _env(args: argparse.Namespace) -> Env:
    """Known addresses from the flags, plus the aktui config when one exists (its contexts'
    authentik URLs and its outpost mappings), so embedded-outpost-target is decided, not
    guessed. A broken aktui config must not stop a lint: it is reported and skipped."""
    urls = list(_opt(args, "authentik_url", []))  # type: ignore[call-overload]
    outposts = list(_opt(args, "outpost", []))  # type: ignore[call-overload]
    try:
        from aktui.config import load_config

        config = load_config(getattr(args, "config", None), required=False)
        contexts = config.contexts
        wanted = getattr(args, "context", None)
        urls += [c.url for name, c in contexts.items() if c.url and (not wanted or name == wanted)]
        outposts += [
            f"{m.address}:{m.port}" if m.port else m.address
            for m in config.outposts.values()
            if m.address
        ]
    except AktuiError as e:
        print(f"aktui lint-nginx: aktui config not used: {e}", file=sys.stderr)
    return make_env(urls, outposts)


def _read_stdin(stdin: TextIO) -> str:
    # Read one character past the limit: the loader then refuses it with a clear finding.
    return stdin.read(MAX_TOTAL_BYTES + 1)


def load(args: argparse.Namespace, stdin: TextIO | None = None) -> list[Config]:
    stdin = stdin or sys.stdin
    paths: Sequence[str] = _opt(args, "paths", [])  # type: ignore[assignment]
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        paths = ["-"] if not stdin.isatty() else [DEFAULT_CONFIG]
    roots: list[str] = _opt(args, "root", [])  # type: ignore[assignment]
    prefix: str | None = _opt(args, "prefix")  # type: ignore[assignment]
    configs: list[Config] = []
    files = [p for p in paths if p != "-"]
    if "-" in paths:
        configs += load_text(_read_stdin(stdin), "<stdin>", roots=roots, prefix=prefix)
    if files:
        follow = bool(_opt(args, "follow_includes", False))
        configs += load_paths(files, roots=roots, prefix=prefix, follow_any_include=follow)
    return configs


def lint_args(args: argparse.Namespace, stdin: TextIO | None = None) -> LintReport:
    """The report for parsed arguments; the doctor uses this to show findings on screen."""
    return lint_configs(load(args, stdin), _env(args))


def run(args: argparse.Namespace) -> int:
    if _opt(args, "list_checks", False):
        for check_id, text in RULES.items():
            print(f"{check_id:28} {text}")
        return 0
    report = lint_args(args)
    # Unreadable files also get one line each on stderr, whatever the format, so they are not
    # lost in a long report (the report still lists them and the exit code counts them).
    for f in report.findings:
        if f.check_id in ("config-unparseable", "config-refused", "config-unreadable"):
            print(f"aktui lint-nginx: {f.where()}: {f.evidence}", file=sys.stderr)
    if _opt(args, "json", False):
        print(format_json(report))
    elif _opt(args, "sarif", False):
        print(format_sarif(report, __version__))
    else:
        print(format_text(report))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    """For `python -m aktui.cmd.lint_nginx` and tests that bypass the top-level CLI."""
    parser = argparse.ArgumentParser(prog="aktui lint-nginx")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
