"""``aktui lab``: run the simulated lab (authentik API simulator + fake proxy outposts) in the
foreground, for trying aktui against it from another terminal or for benchmarks."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType


def configure(parser: argparse.ArgumentParser) -> None:
    from aktui.lab.versions import CURRENT, LINES

    parser.add_argument(
        "--authentik",
        default=CURRENT,
        metavar="VERSION",
        help=(
            "answer as this authentik version: "
            + ", ".join(f"{v.line} ({v.version})" for v in LINES.values())
            + f"; default {CURRENT}"
        ),
    )
    parser.add_argument(
        "--outpost-logs",
        choices=("go", "rust"),
        default="go",
        help="outposts log as the Go proxy outpost (logrus JSON) or the Rust one of 2026.8+",
    )
    scale = parser.add_argument_group("scale (totals; the default lab is the minimum)")
    scale.add_argument("--providers", type=int, default=0, metavar="N", help="proxy providers")
    scale.add_argument("--apps", type=int, default=0, metavar="N", help="applications")
    scale.add_argument("--outposts", type=int, default=0, metavar="N", help="outposts")
    scale.add_argument(
        "--processes",
        type=int,
        default=16,
        metavar="N",
        help="at most N outpost processes; the rest get simulated instances",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0,
        metavar="MS",
        help="delay every API answer (a remote server)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=9000,
        metavar="P",
        help="API port (default 9000, as authentik; a free one if busy)",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=9001,
        metavar="P",
        help="first outpost port (outpost-single), then +1 per outpost",
    )
    parser.add_argument(
        "--refresh-interval",
        type=float,
        default=300,
        metavar="S",
        help="outposts reload their config every S seconds (authentik: 300)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0,
        metavar="S",
        help="stop after S seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="edit config, drop websockets and crash outposts now and then",
    )
    pitfalls = parser.add_mutually_exclusive_group()
    pitfalls.add_argument(
        "--pitfall",
        action="append",
        metavar="NAME",
        help="only this deliberate misconfiguration (repeatable; see --list-pitfalls)",
    )
    pitfalls.add_argument(
        "--clean", action="store_true", help="no deliberate misconfiguration at all"
    )
    parser.add_argument(
        "--list-pitfalls", action="store_true", help="print the pitfall names and exit"
    )
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the token, outpost tokens and logs here (else a temp dir)",
    )


def run(args: argparse.Namespace) -> int:
    from aktui.lab import Lab
    from aktui.lab.scenario import PITFALLS

    if args.list_pitfalls:
        print("\n".join(PITFALLS))
        return 0
    from aktui.lab.versions import api_version

    unknown = sorted(set(args.pitfall or ()) - set(PITFALLS))
    if unknown:
        print(f"aktui lab: unknown pitfall {unknown[0]!r} (see --list-pitfalls)", file=sys.stderr)
        return 2
    try:
        authentik = api_version(args.authentik)
    except ValueError as e:
        print(f"aktui lab: --authentik: {e}", file=sys.stderr)
        return 2
    lab = Lab(
        authentik=authentik.line,
        outpost_logs=args.outpost_logs,
        pitfalls=() if args.clean else args.pitfall,
        providers=args.providers,
        apps=args.apps,
        outposts=args.outposts,
        max_processes=args.processes,
        latency_ms=args.latency_ms,
        port=args.port,
        base_port=args.base_port,
        refresh_interval=args.refresh_interval,
        chaos=args.chaos,
        workdir=args.workdir,
    )
    done = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    try:
        lab.start()
        print(_banner(lab), flush=True)
        if lab.chaos is not None:  # say what changed, so the operator can look for it in aktui
            lab.chaos.on_action = lambda text: print(
                f"{time.strftime('%H:%M:%S')} chaos: {text}", flush=True
            )
        while not done.wait(0.5):
            if args.duration and time.monotonic() - started >= args.duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, previous)
    print("lab stopped", file=sys.stderr)
    return 0


def _banner(lab: object) -> str:
    from aktui.lab import Lab

    assert isinstance(lab, Lab) and lab.state is not None and lab.runtime is not None
    st = lab.state
    outposts = "\n".join(
        f"  {name:<22} http://127.0.0.1:{port}" for name, port in lab.ports.items()
    )
    notes = "".join(f"note: {n}\n" for n in lab.notes)
    return (
        f"{notes}authentik {len(st.providers)} providers, {len(st.applications)} applications, "
        f"{len(st.outposts)} outposts (API simulator, authentik {st.api.version})\n"
        f"API:        {lab.url}/api/v3/\n"
        f"token file: {lab.token_file} (0600)\n"
        f"logs:       {lab.runtime.workdir / 'logs'}\n"
        f"outposts:\n{outposts}\n\n"
        "config for another terminal (aktui --config lab.yaml status):\n"
        "  contexts:\n"
        "    lab:\n"
        f"      url: {lab.url}\n"
        f"      token_file: {lab.token_file}\n\n"
        "Ctrl-C stops the lab and every process it started."
    )
