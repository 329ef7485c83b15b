"""The `aktui` command end to end: demo status, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aktui import __version__

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def aktui(*args: str, env: dict | None = None, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "aktui.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        input=stdin,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result) -> str:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version():
    result = aktui("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_status_json_demo_has_groups_and_findings():
    result = aktui("status", "--json", "--demo")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["groups"]) >= 3
    assert {f["code"] for f in data["findings"]} >= {
        "embedded-forward-auth",
        "mixed-cookie-domains",
        "single-and-domain-mixed",
        "auth-url-outside-cookie-domain",
    }
    assert any(o["name"] == "authentik Embedded Outpost" for o in data["outposts"])
    assert data["containers"], "the demo's outposts are real processes"


def test_bad_config_is_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("web_servers:\n  www1:\n    host: a\n    port: abc\n")
    line = one_line_error(aktui("status", "--config", str(config)))
    assert line == f'aktui: {config}:4: web_servers.www1.port: expected an integer, got "abc"'


def test_dead_api_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"contexts:\n  dead:\n    url: http://127.0.0.1:{port}\n    timeout: 1\n")
    line = one_line_error(aktui("status", "--config", str(config), env={"AUTHENTIK_TOKEN": "x"}))
    assert f"http://127.0.0.1:{port}" in line and "cannot connect" in line


def test_wrong_token_is_one_line(tmp_path):
    from aktui.lab import Lab

    with Lab() as lab:
        token_file = tmp_path / "token"
        token_file.write_text("not-the-token-123\n")
        token_file.chmod(0o600)
        config = tmp_path / "config.yaml"
        config.write_text(f"contexts:\n  lab:\n    url: {lab.url}\n    token_file: {token_file}\n")
        result = aktui("status", "--config", str(config))
    line = one_line_error(result)
    assert line == f"aktui: token rejected by {lab.url} (invalid or expired)"
    assert "not-the-token-123" not in result.stderr + result.stdout


def test_doctor_nginx_delegates_to_linter():
    fixture = REPO / "tests" / "data" / "nginx" / "nearmiss" / "wordpress_dotfile.conf"
    result = aktui("doctor", "--nginx", str(fixture))
    assert result.returncode == 1 and "outpost-location-no-caret" in result.stdout
