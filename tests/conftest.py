"""Shared test setup. Daemon fixtures live in tests/fixtures/ and start once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.paths import RECORDED

INTEGRATION = Path(__file__).resolve().parent / "integration"

pytest_plugins = [
    "tests.fixtures.dockerd",
    "tests.fixtures.webhost",
    "tests.fixtures.realak",
]


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    if not RECORDED.is_dir():
        pytest.skip(f"recorded authentik responses not found at {RECORDED}")
    return RECORDED


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _session_cache: Path) -> None:
    """No test reads the developer's own config or token, nor writes into their cache (the
    annotator keeps compiled patterns there: one cache for the run, so it is still reused)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_session_cache))
    for var in ("AKTUI_CONFIG", "AUTHENTIK_TOKEN", "DOCKER_HOST"):
        monkeypatch.delenv(var, raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tier follows the folder: everything under tests/integration/ needs real daemons."""
    for item in items:
        if INTEGRATION in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
