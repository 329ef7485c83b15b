"""Shared test setup. Daemon fixtures live in tests/fixtures/ and start once per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.dockerd",
    "tests.fixtures.webhost",
    "tests.fixtures.realak",
]

REPO = Path(__file__).resolve().parent.parent


def find_shared() -> Path:
    """The project's shared/ material (seeds, authentik schema and server kit): $AKTUI_SHARED,
    else beside the clone, else where this workplace keeps it; the first that exists."""
    candidates = [os.environ.get("AKTUI_SHARED"), REPO.parent / "shared", "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "authentik").is_dir():
            return Path(candidate)
    return Path(os.environ.get("AKTUI_SHARED") or REPO.parent / "shared")


SHARED = find_shared()
# A copy of shared/authentik/recorded/ (real authentik answers) so a clone tests on its own.
RECORDED = REPO / "tests" / "data" / "recorded"


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    if not RECORDED.is_dir():
        pytest.skip(f"recorded authentik responses not found at {RECORDED}")
    return RECORDED


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config or token."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("AKTUI_CONFIG", "AUTHENTIK_TOKEN", "DOCKER_HOST"):
        monkeypatch.delenv(var, raising=False)
