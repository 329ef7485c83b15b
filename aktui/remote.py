"""Push files to web servers over SSH the careful way (field guide Parts 2-4, 6, done by aktui).

Per host: ``plan_host`` reads the current files and builds a unified diff without writing
anything; ``apply_host`` then takes a remote lock, checks the files did not change since the
plan, backs them up (timestamped, last N kept), writes each through a temp file in the same
directory and an atomic rename, runs ``nginx -t`` and reloads only when it passes. Any failure
after the first write restores the old bytes, re-tests and says exactly what happened.

Blocking code: callers run it in threads (``push_hosts`` does, with bounded parallelism).
Host keys follow OpenSSH's ``StrictHostKeyChecking=accept-new`` at most: an unknown key is
refused with its fingerprint unless the user opted in, a changed key is always refused.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import getpass
import hashlib
import os
import posixpath
import shlex
import socket
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paramiko

from aktui.config import WebServerConfig
from aktui.errors import HostKeyUnknown, RemoteError, UnsafeValue
from aktui.snippets import check_path

LOCK_NAME = ".aktui-push.lock"
BACKUP_DIR = ".aktui-backups"
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0


class HostKeyChanged(RemoteError):
    """known_hosts holds a different key for this host: possibly an attack, never accepted."""


class RemoteLocked(RemoteError):
    """Another push holds the host's lock."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` form, as ``ssh-keygen -lf`` and ssh's prompts show it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


# --- connecting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A web server's SSH settings after ``~/.ssh/config`` (config values win, as on the
    ssh command line)."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: str
    proxy_command: str = ""

    @property
    def target(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve_endpoint(cfg: WebServerConfig, ssh_config: str | None = None) -> Endpoint:
    path = Path(ssh_config or Path.home() / ".ssh" / "config").expanduser()
    parsed = paramiko.SSHConfig.from_path(str(path)) if path.is_file() else paramiko.SSHConfig()
    o = parsed.lookup(cfg.host)
    keys = [cfg.key_file] if cfg.key_file else list(o.get("identityfile") or [])
    known = cfg.known_hosts or (o.get("userknownhostsfile") or "").split(" ")[0]
    return Endpoint(
        hostname=o.get("hostname") or cfg.host,
        port=cfg.port or int(o.get("port") or 22),
        user=cfg.user or o.get("user") or getpass.getuser(),
        key_files=tuple(os.path.expanduser(k) for k in keys),
        known_hosts=os.path.expanduser(known or "~/.ssh/known_hosts"),
        proxy_command=o.get("proxycommand") or "",
    )


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, endpoint: Endpoint, accept_new: bool) -> None:
        self.endpoint, self.accept_new = endpoint, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        shown = fingerprint(key)
        if not self.accept_new:
            raise HostKeyUnknown(
                f"{self.endpoint.target}: host key not in {self.endpoint.known_hosts}: {shown}",
                "check the fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_*.pub), "
                "then set accept_new_host_key: true or ssh to it once",
            )
        # Append one line, like accept-new; paramiko's save_host_keys would rewrite the file.
        path = Path(self.endpoint.known_hosts)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with path.open("a", encoding="ascii") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


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
        self.endpoint = resolve_endpoint(cfg, ssh_config)
        self.snippet_dir = check_path(cfg.snippet_dir, f"web_servers.{name}.snippet_dir")
        self.accept_new = (
            cfg.accept_new_host_key if accept_new_host_key is None else accept_new_host_key
        )
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> WebServer:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        ep = self.endpoint
        client = paramiko.SSHClient()
        if Path(ep.known_hosts).is_file():
            client.get_host_keys().load(ep.known_hosts)
        client.set_missing_host_key_policy(_HostKeyPolicy(ep, self.accept_new))
        sock = paramiko.ProxyCommand(ep.proxy_command) if ep.proxy_command else None
        try:
            client.connect(
                ep.hostname,
                ep.port,
                username=ep.user,
                key_filename=list(ep.key_files) or None,
                look_for_keys=not ep.key_files,
                allow_agent=True,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                sock=sock,
            )
            transport = client.get_transport()
            if transport is not None and isinstance(transport.sock, socket.socket):
                # Many small request/answer round trips: Nagle + delayed ACK add 40 ms to each.
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sftp = client.open_sftp()
            self._sftp.get_channel().settimeout(self.command_timeout)
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyChanged(
                f"{ep.target}: HOST KEY CHANGED: offered {fingerprint(e.key)}, "
                f"{ep.known_hosts} has {fingerprint(e.expected_key)}",
                "refused; if the server was really reinstalled, remove the old line "
                f"(ssh-keygen -R '{ep.known_hosts_name}' -f {ep.known_hosts})",
            ) from None
        except HostKeyUnknown:
            client.close()
            raise
        except paramiko.AuthenticationException as e:
            client.close()
            keys = ", ".join(ep.key_files) or "agent / default keys"
            raise RemoteError(f"{ep.target}: authentication failed ({keys}): {e}") from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            client.close()
            raise RemoteError(f"{ep.target}: cannot connect: {e or type(e).__name__}") from None
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

    def run(self, argv: list[str] | str, *, sudo: bool | None = None) -> CommandResult:
        """Run a command; a list is shell-quoted word by word, a string (the configured reload
        command) is passed as the operator wrote it."""
        use_sudo = self.cfg.sudo if sudo is None else sudo
        command = argv if isinstance(argv, str) else shlex.join(argv)
        if use_sudo:
            command = f"sudo -n {command}"
        if self._client is None or (transport := self._client.get_transport()) is None:
            raise RemoteError(f"{self.endpoint.target}: not connected")
        try:
            chan = transport.open_session(timeout=self.command_timeout)
            chan.set_combine_stderr(True)
            chan.settimeout(self.command_timeout)
            chan.exec_command(command)
            chunks = []
            while data := chan.recv(65536):
                chunks.append(data)
            status = chan.recv_exit_status()
            chan.close()
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise self._fail(f"`{command}` failed", e) from None
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
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise self._fail(f"cannot read {path}", e) from None
        if not self.run(["test", "-e", path]).ok:
            return None
        return self._check(self.run(["cat", "--", path])).raw

    def mode(self, path: str) -> int | None:
        with contextlib.suppress(OSError):
            return (self.sftp.stat(path).st_mode or 0) & 0o7777
        return None

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` atomically: temp file in the same dir, then rename."""
        directory, name = posixpath.split(path)
        temp = posixpath.join(directory, f".{name}.aktui-{os.urandom(4).hex()}.tmp")
        try:
            if not self.cfg.sudo:
                try:
                    with self.sftp.open(temp, "wb") as f:
                        f.write(data)
                    self.sftp.chmod(temp, mode)
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
                self._check(self.run(["install", "-m", f"{mode:o}", "--", staged, temp]))
                moved = self.run(["mv", "-f", "--", temp, path])
                if not moved.ok:
                    self.run(["rm", "-f", "--", temp])
                    self._check(moved)
            finally:
                self.run(["rm", "-rf", "--", staging], sudo=False)
        except RemoteError:
            raise
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise self._fail(f"cannot write {path}", e) from None

    def remove(self, path: str) -> None:
        if self.cfg.sudo:
            self._check(self.run(["rm", "-f", "--", path]))
            return
        try:
            self.sftp.remove(path)
        except FileNotFoundError:
            pass
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise self._fail(f"cannot remove {path}", e) from None

    def mkdir(self, path: str, *, parents: bool = False) -> bool:
        """False when it already exists (that is how the lock works: mkdir is atomic)."""
        if self.cfg.sudo:
            result = self.run(["mkdir", *(["-p"] if parents else []), "--", path])
            if not result.ok and "File exists" not in result.output:
                self._check(result)
            return result.ok
        # SFTP, not `mkdir`: each remote command costs a session (~0.1 s), SFTP calls do not.
        if parents and posixpath.dirname(path) != path:
            self.mkdir(posixpath.dirname(path), parents=True)
        try:
            self.sftp.mkdir(path, 0o755)
            return True
        except OSError as e:
            if self.mode(path) is not None:
                return False
            raise self._fail(f"cannot create {path}", e) from None

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
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise self._fail(f"cannot remove {path}", e) from None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(self.sftp.listdir(path))
        except OSError:
            return []

    def nginx_test(self) -> CommandResult:
        conf = ["-c", self.cfg.nginx_conf] if self.cfg.nginx_conf else []
        return self.run([self.cfg.nginx, "-t", *conf])

    def reload(self) -> CommandResult:
        if self.cfg.reload:
            return self.run(self.cfg.reload)
        conf = ["-c", self.cfg.nginx_conf] if self.cfg.nginx_conf else []
        return self.run([self.cfg.nginx, "-s", "reload", *conf])


# --- plan and apply -------------------------------------------------------------------------

Opener = Callable[[str, WebServerConfig], WebServer]


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    old: bytes | None  # None: the file does not exist yet
    new: bytes
    mode: int | None = None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self, host: str) -> str:
        def lines(data: bytes | None) -> list[str]:
            return data.decode("utf-8", "replace").splitlines(keepends=True) if data else []

        before = "/dev/null" if self.old is None else f"{host}:{self.path}"
        after = f"{host}:{self.path} (new)"
        out = "".join(difflib.unified_diff(lines(self.old), lines(self.new), before, after))
        return out if out.endswith("\n") or not out else out + "\n\\ No newline at end of file\n"


@dataclass(frozen=True, slots=True)
class HostPlan:
    name: str
    target: str
    changes: tuple[FileChange, ...] = ()
    error: str = ""  # set when the host could not be read: nothing to apply
    status: str = "ready"  # "ready", "unchanged", "unreachable", "refused"

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.changes)

    def diff(self) -> str:
        return "".join(c.diff(self.name) for c in self.changes if c.changed)


@dataclass(frozen=True, slots=True)
class HostResult:
    name: str
    target: str
    status: str  # unchanged, pushed, pushed+verified, verify-failed, rolled-back,
    #              rollback-failed, unreachable, refused, locked, failed
    detail: str = ""
    steps: tuple[str, ...] = ()
    nginx_output: str = ""  # nginx's own text when it rejected the config
    backup_dir: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "pushed", "pushed+verified")


def _error_status(e: RemoteError) -> str:
    return "refused" if isinstance(e, (HostKeyUnknown, HostKeyChanged)) else "unreachable"


def remote_paths(cfg: WebServerConfig, files: Mapping[str, bytes | str]) -> dict[str, bytes]:
    """File names (no directories) joined to the snippet dir, contents as bytes."""
    base = check_path(cfg.snippet_dir, "snippet_dir")
    out = {}
    for name, data in sorted(files.items()):
        if "/" in name or name.startswith(".") or check_path("/" + name, "file name") != "/" + name:
            raise UnsafeValue(f"file name: {name!r} must be a plain file name")
        out[posixpath.join(base, name)] = data.encode() if isinstance(data, str) else data
    return out


def plan_host(
    name: str,
    cfg: WebServerConfig,
    files: Mapping[str, bytes | str],
    *,
    opener: Opener | None = None,
) -> HostPlan:
    """Read the current remote files and diff them against ``files``. Writes nothing."""
    opener = opener or (lambda n, c: WebServer(n, c))
    server = opener(name, cfg)
    wanted = remote_paths(cfg, files)
    try:
        server.connect()
    except RemoteError as e:
        return HostPlan(name, server.endpoint.target, error=str(e), status=_error_status(e))
    try:
        changes = tuple(
            FileChange(path, server.read(path), data, server.mode(path))
            for path, data in wanted.items()
        )
    except RemoteError as e:
        return HostPlan(name, server.endpoint.target, error=str(e), status="failed")
    finally:
        server.close()
    status = "ready" if any(c.changed for c in changes) else "unchanged"
    return HostPlan(name, server.endpoint.target, changes, status=status)


def apply_host(
    plan: HostPlan,
    cfg: WebServerConfig,
    *,
    opener: Opener | None = None,
    keep_backups: int = 5,
    lock_wait: float = 0.0,
    verify: Callable[[], str] | None = None,
) -> HostResult:
    """Carry out a plan. ``verify`` (optional) returns '' when the site behaves, else why not."""
    if plan.error or not plan.changed:
        status = plan.status if plan.error else "unchanged"
        return HostResult(plan.name, plan.target, status, plan.error)
    opener = opener or (lambda n, c: WebServer(n, c))
    server = opener(plan.name, cfg)
    try:
        server.connect()
    except RemoteError as e:
        return HostResult(plan.name, plan.target, _error_status(e), str(e))
    run = _Push(server, plan, max(1, keep_backups))
    try:
        run.lock(lock_wait)
        return run.push(verify)
    except RemoteError as e:
        # Only reached before the first write: push() handles everything after it.
        return run.result("locked" if isinstance(e, RemoteLocked) else "failed", str(e))
    finally:
        run.unlock()
        server.close()


@dataclass
class _Push:
    server: WebServer
    plan: HostPlan
    keep_backups: int
    steps: list[str] = field(default_factory=list)
    backup_dir: str = ""
    locked: bool = False

    def result(self, status: str, detail: str = "", nginx: str = "") -> HostResult:
        return HostResult(
            self.plan.name,
            self.plan.target,
            status,
            detail,
            tuple(self.steps),
            nginx,
            self.backup_dir,
        )

    @property
    def lock_path(self) -> str:
        return posixpath.join(self.server.snippet_dir, LOCK_NAME)

    def lock(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while not self.server.mkdir(self.lock_path):
            if time.monotonic() >= deadline:
                owner = self.server.read(posixpath.join(self.lock_path, "owner")) or b"unknown"
                raise RemoteLocked(
                    f"{self.plan.target}: another push holds {self.lock_path} "
                    f"({owner.decode('utf-8', 'replace').strip()})",
                    f"wait for it; if no push is running, remove it: rm -r {self.lock_path}",
                )
            time.sleep(0.2)
        self.locked = True
        when = datetime.now(UTC).isoformat(timespec="seconds")
        me = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {when}\n"
        self.server.write(posixpath.join(self.lock_path, "owner"), me.encode())
        self.steps.append(f"locked {self.lock_path}")

    def unlock(self) -> None:
        if self.locked:
            with contextlib.suppress(RemoteError):
                self.server.rmtree(self.lock_path)
                self.steps.append("unlocked")

    def push(self, verify: Callable[[], str] | None) -> HostResult:
        server, changes = self.server, [c for c in self.plan.changes if c.changed]
        for c in self.plan.changes:
            if server.read(c.path) != c.old:
                return self.result(
                    "failed", f"{c.path} changed since the diff was shown; plan again"
                )
        self.backup(changes)
        written: list[FileChange] = []
        try:
            for c in changes:
                written.append(c)  # before the write: a half-done write is restored too
                server.write(c.path, c.new, c.mode or 0o644)
                self.steps.append(f"wrote {c.path} ({len(c.new)} bytes)")
            test = server.nginx_test()
        except RemoteError as e:
            return self.rollback(written, f"push interrupted: {e.message}")
        if not test.ok:
            self.steps.append(f"nginx -t failed: `{test.command}`")
            return self.rollback(written, "nginx -t rejected the new config", test.output)
        self.steps.append("nginx -t passed")
        try:
            reload = server.reload()
        except RemoteError as e:
            return self.rollback(written, f"reload failed: {e.message}")
        if not reload.ok:
            return self.rollback(written, f"reload failed: `{reload.command}`", reload.output)
        self.steps.append(f"reloaded: `{reload.command}`")
        if verify is None:
            return self.result("pushed", f"{len(changes)} file(s) changed")
        problem = verify()
        if problem:
            self.steps.append(f"verify failed: {problem}")
            return self.result("verify-failed", f"config is live but {problem}")
        self.steps.append("verified")
        return self.result("pushed+verified", f"{len(changes)} file(s) changed")

    def backup(self, changes: Iterable[FileChange]) -> None:
        base = posixpath.join(self.server.snippet_dir, BACKUP_DIR)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.backup_dir = posixpath.join(base, stamp)
        self.server.mkdir(self.backup_dir, parents=True)
        for c in changes:
            name = posixpath.basename(c.path)
            if c.old is None:
                self.server.write(posixpath.join(self.backup_dir, name + ".absent"), b"")
            else:
                self.server.write(posixpath.join(self.backup_dir, name), c.old, c.mode or 0o644)
        self.steps.append(f"backed up to {self.backup_dir}")
        for old in self.server.listdir(base)[: -self.keep_backups or None]:
            self.server.rmtree(posixpath.join(base, old))

    def rollback(self, written: list[FileChange], why: str, nginx: str = "") -> HostResult:
        server, problems = self.server, []
        if not server.connected:
            # A dropped connection mid-push must not leave new files behind: reconnect once.
            self.steps.append("connection lost")
            try:
                server.close()
                server.connect()
                self.steps.append("reconnected to restore")
            except RemoteError as e:
                problems.append(f"cannot reconnect: {e.message}")
                written = []
        for c in reversed(written):
            try:
                if c.old is None:
                    server.remove(c.path)
                else:
                    server.write(c.path, c.old, c.mode or 0o644)
                if server.read(c.path) != c.old:
                    problems.append(f"{c.path} differs after restore")
            except RemoteError as e:
                problems.append(e.message)
        if problems:
            self.steps.append("ROLLBACK FAILED: " + "; ".join(problems))
            return self.result(
                "rollback-failed",
                f"{why}; restoring failed ({'; '.join(problems)}); backups in {self.backup_dir}",
                nginx,
            )
        self.steps.append(f"restored {len(written)} file(s) byte for byte")
        try:
            again = server.nginx_test()
            self.steps.append("old config: nginx -t " + ("passed" if again.ok else "FAILED"))
            after = "" if again.ok else f"; the restored config fails nginx -t too: {again.output}"
        except RemoteError as e:
            after = f"; re-test failed: {e.message}"
        return self.result("rolled-back", why + after, nginx)


# --- several hosts --------------------------------------------------------------------------


def plan_hosts(
    servers: Mapping[str, WebServerConfig],
    files: Callable[[str, WebServerConfig], Mapping[str, bytes | str]],
    *,
    max_parallel: int = 8,
    opener: Opener | None = None,
) -> list[HostPlan]:
    """``plan_host`` for every server in parallel, in ``servers`` order."""

    def one(name: str) -> HostPlan:
        try:
            return plan_host(name, servers[name], files(name, servers[name]), opener=opener)
        except UnsafeValue as e:
            return HostPlan(name, servers[name].host, error=str(e), status="failed")

    return _parallel(one, list(servers), max_parallel)


def apply_hosts(
    plans: Iterable[HostPlan],
    servers: Mapping[str, WebServerConfig],
    *,
    max_parallel: int = 8,
    verifiers: Mapping[str, Callable[[], str]] | None = None,
    **options: object,
) -> list[HostResult]:
    """``apply_host`` for every plan in parallel: one host failing never stops the others."""

    def one(plan: HostPlan) -> HostResult:
        verify = (verifiers or {}).get(plan.name)
        return apply_host(plan, servers[plan.name], verify=verify, **options)  # type: ignore[arg-type]

    return _parallel(one, list(plans), max_parallel)


def _parallel(fn: Callable, items: list, max_parallel: int) -> list:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(min(max_parallel, len(items)), thread_name_prefix="aktui-push") as pool:
        return list(pool.map(fn, items))


def redirect_verifier(
    url: str,
    *,
    host: str | None = None,
    expect: str = "/outpost.goauthentik.io/start",
    timeout: float = 5.0,
) -> Callable[[], str]:
    """A ``verify`` for ``apply_host``: an unauthenticated GET of a protected URL must answer a
    redirect whose Location contains ``expect``. Retried until ``timeout``, because a reload
    lets old workers finish their requests first. Runs from this machine."""
    import httpx

    def check() -> str:
        deadline = time.monotonic() + timeout
        headers = {"Host": host} if host else {}
        problem = ""
        while True:
            try:
                r = httpx.get(url, headers=headers, follow_redirects=False, timeout=timeout)
                location = r.headers.get("location", "")
                if r.status_code in (301, 302, 303, 307, 308) and expect in location:
                    return ""
                problem = (
                    f"GET {url} answered {r.status_code} {location!r}, not a redirect to {expect}"
                )
            except httpx.HTTPError as e:
                problem = f"GET {url} failed: {e}"
            if time.monotonic() >= deadline:
                return problem
            time.sleep(0.1)

    return check
