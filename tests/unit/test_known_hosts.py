"""known_hosts as OpenSSH reads it: markers, patterns, hashed names, hostile files."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import paramiko
import pytest

from aktui.openssh.known_hosts import KnownHosts, host_matches, lookup_name


def _key(seed: int) -> paramiko.PKey:
    """A deterministic ed25519 public key (no private half needed to check host keys)."""
    raw = hashlib.sha256(bytes([seed])).digest()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + raw
    return paramiko.PKey.from_type_string("ssh-ed25519", blob)


A, B, C = _key(1), _key(2), _key(3)


def line(hosts: str, key: paramiko.PKey, marker: str = "") -> str:
    return f"{marker + ' ' if marker else ''}{hosts} {key.get_name()} {key.get_base64()} comment\n"


def known(tmp_path: Path, *lines: str) -> KnownHosts:
    path = tmp_path / "known_hosts"
    path.write_text("".join(lines))
    return KnownHosts.load([str(path)])


def hashed(name: str) -> str:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_markers_no_longer_crash_and_mean_what_openssh_means(tmp_path):
    kh = known(
        tmp_path,
        line("web1", A, "@revoked"),
        line("web1", A),  # listed as known too: revoked still wins
        line("*.example.com", B, "@cert-authority"),
        line("web2", C),
    )
    assert kh.check("web1", A).status == "revoked"
    assert kh.check("web2", C).status == "known"
    unknown = kh.check("app.example.com", A)
    assert unknown.status == "unknown" and unknown.ca  # a CA covers it: say so
    # A CA key is never accepted as the host's own key.
    assert kh.check("app.example.com", B).status == "unknown"
    assert kh.key_types("web1") == []  # the only key it had is revoked


def test_changed_unknown_and_other_key_types():
    rsa = paramiko.RSAKey.generate(1024)
    kh = KnownHosts(entries=[])
    from aktui.openssh.known_hosts import parse_line

    kh.entries.append(parse_line(line("h", A).encode(), "f:1"))  # type: ignore[arg-type]
    assert kh.check("h", B).status == "changed"  # same type, other key
    assert kh.check("h", rsa).status == "unknown"  # a new type is new, as in OpenSSH
    assert kh.check("other", A).status == "unknown"
    assert kh.key_types("h") == ["ssh-ed25519"]


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("web1", ["web1"], True),
        ("WEB1", ["web1"], True),
        ("web1.example.com", ["*.example.com"], True),
        ("bad.example.com", ["*.example.com", "!bad.example.com"], False),
        ("web9", ["web?"], True),
        ("web10", ["web?"], False),
        ("[10.0.0.1]:2222", ["[10.0.0.1]:2222"], True),
        ("[10.0.0.1]:2222", ["10.0.0.1"], False),
        ("[10.0.0.1]:2222", ["[10.0.0.1]:*"], True),
        ("web1", [hashed("web1")], True),
        ("web2", [hashed("web1")], False),
        ("web1", ["|1|bad|base64"], False),
    ],
)
def test_host_patterns(name, patterns, expected):
    assert host_matches(name, patterns) is expected


def test_lookup_name_and_alias():
    assert lookup_name("h", 22) == "h"
    assert lookup_name("h", 2222) == "[h]:2222"
    assert lookup_name("h", 2222, "alias") == "alias"


def test_several_files_in_order_and_missing_ones_skipped(tmp_path):
    user = tmp_path / "user"
    user.write_text(line("h", A))
    glob = tmp_path / "global"
    glob.write_text(line("h", B, "@revoked") + line("g", C))
    kh = KnownHosts.load([str(tmp_path / "missing"), str(user), str(tmp_path), str(glob)])
    assert kh.check("g", C).status == "known"
    assert kh.check("h", B).status == "revoked"


@pytest.mark.parametrize(
    "garbage",
    [
        "@revoked\n",
        "@revoked web1\n",
        "@bogus web1 ssh-ed25519 AAAA\n",
        "web1 ssh-ed25519 not-base64!!\n",
        "web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n",  # truncated blob
        "web1 ssh-unknown-type AAAA\n",
        "web1 ssh-ed25519\n",
        "\xff\xfe web1 ssh-ed25519 AAAA\n",
        "x" * 100_000 + "\n",  # one endless line
        "\x00\x01\x02\n",
    ],
)
def test_lines_ssh_would_skip_are_skipped(tmp_path, garbage):
    path = tmp_path / "known_hosts"
    path.write_bytes(garbage.encode("utf-8", "surrogateescape") + line("web1", A).encode())
    kh = KnownHosts.load([str(path)])
    assert kh.check("web1", A).status == "known"
    assert len(kh.entries) == 1
