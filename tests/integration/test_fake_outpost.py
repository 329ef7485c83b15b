"""A fake outpost process against the in-process simulator: the Go outpost's statuses, headers
and log lines, config loading (and staleness until SIGUSR1), HELLO and metrics.

Every network call stays on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aktui.lab import free_port
from aktui.lab.chaos import login
from aktui.lab.objects import random_token
from aktui.lab.scenario import build_lab
from aktui.lab.simulator import Simulator
from aktui.lab.state import LabState
from aktui.lab.wire import cookie_name
from tests.fixtures.procs import wait_for

ROOT = Path(__file__).resolve().parents[2]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Outpost:
    """One fake outpost process with its output collected from a file."""

    def __init__(self, st: LabState, sim: Simulator, name: str, tmp: Path, token: str = "") -> None:
        outpost = st.outpost(name)
        assert outpost is not None
        self.port = free_port()
        self.log_path = tmp / f"{name}.log"
        token_file = tmp / f"{name}.token"
        token_file.write_text(token or st.tokens[outpost.token_identifier].key)
        token_file.chmod(0o600)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.out = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aktui.lab.fake_outpost",
                "--name",
                name,
                "--port",
                str(self.port),
                "--api",
                sim.url,
                "--token-file",
                str(token_file),
                "--seed",
                "1",
                "--exit-on-stdin-eof",
            ],
            stdin=subprocess.PIPE,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines() if line.startswith("{")]

    def get(
        self, path: str, host: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def up(self) -> bool:
        try:
            return self.get("/outpost.goauthentik.io/ping", "any")[0] == 204
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdin:
            self.proc.stdin.close()
        self.out.close()


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[LabState, Simulator]]:
    st = build_lab()
    sim = Simulator(st).start()
    yield st, sim
    sim.stop()


@pytest.fixture(scope="module")
def dev(
    lab: tuple[LabState, Simulator], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outpost]:
    """outpost-example-dev: two forward_domain providers, cookie domain example.dev."""
    st, sim = lab
    outpost = Outpost(st, sim, "outpost-example-dev", tmp_path_factory.mktemp("dev"))
    try:
        wait_for(outpost.up, what="outpost-example-dev to answer /ping")
        yield outpost
    finally:
        outpost.stop()


def nginx(host: str, path: str = "/secret") -> dict[str, str]:
    return {"X-Original-URL": f"https://{host}{path}", "User-Agent": "pytest"}


def test_log_lines_are_logrus_json(dev: Outpost) -> None:
    wait_for(lambda: any("Successfully connected websocket" in x for x in dev.lines()))
    lines = [line for line in dev.lines() if line]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert line == json.dumps(
            dict(sorted(record.items())), separators=(",", ":"), ensure_ascii=False
        )
        assert TIMESTAMP.match(record["timestamp"]) and record["level"] in (
            "info",
            "warning",
            "error",
        )
    events = [e["event"] for e in dev.events()]
    assert events[0] == "Starting authentik outpost"
    loaded = [e for e in dev.events() if e["event"] == "Loaded application"]
    assert sorted((e["name"], e["host"]) for e in loaded) == [
        ("beta.example.dev", "beta.example.dev"),
        ("example.dev", "auth.example.dev"),
    ]
    assert all(e["logger"] == "authentik.outpost.proxyv2" for e in loaded)


def test_ping_and_metrics(dev: Outpost) -> None:
    status, _headers, body = dev.get("/outpost.goauthentik.io/ping", "whatever.example")
    assert (status, body) == (204, b"")
    status, headers, body = dev.get("/metrics", "x")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    match = re.search(
        r'^authentik_outpost_last_update\{build="tagged",outpost_name='
        r'"outpost-example-dev",outpost_type="proxy",uuid="([0-9a-f-]{36})",'
        r'version="2023.10.7"\} (\S+)$',
        text,
        re.M,
    )
    assert match, text
    assert abs(float(match.group(2)) - time.time()) < 120
    assert re.search(
        r'^authentik_outpost_connection\{outpost_name="outpost-example-dev",'
        r'outpost_type="proxy",uuid="[0-9a-f-]{36}"\} 1$',
        text,
        re.M,
    )


def test_unauthenticated_is_401_with_session_cookie(
    dev: Outpost, lab: tuple[LabState, Simulator]
) -> None:
    st, _ = lab
    status, headers, body = dev.get(
        "/outpost.goauthentik.io/auth/nginx", "beta.example.dev", nginx("beta.example.dev")
    )
    assert (status, body) == (401, b"unauthorized request\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    name = cookie_name(st.providers[4].client_id)
    assert re.fullmatch(r"authentik_proxy_[0-9a-f]{8}", name)
    cookie = headers["set-cookie"]
    assert cookie.startswith(name + "=") and "Domain=example.dev" in cookie
    assert all(flag in cookie for flag in ("Path=/", "HttpOnly", "Secure", "SameSite=Lax"))
    # the redirect is stored once: the same session gets no second Set-Cookie
    status, headers, _ = dev.get(
        "/outpost.goauthentik.io/auth/nginx",
        "beta.example.dev",
        {**nginx("beta.example.dev"), "Cookie": cookie.split(";")[0]},
    )
    assert status == 401 and "set-cookie" not in headers


def test_missing_forward_headers_is_500(dev: Outpost) -> None:
    status, headers, body = dev.get("/outpost.goauthentik.io/auth/nginx", "beta.example.dev")
    assert (status, body) == (500, b"configuration error\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    wait_for(lambda: [e for e in dev.events() if e["event"] == "Reporting configuration error"])
    report = next(e for e in dev.events() if e["event"] == "Reporting configuration error")
    assert report["level"] == "error" and report["outpost"] == "outpost-example-dev"


def test_unknown_host_is_400_json(dev: Outpost) -> None:
    status, headers, body = dev.get(
        "/outpost.goauthentik.io/auth/nginx", "other.example.org", nginx("other.example.org")
    )
    assert status == 400 and headers["content-type"] == "application/json"
    assert body.decode().startswith('{\n\t"Message": "no app for hostname",\n\t"Host": ')
    assert json.loads(body)["Host"] == "other.example.org"
    warning = wait_for(lambda: [e for e in dev.events() if e["event"] == "no app for hostname"])
    assert warning[-1]["host"] == "other.example.org" and warning[-1]["level"] == "warning"


def test_outpost_paths_and_skip_regex_pass(dev: Outpost, lab: tuple[LabState, Simulator]) -> None:
    st, _ = lab
    status, _, _ = dev.get(
        "/outpost.goauthentik.io/auth/nginx",
        "beta.example.dev",
        nginx("beta.example.dev", "/outpost.goauthentik.io/start"),
    )
    assert status == 200
    before = len([e for e in dev.events() if e["event"] == "Loaded application"])
    # forward_domain matches skip_path_regex against the full URL, forward_single the path
    st.update_provider(4, skip_path_regex="^https://beta\\.example\\.dev/public/")
    dev.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: loaded_since(dev, before, 2), what="reload")
    status, headers, _ = dev.get(
        "/outpost.goauthentik.io/auth/nginx",
        "beta.example.dev",
        nginx("beta.example.dev", "/public/logo.png"),
    )
    assert status == 200 and "x-authentik-username" not in headers
    st.update_provider(4, skip_path_regex="")
    dev.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: loaded_since(dev, before, 4), what="reload")


def test_start_redirects_to_authorize(dev: Outpost, lab: tuple[LabState, Simulator]) -> None:
    st, sim = lab
    rd = urllib.parse.quote("https://beta.example.dev/x", safe="")
    status, headers, _ = dev.get(f"/outpost.goauthentik.io/start?rd={rd}", "beta.example.dev")
    assert status == 302
    target = urllib.parse.urlsplit(headers["location"])
    query = urllib.parse.parse_qs(target.query)
    assert (
        f"{target.scheme}://{target.netloc}{target.path}" == f"{sim.url}/application/o/authorize/"
    )
    assert query["client_id"] == [st.providers[4].client_id]
    assert query["redirect_uri"] == [
        "https://beta.example.dev/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
    ]
    assert query["response_type"] == ["code"] and query["state"][0].count(".") == 2


def test_login_then_200_with_identity_headers(dev: Outpost) -> None:
    cookie = login(dev.port, "beta.example.dev")
    assert cookie
    status, headers, body = dev.get(
        "/outpost.goauthentik.io/auth/nginx",
        "beta.example.dev",
        {**nginx("beta.example.dev"), "Cookie": cookie},
    )
    assert (status, body) == (200, b"")
    assert headers["x-authentik-username"] == "akadmin"
    assert headers["x-authentik-meta-outpost"] == "outpost-example-dev"
    assert headers["x-authentik-meta-provider"] == "beta.example.dev"
    assert headers["x-authentik-meta-version"] == "goauthentik.io/outpost/2023.10.7"
    assert (
        headers["x-authentik-email"] and headers["x-authentik-uid"] and headers["x-authentik-jwt"]
    )
    request_log = wait_for(
        lambda: [e for e in dev.events() if e.get("status") == 200 and e.get("user") == "akadmin"]
    )
    line = request_log[-1]
    assert line["logger"] == "authentik.outpost.proxyv2.application"
    assert line["event"] == "/outpost.goauthentik.io/auth/nginx"
    assert {"host", "method", "remote", "runtime", "scheme", "size", "user_agent"} <= set(line)


def test_callback_without_cookie_is_mismatched_session(dev: Outpost) -> None:
    rd = urllib.parse.quote("https://beta.example.dev/", safe="")
    _, headers, _ = dev.get(f"/outpost.goauthentik.io/start?rd={rd}", "beta.example.dev")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["state"][0]
    status, _, body = dev.get(
        f"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=x&state={state}",
        "beta.example.dev",
    )
    assert (status, body) == (400, b"")
    mismatch = wait_for(lambda: [e for e in dev.events() if e["event"] == "mismatched session ID"])
    assert mismatch[-1]["should"] == "" and mismatch[-1]["is"]
    assert any(e["event"] == "invalid state" for e in dev.events())


def test_config_is_stale_until_sigusr1(dev: Outpost, lab: tuple[LabState, Simulator]) -> None:
    st, _ = lab
    before = len([e for e in dev.events() if e["event"] == "Loaded application"])
    st.update_provider(4, external_host="https://beta2.example.dev")
    time.sleep(0.3)  # nothing is pushed: the outpost still serves the old host
    status, _, _ = dev.get("/outpost.goauthentik.io/start", "beta.example.dev")
    assert status == 302
    assert len([e for e in dev.events() if e["event"] == "Loaded application"]) == before
    dev.proc.send_signal(signal.SIGUSR1)
    loaded = wait_for(lambda: loaded_since(dev, before, 2), what="the reload's Loaded lines")
    assert {e["host"] for e in loaded} == {"beta2.example.dev", "auth.example.dev"}
    st.update_provider(4, external_host="https://beta.example.dev")
    dev.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: loaded_since(dev, before, 4), what="the second reload")


def loaded_since(outpost: Outpost, before: int, count: int) -> list[dict[str, Any]]:
    loaded = [e for e in outpost.events() if e["event"] == "Loaded application"][before:]
    return loaded if len(loaded) >= count else []


def test_hello_makes_it_healthy_with_a_new_uid_per_start(
    lab: tuple[LabState, Simulator], tmp_path: Path
) -> None:
    st, sim = lab
    net = st.outpost("outpost-example-net")
    assert net is not None
    uids = []
    for _ in range(2):
        proc = Outpost(st, sim, "outpost-example-net", tmp_path)
        try:
            wait_for(proc.up)
            known = set(uids)
            uid = wait_for(lambda: {i.uid for i in st.health(net.pk)} - known, what="hello")  # noqa: B023
            uids += list(uid)
        finally:
            proc.stop()
    assert len(set(uids)) == 2  # a restart is visible as a new uid


def test_revoked_token_logs_failed_fetch_and_never_serves(
    lab: tuple[LabState, Simulator], tmp_path: Path
) -> None:
    st, sim = lab
    proc = Outpost(st, sim, "outpost-staging", tmp_path, token=random_token())
    try:
        failed = wait_for(
            lambda: [
                e
                for e in proc.events()
                if e["event"].startswith("Failed to fetch outpost configuration")
            ]
        )
        assert failed[0] == {
            **failed[0],
            "level": "error",
            "error": "403 Forbidden",
            "event": "Failed to fetch outpost configuration, retrying in 3 seconds",
            "logger": "authentik.outpost.ak-api-controller",
        }
        assert not proc.up()
        outpost = st.outpost("outpost-staging")
        assert outpost is not None and st.health(outpost.pk) == []
    finally:
        proc.stop()


def test_crash_command_is_a_go_panic(lab: tuple[LabState, Simulator], tmp_path: Path) -> None:
    st, sim = lab
    proc = Outpost(st, sim, "outpost-single", tmp_path)
    try:
        wait_for(proc.up)
        assert proc.proc.stdin is not None
        proc.proc.stdin.write(b"crash\n")
        proc.proc.stdin.flush()
        assert proc.proc.wait(5) == 2
        assert any(line.startswith("panic: runtime error") for line in proc.lines())
    finally:
        proc.stop()


def test_stdin_eof_stops_it(lab: tuple[LabState, Simulator], tmp_path: Path) -> None:
    """The lab runtime's pipe closing (the lab died) ends the outpost: no orphans."""
    st, sim = lab
    proc = Outpost(st, sim, "outpost-single", tmp_path)
    try:
        wait_for(proc.up)
        assert proc.proc.stdin is not None
        proc.proc.stdin.close()
        assert proc.proc.wait(5) == 0
    finally:
        proc.stop()
