"""Push files to web servers over SSH the careful way (field guide Parts 2-4, 6, done by aktui).

Per host: ``plan_host`` reads the current files and builds a unified diff without writing
anything; ``apply_host`` then takes a remote lock, checks the files did not change since the
plan, backs them up (timestamped, last N kept), writes each through a temp file in the same
directory and an atomic rename, runs ``nginx -t`` and reloads only when it passes. Any failure
after the first write restores the old bytes, re-tests and says exactly what happened.

Blocking code: callers run it in threads (``plan_hosts`` and ``apply_hosts`` do, a bounded
number of hosts at once). The SSH session, host keys included, is ``aktui.deploy.ssh.WebServer``.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import os
import posixpath
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aktui.config import WebServerConfig
from aktui.deploy.ssh import HostKeyChanged, Opener, WebServer
from aktui.errors import HostKeyUnknown, RemoteError, UnsafeValue
from aktui.nginx.values import check_path

LOCK_NAME = ".aktui-push.lock"
BACKUP_DIR = ".aktui-backups"


class RemoteLocked(RemoteError):
    """Another push holds the host's lock."""


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
    server = (opener or WebServer)(name, cfg)
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
    server = (opener or WebServer)(plan.name, cfg)
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
