"""``aktui status --json`` and ``aktui doctor --json`` against the same lab answering as
authentik 2023.10.7 and as 2025.12.4: the output matches apart from the versions and the real
differences listed in ``DIFFERENCES`` (each with its reason). Whatever else differs is a bug in
reading one of the two shapes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aktui.lab import Lab
from aktui.lab.versions import LINES

pytestmark = pytest.mark.integration

# "<command>.<top-level key>" -> why it differs between the two lines
DIFFERENCES = {
    "status.changes": (
        "2025.12 leaves a model_updated event when a proxy provider is created (recorded: the "
        "create's set_oauth_defaults() saves again); 2023.10 only model_created, which aktui "
        "does not read"
    ),
}
# per-run values: new at every process start or fetch
_VOLATILE = {"fetched_at", "last_seen", "uid", "hostname"}


def _run(lab: Lab, tmp: Path, command: str) -> dict[str, Any]:
    lines = ["contexts:", "  lab:", f"    url: {lab.url}", f"    token_file: {lab.token_file}"]
    lines.append("outposts:")
    for name, port in lab.ports.items():
        lines += [f"  {name}:", "    address: 127.0.0.1", f"    port: {port}"]
    config = tmp / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "aktui.cli", command, "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    # the versions and the lab's address are the expected differences: name them alike
    api = LINES[lab.api.line]
    text = result.stdout.replace(lab.url, "<api>")
    for name, port in lab.ports.items():  # a busy port moves an outpost elsewhere
        text = text.replace(f"127.0.0.1:{port}", f"<{name}>")
    text = text.replace(api.version, "<server version>").replace(api.previous, "<older>")
    return _normalise(json.loads(text))


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in _VOLATILE else _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    for line in ("2023.10", "2025.12"):
        tmp = tmp_path_factory.mktemp(line)
        with Lab(authentik=line) as lab:
            found[line] = {cmd: _run(lab, tmp, cmd) for cmd in ("status", "doctor")}
    yield found


def _differing(old: dict[str, Any], new: dict[str, Any], command: str) -> set[str]:
    return {f"{command}.{k}" for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def test_status_and_doctor_match_apart_from_the_listed_differences(
    outputs: dict[str, dict[str, Any]],
) -> None:
    old, new = outputs["2023.10"], outputs["2025.12"]
    found = _differing(old["status"], new["status"], "status")
    found |= _differing(old["doctor"], new["doctor"], "doctor")
    assert found == set(DIFFERENCES), {
        key: (
            old[key.split(".")[0]].get(key.split(".")[1]),
            new[key.split(".")[0]].get(key.split(".")[1]),
        )
        for key in found - set(DIFFERENCES)
    }


def test_the_versions_are_really_each_lines(outputs: dict[str, dict[str, Any]]) -> None:
    for line in ("2023.10", "2025.12"):
        status, doctor = outputs[line]["status"], outputs[line]["doctor"]
        assert status["server_version"] == "<server version>"
        overview = next(r for r in doctor["results"] if r["check"] == "versions")
        assert overview["title"] == "authentik server <server version>"
        assert "outpost-legacy <older> (differs)" in overview["evidence"]


def test_listed_differences_are_what_2025_adds(outputs: dict[str, dict[str, Any]]) -> None:
    """The one listed difference is the creation events: every extra change is a provider's
    model_updated from when the lab was made."""
    old, new = outputs["2023.10"]["status"], outputs["2025.12"]["status"]
    assert old["changes"] == []
    assert {(c["model"], c["action"]) for c in new["changes"]} == {
        ("proxyprovider", "model_updated")
    }
    assert len(new["changes"]) == len(new["providers"])
    assert re.fullmatch(r"\d{4}-.*Z", new["changes"][0]["at"])


def test_aktui_lab_refuses_an_unknown_version_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aktui.cli", "lab", "--authentik", "2024.2\x1b[31m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr, result.stderr
    assert "aktui lab: --authentik: unknown authentik version" in result.stderr
    assert "2023.10 (2023.10.7), 2025.12 (2025.12.4)" in result.stderr
