"""One SSH session to a web server (paramiko): host keys, commands and file access.

Connecting (ssh config, known_hosts, ProxyJump, host keys as OpenSSH checks them) is
``aktui.openssh.connect``. Every failure comes out as ``RemoteError`` naming ``user@host:port``.
Blocking code: callers run it in threads (``aktui.deploy.push`` and ``aktui.doctor.web`` do).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shlex
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from aktui.config import WebServerConfig
from aktui.errors import HostKeyChanged, RemoteError
from aktui.nginx.values import check_path
from aktui.openssh.connect import (
    CONNECT_TIMEOUT,
    TRANSPORT_ERRORS,
    Endpoint,
    connect,
    fingerprint,
    resolve,
)

COMMAND_TIMEOUT = 60.0
_TRANSPORT_ERRORS = TRANSPORT_ERRORS

__all__ = [
    "CONNECT_TIMEOUT",
    "CommandResult",
    "Endpoint",
    "HostKeyChanged",
    "Opener",
    "WebServer",
    "fingerprint",
    "resolve_endpoint",
]


def resolve_endpoint(cfg: WebServerConfig, ssh_config: str | None = None) -> Endpoint:
    return resolve(
        cfg.host,
        user=cfg.user,
        port=cfg.port,
        key_file=cfg.key_file,
        known_hosts=cfg.known_hosts,
        ssh_config=ssh_config,
    )


@dataclass(frozen=True, slots=True)
class CommandResult:
    command: str
    status: int
    output: str  # stdout and stderr together, as the operator would see them
    raw: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == 0


class WebServer:
    """One SSH session to a web server: file access and commands, all errors as RemoteError."""

    def __init__(
        self,
        name: str,
        cfg: WebServerConfig,
        *,
        ssh_config: str | None = None,
        accept_new_host_key: bool | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.name, self.cfg = name, cfg
        self.ssh_config = ssh_config
        self.endpoint = resolve_endpoint(cfg, ssh_config)
        self.snippet_dir = check_path(cfg.snippet_dir, f"web_servers.{name}.snippet_dir")
        self.accept_new = (
            cfg.accept_new_host_key if accept_new_host_key is None else accept_new_host_key
        )
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._ids: tuple[int, int] | None = None  # (uid, gid) new files get over SFTP

    def __enter__(self) -> WebServer:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        ep = self.endpoint
        client = connect(
            ep,
            accept_new=self.accept_new,
            timeout=self.connect_timeout,
            ssh_config=self.ssh_config,
        )
        try:
            transport = client.get_transport()
            if transport is not None and isinstance(transport.sock, socket.socket):
                # Many small request/answer round trips: Nagle + delayed ACK add 40 ms to each.
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sftp = client.open_sftp()
            channel = self._sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.command_timeout)
        except _TRANSPORT_ERRORS as e:
            client.close()
            raise RemoteError(f"{ep.target}: cannot open SFTP: {e or type(e).__name__}") from None
        self._client = client

    def close(self) -> None:
        for thing in (self._sftp, self._client):
            with contextlib.suppress(Exception):
                thing and thing.close()
        self._sftp = self._client = None

    @property
    def connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise RemoteError(f"{self.endpoint.target}: not connected")
        return self._sftp

    def _fail(self, what: str, e: BaseException) -> RemoteError:
        return RemoteError(f"{self.endpoint.target}: {what}: {e or type(e).__name__}")

    def run(
        self, argv: list[str] | str, *, sudo: bool | None = None, stderr_first: bool = False
    ) -> CommandResult:
        """Run a command; a list is shell-quoted word by word, a string (the configured reload
        command) is passed as the operator wrote it. Its output is stdout and stderr merged
        as they arrive, or with ``stderr_first`` read apart and stderr put first."""
        use_sudo = self.cfg.sudo if sudo is None else sudo
        command = argv if isinstance(argv, str) else shlex.join(argv)
        if use_sudo:
            command = f"sudo -n {command}"
        if self._client is None or (transport := self._client.get_transport()) is None:
            raise RemoteError(f"{self.endpoint.target}: not connected")
        try:
            chan = transport.open_session(timeout=self.command_timeout)
            chan.set_combine_stderr(not stderr_first)
            chan.settimeout(self.command_timeout)
            chan.exec_command(command)
            chunks = []
            while data := chan.recv(65536):
                chunks.append(data)
            if stderr_first:
                # After stdout's EOF; a few lines here (nginx's), far below the channel window
                # that unread stderr would have to fill to stall stdout.
                errors = []
                while data := chan.recv_stderr(65536):
                    errors.append(data)
                chunks = errors + chunks
            status = chan.recv_exit_status()
            chan.close()
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"`{command}` failed", e) from None
        if status == -1:
            # No exit status: the session ended under the command (paramiko's -1), which says
            # nothing about what the command thought (a lost `nginx -t` is not a rejection).
            raise RemoteError(f"{self.endpoint.target}: session lost during `{command}`")
        raw = b"".join(chunks)
        return CommandResult(command, status, raw.decode("utf-8", "replace"), raw)

    def _check(self, result: CommandResult) -> CommandResult:
        if not result.ok:
            raise RemoteError(
                f"{self.endpoint.target}: `{result.command}`: {result.output.strip()}"
            )
        return result

    # File access. Without sudo everything goes through SFTP; with sudo, reads still try SFTP
    # (snippets are world-readable) and writes go to a private staging dir, then `sudo -n`
    # copies them next to the target and renames (same directory, so still atomic).

    def read(self, path: str) -> bytes | None:
        try:
            with self.sftp.open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except PermissionError as e:
            if not self.cfg.sudo:
                raise self._fail(f"cannot read {path}", e) from None
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot read {path}", e) from None
        if not self.run(["test", "-e", path]).ok:
            return None
        return self._check(self.run(["cat", "--", path])).raw

    def mode(self, path: str) -> int | None:
        try:
            return (self.sftp.stat(path).st_mode or 0) & 0o7777
        except FileNotFoundError:
            return None
        except PermissionError:
            return None
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot stat {path}", e) from None

    def resolve_link(self, path: str) -> str:
        """Where writing ``path`` really lands: a symlinked snippet (a common way to share one
        file between vhosts) is written through to its target, so the link stays a link."""
        return self._resolve(path)[0]

    def _resolve(self, path: str) -> tuple[str, paramiko.SFTPAttributes | None]:
        """``resolve_link`` and the final file's attributes (None: absent or not visible), from
        the same lstat calls: one round trip for a plain file."""
        for _ in range(16):
            try:
                attrs = self.sftp.lstat(path)
            except (FileNotFoundError, PermissionError):
                return path, None
            except _TRANSPORT_ERRORS as e:
                raise self._fail(f"cannot stat {path}", e) from None
            if not stat.S_ISLNK(attrs.st_mode or 0):
                return path, attrs
            try:
                target = self.sftp.readlink(path) or ""
            except _TRANSPORT_ERRORS as e:
                raise self._fail(f"cannot read link {path}", e) from None
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        raise RemoteError(f"{self.endpoint.target}: {path}: too many levels of symbolic links")

    def _create(self, path: str, mode: int) -> paramiko.SFTPFile:
        """Open a new file for writing created with ``mode`` already (never first with the
        server's umask, then chmod: a 0600 file would be world-readable in between) and
        exclusively (a planted file or symlink at the temp name is refused)."""
        from paramiko.sftp import (
            CMD_HANDLE,
            CMD_OPEN,
            SFTP_FLAG_CREATE,
            SFTP_FLAG_EXCL,
            SFTP_FLAG_WRITE,
        )

        sftp = self.sftp
        attrs = paramiko.SFTPAttributes()
        attrs.st_mode = mode
        flags = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL
        # paramiko's own open() sends no attributes; its request method takes them.
        kind, msg = sftp._request(CMD_OPEN, path, flags, attrs)  # type: ignore[attr-defined]
        if kind != CMD_HANDLE:
            raise paramiko.SFTPError(f"expected a handle opening {path}")
        return paramiko.SFTPFile(sftp, msg.get_binary(), "wb", -1)

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` atomically: temp file in the same dir, then rename. A
        symlink is written through to its target; an existing file keeps its owner (refused
        when that is not possible, rather than silently changing it)."""
        path, old = self._resolve(path)
        directory, name = posixpath.split(path)
        temp = posixpath.join(directory, f".{name}.aktui-{os.urandom(4).hex()}.tmp")
        try:
            if not self.cfg.sudo:
                try:
                    with self._create(temp, mode) as f:
                        f.write(data)
                    self.sftp.chmod(temp, mode)  # exact bits, whatever the umask removed
                    if old is not None:
                        self._keep_owner(temp, path, old)
                    self.sftp.posix_rename(temp, path)
                except BaseException:
                    with contextlib.suppress(Exception):
                        self.sftp.remove(temp)
                    raise
                return
            staging = self._check(self.run(["mktemp", "-d"], sudo=False)).output.strip()
            try:
                staged = posixpath.join(staging, name)
                with self.sftp.open(staged, "wb") as f:
                    f.write(data)
                owner = [] if old is None else ["-o", str(old.st_uid), "-g", str(old.st_gid)]
                install = ["install", "-m", f"{mode:o}", *owner, "--", staged, temp]
                self._check(self.run(install))
                moved = self.run(["mv", "-f", "--", temp, path])
                if not moved.ok:
                    self.run(["rm", "-f", "--", temp])
                    self._check(moved)
            finally:
                self.run(["rm", "-rf", "--", staging], sudo=False)
        except RemoteError:
            raise
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot write {path}", e) from None

    def write_new(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Create a file that must not exist yet (a backup, a lock's owner, a marker): written
        in place, refused if something is there; no temp file or rename needed."""
        if self.cfg.sudo:
            self.write(path, data, mode)
            return
        try:
            with self._create(path, mode) as f:
                f.write(data)
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot write {path}", e) from None

    def _keep_owner(self, temp: str, path: str, old: paramiko.SFTPAttributes) -> None:
        if self._ids is None:  # who new files belong to here: asked once per session
            new = self.sftp.stat(temp)
            self._ids = (new.st_uid or 0, new.st_gid or 0)
        if self._ids == (old.st_uid, old.st_gid):
            return
        try:
            self.sftp.chown(temp, old.st_uid or 0, old.st_gid or 0)
        except PermissionError:
            raise RemoteError(
                f"{self.endpoint.target}: {path} is owned by {old.st_uid}:{old.st_gid}; "
                "writing it over SFTP would change its owner",
                "set sudo: true for this web server",
            ) from None

    def remove(self, path: str) -> None:
        if self.cfg.sudo:
            self._check(self.run(["rm", "-f", "--", path]))
            return
        try:
            self.sftp.remove(path)
        except FileNotFoundError:
            pass
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot remove {path}", e) from None

    def mkdir(self, path: str, *, parents: bool = False) -> bool:
        """False when it already exists (that is how the lock works: mkdir is atomic)."""
        if self.cfg.sudo:
            result = self.run(["mkdir", *(["-p"] if parents else []), "--", path])
            if not result.ok and "File exists" not in result.output:
                self._check(result)
            return result.ok
        # SFTP, not `mkdir`: each remote command costs a session (~0.1 s), SFTP calls do not.
        try:
            self.sftp.mkdir(path, 0o755)
            return True
        except OSError as e:
            if self.mode(path) is not None:
                return False
            parent = posixpath.dirname(path)
            if not parents or parent == path or self.mode(parent) is not None:
                raise self._fail(f"cannot create {path}", e) from None
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot create {path}", e) from None
        # Only a missing parent gets here: make it, then this one (one call when it exists).
        self.mkdir(parent, parents=True)
        return self.mkdir(path)

    def rmtree(self, path: str) -> None:
        if self.cfg.sudo:
            self._check(self.run(["rm", "-rf", "--", path]))
            return
        try:
            for entry in self.sftp.listdir_attr(path):
                child = posixpath.join(path, entry.filename)
                if stat.S_ISDIR(entry.st_mode or 0):
                    self.rmtree(child)
                else:
                    self.sftp.remove(child)
            self.sftp.rmdir(path)
        except FileNotFoundError:
            pass
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot remove {path}", e) from None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(self.sftp.listdir(path))
        except OSError:
            return []
        except _TRANSPORT_ERRORS as e:
            raise self._fail(f"cannot list {path}", e) from None

    def nginx_command(self, *args: str) -> list[str]:
        """The configured nginx binary with ``args``, on the configured main config if any."""
        conf = ["-c", self.cfg.nginx_conf] if self.cfg.nginx_conf else []
        return [self.cfg.nginx, *args, *conf]

    def nginx_dump(self) -> CommandResult:
        """``nginx -T``: the test's messages (stderr) before the dump (stdout). Merged as they
        arrive, sshd can pass a chunk of the dump before them, and `syntax is ok` then lands
        inside a file of the dump (or after the last one) and breaks its parse."""
        return self.run(self.nginx_command("-T"), stderr_first=True)

    def nginx_test(self) -> CommandResult:
        return self.run(self.nginx_command("-t"))

    def reload(self) -> CommandResult:
        if self.cfg.reload:
            return self.run(self.cfg.reload)
        return self.run(self.nginx_command("-s", "reload"))


# Makes the session for a host: tests and the doctor pass their own (timeouts, fakes).
Opener = Callable[[str, WebServerConfig], WebServer]
