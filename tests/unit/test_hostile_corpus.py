"""Hostile input, end to end through the CLI: configs, URLs, known_hosts files, log streams,
nginx files and servers that answer badly (tests/data/hostile/).

Every case must end in one line naming the file, field or host, with the documented exit code
(2: config, input or connection error; 1: findings or a failed action; 0: fine), no API token
anywhere in the output, no raw terminal control, and within bounded time (the client's own
timeouts; subprocess cases also a wall-clock kill) and memory (subprocess cases run under an
address-space limit). A config case says what it expects in its first comment lines:
``# expect-exit: N``, ``# expect: <text of the last stderr line>``, optionally ``# warns:``,
``# subprocess: yes`` (memory bombs) and ``# resolve: NAME`` (NAME resolves to 127.0.0.1).
"""

from __future__ import annotations

import io
import os
import re
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from aktui.cli import main
from aktui.nginx.templates import SHAPES, render_example
from aktui.nginx.values import OutpostTarget
from aktui.terminal import is_safe
from tests.fixtures.hostile_servers import ESCAPES, FakeSSH, HostileHTTP

DATA = Path(__file__).resolve().parents[1] / "data" / "hostile"
TOKEN = "hostile-corpus-Tok3n-0123456789abcdefghijklmnopqrstuvwxyz"
MEMORY_LIMIT = 1536 << 20  # address space of a subprocess case
SUBPROCESS_TIMEOUT = 120


def _cases(folder: str) -> list[Path]:
    return sorted((DATA / folder).iterdir())


def _header(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = re.match(r"# ([a-z-]+): (.*)", line)
        if not match:
            break
        found[match.group(1)] = match.group(2)
    return found


def _assert_clean(out: str, err: str) -> None:
    """What every case's output must be: no token, no traceback, no raw terminal control."""
    both = out + err
    assert TOKEN[:16] not in both and "Sup3rS3cretPass" not in both and "hunter2" not in both
    assert "Traceback" not in both, err
    assert is_safe(both), repr(both[-400:])


# --- configs, URLs and servers that answer badly --------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[HostileHTTP]:
    server = HostileHTTP()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """Accepts, never answers (the kernel's backlog holds the connections)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "token_dir").mkdir(mode=0o700)
    os.mkfifo(tmp_path / "token_fifo", 0o600)
    for name, data in {
        "token_ok": f"{TOKEN}\n".encode(),
        "token_latin1": "t\xf6ken".encode("latin-1"),
        "token_two_lines": f"{TOKEN}\nsecond\n".encode(),
        "ca_garbage.pem": b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n",
    }.items():
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o600)
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free again once closed: nothing listens there


def _materialise(case: Path, workdir: Path, server: HostileHTTP, silent: int) -> Path:
    text = case.read_bytes()
    for key, value in {
        "@TMP@": str(workdir),
        "@SERVER@": server.url,
        "@SILENT_PORT@": str(silent),
        "@CLOSED_PORT@": str(_closed_port()),
    }.items():
        text = text.replace(key.encode(), value.encode())
    path = workdir / "config.yaml"
    path.write_bytes(text)
    path.chmod(0o600)
    return path


def _expected(case: Path, workdir: Path, server: HostileHTTP, config: Path) -> dict[str, str]:
    header = _header(config.read_bytes().decode("utf-8", "replace"))
    assert "expect" in header and "expect-exit" in header, f"{case.name}: header missing"
    return header


@pytest.mark.parametrize("case", _cases("configs"), ids=lambda p: p.stem)
def test_config_and_server_cases(case, workdir, http_server, silent_port, monkeypatch, capsys):
    config = _materialise(case, workdir, http_server, silent_port)
    expected = _expected(case, workdir, http_server, config)
    monkeypatch.setenv("AUTHENTIK_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(workdir))  # no ~/.ssh/config or docker of the machine
    argv = ["status", "--config", str(config)]
    if expected.get("subprocess") == "yes":
        code, out, err = _run_subprocess(argv, workdir)
    else:
        if "resolve" in expected:
            _resolve_to_loopback(monkeypatch, expected["resolve"])
        code = main(argv)
        captured = capsys.readouterr()
        out, err = captured.out, captured.err
    _assert_clean(out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, f"{case.name}: no message"
    assert code == int(expected["expect-exit"]), err
    assert lines[-1].startswith("aktui: ") and expected["expect"] in lines[-1], lines[-1]
    errors = [line for line in lines if not line.startswith("aktui: warning: ")]
    assert len(errors) == 1, err  # one line, not one per retry or a dump
    if "warns" in expected:
        assert any(expected["warns"] in line for line in lines[:-1]), err


def _resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        wanted = host.decode() if isinstance(host, bytes) else host
        return real("127.0.0.1" if wanted == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_subprocess(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    launcher = "import sys; from aktui.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", launcher, *argv],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=cwd,
        env={**os.environ},
        preexec_fn=_limit_memory,
    )
    return done.returncode, done.stdout, done.stderr


def test_escapes_from_a_server_reach_the_terminal_escaped(http_server, workdir, capsys):
    config = workdir / "config.yaml"
    config.write_text(
        f"contexts:\n  a:\n    url: {http_server.url}/escape-detail\n"
        f"    token_file: {workdir / 'token_ok'}\n"
    )
    config.chmod(0o600)
    assert main(["status", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "\\x1b]52;c;cGF5bG9hZA==\\x07" in err and "\\u202e" in err and "\\u2028" in err
    assert ESCAPES not in err


# --- known_hosts files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ssh_server() -> Iterator[FakeSSH]:
    server = FakeSSH(paramiko.ECDSAKey.generate())
    try:
        yield server
    finally:
        server.close()


def _known_hosts(case: Path, server: FakeSSH, into: Path) -> str:
    import base64
    import hashlib
    import hmac

    name = f"[127.0.0.1]:{server.port}"
    other = paramiko.ECDSAKey.generate()
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    text = case.read_text()
    for key, value in {
        "@NAME@": name,
        "@KEY@": f"{server.host_key.get_name()} {server.host_key.get_base64()}",
        "@OTHER@": f"{other.get_name()} {other.get_base64()}",
        "@HASHED@": f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}",
    }.items():
        text = text.replace(key, value)
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text(text)
    return _header(case.read_text())["expect"]


@pytest.mark.parametrize("case", _cases("known_hosts"), ids=lambda p: p.stem)
def test_known_hosts_cases_web_server(case, ssh_server, tmp_path):
    from aktui.config import WebServerConfig
    from aktui.deploy.ssh import WebServer
    from aktui.errors import RemoteError

    known = tmp_path / "known_hosts"
    expected = _known_hosts(case, ssh_server, known)
    key = tmp_path / "id"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(key))
    cfg = WebServerConfig(
        host="127.0.0.1",
        port=ssh_server.port,
        user="ops",
        key_file=str(key),
        known_hosts=str(known),
    )
    with pytest.raises(RemoteError) as err:
        WebServer("w", cfg, ssh_config=str(tmp_path / "none"), connect_timeout=10).connect()
    line = str(err.value)
    assert line.startswith(f"ops@127.0.0.1:{ssh_server.port}: ") and expected in line, line
    _assert_clean(line, "")
    assert "\n" not in line


@pytest.mark.parametrize("case", _cases("known_hosts"), ids=lambda p: p.stem)
def test_known_hosts_cases_docker_over_ssh(case, ssh_server, tmp_path, monkeypatch):
    from aktui.docker.host import DockerHost
    from aktui.errors import DockerUnavailable

    expected = _known_hosts(case, ssh_server, tmp_path / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent"))
    host = DockerHost("d", f"ssh://ops@127.0.0.1:{ssh_server.port}", 10.0)
    with pytest.raises(DockerUnavailable) as err:
        host.client()
    line = str(err.value)
    assert line.startswith(f"docker host d (ssh://ops@127.0.0.1:{ssh_server.port}): connect: ")
    if expected == "host key not in":  # the docker wording, with the fingerprint to compare
        assert "host key not in known_hosts: ecdsa-sha2-nistp256 SHA256:" in line
        assert "ssh-keyscan" not in line
    else:
        assert expected in line, line
    _assert_clean(line, "")


# --- log streams ----------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("case", _cases("logs"), ids=lambda p: p.stem)
def test_log_streams_annotate_on_a_terminal(case):
    import argparse

    from aktui.cmd import annotate

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    annotate.configure(parser)
    out = _Tty()
    code = annotate.run(parser.parse_args([str(case)]), stdout=out)
    assert code == 0
    _assert_clean(out.getvalue(), "")


@pytest.mark.parametrize("case", _cases("logs"), ids=lambda p: p.stem)
def test_log_streams_annotate_to_a_pipe(case, capsys):
    assert main(["annotate", str(case)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    # A pipe gets the lines as read (annotations added), nothing lost.
    assert captured.out.count("\n") >= case.read_bytes().count(b"\n")


# --- nginx files ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("nginx"), ids=lambda p: p.stem)
def test_nginx_files(case, capsys):
    code = main(["lint-nginx", str(case)])
    captured = capsys.readouterr()
    _assert_clean(captured.out, captured.err)
    assert code in (0, 1, 2)
    for line in captured.err.splitlines():
        assert line.startswith("aktui lint-nginx: ") and case.name in line, line


# --- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_a_value_holding_a_placeholder_stays_text(shape):
    target = OutpostTarget("outpost-x", "10.0.0.1", 9001)
    plain = render_example(shape, "app.example.com", target, path="/admin")
    spliced = render_example(shape, "app.example.com", target, path="/@PROXY_HEADERS@")
    # The path is the only difference: no template text was spliced in through it.
    assert spliced.count("proxy_set_header") == plain.count("proxy_set_header")
    assert spliced.replace("/@PROXY_HEADERS@", "/admin") == plain


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["push", "--parallel", "0"], "argument --parallel: must be 1 or more, got 0"),
        (["push", "--parallel", "-3"], "argument --parallel: must be 1 or more, got -3"),
        (["push", "--parallel", "many"], "argument --parallel: expected a whole number"),
        (["push", "--lock-wait", "nan"], "argument --lock-wait: must be 0 or more seconds"),
        (["push", "--lock-wait", "-1"], "argument --lock-wait: must be 0 or more seconds"),
    ],
)
def test_bad_arguments_are_a_usage_error_not_a_traceback(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.splitlines()[-1].startswith(f"aktui push: error: {message}")
    assert "Traceback" not in err


# --- the doctor's word on the token's way -----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "verify", "status"),
    [
        ("http://auth.example.com", True, "warn"),
        ("https://auth.example.com", False, "warn"),
        ("https://auth.example.com", True, "ok"),
        ("http://127.0.0.1:9000", True, "ok"),
    ],
)
async def test_doctor_warns_when_the_token_can_be_read_on_the_way(url, verify, status):
    from types import SimpleNamespace

    from aktui.config import ContextConfig
    from aktui.doctor.run import token_transport_check

    backend = SimpleNamespace(context=ContextConfig(url=url, verify_tls=verify), name="prod")
    (result,) = await token_transport_check(backend)  # type: ignore[arg-type]
    assert result.check == "token-transport" and result.status == status
    if status == "warn":
        assert "contexts.prod." in result.evidence and result.fix


def test_docker_tcp_refused_is_refused_not_a_timeout():
    from aktui.docker.host import DockerHost
    from aktui.errors import DockerUnavailable

    port = _closed_port()
    host = DockerHost("d", f"tcp://127.0.0.1:{port}", 5.0)
    with pytest.raises(DockerUnavailable) as err, host.errors("list containers"):
        host.client().ping()
    assert str(err.value).startswith(
        f"docker host d (tcp://127.0.0.1:{port}): list containers: Connection refused"
    )
    assert "no answer" not in str(err.value)
