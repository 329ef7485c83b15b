"""run_app: startup errors are one line on stderr and exit 2; the backend is always closed."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from aktui.cmd import tui
from aktui.screens import app as app_module


def _args(**kw: Any) -> argparse.Namespace:
    base = {"config": None, "context": None, "read_only": False, "demo": False}
    return argparse.Namespace(**{**base, **kw})


def test_missing_config_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = tui.run_app(_args(config="/nonexistent/aktui.yaml"))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("aktui: /nonexistent/aktui.yaml: config file not found")
    assert err.count("\n") == 1


def test_backend_closed_after_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.app import FakeBackend

    backend = FakeBackend()
    monkeypatch.setattr("aktui.backend.open_backend", lambda *a, **k: backend)
    monkeypatch.setattr(app_module.AktuiApp, "run", lambda self, **kw: 0)
    assert tui.run_app(_args()) == 0
    assert backend.closed


def test_bad_keymap_is_exit_2_and_closes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.app import FakeBackend

    backend = FakeBackend(keys={"nope": "x"})
    monkeypatch.setattr("aktui.backend.open_backend", lambda *a, **k: backend)
    assert tui.run_app(_args()) == 2
    assert "keys.nope: unknown command id" in capsys.readouterr().err
    assert backend.closed
