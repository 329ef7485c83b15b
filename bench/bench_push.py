"""Time of `aktui push` (plan + apply) to 1 host vs N hosts, and of a push that changes nothing.

    .venv/bin/python bench/bench_push.py [--hosts 8] [--repeat 3]

Starts N real web hosts as the test fixture does (tests/fixtures/webhost.py: one sshd and one
nginx each, on free 127.0.0.1 ports) and a small fake outpost, then per round:

- first push to 1 host: diff, lock, backup, atomic writes, nginx -t, reload, verify (a GET of
  the site through that nginx must answer the 302 to /outpost.goauthentik.io/start);
- the same first push to all N hosts at once (``apply_hosts``' bounded parallelism), and the
  same N hosts one at a time (``--parallel 1``) for comparison;
- a push that changes nothing, to 1 and to N hosts: it only reads the remote files.

Goal (issue 7): N=8 parallel within 2x of 1 host. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aktui.authentik.model import Outpost, ProxyProvider, Snapshot  # noqa: E402
from aktui.config import Config, OutpostMapping  # noqa: E402
from aktui.deploy.push import apply_hosts, plan_hosts, redirect_verifier  # noqa: E402
from aktui.deploy.snippets import build_snippets  # noqa: E402
from tests.fixtures.webhost import WebHost, keygen, start_webhost  # noqa: E402


class _Outpost(http.server.BaseHTTPRequestHandler):
    """Enough of a proxy outpost for the verify step: /auth/nginx 401, /start 302."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/outpost.goauthentik.io/auth/nginx"):
            self.send_response(401)
            self.send_header("Set-Cookie", "authentik_proxy_bench=x; Path=/")
        elif self.path.startswith("/outpost.goauthentik.io/start"):
            self.send_response(302)
            self.send_header("Location", "https://auth.example.com/application/o/authorize/")
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def snippet_files(port: int) -> dict[str, str]:
    snap = Snapshot(
        datetime(2026, 1, 1, tzinfo=UTC),
        "https://auth.example.com",
        "2026.2.0",
        (Outpost("s", "outpost-single", "proxy", (1,)),),
        (ProxyProvider(1, "app", "forward_single", "https://app.example.com"),),
        (),
        (),
    )
    config = Config(outposts={"outpost-single": OutpostMapping(address="127.0.0.1", port=port)})
    return build_snippets(snap, config).files


def push(
    hosts: list[WebHost], files: dict[str, str], parallel: int
) -> tuple[float, float, set[str]]:
    """(wall seconds, this process's CPU seconds, result statuses) of plan + apply."""
    servers = {h.name: h.web_server_config() for h in hosts}
    verifiers = {h.name: redirect_verifier(h.url("/")) for h in hosts}
    began, cpu = time.perf_counter(), time.process_time()
    plans = plan_hosts(servers, lambda name, cfg: files, max_parallel=parallel)
    results = apply_hosts(plans, servers, max_parallel=parallel, verifiers=verifiers)
    done = time.perf_counter() - began, time.process_time() - cpu
    return *done, {r.status for r in results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = max(2, args.hosts)

    outpost = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Outpost)
    outpost.daemon_threads = True
    threading.Thread(target=outpost.serve_forever, daemon=True).start()
    files = snippet_files(outpost.server_address[1])
    hosts: list[WebHost] = []
    with tempfile.TemporaryDirectory(prefix="aktui-bench-push-") as tmp:
        try:
            key = Path(tmp) / "id_ed25519"
            keygen(key, "aktui-bench")
            began = time.perf_counter()
            for i in range(n):
                hosts.append(start_webhost(f"web{i + 1}", Path(tmp) / f"web{i + 1}", key))
            print(f"started {n} sshd+nginx pairs in {time.perf_counter() - began:.2f} s")
            times: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}
            statuses: dict[str, set[str]] = {}
            cases = [
                ("first push, 1 host", hosts[:1], 8, True),
                (f"first push, {n} hosts parallel", hosts, 8, True),
                (f"first push, {n} hosts one at a time", hosts, 1, True),
                ("no change, 1 host", hosts[:1], 8, False),
                (f"no change, {n} hosts parallel", hosts, 8, False),
            ]
            for _ in range(args.repeat):
                for label, group, parallel, fresh in cases:
                    if fresh:
                        for h in group:
                            h.reset()  # empty snippet dir: the push writes and reloads
                    seconds, client, seen = push(group, files, parallel)
                    times.setdefault(label, []).append(seconds)
                    cpu.setdefault(label, []).append(client)
                    statuses.setdefault(label, set()).update(seen)
        except BaseException as e:  # pytest.skip/fail from the fixture helpers: say why
            if type(e).__name__ in ("Skipped", "Failed"):
                print(f"cannot start the web hosts: {e}")
                return 1
            raise
        finally:
            for h in hosts:
                h.stop()
            outpost.shutdown()

    base = min(times["first push, 1 host"])
    head = (
        f"{'case':<34} {'hosts':>5} {'best s':>7} {'median s':>8} {'vs 1':>6} {'aktui CPU s':>11}"
    )
    print(f"\n{head}  results")
    for label, group, _parallel, _fresh in cases:
        best, median = min(times[label]), statistics.median(times[label])
        ratio = f"{best / base:.2f}x" if label.startswith("first") else ""
        client = statistics.median(cpu[label])
        shown = ",".join(sorted(statuses[label]))
        print(
            f"{label:<34} {len(group):>5} {best:>7.3f} {median:>8.3f} {ratio:>6} {client:>11.3f}"
            f"  {shown}"
        )
    ratio = min(times[f"first push, {n} hosts parallel"]) / base
    print(f"\ngoal: {n} hosts parallel within 2x of 1 host: {ratio:.2f}x")
    # Here every "host" (its sshd, nginx -t, reload) runs on this machine's cores next to
    # aktui itself; on real separate servers only aktui's own CPU (the column) is shared.
    print(f"all {n} hosts share this machine's {os.cpu_count()} CPU(s) with aktui")
    return 0


if __name__ == "__main__":
    sys.exit(main())
