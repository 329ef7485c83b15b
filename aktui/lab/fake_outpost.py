"""A fake authentik proxy outpost (2023.10.7) as a real local process.

    python -m aktui.lab.fake_outpost --name NAME --port PORT --api URL --token-file F
        [--log-file F] [--version V] [--hostname H] [--browser-url URL]
        [--refresh-interval S] [--hello-interval S] [--seed S] [--log-format go|rust]

Like the Go outpost it loads its configuration from the API (``/outposts/instances/``, which
its own token limits to its outpost, then ``/outposts/proxy/``) at start, on SIGUSR1 and every
refresh interval, and never otherwise: when the simulated config changes it keeps serving the
old one (stale) until reloaded or restarted. It says HELLO every 10 s with a uid that is new at
each process start, and writes the outpost's log lines to stdout, one flush per line: the Go
outpost's logrus JSON, or with ``--log-format rust`` the Rust outpost's (2026.8+) tracing JSON.
stdin takes lab commands, one per line: ``crash`` (a Go panic, exit 2), ``refresh``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, TextIO

from aktui.lab.proxyapp import PREFIX, OutpostInfo, ProxyApp, http_handler
from aktui.lab.wire import (
    LabHTTPServer,
    Logger,
    Reply,
    Req,
    RustEvent,
    Sessions,
    go_float,
    prom_labels,
)

API_LOGGER = "authentik.outpost.ak-api-controller"
PROXY_LOGGER = "authentik.outpost.proxyv2"

# The Rust outpost's wording for the Go lines the fake logs, from its source (goauthentik/
# authentik src/outpost/mod.rs, event.rs, proxy/mod.rs, proxy/application/handlers/mod.rs).
# Lines without a known Rust counterpart keep their Go wording (not verified).
_MOD = ("authentik::outpost", "src/outpost/mod.rs")
_EVENT = ("authentik::outpost::event", "src/outpost/event.rs")
_PROXY = ("authentik::outpost::proxy", "src/outpost/proxy/mod.rs")
_HANDLERS = (
    "authentik::outpost::proxy::application::handlers",
    "src/outpost/proxy/application/handlers/mod.rs",
)
_FETCH_OUTPOST = RustEvent(
    "Failed to fetch outpost from API, retrying in 3 seconds", *_MOD, 56, level="warn"
)
_WS_ERROR = RustEvent("websocket error", *_EVENT, 336)
_BAD_STATE = RustEvent("invalid oauth state", *_HANDLERS, 262)
RUST_EVENTS: dict[str, RustEvent] = {
    "Loaded application": RustEvent("loaded application", *_PROXY, 100),
    "No providers assigned to this outpost, check outpost configuration in authentik": RustEvent(
        "no providers assigned to this outpost, check outpost configuration in authentik",
        *_PROXY,
        82,
    ),
    "Failed to fetch providers": RustEvent("failed to fetch providers", *_PROXY, 76),
    "Failed to fetch outpost configuration": _FETCH_OUTPOST,
    "Failed to fetch outpost configuration, retrying in 3 seconds": _FETCH_OUTPOST,
    "Outpost mode": RustEvent("outpost mode", *_MOD, 134),
    "Successfully connected websocket": RustEvent("connected to websocket", *_EVENT, 235),
    "event read error": _WS_ERROR,
    "failed to connect websocket": _WS_ERROR,
    "failed to redeem code": RustEvent(
        "failed to redeem callback; restarting auth flow", *_HANDLERS, 286
    ),
    "failed to parse state jwt": _BAD_STATE,
    "state jwt without issuer": _BAD_STATE,
    "invalid state jwt issuer": _BAD_STATE,
    "invalid state": RustEvent("oauth state does not match the session", *_HANDLERS, 266),
    # src/outpost/event.rs: what starts each refresh ("loaded application" lines follow)
    "refresh: start": RustEvent("refreshing outpost forcefully", *_EVENT, 142),
    "refresh: interval": RustEvent("refreshing outpost on interval", *_EVENT, 262),
    "refresh: signal": RustEvent("refreshing outpost on signal", *_EVENT, 290),
    "refresh: failed": RustEvent("failed to refresh", *_EVENT, 275, level="warn"),
}


def rust_event(message: str, fields: dict[str, Any]) -> RustEvent:
    """The Rust outpost's line for a Go message the fake logs (``fields`` adjusted in place)."""
    if message.startswith("waiting ") and message.endswith(" seconds to reconnect"):
        delay = message.split()[1]
        fields.update(attempt=int(delay) if delay.isdigit() else 0, delay=delay)
        return RustEvent(f"reconnecting websocket in {delay}s...", *_EVENT, 343)
    logger = str(fields.get("logger", ""))
    target = "authentik::outpost::proxy" if logger.endswith("proxyv2") else "authentik::outpost"
    return RUST_EVENTS.get(message) or RustEvent(message, target, "src/outpost/mod.rs", 1)


class FetchError(Exception):
    pass


class FakeOutpost(OutpostInfo):
    def __init__(self, args: argparse.Namespace, log: Logger, rng: random.Random) -> None:
        self.args = args
        self.name = args.name
        self.version = args.version
        self.api = args.api.rstrip("/")
        self.browser_url = args.browser_url
        self.token = open(args.token_file).read().strip()  # noqa: SIM115 - read once
        self.hostname = args.hostname or f"ak-outpost-{args.name}-{rng.getrandbits(24):06x}"
        # uuid.New() at every process start, seeded or not: a new uid is how aktui (and the
        # operator) sees that an outpost restarted
        self.uid = str(uuid.uuid4())
        self.sessions = Sessions()
        self.log = log
        self.outpost: dict[str, Any] = {}
        self.apps: dict[str, ProxyApp] = {}  # external host netloc -> app; swapped whole
        self.last_update = 0.0
        self.connected = False
        self.stop = threading.Event()
        self.refresh_now = threading.Event()

    # --- API -------------------------------------------------------------------------------

    def fetch(self, path: str, method: str = "GET", body: Any = None) -> Any:
        url = self.api + "/api/v3" + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"goauthentik.io/outpost/{self.version}",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise FetchError(f"{exc.code} {exc.reason}") from None  # the Go client's wording
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ConnectionRefusedError):
                host = urllib.parse.urlsplit(self.api).netloc
                reason = f"dial tcp {host}: connect: connection refused"
            raise FetchError(f'{method.title()} "{url}": {reason}') from None

    def fetch_all(self, path: str) -> list[Any]:
        """ak/api_utils.go: page_size=100, follow pagination.next while > 0."""
        results: list[Any] = []
        page = 1
        while page:
            sep = "&" if "?" in path else "?"
            body = self.fetch(f"{path}{sep}page={page}&page_size=100")
            results.extend(body["results"])
            page = int(body["pagination"]["next"])
        return results

    def first_fetch(self) -> bool:
        """NewAPIController(): the outpost itself must load before anything else starts."""
        try:
            outposts = self.fetch_all("/outposts/instances/")
        except FetchError as exc:
            self.log(
                "Failed to fetch outpost configuration, retrying in 3 seconds",
                "error",
                logger=API_LOGGER,
                error=str(exc),
            )
            return False
        if not outposts:
            self.log(
                "No outposts found with given token, ensure the given token corresponds to "
                "an authentik Outpost",
                "panic",
                logger=API_LOGGER,
            )
            os._exit(2)
        self.outpost = outposts[0]
        return True

    def refresh(self, trigger: str = "") -> bool:
        """OnRefresh(): outpost config, then providers; a failure keeps the old apps.
        ``trigger`` (start, interval, signal) is logged by the Rust outpost only."""
        if trigger and self.args.log_format == "rust":
            self.log(f"refresh: {trigger}")
        try:
            outposts = self.fetch_all("/outposts/instances/")
            if not outposts:
                raise FetchError("no outposts")
            outpost = outposts[0]
        except FetchError as exc:
            self.log("Failed to fetch outpost configuration", "error", error=str(exc))
            return False
        try:
            providers = self.fetch_all("/outposts/proxy/")
        except FetchError as exc:
            self.log("Failed to fetch providers", "error", logger=PROXY_LOGGER, error=str(exc))
            if self.args.log_format == "rust":
                self.log("refresh: failed", "warning", error=str(exc))
            return False
        self.outpost = outpost
        self.name = outpost.get("name", self.name)
        apps = {}
        for cfg in providers:
            app = ProxyApp(cfg, self, self.log)
            apps[app.host] = app
            self.log("Loaded application", logger=PROXY_LOGGER, name=app.name, host=app.host)
        if not apps:
            self.log(
                "No providers assigned to this outpost, check outpost configuration in authentik",
                "warning",
                logger=PROXY_LOGGER,
            )
        self.apps = apps
        self.last_update = time.time()
        return True

    def report(self, message: str, **context: str) -> None:
        """ReportMisconfiguration(): a configuration_error event in authentik."""
        body = {
            "action": "configuration_error",
            "app": "authentik.outpost.proxyv2",
            "context": {"message": message, **context},
        }
        with contextlib.suppress(FetchError):  # the 500 to nginx matters, the event less
            self.fetch("/events/events/", "POST", body)

    def hello(self) -> str | None:
        """One HELLO over the lab's stand-in for /ws/outpost/<uuid>/; the error text is what
        the Go websocket client would say."""
        args: dict[str, Any] = {"version": self.version, "buildHash": "", "uuid": self.uid}
        if self.args.log_format != "rust":  # the Rust outpost sends no Go/OpenSSL versions
            args |= {"golangVersion": "go1.21.3", "opensslEnabled": False, "opensslVersion": ""}
        args["hostname"] = self.hostname
        url = f"{self.api}/_lab/ws/outpost/{self.outpost.get('pk', '')}/"
        data = json.dumps({"instruction": 1, "args": args}).encode()
        req = urllib.request.Request(url, data, {"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=5):
                return None
        except urllib.error.HTTPError as exc:
            if exc.code == 403:
                return "websocket: bad handshake"
            return "websocket: close 1006 (abnormal closure): unexpected EOF"
        except OSError:
            host = urllib.parse.urlsplit(self.api).netloc
            return f"dial tcp {host}: connect: connection refused"

    # --- loops -----------------------------------------------------------------------------

    def events_loop(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            error = self.hello()
            if error is None:
                if not self.connected:
                    self.log(
                        "Successfully connected websocket",
                        logger="authentik.outpost.events",
                        outpost=self.outpost.get("pk", ""),
                    )
                self.connected, attempt = True, 0
                self.stop.wait(self.args.hello_interval)
                continue
            if self.connected:
                self.log(
                    "event read error",
                    "warning",
                    logger=API_LOGGER,
                    loop="event-handler",
                    error=error,
                )
            else:
                self.log("failed to connect websocket", "warning", logger=API_LOGGER, error=error)
            self.connected = False
            attempt += 1
            self.log(f"waiting {attempt} seconds to reconnect", logger=API_LOGGER)
            self.stop.wait(min(2 ** (attempt - 1), 30))

    def refresh_loop(self) -> None:
        while not self.stop.is_set():
            signalled = self.refresh_now.wait(self.args.refresh_interval)
            if self.stop.is_set():
                return
            self.refresh_now.clear()
            self.refresh("signal" if signalled else "interval")

    def stdin_loop(self, stream: TextIO) -> None:
        for line in stream:
            command = line.strip()
            if command == "crash":
                self.crash()
            elif command == "refresh":
                self.refresh_now.set()
        if self.args.exit_on_stdin_eof:
            self.stop.set()  # the lab that started us is gone: no orphan outposts

    def crash(self) -> None:
        """What a Go panic leaves in `docker logs`: plain text on stderr, then exit code 2."""
        sys.stdout.flush()
        sys.stderr.write(
            "panic: runtime error: invalid memory address or nil pointer dereference\n"
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x10 pc=0xd3a1c4]\n\n"
            "goroutine 87 [running]:\n"
            "goauthentik.io/internal/outpost/proxyv2/application.(*Application).getClaims"
            "FromSession(0xc0004a2000, 0xc000512300)\n"
            "\t/go/src/goauthentik.io/internal/outpost/proxyv2/application/session.go:112 "
            "+0x44\n"
        )
        sys.stderr.flush()
        os._exit(2)

    # --- HTTP ------------------------------------------------------------------------------

    def metrics(self) -> str:
        """ak/metrics.go gauges, as client_golang prints them (labels sorted)."""
        base = {"outpost_name": self.name, "outpost_type": "proxy", "uuid": self.uid}
        update = {"build": "tagged", **base, "version": self.version}
        return (
            "# HELP authentik_outpost_connection Connection status\n"
            "# TYPE authentik_outpost_connection gauge\n"
            f"authentik_outpost_connection{{{prom_labels(base)}}} {int(self.connected)}\n"
            "# HELP authentik_outpost_last_update Time of last update\n"
            "# TYPE authentik_outpost_last_update gauge\n"
            f"authentik_outpost_last_update{{{prom_labels(dict(sorted(update.items())))}}} "
            f"{go_float(self.last_update)}\n"
        )

    def lookup(self, host: str) -> ProxyApp | None:
        """handlers.go lookupApp(): exact host, else the longest matching cookie domain."""
        apps = self.apps
        if host in apps:
            return apps[host]
        best, length = None, 0
        for app in apps.values():
            domain = app.cookie_domain
            matches = domain and host.split(":")[0].endswith(domain)
            if app.mode == "forward_domain" and matches and len(domain) > length:
                best, length = app, len(domain)
        return best

    def serve(self, req: Req) -> tuple[Reply, ProxyApp | None]:
        if req.path == f"{PREFIX}/ping":
            return Reply(204), None
        if req.path == "/metrics":
            ctype = "text/plain; version=0.0.4; charset=utf-8"
            return Reply(200, self.metrics().encode(), [("Content-Type", ctype)]), None
        app = self.lookup(req.host)
        if app is None and len(self.apps) == 1:
            app = next(iter(self.apps.values()))  # a single app takes every host
        if app is None:
            self.log("no app for hostname", "warning", logger=PROXY_LOGGER, host=req.host)
            body = json.dumps(
                {
                    "Message": "no app for hostname",
                    "Host": req.host,
                    "Detail": f"Check the outpost settings and make sure '{req.host}' is included.",
                },
                indent="\t",
            )
            return Reply(400, body.encode(), [("Content-Type", "application/json")]), None
        return app.handle(req), app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aktui.lab.fake_outpost")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="authentik (simulator) base URL")
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--log-file", help="also append log lines here")
    parser.add_argument("--version", default="2023.10.7", help="version reported in HELLO")
    parser.add_argument("--hostname", default="", help="os.Hostname() reported in HELLO")
    parser.add_argument("--browser-url", default="", help="AUTHENTIK_HOST_BROWSER")
    parser.add_argument("--refresh-interval", type=float, default=300.0)
    parser.add_argument("--hello-interval", type=float, default=10.0)
    parser.add_argument("--seed", help="deterministic hostname (tests); the uid stays fresh")
    parser.add_argument(
        "--log-format",
        choices=("go", "rust"),
        default="go",
        help="log as the Go outpost (logrus JSON) or the Rust one of 2026.8+ (tracing JSON)",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes (the lab runtime's pipe)",
    )
    args = parser.parse_args(argv)

    extra = open(args.log_file, "a", encoding="utf-8") if args.log_file else None  # noqa: SIM115
    log = Logger(sys.stdout, extra, rust=rust_event if args.log_format == "rust" else None)
    rng = random.Random(args.seed) if args.seed is not None else random.SystemRandom()
    outpost = FakeOutpost(args, log, rng)
    signal.signal(signal.SIGUSR1, lambda *_: outpost.refresh_now.set())
    signal.signal(signal.SIGTERM, lambda *_: outpost.stop.set())
    signal.signal(signal.SIGINT, lambda *_: outpost.stop.set())

    if not sys.stdin.isatty():
        threading.Thread(target=outpost.stdin_loop, args=(sys.stdin,), daemon=True).start()
    log(
        "Starting authentik outpost",
        logger="authentik.outpost",
        version=args.version,
        hash="tagged",
    )
    while not outpost.first_fetch():
        if outpost.stop.wait(3):
            return 0
    log("Outpost mode", logger=API_LOGGER, embedded=False)
    try:
        server = LabHTTPServer(("127.0.0.1", args.port), http_handler(outpost))
    except OSError as exc:
        log("Failed to listen", "error", logger=PROXY_LOGGER, error=str(exc))
        return 1
    listen = f"127.0.0.1:{args.port}"
    log("Starting Metrics server", logger="authentik.outpost.metrics", listen=listen)
    log("using filesystem session backend", logger=PROXY_LOGGER)
    outpost.refresh("start")
    for target in (outpost.events_loop, outpost.refresh_loop):
        threading.Thread(target=target, daemon=True).start()
    log("Starting HTTP server", logger=PROXY_LOGGER, listen=listen)

    def shutdown_on_stop() -> None:
        outpost.stop.wait()
        server.shutdown()

    threading.Thread(target=shutdown_on_stop, daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
