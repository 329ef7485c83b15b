"""Reaching a host over SSH as OpenSSH's ``ssh`` would: ~/.ssh/config, known_hosts, jumps.

Shared by web servers (``aktui.deploy.ssh``) and docker hosts at ``ssh://``
(``aktui.docker.host``), so both honour the settings an operator already has for ``ssh HOST``:

- ``HostName``, ``User``, ``Port``, ``IdentityFile``, ``IdentitiesOnly`` (no agent keys),
- ``UserKnownHostsFile`` / ``GlobalKnownHostsFile`` (several files each), ``HostKeyAlias``,
- ``ProxyJump`` (``a,b`` chains; each hop a paramiko ``direct-tcpip`` channel through the one
  before, with its own host key check) and ``ProxyCommand``,
- ``Include`` (globs, ~, relative to ~/.ssh; paramiko itself ignores it).

Host keys follow ``StrictHostKeyChecking=accept-new`` at most (``aktui.openssh.known_hosts``): an
unknown key is refused with its fingerprint unless the caller opted in, a changed or
``@revoked`` key is always refused. Every wait is bounded by the caller's timeout: TCP
connect, SSH banner, key exchange, authentication and each jump's channel. Blocking code.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import glob
import hashlib
import logging
import os
import re
import select
import shlex
import socket
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paramiko

from aktui.errors import HostKeyChanged, HostKeyRevoked, HostKeyUnknown, RemoteError
from aktui.openssh.known_hosts import KnownHosts, lookup_name

CONNECT_TIMEOUT = 10.0
MAX_HOPS = 8  # a ProxyJump chain deeper than this is a loop in ~/.ssh/config
USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
# What paramiko and the socket under it raise when a session or a channel breaks.
TRANSPORT_ERRORS = (OSError, paramiko.SSHException, EOFError)
# paramiko logs a failed handshake as ERROR with a traceback; with no handler configured,
# Python's last-resort handler prints that to stderr under our one-line message. Every such
# failure reaches the operator as a RemoteError instead; an app that sets up logging still
# gets the records (they propagate).
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` form, as ``ssh-keygen -lf`` and ssh's prompts show it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One host's SSH settings after ``~/.ssh/config`` (explicit values win, as on the ssh
    command line)."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: str  # the user file accept-new appends to
    proxy_command: str = ""
    proxy_jump: str = ""
    known_hosts_files: tuple[str, ...] = ()  # user files, known_hosts first
    global_known_hosts: tuple[str, ...] = GLOBAL_KNOWN_HOSTS
    host_key_alias: str = ""
    identities_only: bool = False

    @property
    def target(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name this host's keys are filed under (HostKeyAlias, or host / [host]:port)."""
        return lookup_name(self.hostname, self.port, self.host_key_alias)


def read_ssh_config(path: str | None = None) -> paramiko.SSHConfig:
    file = Path(path or Path.home() / ".ssh" / "config").expanduser()
    try:
        if file.is_file():
            return paramiko.SSHConfig.from_text(_with_includes(file, 0))
    except (OSError, UnicodeDecodeError, paramiko.SSHException, ValueError) as e:
        raise RemoteError(f"{file}: cannot read ssh config: {e}") from None
    return paramiko.SSHConfig()


# ``Include file ...`` / ``Include=file``: paramiko keeps the line and reads nothing.
_INCLUDE = re.compile(r"^\s*include(?:\s*=\s*|\s+)(.+?)\s*$", re.IGNORECASE)
MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH


def _with_includes(file: Path, depth: int) -> str:
    """The config text with every ``Include`` replaced by the files it names, as ssh reads
    them: globs in lexical order, ``~`` expanded, relative paths under ~/.ssh. (Inlined, so
    an Include inside a Host block is read as if its lines were written there.)"""
    if depth > MAX_INCLUDE_DEPTH:
        raise RemoteError(f"{file}: Include nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)")
    lines = []
    for line in file.read_text(encoding="utf-8").splitlines():
        found = _INCLUDE.match(line)
        if not found:
            lines.append(line)
            continue
        for pattern in shlex.split(found.group(1)):
            pattern = os.path.expanduser(pattern)
            if not os.path.isabs(pattern):
                pattern = str(Path.home() / ".ssh" / pattern)
            for name in sorted(glob.glob(pattern)):
                if Path(name).is_file():
                    lines.append(_with_includes(Path(name), depth + 1))
    return "\n".join(lines)


def resolve(
    host: str,
    *,
    user: str = "",
    port: int = 0,
    key_file: str = "",
    known_hosts: str = "",
    ssh_config: str | None = None,
) -> Endpoint:
    """``host`` (a name or ~/.ssh/config alias) with ssh config applied under the explicit
    values."""
    o = read_ssh_config(ssh_config).lookup(host)
    keys = [key_file] if key_file else list(o.get("identityfile") or [])
    user_files = _paths(o.get("userknownhostsfile"), USER_KNOWN_HOSTS)
    if known_hosts:
        user_files = (os.path.expanduser(known_hosts),)
    jump = (o.get("proxyjump") or "").strip()
    try:
        resolved_port = port or int(o.get("port") or 22)
    except ValueError:
        raise RemoteError(f"{host}: ~/.ssh/config has a bad Port {o.get('port')!r}") from None
    return Endpoint(
        hostname=o.get("hostname") or host,
        port=resolved_port,
        user=user or o.get("user") or getpass.getuser(),
        key_files=tuple(os.path.expanduser(k) for k in keys),
        known_hosts=user_files[0],
        proxy_command=o.get("proxycommand") or "",
        proxy_jump="" if jump.lower() == "none" else jump,
        known_hosts_files=user_files,
        global_known_hosts=_paths(o.get("globalknownhostsfile"), GLOBAL_KNOWN_HOSTS),
        host_key_alias=o.get("hostkeyalias") or "",
        identities_only=(o.get("identitiesonly") or "no").lower() == "yes",
    )


def _paths(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    names = value.split() if value else list(default)
    if [n.lower() for n in names] == ["none"]:
        return ()
    return tuple(os.path.expanduser(n) for n in names)


def jump_endpoint(spec: str, ssh_config: str | None) -> Endpoint:
    """One ProxyJump hop, ``[user@]host[:port]`` or ``ssh://[user@]host[:port]``, with that
    host's own ssh config."""
    text = spec.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://") :]
    user, _, rest = text.rpartition("@")
    host, port = rest, 0
    if rest.startswith("["):  # [v6]:port
        inner, _, tail = rest[1:].partition("]")
        host = inner
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = rest.partition(":")
    if not host:
        raise RemoteError(f"ProxyJump {spec!r}: no host")
    try:
        port = int(port_text) if port_text else 0
    except ValueError:
        raise RemoteError(f"ProxyJump {spec!r}: bad port {port_text!r}") from None
    return resolve(host, user=user, port=port, ssh_config=ssh_config)


# --- host keys ------------------------------------------------------------------------------


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Every key decision: paramiko is given no keys of its own, so it asks here each time."""

    def __init__(self, endpoint: Endpoint, known: KnownHosts, accept_new: bool) -> None:
        self.endpoint, self.known, self.accept_new = endpoint, known, accept_new

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        ep = self.endpoint
        verdict = self.known.check(ep.known_hosts_name, key)
        shown = fingerprint(key)
        if verdict.status == "known":
            return
        if verdict.status == "revoked":
            raise HostKeyRevoked(
                f"{ep.target}: host key {shown} is marked @revoked in known_hosts: refused",
                "the server still offers a revoked key; ask its admin which key is current",
            )
        if verdict.status == "changed":
            entry = verdict.known[0]
            raise HostKeyChanged(
                f"{ep.target}: HOST KEY CHANGED: offered {shown}, "
                f"{entry.where} has {fingerprint(entry.key)}",
                "refused; if the server was really reinstalled, remove the old line "
                f"(ssh-keygen -R '{ep.known_hosts_name}' -f {entry.where.rsplit(':', 1)[0]})",
            )
        if verdict.ca:
            raise _unknown(
                shown,
                f"{ep.target}: host key {shown} is not in known_hosts; "
                f"{verdict.ca[0].where} trusts a @cert-authority for this host, and aktui does "
                "not check host certificates (not supported)",
                "add the host's own key line for it (compare the fingerprint first)",
            )
        if not self.accept_new:
            files = ", ".join(ep.known_hosts_files) or "(UserKnownHostsFile none)"
            raise _unknown(
                shown,
                f"{ep.target}: host key not in {files}: {shown}",
                "check the fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_*.pub), "
                "then set accept_new_host_key: true or ssh to it once",
            )
        if not ep.known_hosts:
            raise HostKeyUnknown(f"{ep.target}: UserKnownHostsFile none: nowhere to add {shown}")
        # Append one line, like accept-new; paramiko's save_host_keys would rewrite the file.
        path = Path(ep.known_hosts)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with path.open("a", encoding="ascii") as f:
            f.write(f"{ep.known_hosts_name} {key.get_name()} {key.get_base64()}\n")


def _unknown(shown: str, message: str, hint: str) -> HostKeyUnknown:
    error = HostKeyUnknown(message, hint)
    error.fingerprint = shown
    return error


def _transport_factory(preferred: list[str]) -> Any:
    """Transports that prefer the key types known_hosts has for the host, as OpenSSH orders
    HostKeyAlgorithms: a server with several keys then shows the one we can check."""
    wanted: list[str] = []
    for name in preferred:
        wanted += ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]

    def make(sock: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
        transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        options = transport.get_security_options()
        types = list(options.key_types)
        first = [t for t in wanted if t in types]
        options.key_types = first + [t for t in types if t not in first]
        return transport

    return make


# --- the connection -------------------------------------------------------------------------


class Client(paramiko.SSHClient):
    """An SSH client that also closes the jump hosts it was reached through."""

    def __init__(self) -> None:
        super().__init__()
        self.hops: list[paramiko.SSHClient] = []

    def close(self) -> None:
        super().close()
        for hop in reversed(self.hops):
            with contextlib.suppress(Exception):
                hop.close()
        self.hops = []


class ProxyCommandSocket(paramiko.ProxyCommand):
    """paramiko's ProxyCommand reads in a loop until it has all bytes asked for; after the
    command exits each read returns nothing at once, so a dead command spun a CPU until the
    timeout. Here a read returns what there is, and end of file is end of file."""

    def recv(self, size: int) -> bytes:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            ready, _, _ = select.select([stdout], [], [], self.timeout)
        except (OSError, ValueError) as e:
            raise paramiko.ProxyCommandFailure(" ".join(self.cmd), str(e)) from None
        if not ready:
            raise TimeoutError()
        return os.read(stdout.fileno(), size)

    def stderr_tail(self) -> str:
        """The command's last words (``ssh: connect to host ... refused``), once it exited."""
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            ready, _, _ = select.select([self.process.stderr], [], [], 0)
            if ready:
                text = os.read(self.process.stderr.fileno(), 4096).decode("utf-8", "replace")
                lines = [line.strip() for line in text.splitlines() if line.strip()]
                return lines[-1] if lines else ""
        return ""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            self.process.wait(timeout=2)
            return
        with contextlib.suppress(OSError):
            self.process.kill()
            self.process.wait(timeout=2)


def connect(
    endpoint: Endpoint,
    *,
    accept_new: bool = False,
    timeout: float = CONNECT_TIMEOUT,
    ssh_config: str | None = None,
    _depth: int = 0,
) -> Client:
    """A connected, authenticated client; every failure is a ``RemoteError`` naming
    ``user@host:port`` (host key problems as ``HostKeyUnknown``/``Changed``/``Revoked``)."""
    ep = endpoint
    if _depth > MAX_HOPS:
        raise RemoteError(
            f"{ep.target}: ProxyJump goes more than {MAX_HOPS} hops deep (a loop in ssh config?)"
        )
    client = Client()
    try:
        sock = _open_socket(client, ep, accept_new, timeout, ssh_config, _depth)
        known = KnownHosts.load((*ep.known_hosts_files, *ep.global_known_hosts))
        client.set_missing_host_key_policy(_HostKeyPolicy(ep, known, accept_new))
        try:
            client.connect(
                ep.hostname,
                ep.port,
                username=ep.user,
                # paramiko takes a list of files too (its stubs say str only).
                key_filename=list(ep.key_files) or None,  # type: ignore[arg-type]
                look_for_keys=not ep.key_files,
                allow_agent=not ep.identities_only,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                sock=sock,
                transport_factory=_transport_factory(known.key_types(ep.known_hosts_name)),
            )
        except RemoteError:
            raise
        except paramiko.SSHException as e:
            keys = ", ".join(ep.key_files) or "agent / default keys"
            if "No authentication methods" in str(e):
                raise RemoteError(
                    f"{ep.target}: authentication failed: no key to offer "
                    "(key_file, IdentityFile in ~/.ssh/config, or an ssh-agent)"
                ) from None
            transport = client.get_transport()
            kex_done = transport is not None and transport.session_id is not None
            if isinstance(e, paramiko.AuthenticationException) or (
                kex_done and transport is not None and not transport.is_authenticated()
            ):
                # paramiko raises the last error of its key loop, which after a refusal can
                # be "encountered RSA key, expected OPENSSH key" from trying other key types.
                raise RemoteError(f"{ep.target}: authentication failed ({keys}): {e}") from None
            raise RemoteError(
                f"{ep.target}: cannot connect: {_why(e, sock, timeout, client.get_transport())}"
            ) from None
        except (*TRANSPORT_ERRORS, ValueError) as e:
            raise RemoteError(
                f"{ep.target}: cannot connect: {_why(e, sock, timeout, client.get_transport())}"
            ) from None
    except BaseException:
        client.close()
        raise
    return client


def _open_socket(
    client: Client,
    ep: Endpoint,
    accept_new: bool,
    timeout: float,
    ssh_config: str | None,
    depth: int,
) -> Any:
    if ep.proxy_jump:
        # `-J a,b host`: host through b, and b through a (b's own ProxyJump does not apply).
        *before, last = [s for s in ep.proxy_jump.split(",") if s.strip()] or [""]
        hop = jump_endpoint(last, ssh_config)
        if before:
            hop = replace(hop, proxy_jump=",".join(before), proxy_command="")
        bastion = connect(
            hop, accept_new=accept_new, timeout=timeout, ssh_config=ssh_config, _depth=depth + 1
        )
        client.hops.append(bastion)
        transport = bastion.get_transport()
        try:
            if transport is None:
                raise EOFError("jump host session closed")
            return transport.open_channel(
                "direct-tcpip", (ep.hostname, ep.port), ("127.0.0.1", 0), timeout=timeout
            )
        except (*TRANSPORT_ERRORS, paramiko.ChannelException) as e:
            raise RemoteError(
                f"{ep.target}: jump host {hop.target} cannot reach it: {e or type(e).__name__}"
            ) from None
    if ep.proxy_command:
        try:
            return ProxyCommandSocket(ep.proxy_command)
        except (OSError, paramiko.SSHException, ValueError) as e:
            raise RemoteError(f"{ep.target}: ProxyCommand cannot start: {e}") from None
    try:
        return socket.create_connection((ep.hostname, ep.port), timeout=timeout)
    except ConnectionRefusedError:
        raise RemoteError(f"{ep.target}: cannot connect: connection refused") from None
    except TimeoutError:
        raise RemoteError(f"{ep.target}: cannot connect: no answer within {timeout:g}s") from None
    except socket.gaierror as e:
        raise RemoteError(f"{ep.target}: cannot resolve {ep.hostname}: {e.strerror}") from None
    except OSError as e:
        raise RemoteError(f"{ep.target}: cannot connect: {e.strerror or e}") from None


def _why(e: BaseException, sock: Any, timeout: float, transport: Any) -> str:
    text = str(e) or type(e).__name__
    if isinstance(sock, ProxyCommandSocket):
        last = sock.stderr_tail()
        status = sock.process.poll()
        if status is not None:
            return f"ProxyCommand exited ({status})" + (f": {last}" if last else "")
    # paramiko words a missing banner several ways ("Error reading SSH protocol banner", or
    # "No existing session" when its handshake wait ends first); no remote version is the fact.
    no_banner = transport is not None and not getattr(transport, "remote_version", "")
    if "banner" in text.lower() or no_banner:
        return f"no SSH banner within {timeout:g}s (is this port an SSH server?)"
    if isinstance(e, TimeoutError):
        return f"no answer within {timeout:g}s"
    return text
