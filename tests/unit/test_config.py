"""Config loading: precedence, validation errors with file:line and key, token safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aktui.config import find_config, load_config, resolve_token
from aktui.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_example_config_is_valid(monkeypatch):
    config = load_config(str(REPO / "config.example.yaml"))
    assert config.contexts and config.outposts and config.web_servers
    ports = sorted(m.port for m in config.outposts.values() if m.port)
    assert ports[:2] == [9001, 9002]


def test_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config(None) == tmp_path / "xdg" / "aktui" / "config.yaml"
    monkeypatch.setenv("AKTUI_CONFIG", str(tmp_path / "env.yaml"))
    assert find_config(None) == tmp_path / "env.yaml"
    assert find_config(str(tmp_path / "cli.yaml")) == tmp_path / "cli.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "web_servers:\n  www1:\n    host: a\n    port: abc\n",
            ':4: web_servers.www1.port: expected an integer, got "abc"',
        ),
        (
            "refresh_intervall: 3\n",
            ":1: refresh_intervall: unknown key; did you mean 'refresh_interval'?",
        ),
        (
            "contexts:\n  a:\n    url: ftp://x\n",
            ':3: contexts.a.url: expected an http(s):// URL, got "ftp://x"',
        ),
        ("contexts:\n  a:\n    token_env: X\n", ":3: contexts.a.url: required key missing"),
        ("read_only: maybe\n", ':1: read_only: expected true or false, got "maybe"'),
        ("contexts: [1]\n", ":1: contexts: expected a mapping, got a list"),
        ("a: [\n", ": invalid YAML"),
        (
            "docker_hosts: {}\noutposts:\n  o:\n    docker_host: nope\n",
            "outposts.o.docker_host: unknown docker host 'nope'",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    line = str(err.value)
    assert line.startswith(str(path)) and message in line and "\n" not in line


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_inline_token_refused_in_loose_file(tmp_path):
    path = write(tmp_path, "contexts:\n  a:\n    url: https://x\n    token: abc\n", 0o644)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert f"chmod 600 {path}" in str(err.value) and "abc" not in str(err.value)


def test_inline_token_hidden(tmp_path):
    path = write(tmp_path, "contexts:\n  a:\n    url: https://x\n    token: s3cret-value\n")
    config = load_config(str(path))
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in str(config)
    assert resolve_token(config.contexts["a"], "a", str(path)).reveal() == "s3cret-value"


def test_token_file_permissions(tmp_path):
    token = tmp_path / "token"
    token.write_text("tok\n")
    token.chmod(0o644)
    path = write(tmp_path, f"contexts:\n  a:\n    url: https://x\n    token_file: {token}\n")
    config = load_config(str(path))
    with pytest.raises(ConfigError, match=f"chmod 600 {token}"):
        resolve_token(config.contexts["a"], "a", str(path))
    token.chmod(0o600)
    assert resolve_token(config.contexts["a"], "a", str(path)).reveal() == "tok"


def test_token_env_and_fallback(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        "contexts:\n  a:\n    url: https://x\n  b:\n    url: https://y\n    token_env: MY_TOK\n",
    )
    config = load_config(str(path))
    with pytest.raises(ConfigError, match="no API token"):
        resolve_token(config.contexts["a"], "a", str(path))
    monkeypatch.setenv("AUTHENTIK_TOKEN", "fallback")
    assert resolve_token(config.contexts["a"], "a", str(path)).reveal() == "fallback"
    with pytest.raises(ConfigError, match="MY_TOK is unset"):
        resolve_token(config.contexts["b"], "b", str(path))
    monkeypatch.setenv("MY_TOK", "envtok")
    assert resolve_token(config.contexts["b"], "b", str(path)).reveal() == "envtok"


def test_unknown_context_suggests(tmp_path):
    config = load_config(str(write(tmp_path, "contexts:\n  home:\n    url: https://x\n")))
    with pytest.raises(ConfigError, match="did you mean 'home'"):
        config.context("hom")
    assert config.context(None)[0] == "home"


def test_empty_file_gives_defaults(tmp_path):
    config = load_config(str(write(tmp_path, "")))
    assert config.refresh_interval == 5.0 and config.logs.max_lines == 10000
    assert os.environ.get("AKTUI_CONFIG") is None
