"""Keeps the demo alive: traffic through the outposts, config changes that leave them stale,
and the failures from the field guide's cheat sheet, each produced the way it happens for real.

- every 1.5-4 s: an nginx auth subrequest to a random outpost (401, or 200 once logged in);
- every ``interval`` (20-40 s): one of
  * a provider or application edited through the state (``model_updated`` events; the outposts
    serving it keep the old config until reloaded or restarted: stale),
  * a callback whose browser lost its cookie (``mismatched session ID`` should="",
    ``invalid state``, 400), an unknown Host (``no app for hostname``, 400), an auth subrequest
    without X-Original-URL (``Reporting configuration error``, 500),
  * the websocket dropped for 25 s (``event read error``, ``waiting N seconds to reconnect``,
    then the instance vanishes from /health/ until it reconnects),
  * a crash (Go panic text, exit 2; the runtime restarts it like ``restart: unless-stopped``),
  * the outpost's token rotated for 45 s, then a reload: ``Failed to fetch outpost
    configuration`` (403) and a websocket that cannot reconnect, until the key is back.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aktui.lab.lab import Lab

AUTH = "/outpost.goauthentik.io/auth/nginx"
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "curl/8.4.0",
)


def request(
    port: int, path: str, host: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def login(port: int, host: str, remote_hint: str = "") -> str | None:
    """The browser's round trip: /start -> authorize (simulator) -> /callback. Returns the
    session cookie ("name=value") or None."""
    rd = urllib.parse.quote(f"https://{host}/", safe="")
    status, headers = request(port, f"/outpost.goauthentik.io/start?rd={rd}", host)
    cookie = headers.get("set-cookie", "").split(";")[0]
    if status != 302 or not cookie:
        return None
    authorize = urllib.parse.urlsplit(headers["location"])
    if not authorize.hostname:  # the outpost sends the browser to authentik by absolute URL
        return None
    conn = http.client.HTTPConnection(authorize.hostname, authorize.port, timeout=5)
    try:
        conn.request("GET", f"{authorize.path}?{authorize.query}")
        resp = conn.getresponse()
        resp.read()
        callback = urllib.parse.urlsplit(resp.getheader("Location") or "")
    finally:
        conn.close()
    if not callback.netloc:
        return None
    status, headers = request(
        port, f"{callback.path}?{callback.query}", callback.netloc, {"Cookie": cookie}
    )
    new = headers.get("set-cookie", "").split(";")[0]
    return (new or cookie) if status == 302 else None


class Chaos:
    def __init__(self, lab: Lab, interval: tuple[float, float] = (20.0, 40.0), seed: int = 0):
        self.lab = lab
        self.interval = interval
        self.rng = random.Random(seed)
        self.cookies: dict[tuple[str, str], str] = {}
        # what it did, newest last (tests, `aktui lab --chaos` prints it); bounded: demos run long
        self.done: deque[str] = deque(maxlen=200)
        self.on_action: Callable[[str], None] | None = None  # called from the chaos thread
        self._stop = threading.Event()
        self._timers: list[threading.Timer] = []
        self._thread = threading.Thread(target=self._run, name="aktui-lab-chaos", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        self._thread.join(timeout=10)

    # --- targets ---------------------------------------------------------------------------

    def _targets(self) -> list[tuple[str, int, str]]:
        """(outpost name, port, app host) for every app of a running, healthy outpost."""
        st, runtime = self.lab.state, self.lab.runtime
        if st is None or runtime is None:
            return []
        running = {c.name for c in runtime.containers() if c.health == "healthy"}
        out = []
        with st.lock:
            for name, port in self.lab.ports.items():
                outpost = st.outpost(name)
                if outpost is None or name not in running:
                    continue
                for pk in outpost.providers:
                    app = st.application_for(pk)
                    if app is not None and pk in st.providers:
                        launch = urllib.parse.urlsplit(app.meta_launch_url).netloc
                        host = (
                            launch or urllib.parse.urlsplit(st.providers[pk].external_host).netloc
                        )
                        out.append((name, port, host))
        return out

    # --- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        # a stale outpost early, so the demo shows one within seconds
        next_change = time.monotonic() + min(4.0, self.interval[1])
        low, high = min(1.5, self.interval[0]), min(4.0, self.interval[1])
        while not self._stop.wait(self.rng.uniform(low, high)):
            try:
                self.traffic()
                if time.monotonic() >= next_change:
                    self.act()
                    next_change = time.monotonic() + self.rng.uniform(*self.interval)
            except Exception as exc:  # a lab that is stopping must not take the app down
                self._note(f"chaos step failed: {exc}")

    def traffic(self) -> None:
        targets = self._targets()
        if not targets:
            return
        name, port, host = self.rng.choice(targets)
        path = self.rng.choice(["/", "/index.php", "/wp-admin/", "/api/items?page=2", "/login"])
        headers = {
            "X-Original-URL": f"https://{host}{path}",
            "User-Agent": self.rng.choice(AGENTS),
            "X-Forwarded-For": f"203.0.113.{self.rng.randint(2, 250)}",
        }
        cookie = self.cookies.get((name, host))
        if cookie is None and self.rng.random() < 0.3:
            cookie = login(port, host)
            if cookie:
                self.cookies[(name, host)] = cookie
        if cookie:
            headers["Cookie"] = cookie
        request(port, AUTH, host, headers)

    def act(self) -> None:
        actions = [
            (self.edit_provider, 4),
            (self.edit_application, 2),
            (self.lost_cookie, 2),
            (self.unknown_host, 1),
            (self.missing_header, 1),
            (self.drop_websocket, 1),
            (self.crash, 1),
            (self.rotate_token, 1),
        ]
        action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
        self._note(action())

    def _note(self, text: str) -> None:
        self.done.append(text)
        if self.on_action is not None:
            self.on_action(text)

    def _pick(self) -> tuple[str, int, str]:
        targets = self._targets()
        if not targets:
            raise RuntimeError("no running outpost to act on")
        return self.rng.choice(targets)

    def edit_provider(self) -> str:
        st = self.lab.state
        assert st is not None
        name = self._pick()[0]
        outpost = st.outpost(name)
        assert outpost is not None
        pk = self.rng.choice([p for p in outpost.providers if p in st.providers])
        provider = st.providers[pk]
        skip = "" if provider.skip_path_regex else "^/(health|favicon.ico)$"
        st.update_provider(pk, skip_path_regex=skip)
        return f"edited provider {provider.name} (skip_path_regex): {name} is now stale"

    def edit_application(self) -> str:
        st = self.lab.state
        assert st is not None
        _host = self._pick()[2]
        with st.lock:
            app = next(a for a in st.applications.values() if _host in a.meta_launch_url)
        text = self.rng.choice(["Internal tools", "Customer portal", "Docs", ""])
        st.update_application(app.slug, meta_description=text)
        return f"edited application {app.slug} (description)"

    def lost_cookie(self) -> str:
        """/start with one cookie, callback without it: what an Authentication URL outside the
        cookie domain does to every login (cheat sheet: mismatched session ID should="")."""
        name, port, host = self._pick()
        rd = urllib.parse.quote(f"https://{host}/", safe="")
        _status, headers = request(port, f"/outpost.goauthentik.io/start?rd={rd}", host)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers.get("location", "")).query)
        state = query.get("state", [""])[0]
        callback = urllib.parse.urlsplit(query.get("redirect_uri", [""])[0])
        path = f"{callback.path}?X-authentik-auth-callback=true&code=x&state={state}"
        request(port, path, callback.netloc or host)
        return f"{name}: callback without the session cookie (mismatched session ID)"

    def unknown_host(self) -> str:
        name, port, _host = self._pick()
        request(
            port, AUTH, "old-site.example.org", {"X-Original-URL": "https://old-site.example.org/"}
        )
        return f"{name}: request for a host it does not serve"

    def missing_header(self) -> str:
        name, port, host = self._pick()
        request(port, AUTH, host)
        return f"{name}: auth subrequest without X-Original-URL (configuration error)"

    def drop_websocket(self) -> str:
        name, _port, _host = self._pick()
        assert self.lab.simulator is not None
        self.lab.simulator.drop_websocket(name, 25)
        return f"{name}: websocket dropped for 25 s"

    def crash(self) -> str:
        name, _port, _host = self._pick()
        assert self.lab.runtime is not None
        self.lab.runtime.send(name, "crash")
        return f"{name}: crashed (restarts by itself)"

    def rotate_token(self, seconds: float = 45.0) -> str:
        st, runtime = self.lab.state, self.lab.runtime
        assert st is not None and runtime is not None
        name = self._pick()[0]
        outpost = st.outpost(name)
        assert outpost is not None
        token = st.tokens[outpost.token_identifier]
        original = token.key
        st.rotate_outpost_token(name)
        runtime.reload(name)  # as if someone tried a reload: the refresh now gets 403

        def restore() -> None:
            token.key = original

        timer = threading.Timer(seconds, restore)
        timer.daemon = True
        timer.start()
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        return f"{name}: its API token was rotated for {seconds:.0f} s (403 on every fetch)"
