"""`aktui doctor` against running labs: clean passes, each health pitfall fails its check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aktui.lab import Lab

pytestmark = pytest.mark.integration


def doctor(lab: Lab, tmp_path: Path, *checks: str) -> tuple[int, list[dict]]:
    lines = [
        "contexts:",
        "  lab:",
        f"    url: {lab.url}",
        f"    token_file: {lab.token_file}",
        "outposts:",
    ]
    for name, port in lab.ports.items():
        lines += [f"  {name}:", "    address: 127.0.0.1", f"    port: {port}"]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    args = [sys.executable, "-m", "aktui.cli", "doctor", "--json", "--config", str(config)]
    if checks:
        args += ["--check", *checks]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)["results"]


def test_clean_lab_passes_every_check(tmp_path):
    with Lab(pitfalls=()) as lab:
        code, results = doctor(lab, tmp_path)
    bad = [r for r in results if r["status"] in ("warn", "error")]
    assert code == 0, bad
    assert {r["check"] for r in results} >= {
        "token",
        "embedded-outpost",
        "cookie-domains",
        "outpost-auth-probe",
        "browser-redirect",
        "websocket",
        "versions",
    }


@pytest.mark.parametrize(
    ("pitfall", "check", "code"),
    [
        ("outpost-version-mismatch", "versions", 1),
        ("outpost-not-connected", "websocket", 1),
        ("embedded-forward-auth", "embedded-outpost", 2),
        ("browser-host-internal", "browser-redirect", 2),
    ],
)
def test_each_pitfall_fails_its_check(tmp_path, pitfall, check, code):
    with Lab(pitfalls={pitfall}) as lab:
        exit_code, results = doctor(lab, tmp_path, check)
    assert exit_code == code
    assert any(r["status"] in ("warn", "error") for r in results), results


@pytest.mark.parametrize("line", ["2023.10", "2025.12"])
def test_embedded_outpost_is_probed_live(tmp_path, line):
    """No list of versions with the embedded-outpost 404: the doctor asks authentik itself."""
    with Lab(pitfalls={"embedded-forward-auth"}, authentik=line) as lab:
        embedded = lab.state.outpost("authentik Embedded Outpost")
        _, results = doctor(lab, tmp_path, "outpost-auth-probe")
    probes = [r for r in results if r["subject"] == f"outpost:{embedded.pk}"]
    assert probes, results
    assert all(r["status"] == "error" for r in probes)
    assert "404 from authentik core" in probes[0]["evidence"]
    assert probes[0]["evidence"].startswith(f"GET {lab.url}/outpost.goauthentik.io/auth/nginx")
