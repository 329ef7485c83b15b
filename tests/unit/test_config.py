"""Config loading: precedence, validation errors with file:line and key, token safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aktui.config import load_config, resolve_token
from aktui.errors import ConfigError
from aktui.userdirs import config_file

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
    assert config_file(None) == tmp_path / "xdg" / "aktui" / "config.yaml"
    monkeypatch.setenv("AKTUI_CONFIG", str(tmp_path / "env.yaml"))
    assert config_file(None) == tmp_path / "env.yaml"
    assert config_file(str(tmp_path / "cli.yaml")) == tmp_path / "cli.yaml"


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


# --- hostile values (issue 17) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://admin:hunter2@auth.example.com", "a user or password in the URL"),
        ("https://admin@auth.example.com", "a user or password in the URL"),
        ("http://admin:hunter2@[::1", "a user or password in the URL"),
        ("http://[::1", "not a valid URL"),
        ("http://", "no host in"),
        ("https://:443/", "no host in"),
        ("http://auth.example.com:99999", "not a valid URL"),
    ],
)
def test_bad_urls_are_one_line_naming_the_field(tmp_path, url, message):
    path = write(tmp_path, f'contexts:\n  a:\n    url: "{url}"\n    token_env: X\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    line = str(err.value)
    assert line.startswith(f"{path}:3: contexts.a.url: {message}")
    assert "hunter2" not in line and "\n" not in line


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("ssh://deploy@docker1.example.com", True),
        ("ssh://deploy:pw-in-url@docker1.example.com", False),
        ("tcp://u:pw-in-url@docker1:2376", False),
        ("ssh://[::1", False),
        ("unix:///var/run/docker.sock", True),
        ("ftp://x", False),
    ],
)
def test_docker_host_urls(tmp_path, url, ok):
    path = write(tmp_path, f'docker_hosts:\n  d:\n    url: "{url}"\n')
    if ok:
        assert load_config(str(path)).docker_hosts["d"].url == url
        return
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value).startswith(f"{path}:3: docker_hosts.d.url: ")
    assert "pw-in-url" not in str(err.value)


def test_token_pasted_into_token_env_is_said_not_shown(tmp_path):
    token = "kT9mQ2xV7pL4rW8nB3cY6hJ1fD5sG0aZeU2iO9tR4yE7wQ3vN8bM1xC6"
    path = write(tmp_path, f"contexts:\n  a:\n    url: https://x\n    token_env: {token}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value).startswith(f"{path}:4: contexts.a.token_env: this looks like a token")
    assert token[:8] not in str(err.value)
    # Real variable names pass.
    for name in ("AUTHENTIK_TOKEN", "AK_PROD_TOKEN_2", "authentik_token"):
        write(tmp_path, f"contexts:\n  a:\n    url: https://x\n    token_env: {name}\n")
        assert load_config(str(path)).contexts["a"].token_env == name


@pytest.mark.parametrize("kind", ["directory", "not-utf8", "unreadable", "fifo", "two-words"])
def test_token_file_problems_are_one_line_with_its_line(tmp_path, kind):
    token = tmp_path / "token"
    if kind == "directory":
        token.mkdir(mode=0o700)
    elif kind == "fifo":
        os.mkfifo(token, 0o600)
    else:
        token.write_bytes(
            {"not-utf8": b"\xff\xfe tok", "unreadable": b"tok", "two-words": b"tok en\n"}[kind]
        )
        token.chmod(0o600)
    path = write(tmp_path, f"contexts:\n  a:\n    url: https://x\n    token_file: {token}\n")
    config = load_config(str(path))
    if kind == "unreadable" and os.geteuid() == 0:
        # Root reads anything: a dangling symlink fails the same way an unreadable file does.
        token.unlink()
        token.symlink_to(tmp_path / "dangling")
    elif kind == "unreadable":
        token.chmod(0)
    with pytest.raises(ConfigError) as err:
        resolve_token(config.contexts["a"], "a", str(path))
    line = str(err.value)
    assert line.startswith(f"{path}:4: contexts.a.token_file: ") and "\n" not in line
    assert "tok en" not in line


def test_cross_reference_errors_name_the_referencing_line(tmp_path):
    text = (
        "docker_hosts:\n  d1:\n    url: unix:///x\n"
        "contexts:\n  a:\n    url: https://x\n    docker_hosts:\n      - d1\n      - d2\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(write(tmp_path, text)))
    assert ":9: contexts.a.docker_hosts[1]: unknown docker host 'd2'" in str(err.value)
    text = "docker_hosts: {}\noutposts:\n  o:\n    docker_host: nope\n"
    with pytest.raises(ConfigError) as err:
        load_config(str(write(tmp_path, text)))
    assert ":4: outposts.o.docker_host: unknown docker host 'nope'" in str(err.value)


def test_top_level_list_is_a_sensible_message(tmp_path):
    path = write(tmp_path, "- contexts\n- web_servers\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value) == (
        f"{path}:1: the config must be a mapping (contexts:, web_servers:, ...), got a list"
    )


def test_zero_timeout_refused(tmp_path):
    path = write(tmp_path, "contexts:\n  a:\n    url: https://x\n    timeout: 0\n")
    with pytest.raises(ConfigError, match=r":4: contexts\.a\.timeout: expected seconds"):
        load_config(str(path))


@pytest.mark.parametrize(
    ("url", "verify", "warned"),
    [
        ("http://auth.example.com", True, "over plain http://"),
        ("http://10.0.0.5:9000", True, "over plain http://"),
        ("http://127.0.0.1:9000", True, ""),
        ("http://localhost:9000", True, ""),
        ("http://[::1]:9000", True, ""),
        ("https://auth.example.com", False, "certificate is not checked"),
        ("https://auth.example.com", True, ""),
    ],
)
def test_transport_warnings(url, verify, warned):
    from aktui.config import ContextConfig, transport_warnings

    found = transport_warnings(ContextConfig(url=url, verify_tls=verify), "a")
    assert (warned in found[0]) if warned else found == []
