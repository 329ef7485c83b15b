"""known_hosts read the way OpenSSH reads it: markers, patterns, hashed names, several files.

paramiko's own reader raises on a ``@revoked`` or ``@cert-authority`` line (the marker shifts
the fields), which crashed push, doctor and ``status``. Here every line OpenSSH accepts is
understood and every line it would skip is skipped:

- ``@revoked`` lines: that key is refused for the hosts the line matches, even when another
  line lists it as known (``sshd -T``'s RevokedHostKeys is a separate file, not read here).
- ``@cert-authority`` lines: OpenSSH trusts host *certificates* signed by that key; a plain
  host key is never accepted because of one. aktui does not check host certificates, so such
  a line only changes the message for an unknown key (it says so instead of "unknown").
- host patterns: comma lists, ``*`` and ``?`` wildcards, ``!`` negation, ``[host]:port``, and
  ``|1|salt|hash`` hashed names (HashKnownHosts, Debian's default).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

# A known_hosts line is a few hundred bytes (an RSA-16384 key ~2.8 KB). Longer lines are not
# keys; a file of one endless line must not be held in memory whole.
MAX_LINE = 16 * 1024
MAX_FILE = 64 * 1024 * 1024

REVOKED = "revoked"
CERT_AUTHORITY = "cert-authority"


@dataclass(frozen=True, slots=True)
class Entry:
    marker: str  # "", REVOKED or CERT_AUTHORITY
    patterns: tuple[str, ...]
    key: paramiko.PKey
    where: str  # file:line, for messages

    def matches(self, name: str) -> bool:
        return host_matches(name, self.patterns)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # "known", "revoked", "changed", "unknown"
    name: str  # the name looked up (HostKeyAlias, or host / [host]:port)
    known: tuple[Entry, ...] = ()  # plain entries for this host (changed: same key type)
    ca: tuple[Entry, ...] = ()  # @cert-authority entries for this host


@dataclass
class KnownHosts:
    files: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def load(cls, files: Iterable[str]) -> KnownHosts:
        """Every readable file, in order; a missing or unreadable one is skipped as ssh does."""
        found = cls(files=tuple(files))
        for name in found.files:
            found.entries.extend(_read(Path(name)))
        return found

    def for_host(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.matches(name)]

    def key_types(self, name: str) -> list[str]:
        """Key types known for ``name`` (plain, not revoked), in file order: what the
        connection should prefer, as OpenSSH orders HostKeyAlgorithms."""
        mine = self.for_host(name)
        revoked = {_blob(e.key) for e in mine if e.marker == REVOKED}
        types: list[str] = []
        for e in mine:
            if not e.marker and _blob(e.key) not in revoked and e.key.get_name() not in types:
                types.append(e.key.get_name())
        return types

    def check(self, name: str, key: paramiko.PKey) -> Verdict:
        mine = self.for_host(name)
        offered = _blob(key)
        ca = tuple(e for e in mine if e.marker == CERT_AUTHORITY)
        if any(e.marker == REVOKED and _blob(e.key) == offered for e in mine):
            return Verdict("revoked", name, ca=ca)
        plain = [e for e in mine if not e.marker]
        if any(_blob(e.key) == offered for e in plain):
            return Verdict("known", name, ca=ca)
        same_type = tuple(e for e in plain if e.key.get_name() == key.get_name())
        if same_type:
            return Verdict("changed", name, known=same_type, ca=ca)
        return Verdict("unknown", name, known=tuple(plain), ca=ca)


def lookup_name(host: str, port: int, alias: str = "") -> str:
    """The name ssh looks up: HostKeyAlias as is, else ``host`` or ``[host]:port``."""
    if alias:
        return alias
    return host if port == 22 else f"[{host}]:{port}"


def host_matches(name: str, patterns: Iterable[str]) -> bool:
    """OpenSSH's match_hostname: a negated pattern that matches wins over everything."""
    name = name.lower()
    matched = False
    for pattern in patterns:
        if pattern.startswith("|1|"):
            if _hashed_matches(name, pattern):
                matched = True
            continue
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if _glob(name, body.lower()):
            if negated:
                return False
            matched = True
    return matched


def _glob(name: str, pattern: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return name == pattern
    # fnmatch also knows [...] classes, which OpenSSH does not: "[host]:port" is literal.
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(name, escaped)


def _hashed_matches(name: str, pattern: str) -> bool:
    parts = pattern.split("|")
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        wanted = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(digest, wanted)


def _blob(key: paramiko.PKey) -> bytes:
    return key.asbytes()


def _read(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE:
            return entries
        with path.open("rb") as f:
            for number, raw in enumerate(_lines(f), 1):
                entry = parse_line(raw, f"{path}:{number}")
                if entry is not None:
                    entries.append(entry)
    except OSError:
        return entries
    return entries


def _lines(f: object) -> Iterable[bytes]:
    """Lines of at most MAX_LINE bytes; the rest of a longer line is skipped, not kept."""
    read = f.readline  # type: ignore[attr-defined]
    while True:
        line = read(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while (more := read(MAX_LINE)) and not more.endswith(b"\n"):
                pass
            yield b""  # counts as a line, holds nothing
            continue
        yield line


def parse_line(raw: bytes, where: str) -> Entry | None:
    """One known_hosts line, or None for a comment, a blank or a line ssh would skip."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text or text.startswith("#"):
        return None
    fields = text.split()
    marker = ""
    if fields[0].startswith("@"):
        marker = fields.pop(0)[1:]
        if marker not in (REVOKED, CERT_AUTHORITY):
            return None
    if len(fields) < 3:
        return None
    hosts, key_type, blob = fields[0], fields[1], fields[2]
    try:
        data = base64.b64decode(blob, validate=True)
        key = paramiko.PKey.from_type_string(key_type, data)
    except (binascii.Error, ValueError, paramiko.SSHException, TypeError, IndexError):
        return None
    except Exception:  # a malformed blob can fail deep in a key class: skip it as ssh does
        return None
    return Entry(marker, tuple(p for p in hosts.split(",") if p), key, where)
