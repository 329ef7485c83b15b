"""`aktui init`: a commented starter config, 0600, never over an existing one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aktui.cli import main
from aktui.cmd.init import example_text
from aktui.config import parse_config

TOP_LEVEL = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_the_packaged_example_is_the_top_level_file() -> None:
    assert example_text() == TOP_LEVEL.read_text(encoding="utf-8")


def test_init_writes_a_private_commented_starter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AKTUI_CONFIG", raising=False)
    assert main(["init", "--url", "https://sso.corp.example/"]) == 0
    path = tmp_path / "aktui" / "config.yaml"
    assert str(path) in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert text.startswith("# aktui configuration")
    config = parse_config(text, path)
    assert config.contexts["prod"].url == "https://sso.corp.example"


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("contexts: {}  # with my token\n")
    assert main(["--config", str(path), "init"]) == 2
    assert "already there; not overwritten" in capsys.readouterr().err
    assert path.read_text() == "contexts: {}  # with my token\n"


def test_without_a_config_aktui_points_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AKTUI_CONFIG", raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "aktui init" in err


def test_readme_keys_table_is_the_registry() -> None:
    from aktui.actions import keys_markdown

    readme = (TOP_LEVEL.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- keys:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- keys:end -->")
    assert readme[start:end] == keys_markdown(), "regenerate the table with keys_markdown()"


def test_init_print_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("AKTUI_CONFIG", raising=False)
    assert main(["init", "--print"]) == 0
    assert capsys.readouterr().out == example_text()
    assert not (tmp_path / "aktui").exists()
