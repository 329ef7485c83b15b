"""`aktui push` to 1, 8 and 32 hosts over a 40 ms RTT network: does parallelism pay on a network?

    .venv/bin/python bench/bench_push.py [--sizes 1,8,32] [--delay-ms 20] [--repeat 2]
                                         [--mode auto|netem|proxy]

Starts real web hosts as the tests do (tests/fixtures/webhost.py: one sshd and one nginx each)
and a small fake outpost, then times plan + apply (lock, backup, writes, nginx -T, reload, the
reload-took proof, the 302 check) of a first push to 1, 8 and 32 hosts at once.

The network: ``--delay-ms`` each way (40 ms RTT by default).
- ``netem``: the whole bench runs in its own network namespace whose loopback has
  ``tc qdisc netem delay`` (every packet, SSH and HTTP alike). Needs root and sch_netem.
- ``proxy``: a userspace TCP proxy in another process delays every byte of each SSH connection
  (the only traffic between aktui and a web server; the 302 check runs from here, undelayed).
- ``auto`` (default): netem if this kernel has it, else the proxy; the table says which.

Goal (issue 16): 8 hosts <= 1.3x one host, 32 hosts <= 2x. Every "host" shares this machine's
cores with aktui (sshd, nginx -T, reloads), so aktui's own CPU per host is reported too: that is
what a real fleet of separate servers would share. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aktui.config import Config, OutpostMapping, WebServerConfig  # noqa: E402
from aktui.deploy.push import (  # noqa: E402
    SessionPool,
    apply_hosts,
    plan_hosts,
    redirect_verifier,
)
from aktui.deploy.snippets import build_snippets  # noqa: E402
from tests.fixtures import pushdata  # noqa: E402
from tests.fixtures.webhost import WebHost, keygen, start_webhost  # noqa: E402

GOALS = {8: 1.3, 32: 2.0}


class _Outpost(http.server.BaseHTTPRequestHandler):
    """Enough of a proxy outpost for the 302 check: /auth/nginx 401, /start 302."""

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
    snap = pushdata.snapshot()
    config = Config(outposts={"outpost-single": OutpostMapping(address="127.0.0.1", port=port)})
    return build_snippets(snap, config).files


def netem_namespace(delay_ms: int) -> str:
    """A namespace with loopback up and netem delay on it; '' when this kernel cannot."""
    name = f"aktui-bench-{os.getpid()}"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
         "delay", f"{delay_ms}ms"],
    ]  # fmt: skip
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            done = subprocess.CompletedProcess(argv, 1, "", str(e))
        if done.returncode != 0:
            print(f"netem unavailable ({' '.join(argv[:4])}...: {done.stderr.strip()})")
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
            return ""
    return name


class DelayProxy:
    """bench/_delay_proxy.py in its own process: one delayed port per sshd."""

    def __init__(self, delay: float, ports: list[int]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "_delay_proxy.py"), str(delay), *map(str, ports)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port: dict[int, int] = {}
        for line in iter(self.proc.stdout.readline, "\n"):
            listen, target = map(int, line.split())
            self.port[target] = listen

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def configs(
    hosts: list[WebHost], proxy: DelayProxy | None, tmp: Path
) -> dict[str, WebServerConfig]:
    out = {}
    for h in hosts:
        cfg = h.web_server_config()
        if proxy is not None:  # through the delayed port: known_hosts names that port
            port = proxy.port[h.ssh_port]
            known = tmp / f"known_hosts-{h.name}"
            known.write_text(f"[127.0.0.1]:{port} {h.host_key_pub}\n")
            cfg = replace(cfg, port=port, known_hosts=str(known))
        out[h.name] = cfg
    return out


def busy_seconds() -> float:
    """CPU seconds this machine spent busy so far, all cores (/proc/stat), for the saturation
    column: sshd, nginx and the proxy of every host run here too."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def push(
    hosts: list[WebHost], servers: dict[str, WebServerConfig], files: dict[str, str], **kw: object
) -> tuple[float, float, float, set[str]]:
    """(wall seconds, this process's CPU seconds, the machine's busy CPU seconds, result
    statuses) of plan + apply."""
    chosen = {h.name: servers[h.name] for h in hosts}
    verifiers = {h.name: redirect_verifier(h.url("/")) for h in hosts}
    began, cpu, busy = time.perf_counter(), time.process_time(), busy_seconds()
    pool = SessionPool()  # as `aktui push --yes`: one session per host for plan and apply
    try:
        plans = plan_hosts(chosen, lambda name, cfg: files, max_parallel=len(hosts), opener=pool)
        results = apply_hosts(
            plans, chosen, max_parallel=len(hosts), verifiers=verifiers, opener=pool, **kw
        )
    finally:
        pool.close()
    wall = time.perf_counter() - began
    return wall, time.process_time() - cpu, busy_seconds() - busy, {r.status for r in results}


def run(sizes: list[int], delay_ms: int, repeat: int, network: str) -> int:
    outpost = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Outpost)
    outpost.daemon_threads = True
    threading.Thread(target=outpost.serve_forever, daemon=True).start()
    files = snippet_files(outpost.server_address[1])
    hosts: list[WebHost] = []
    proxy: DelayProxy | None = None
    n = max(sizes)
    with tempfile.TemporaryDirectory(prefix="aktui-bench-push-") as tmp:
        try:
            key = Path(tmp) / "id_ed25519"
            keygen(key, "aktui-bench")
            began = time.perf_counter()
            for i in range(n):
                hosts.append(start_webhost(f"web{i + 1}", Path(tmp) / f"web{i + 1}", key))
            print(f"started {n} sshd+nginx pairs in {time.perf_counter() - began:.1f} s")
            if network == "proxy":
                proxy = DelayProxy(delay_ms / 1000, [h.ssh_port for h in hosts])
            servers = configs(hosts, proxy, Path(tmp))
            cases = [(f"{size} host(s) at once", size, {}) for size in sizes]
            if 8 in sizes:
                cases.append(("8 hosts, first alone (CLI default)", 8, {"serial": (1, 0)}))
            rows = []
            for label, size, kw in cases:
                wall, cpu, load, seen = [], [], [], set()
                for _ in range(repeat):
                    for h in hosts[:size]:
                        h.reset()  # empty snippet dir: the push writes, tests and reloads
                    seconds, client, busy, statuses = push(hosts[:size], servers, files, **kw)
                    wall.append(seconds)
                    cpu.append(client)
                    load.append(busy / seconds / (os.cpu_count() or 1))
                    seen |= statuses
                rows.append((label, size, min(wall), statistics.median(wall), cpu, load, seen))
        except BaseException as e:  # pytest.skip/fail from the fixture helpers: say why
            if type(e).__name__ in ("Skipped", "Failed"):
                print(f"cannot start the web hosts: {e}")
                return 1
            raise
        finally:
            if proxy is not None:
                proxy.stop()
            for h in hosts:
                h.stop()
            outpost.shutdown()

    base = rows[0][2]
    print(f"\nnetwork: {network}, {delay_ms} ms each way ({2 * delay_ms} ms RTT); "
          f"{os.cpu_count()} CPU(s) shared by aktui and every host's sshd + nginx")  # fmt: skip
    head = f"{'case':<36} {'best s':>7} {'median s':>8} {'vs 1':>6} {'goal':>6} {'met':>4}"
    print(f"{head} {'aktui CPU s':>11} {'CPU/host ms':>11} {'machine busy':>12}  results")
    for label, size, best, median, cpu, load, seen in rows:
        ratio = best / base
        goal = GOALS.get(size) if "at once" in label else None
        shown_goal = f"<={goal:g}x" if goal else ""
        met = ("yes" if ratio <= goal else "NO") if goal else ""
        client = statistics.median(cpu)
        print(
            f"{label:<36} {best:>7.2f} {median:>8.2f} {ratio:>5.2f}x {shown_goal:>6} {met:>4}"
            f" {client:>11.2f} {1000 * client / size:>11.1f} {statistics.median(load):>11.0%}"
            f"  {','.join(sorted(seen))}"
        )
    print(
        "machine busy: share of all cores busy during the push (everyone's processes); near"
        " 100% means the hosts' own sshd/nginx work, not aktui, sets the pace here"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,32", help="host counts (default 1,8,32)")
    parser.add_argument("--delay-ms", type=int, default=20, help="one way (default 20)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--mode", choices=["auto", "netem", "proxy"], default="auto")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | {1})
    if args.inside:
        return run(sizes, args.delay_ms, args.repeat, "netem")
    if args.mode != "proxy":
        namespace = netem_namespace(args.delay_ms) if os.geteuid() == 0 else ""
        if namespace:
            try:
                argv = [sys.executable, __file__, "--inside", *sys.argv[1:]]
                return subprocess.run(["ip", "netns", "exec", namespace, *argv]).returncode
            finally:
                subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        if args.mode == "netem":
            print("netem mode asked for but not available here")
            return 1
    return run(sizes, args.delay_ms, args.repeat, "proxy")


if __name__ == "__main__":
    sys.exit(main())
