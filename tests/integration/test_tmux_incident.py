"""The real ``aktui --demo`` in a real 80x24 terminal (tmux), driven by keys like an operator:
start demo -> see a stale outpost -> r -> confirm -> stale flag clears -> l -> annotated line.

Slow (the demo's chaos makes an outpost stale ~20 s after start), so it carries the
``integration`` marker; it needs only tmux, no daemons.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
AKTUI = Path(sys.executable).with_name("aktui")


class Term:
    def __init__(self, socket: Path) -> None:
        self.socket = str(socket)

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "aktui", key)
            time.sleep(0.15)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "aktui")

    def wait(self, check: Callable[[str], object], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}:\n{text}")
            time.sleep(0.3)


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Term]:
    t = Term(tmp_path / "tmux.sock")
    env = f"TERM=xterm-256color XDG_CONFIG_HOME={tmp_path}"
    t.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "aktui", f"{env} {AKTUI} --demo")
    pid = int(t.tmux("display-message", "-p", "-t", "aktui", "#{pane_pid}").strip() or 0)
    try:
        yield t
    finally:
        # Quit like an operator, so the app stops the lab's outpost processes itself.
        t.keys("Escape", "Escape", "Escape", "q")
        deadline = time.monotonic() + 15
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
        t.tmux("kill-server")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _unknown_host_request(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET",
            "/outpost.goauthentik.io/auth/nginx",
            headers={
                "Host": "old-site.example.org",
                "X-Original-URL": "https://old-site.example.org/",
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.timeout(400)
def test_incident_path_in_tmux(term: Term) -> None:
    term.wait(lambda s: "Outposts" in s, 30, "the dashboard")
    term.wait(lambda s: "⟳ STALE" in s, 150, "a stale outpost (demo chaos)")
    term.keys("/", "STALE", "Enter")
    summary = re.compile(r"^\s*(\S+): ⟳ stale", re.M)
    text = term.wait(lambda s: summary.search(s), 30, "the summary")
    name = summary.search(text).group(1)  # type: ignore[union-attr]
    # 80 columns: Port and Version stay (Container, Conn and Type only when they fit); the
    # port is the first 4-5 digit number after the flag (before Version's "2023.10.7").
    row = re.search(rf"{re.escape(name)}\s+⟳ STALE.*?\b(\d{{4,5}})\b", text)
    assert row, text
    port = int(row.group(1))

    term.keys("r")
    term.wait(lambda s: f"Reload {name}?" in s, 30, "the confirmation")
    term.keys("y")
    # Only this outpost's flag: the demo's chaos may make another one stale meanwhile.
    still_stale = re.compile(rf"{re.escape(name)}\s+⟳ STALE")
    text = term.wait(lambda s: not still_stale.search(s) and "verified" in s, 90, "a verified fix")

    term.keys("Escape", "/", name, "Enter", "l")
    term.wait(lambda s: f"Logs {name}" in s, 30, "the log view")
    assert _unknown_host_request(port) == 400
    term.keys("a")  # annotated lines only: later log lines cannot scroll it off the screen
    text = term.wait(lambda s: "↳ no app for hostname" in s, 45, "the annotation")
    assert "fix:" in text
