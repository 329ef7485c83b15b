"""~/.ssh/config read as ssh reads it: Include, ProxyJump specs, known_hosts file lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from aktui.errors import RemoteError
from aktui.openssh.connect import jump_endpoint, resolve


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh" / "config.d").mkdir(parents=True)
    return tmp_path


def test_include_globs_relative_and_absolute(home, tmp_path):
    ssh = home / ".ssh"
    (ssh / "config.d" / "10-web.conf").write_text(
        "Host web1\n  HostName 10.0.0.11\n  Port 2201\n  ProxyJump bastion\n"
    )
    (ssh / "config.d" / "20-bastion.conf").write_text(
        "Host bastion\n  HostName 10.0.0.1\n  User jump\n"
        "  UserKnownHostsFile ~/.ssh/kh_a ~/.ssh/kh_b\n  GlobalKnownHostsFile none\n"
    )
    elsewhere = tmp_path / "elsewhere.conf"
    elsewhere.write_text("Host db\n  HostName 10.0.0.20\n  IdentitiesOnly yes\n")
    (ssh / "config").write_text(f"Include config.d/*.conf\nInclude={elsewhere}\n")
    web = resolve("web1")
    assert (web.hostname, web.port, web.proxy_jump) == ("10.0.0.11", 2201, "bastion")
    hop = jump_endpoint(web.proxy_jump, None)
    assert (hop.hostname, hop.user, hop.port) == ("10.0.0.1", "jump", 22)
    assert hop.known_hosts_files == (str(ssh / "kh_a"), str(ssh / "kh_b"))
    assert hop.known_hosts == str(ssh / "kh_a") and hop.global_known_hosts == ()
    assert resolve("db").identities_only


def test_include_loop_and_bad_lines_are_one_line(home):
    ssh = home / ".ssh"
    (ssh / "config").write_text("Include config\n")
    with pytest.raises(RemoteError, match="Include nested more than 16 deep"):
        resolve("anything")
    (ssh / "config").write_text('Include "unbalanced\n')
    with pytest.raises(RemoteError, match="cannot read ssh config"):
        resolve("anything")
    (ssh / "config").write_bytes(b"Host x\n  HostName \xff\xfe\n")
    with pytest.raises(RemoteError, match="cannot read ssh config"):
        resolve("x")


@pytest.mark.parametrize(
    ("spec", "user", "host", "port"),
    [
        ("bastion", "", "bastion", 22),
        ("ops@bastion:2222", "ops", "bastion", 2222),
        ("ssh://ops@bastion:2222", "ops", "bastion", 2222),
        ("[2001:db8::1]:2222", "", "2001:db8::1", 2222),
        ("ops@[::1]", "ops", "::1", 22),
    ],
)
def test_jump_specs(home, spec, user, host, port):
    hop = jump_endpoint(spec, None)
    assert (hop.hostname, hop.port) == (host, port)
    if user:
        assert hop.user == user


def test_bad_jump_spec_is_one_line(home):
    with pytest.raises(RemoteError, match="bad port"):
        jump_endpoint("bastion:ssh", None)
    with pytest.raises(RemoteError, match="no host"):
        jump_endpoint("ops@", None)
