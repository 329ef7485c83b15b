"""SSH the way OpenSSH does it, against real sshd (tests/fixtures/webhost.py): ProxyJump with
one sshd as the bastion, known_hosts markers, HostKeyAlias, GlobalKnownHostsFile, a dead
ProxyCommand and servers that never speak SSH."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from aktui.deploy.push import plan_hosts
from aktui.deploy.ssh import WebServer
from aktui.docker.host import DockerHost
from aktui.errors import DockerUnavailable, HostKeyChanged, HostKeyUnknown, RemoteError
from tests.fixtures.procs import loopback_server
from tests.fixtures.webhost import WebHost

pytestmark = pytest.mark.integration


def host_block(alias: str, host: WebHost, known: Path, extra: str = "") -> str:
    return (
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {host.ssh_port}\n  User {host.user}\n"
        f"  IdentityFile {host.client_key}\n  UserKnownHostsFile {known}\n"
        f"  GlobalKnownHostsFile /dev/null\n{extra}"
    )


@pytest.fixture
def two(webhosts: list[WebHost], tmp_path: Path) -> tuple[WebHost, WebHost, Path]:
    """web1 as the bastion, web2 as the target; one known_hosts file with both keys."""
    bastion, target = webhosts
    known = tmp_path / "known_hosts"
    known.write_text(bastion.known_hosts_line + target.known_hosts_line)
    return bastion, target, known


def accepted(host: WebHost) -> int:
    """Sessions sshd accepted so far (its VERBOSE log)."""
    return (host.root / "sshd.log").read_text().count("Accepted publickey")


def session(ssh_config: Path, alias: str, **cfg: object) -> WebServer:
    from aktui.config import WebServerConfig

    return WebServer(alias, WebServerConfig(host=alias, **cfg), ssh_config=str(ssh_config))  # type: ignore[arg-type]


def test_proxy_jump_goes_through_the_bastion(two, tmp_path):
    bastion, target, known = two
    config = tmp_path / "ssh_config"
    config.write_text(
        host_block("bastion", bastion, known)
        + host_block("target", target, known, "  ProxyJump bastion\n")
        + host_block("chained", target, known, "  ProxyJump bastion,bastion\n")
    )
    before = accepted(bastion)
    with session(config, "target") as ws:
        assert ws.run(["echo", "through"]).output == "through\n"
        assert ws._client is not None and len(ws._client.hops) == 1
    assert accepted(bastion) == before + 1
    with session(config, "chained") as ws:
        assert ws.run(["echo", "twice"]).output == "twice\n"
    assert accepted(bastion) == before + 3


def test_proxy_jump_loop_and_unreachable_target_are_one_line(two, tmp_path):
    bastion, target, known = two
    config = tmp_path / "ssh_config"
    config.write_text(
        host_block("loop", target, known, "  ProxyJump loop\n")
        + host_block("bastion", bastion, known)
        + "Host nowhere\n  HostName 127.0.0.1\n  Port 1\n  ProxyJump bastion\n"
        f"  UserKnownHostsFile {known}\n"
    )
    with pytest.raises(RemoteError, match="ProxyJump goes more than 8 hops deep"):
        session(config, "loop").connect()
    with pytest.raises(RemoteError) as err:
        session(config, "nowhere").connect()
    assert "jump host" in str(err.value) and "cannot reach it" in str(err.value)


def test_revoked_key_refused_even_when_listed(two, tmp_path):
    _, target, known = two
    name, key = f"[127.0.0.1]:{target.ssh_port}", target.host_key_pub
    known.write_text(f"@revoked {name} {key}\n{name} {key}\n")
    with pytest.raises(HostKeyChanged, match="marked @revoked"):
        WebServer("t", target.web_server_config(known_hosts=str(known))).connect()
    # push says "refused", not a traceback.
    plans = plan_hosts({"t": target.web_server_config(known_hosts=str(known))}, lambda n, c: {})
    assert plans[0].status == "refused" and "@revoked" in plans[0].error


def test_cert_authority_line_is_said_not_a_traceback(two, tmp_path):
    _, target, known = two
    ca = paramiko.Ed25519Key.from_private_key_file(str(target.client_key))
    known.write_text(f"@cert-authority [127.0.0.1]:* {ca.get_name()} {ca.get_base64()}\n")
    with pytest.raises(HostKeyUnknown) as err:
        WebServer("t", target.web_server_config(known_hosts=str(known))).connect()
    assert "@cert-authority" in str(err.value) and "not supported" in str(err.value)
    assert target.host_key_fingerprint() in str(err.value)


def test_host_key_alias_and_global_known_hosts(two, tmp_path):
    _, target, _ = two
    user_known = tmp_path / "user_known"
    user_known.write_text("")
    global_known = tmp_path / "global_known"
    global_known.write_text(f"web-two {target.host_key_pub}\n")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host aliased\n  HostName 127.0.0.1\n  Port {target.ssh_port}\n"
        f"  IdentityFile {target.client_key}\n  UserKnownHostsFile {user_known}\n"
        f"  GlobalKnownHostsFile {global_known}\n  HostKeyAlias web-two\n"
        f"  IdentitiesOnly yes\n"
        f"Host plain\n  HostName 127.0.0.1\n  Port {target.ssh_port}\n"
        f"  IdentityFile {target.client_key}\n  UserKnownHostsFile {user_known}\n"
        f"  GlobalKnownHostsFile {global_known}\n"
    )
    with session(config, "aliased") as ws:
        assert ws.run(["true"]).ok
        assert ws.endpoint.identities_only
    with pytest.raises(HostKeyUnknown):  # same host, no alias: the alias line does not match
        session(config, "plain").connect()


def test_dead_proxy_command_fails_at_once_with_its_words(two, tmp_path):
    _, target, known = two
    config = tmp_path / "ssh_config"
    config.write_text(
        host_block(
            "proxied", target, known, "  ProxyCommand sh -c 'echo bastion is down >&2; exit 255'\n"
        )
    )
    ws = session(config, "proxied")
    ws.connect_timeout = 30.0
    with pytest.raises(RemoteError) as err:
        ws.connect()
    assert "ProxyCommand exited (255): bastion is down" in str(err.value)


def test_proxy_command_read_returns_end_of_file():
    from aktui.openssh.connect import ProxyCommandSocket

    proxy = ProxyCommandSocket("true")
    proxy.settimeout(5)
    try:
        assert proxy.recv(64) == b""  # paramiko's own loops until the timeout
    finally:
        proxy.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never says a word (a firewall's tarpit, a wrong service)."""
    held: list[socket.socket] = []
    with loopback_server(held.append) as port:
        yield port
    for conn in held:
        conn.close()


def test_silent_server_waits_the_configured_timeout(webhost, silent_port):
    cfg = webhost.web_server_config(port=silent_port)
    with pytest.raises(RemoteError, match=r"no SSH banner within 1s"):
        WebServer("s", cfg, connect_timeout=1.0).connect()
    host = DockerHost("d", f"ssh://root@127.0.0.1:{silent_port}", 1.0)
    with pytest.raises(DockerUnavailable) as err:
        host.client()
    assert "no SSH banner within 1s" in str(err.value)


def test_docker_over_ssh_with_revoked_line_is_one_line(webhost, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    name = f"[127.0.0.1]:{webhost.ssh_port}"
    (home / ".ssh" / "known_hosts").write_text(
        f"@revoked {name} {webhost.host_key_pub}\n@cert-authority *.example.com "
        f"{webhost.host_key_pub}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    host = DockerHost("d", f"ssh://{webhost.user}@127.0.0.1:{webhost.ssh_port}", 5.0)
    with pytest.raises(DockerUnavailable) as err:
        host.client()
    assert "@revoked" in str(err.value) and "\n" not in str(err.value)
