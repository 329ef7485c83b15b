"""Push files to web servers over SSH the careful way (field guide Parts 2-4, 6, done by aktui).

Per host: ``plan_host`` takes the remote lock, reads the current files and builds a unified diff
without writing anything (planning under the lock: a plan never reads another push's untested
files). ``apply_host`` then takes the lock again, checks the files did not change since the
plan, backs them up (timestamped, last N kept), leaves a *pending marker*, writes each file
through a temp file and an atomic rename, runs ``nginx -T`` (the test, plus a dump that must
hold the pushed bytes), reloads, and proves the reload took: new worker PIDs and no
``[emerg]``/``[alert]`` in the error log since. Only then is the marker removed.

Anything after the first write that is not a proven reload (a failed test, a reload that did
not take, a dropped session, an exception, a signal turned into ``Cancel``) restores the old
bytes, tests them, reloads again when a reload was tried, and proves that too; exceptions are
re-raised after that. A marker left behind (the process was killed) makes the next plan
``pending``: that push tests and reloads what is on disk, or restores the backup it names.

Blocking code: callers run it in threads (``plan_hosts`` and ``apply_hosts`` do, a bounded
number of hosts at once). The SSH session, host keys included, is ``aktui.deploy.ssh.WebServer``.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import hashlib
import json
import math
import os
import posixpath
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from aktui.config import WebServerConfig
from aktui.deploy.ssh import HostKeyChanged, Opener, WebServer
from aktui.errors import HostKeyUnknown, RemoteError, UnsafeValue
from aktui.nginx.values import check_path
from aktui.userdirs import user_dir

LOCK_NAME = ".aktui-push.lock"
PENDING_NAME = ".aktui-push.pending"
BACKUP_DIR = ".aktui-backups"
# A lock whose owner cannot be checked from here (another machine) is called stale after this.
STALE_AFTER = 3600.0
RELOAD_WAIT = 10.0  # seconds for new workers to appear after a reload
OK_STATUSES = ("unchanged", "pushed", "pushed+verified")


class RemoteLocked(RemoteError):
    """Another push holds the host's lock."""


class Cancel:
    """Set from a signal handler (or a UI); pushes stop at their next step and roll back."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


class Interrupted(Exception):
    """A ``Cancel`` was seen between two steps."""


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
    status: str = "ready"  # "ready", "unchanged", "pending", "unreachable", "refused", "locked"
    pending: str = ""  # the marker of an interrupted push: test and reload even if unchanged

    @property
    def changed(self) -> bool:
        """Something to apply: a file differs, or an interrupted push left untested files."""
        return bool(self.pending) or any(c.changed for c in self.changes)

    def diff(self) -> str:
        return "".join(c.diff(self.name) for c in self.changes if c.changed)


@dataclass(frozen=True, slots=True)
class HostResult:
    name: str
    target: str
    status: str  # unchanged, pushed, pushed+verified, verify-failed, rolled-back,
    #              rollback-failed, unreachable, refused, locked, failed, interrupted, skipped
    detail: str = ""
    steps: tuple[str, ...] = ()
    nginx_output: str = ""  # nginx's own text when it rejected the config
    backup_dir: str = ""
    files: tuple[tuple[str, str], ...] = ()  # (path, sha256 of the pushed bytes)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


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


# --- the lock -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockOwner:
    """What a lock (or pending marker) records: ``user@host pid N since TIME`` on its first
    line (what an operator reads), then ``key=value`` lines."""

    text: str
    user: str = ""
    host: str = ""
    pid: int = 0
    since: datetime | None = None
    token: str = ""
    backup: str = ""

    @classmethod
    def parse(cls, raw: bytes | None) -> LockOwner:
        text = (raw or b"").decode("utf-8", "replace")
        first = text.splitlines()[0].strip() if text.strip() else "unknown owner"
        m = re.match(r"(\S*)@(\S+) pid (\d+) since (\S+)", first)
        since = None
        if m:
            with contextlib.suppress(ValueError):
                since = datetime.fromisoformat(m.group(4))
                since = since if since.tzinfo else since.replace(tzinfo=UTC)
        fields = dict(
            line.split("=", 1) for line in text.splitlines()[1:] if "=" in line and line[0] != " "
        )
        return cls(
            first[:200],
            m.group(1) if m else "",
            m.group(2) if m else "",
            int(m.group(3)) if m else 0,
            since,
            fields.get("token", "").strip(),
            fields.get("backup", "").strip(),
        )

    def stale(self, now: datetime | None = None) -> str:
        """Why this owner is surely gone ('' when it may still be pushing)."""
        if self.host == socket.gethostname() and self.pid and not _pid_alive(self.pid):
            return f"pid {self.pid} is not running on this machine"
        if self.since is not None:
            age = ((now or datetime.now(UTC)) - self.since).total_seconds()
            if age > STALE_AFTER:
                return f"held for {int(age // 60)} min"
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_text(token: str, **extra: str) -> bytes:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {when}"]
    lines += [f"token={token}", *(f"{k}={v}" for k, v in extra.items())]
    return ("\n".join(lines) + "\n").encode()


class _Lock:
    """``mkdir`` is atomic over SFTP and with ``sudo mkdir``: the lock is a directory holding
    an ``owner`` file. A lock is only removed by whoever holds its token."""

    def __init__(self, server: WebServer, steps: list[str]) -> None:
        self.server, self.steps = server, steps
        self.path = posixpath.join(server.snippet_dir, LOCK_NAME)
        self.token = os.urandom(8).hex()
        self.held = False
        self.keep = False  # set when untested files may be live: the lock stays as a warning

    def owner(self) -> LockOwner:
        return LockOwner.parse(self.server.read(posixpath.join(self.path, "owner")))

    def take(self, wait: float, target: str, name: str, cancel: Cancel | None) -> None:
        deadline = time.monotonic() + wait
        while not self.server.mkdir(self.path):
            owner = self.owner()
            gone = owner.stale()
            if gone and owner.host == socket.gethostname():
                # Provably dead (a killed aktui on this machine): its pending marker, if any,
                # makes this push test what it left.
                self.server.rmtree(self.path)
                self.steps.append(f"removed a dead push's lock ({owner.text}: {gone})")
                continue
            if time.monotonic() >= deadline or cancel:
                state = f"stale lock: {gone}" if gone else "another push holds"
                raise RemoteLocked(
                    f"{target}: {state} {self.path} ({owner.text})",
                    f"if no push is running there, `aktui push --unlock {name}`",
                )
            time.sleep(0.2)
        self.held = True
        self.server.write_new(posixpath.join(self.path, "owner"), _owner_text(self.token))
        self.steps.append(f"locked {self.path}")

    def release(self) -> None:
        if not self.held or self.keep:
            return
        with contextlib.suppress(RemoteError):
            if not self.server.connected:
                # A drop after the lock must not leave it behind to block every later push.
                self.server.close()
                self.server.connect()
                self.steps.append("reconnected to unlock")
            owner = self.owner()
            if owner.token and owner.token != self.token:
                self.steps.append(f"lock taken over meanwhile ({owner.text}): left alone")
            else:
                self.server.rmtree(self.path)
                self.steps.append("unlocked")
            self.held = False


# --- planning -------------------------------------------------------------------------------


def plan_host(
    name: str,
    cfg: WebServerConfig,
    files: Mapping[str, bytes | str],
    *,
    opener: Opener | None = None,
    lock_wait: float = 0.0,
    cancel: Cancel | None = None,
) -> HostPlan:
    """Read the current remote files under the lock and diff them against ``files``. Writes
    nothing but the lock. A host another push holds is ``locked``: never "unchanged"."""
    server = (opener or WebServer)(name, cfg)
    wanted = remote_paths(cfg, files)
    try:
        server.connect()
    except RemoteError as e:
        return HostPlan(name, server.endpoint.target, error=str(e), status=_error_status(e))
    target, steps = server.endpoint.target, list[str]()
    lock = _Lock(server, steps)
    try:
        lock.take(lock_wait, target, name, cancel)
        pending = server.read(posixpath.join(server.snippet_dir, PENDING_NAME))
        changes = tuple(
            FileChange(path, server.read(path), data, server.mode(path))
            for path, data in wanted.items()
        )
    except RemoteLocked as e:
        return HostPlan(name, target, error=str(e), status="locked")
    except RemoteError as e:
        return HostPlan(name, target, error=str(e), status="failed")
    except Exception as e:  # one host's surprise must not hide the others
        return HostPlan(name, target, error=f"{target}: {type(e).__name__}: {e}", status="failed")
    finally:
        lock.release()
        server.close()
    if pending is not None:
        owner = LockOwner.parse(pending)
        note = f"an interrupted push left untested files ({owner.text})"
        return HostPlan(name, target, changes, status="pending", pending=note)
    status = "ready" if any(c.changed for c in changes) else "unchanged"
    return HostPlan(name, target, changes, status=status)


# --- applying -------------------------------------------------------------------------------

# Run on the web server without sudo: the master's PID, its children, the error log's size and
# (from an offset) its new lines. Linux procps `pgrep`; `-` where a value cannot be read.
_PROBE = r"""
p=$(cat -- "$1" 2>/dev/null)
printf 'master %s\n' "${p:--}"
printf 'workers %s\n' "$( [ -n "$p" ] && pgrep -P "$p" 2>/dev/null | tr '\n' ' ')"
size=$(wc -c < "$2" 2>/dev/null) || size=-
printf 'logsize %s\n' "$size"
if [ "$3" != - ] && [ "$size" != - ]; then echo ---; tail -c +"$(($3 + 1))" -- "$2" | tail -n 50; fi
"""


@dataclass(frozen=True, slots=True)
class _Probe:
    master: int
    workers: frozenset[int]
    log_size: int  # -1: not readable
    log: str  # error log lines since the offset asked for

    @classmethod
    def parse(cls, text: str) -> _Probe:
        head, _, log = text.partition("\n---\n")
        values = dict([*line.split(" ", 1), ""][:2] for line in head.splitlines() if line)
        master = values.get("master", "-").strip()
        size = values.get("logsize", "-").strip()
        return cls(
            int(master) if master.isdigit() else 0,
            frozenset(int(w) for w in values.get("workers", "").split() if w.isdigit()),
            int(size) if size.isdigit() else -1,
            log,
        )


# After a reload, on the web server: until a worker not in the old set runs ("took PIDS", then
# up to 2 s more for the old workers to go: a check right away could meet the old config) or
# the error log since the offset shows [emerg]/[alert] ("emerg LINE"); "timeout MASTER" after
# $5 seconds. /proc, not kill -0: a non-root user cannot signal root's workers. Cheap per
# look (it runs while nginx reloads, on the same cores): builtins, the log every 0.3 s.
_TOOK = r"""
pidf=$1 log=$2 off=$3 old=" $4 " i=0 n=$(($5 * 10)) m= kids=
read -r m 2>/dev/null < "$pidf"
children() {
  # Shell builtins when the kernel lists children (no process per look while nginx reloads).
  if [ -r "/proc/$m/task/$m/children" ]; then read -r kids < "/proc/$m/task/$m/children"
  else kids=$(pgrep -P "$m" | tr '\n' ' '); fi
}
emerg() {
  [ "$off" = - ] && return 1
  bad=$(tail -c +"$((off + 1))" -- "$log" 2>/dev/null | grep -E '\[(emerg|alert)\]' | tail -n 1)
  [ -n "$bad" ] && printf 'emerg %s\n' "$bad"
}
while [ -n "$m" ] && [ $i -lt $n ]; do
  [ $((i % 3)) -eq 2 ] && emerg && exit 0
  children; new=
  for w in $kids; do case "$old" in *" $w "*) ;; *) new="$new $w" ;; esac; done
  if [ -n "$new" ]; then
    emerg && exit 0
    printf 'took%s\n' "$new"
    j=0
    while [ $j -lt 20 ]; do
      left=; for w in $old; do [ -d "/proc/$w" ] && left=1; done
      [ -z "$left" ] && break
      sleep 0.1; j=$((j + 1))
    done
    exit 0
  fi
  sleep 0.1; i=$((i + 1))
done
emerg && exit 0
printf 'timeout %s\n' "${m:-?}"
"""


def dump_files(dump: str) -> dict[str, str]:
    """``nginx -T`` output as {path: text}: each file follows ``# configuration file P:``."""
    out: dict[str, str] = {}
    # stderr comes with it: "nginx: ... test is successful" lands after the last file.
    dump = re.sub(r"(\nnginx: [^\n]*)+\n?\Z", "\n", dump)
    parts = re.split(r"^# configuration file (.+):\n", dump, flags=re.M)
    for path, text in zip(parts[1::2], parts[2::2], strict=False):
        out[path] = text
    return out


def _pid_path(dump: str) -> str:
    m = re.search(r"^\s*pid\s+([^;\s]+)\s*;", dump, re.M)
    return m.group(1).strip("'\"") if m else ""


def apply_host(
    plan: HostPlan,
    cfg: WebServerConfig,
    *,
    opener: Opener | None = None,
    keep_backups: int = 5,
    lock_wait: float = 0.0,
    verify: Callable[[], str] | None = None,
    check: Callable[[WebServer, str], str] | None = None,
    cancel: Cancel | None = None,
    reload_wait: float = RELOAD_WAIT,
) -> HostResult:
    """Carry out a plan. After a reload that took, ``verify`` (from here) and ``check`` (with
    the session and the ``nginx -T`` dump) return '' when the site behaves, else why not."""
    if plan.error or not plan.changed:
        status = plan.status if plan.error else "unchanged"
        return HostResult(plan.name, plan.target, status, plan.error)
    if cancel:
        return HostResult(plan.name, plan.target, "skipped", f"not started: {cancel.reason}")
    server = (opener or WebServer)(plan.name, cfg)
    try:
        server.connect()
    except RemoteError as e:
        return HostResult(plan.name, plan.target, _error_status(e), str(e))
    run = _Push(server, plan, max(1, keep_backups), cancel, reload_wait)
    try:
        run.lock.take(lock_wait, plan.target, plan.name, cancel)
        return run.push(verify, check)
    except RemoteLocked as e:
        return run.result("locked", str(e))
    except (RemoteError, Interrupted) as e:
        # Only reached before the first write: push() handles everything after it.
        why = f"stopped before any change: {e}" if isinstance(e, Interrupted) else str(e)
        return run.result("interrupted" if isinstance(e, Interrupted) else "failed", why)
    finally:
        run.lock.release()
        server.close()


@dataclass
class _Push:
    server: WebServer
    plan: HostPlan
    keep_backups: int
    cancel: Cancel | None
    reload_wait: float
    steps: list[str] = field(default_factory=list)
    backup_dir: str = ""
    written: list[FileChange] = field(default_factory=list)
    reload_tried: bool = False
    lock: _Lock = field(init=False)

    def __post_init__(self) -> None:
        self.lock = _Lock(self.server, self.steps)

    def result(self, status: str, detail: str = "", nginx: str = "") -> HostResult:
        files = tuple((c.path, hashlib.sha256(c.new).hexdigest()) for c in self.written)
        return HostResult(
            self.plan.name,
            self.plan.target,
            status,
            detail,
            tuple(self.steps),
            nginx,
            self.backup_dir,
            files,
        )

    @property
    def pending_path(self) -> str:
        return posixpath.join(self.server.snippet_dir, PENDING_NAME)

    def checkpoint(self) -> None:
        if self.cancel:
            raise Interrupted(self.cancel.reason or "interrupted")

    # -- the push itself

    def push(
        self, verify: Callable[[], str] | None, check: Callable[[WebServer, str], str] | None
    ) -> HostResult:
        server = self.server
        self.checkpoint()
        marker = server.read(self.pending_path)
        if marker is not None:
            return self.recover(LockOwner.parse(marker), verify, check)
        for c in self.plan.changes:
            if server.read(c.path) != c.old:
                return self.result(
                    "failed", f"{c.path} changed since the diff was shown; plan again"
                )
        changes = [c for c in self.plan.changes if c.changed]
        self.backup(changes)
        self.checkpoint()
        # Before the first live write: if this process dies from here on, the next plan sees
        # the marker and tests (or restores) instead of calling the host "unchanged".
        marker_text = _owner_text(self.lock.token, backup=self.backup_dir)
        server.write_new(self.pending_path, marker_text)
        try:
            for c in changes:
                self.checkpoint()
                self.written.append(c)  # before the write: a half-done write is restored too
                server.write(c.path, c.new, c.mode or 0o644)
                self.steps.append(f"wrote {c.path} ({len(c.new)} bytes)")
            self.checkpoint()
            return self.test_reload_verify(changes, verify, check)
        except BaseException as e:
            why = _why(e)
            result = self.rollback(why)
            if not isinstance(e, Exception):
                raise  # KeyboardInterrupt, SystemExit: after the rollback
            return result

    def test_reload_verify(
        self,
        changes: list[FileChange],
        verify: Callable[[], str] | None,
        check: Callable[[WebServer, str], str] | None,
    ) -> HostResult:
        test = self.server.nginx_dump()
        if not test.ok:
            self.steps.append(f"nginx -t failed: `{test.command}`")
            return self.rollback("nginx -t rejected the new config", _tail(test.output))
        self.steps.append("nginx -t passed")
        dumped = dump_files(test.output)
        for c in changes:
            text = dumped.get(c.path)
            if text is None:
                self.steps.append(f"{c.path} is not included by the nginx config (yet)")
            elif text.rstrip("\n") != c.new.decode("utf-8", "replace").rstrip("\n"):
                return self.rollback(f"nginx -T shows other bytes for {c.path} than were pushed")
        self.checkpoint()
        problem = self.reload(test.output)
        if problem:
            return self.rollback(f"reload did not take: {problem}")
        # Tested and running: the push is complete, whatever the checks below say.
        self.server.remove(self.pending_path)
        count = f"{len(changes)} file(s) changed"
        if verify is None and check is None:
            return self.result("pushed", count)
        if self.cancel:
            self.steps.append(f"302 check skipped: {self.cancel.reason}")
            return self.result("pushed", f"{count}; 302 check skipped ({self.cancel.reason})")
        problem = (verify() if verify else "") or (check(self.server, test.output) if check else "")
        if problem:
            self.steps.append(f"verify failed: {problem}")
            return self.result("verify-failed", f"config is live but {problem}")
        self.steps.append("verified")
        return self.result("pushed+verified", count)

    def reload(self, dump: str) -> str:
        """Reload and prove it took; '' when it did, else what was seen."""
        server = self.server
        pid_file = _pid_path(dump) or self.default_pid_path()
        before = self.probe(pid_file, None)
        if not before.master:
            return f"cannot read nginx's master PID from {pid_file}"
        self.reload_tried = True
        reload = server.reload()
        if not reload.ok:
            return f"`{reload.command}` failed: {_tail(reload.output)}"
        # One command polls on the host (no round trip per look): new workers, or [emerg].
        wait = max(1, math.ceil(self.reload_wait))
        old = " ".join(map(str, sorted(before.workers)))
        since = str(before.log_size) if before.log_size >= 0 else "-"
        log = self.server.cfg.error_log or "/dev/null"
        argv = ["sh", "-c", _TOOK, "aktui-took", pid_file, log, since, old, str(wait)]
        seen = server.run(shlex.join(argv), sudo=False).output.strip().splitlines()
        kind, _, rest = (seen[-1] if seen else "").partition(" ")
        if kind == "emerg":
            return f"nginx kept the old config: {rest.strip()[:300]}"
        if kind != "took":
            return f"no new nginx workers within {self.reload_wait:g} s (master {rest or '?'})"
        note = "" if before.log_size >= 0 else " (error log not readable)"
        self.steps.append(f"reloaded: `{reload.command}`; new workers [{rest.strip()}]{note}")
        return ""

    def wait_log_quiet(self, quiet: float = 1.0) -> None:
        """A reload nginx refused may still be under way (a failed bind() is retried every
        500 ms for 2.5 s, logging [emerg] each time): reloading the old config before it is
        done would read those lines as its own. Wait until the error log is still a moment."""
        deadline, size, since = time.monotonic() + self.reload_wait, -2, time.monotonic()
        while time.monotonic() < deadline:
            now = self.probe("/dev/null", None).log_size
            if now != size:
                size, since = now, time.monotonic()
            elif now < 0 or time.monotonic() - since >= quiet:
                return
            time.sleep(0.2)

    def default_pid_path(self) -> str:
        out = self.server.run([self.server.cfg.nginx, "-V"]).output
        m = re.search(r"--pid-path=(\S+)", out)
        return m.group(1) if m else "/run/nginx.pid"

    def probe(self, pid_file: str, offset: int | None) -> _Probe:
        log = self.server.cfg.error_log or "/dev/null"
        since = "-" if offset is None or offset < 0 else str(offset)
        argv = ["sh", "-c", _PROBE, "aktui-probe", pid_file, log, since]
        return _Probe.parse(self.server.run(shlex.join(argv), sudo=False).output)

    def backup(self, changes: Iterable[FileChange]) -> None:
        base = posixpath.join(self.server.snippet_dir, BACKUP_DIR)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.backup_dir = posixpath.join(base, stamp)
        self.server.mkdir(self.backup_dir, parents=True)
        for c in changes:
            name = posixpath.basename(c.path)
            if c.old is None:
                self.server.write_new(posixpath.join(self.backup_dir, name + ".absent"), b"")
            else:
                self.server.write_new(posixpath.join(self.backup_dir, name), c.old, c.mode or 0o644)
        self.steps.append(f"backed up to {self.backup_dir}")
        for old in self.server.listdir(base)[: -self.keep_backups or None]:
            self.server.rmtree(posixpath.join(base, old))

    # -- going back

    def reconnect(self) -> str:
        if self.server.connected:
            return ""
        # A dropped connection mid-push must not leave new files behind: reconnect once.
        self.steps.append("connection lost")
        try:
            self.server.close()
            self.server.connect()
            self.steps.append("reconnected to restore")
            return ""
        except RemoteError as e:
            return f"cannot reconnect: {e.message}"

    def rollback(self, why: str, nginx: str = "") -> HostResult:
        server, problems, restored = self.server, [], 0
        lost = self.reconnect()
        if lost:
            problems.append(lost)
        else:
            for c in reversed(self.written):
                try:
                    if server.read(c.path) == c.old:
                        continue  # never written (a full disk fails the temp file first)
                    if c.old is None:
                        server.remove(c.path)
                    else:
                        server.write(c.path, c.old, c.mode or 0o644)
                    restored += 1
                    if server.read(c.path) != c.old:
                        problems.append(f"{c.path} differs after restore")
                except RemoteError as e:
                    problems.append(e.message)
        if problems:
            self.lock.keep = not lost  # untested files may be live: hold the lock as a sign
            self.steps.append("ROLLBACK FAILED: " + "; ".join(problems))
            return self.result(
                "rollback-failed",
                f"{why}; restoring failed ({'; '.join(problems)}); backups in {self.backup_dir}"
                f"; the next push tests what is there",
                nginx,
            )
        self.steps.append(
            f"restored {restored} file(s) byte for byte" if restored else "nothing had changed"
        )
        return self.settle(why, nginx)

    def settle(self, why: str, nginx: str) -> HostResult:
        """The files are the old ones again: test them and, if a reload was tried (it may have
        taken), reload and prove nginx runs them. Then the marker goes."""
        server, after = self.server, ""
        try:
            again = server.nginx_dump()
            self.steps.append("old config: nginx -t " + ("passed" if again.ok else "FAILED"))
            if not again.ok:
                after = f"; the restored config fails nginx -t too: {_tail(again.output)}"
            elif self.reload_tried:
                self.wait_log_quiet()
                problem = self.reload(again.output)
                if problem:
                    after = f"; reloading the old config did not take either: {problem}"
                else:
                    self.steps.append("old config reloaded and running")
            if not after or not self.reload_tried:
                server.remove(self.pending_path)
        except RemoteError as e:
            after = f"; re-test failed: {e.message}"
        status = "rolled-back" if not after or not self.reload_tried else "rollback-failed"
        return self.result(status, why + after, nginx)

    def recover(
        self,
        owner: LockOwner,
        verify: Callable[[], str] | None,
        check: Callable[[WebServer, str], str] | None,
    ) -> HostResult:
        """An interrupted push left files that nobody tested: test them; if nginx accepts them,
        reload and prove it, else put the backup it recorded back."""
        self.steps.append(f"found an interrupted push ({owner.text})")
        self.backup_dir = owner.backup
        test = self.server.nginx_dump()
        if test.ok:
            self.steps.append("nginx -t passed on what it left")
            problem = self.reload(test.output)
            if problem:
                return self.result("failed", f"interrupted push recovered on disk; {problem}")
            self.server.remove(self.pending_path)
            return self.result(
                "pushed", "tested and reloaded what an interrupted push left; plan again"
            )
        self.steps.append("nginx -t failed on what it left: restoring its backup")
        for c in self.from_backup(owner.backup):
            self.written.append(c)
        self.reload_tried = True  # whatever it left may have been loaded by someone else
        return self.rollback(
            "an interrupted push left files that fail nginx -t; restored its backup",
            _tail(test.output),
        )

    def from_backup(self, backup: str) -> list[FileChange]:
        """The backup as changes to make (``new`` is unused: ``rollback`` writes ``old``)."""
        out: list[FileChange] = []
        if not backup.startswith(posixpath.join(self.server.snippet_dir, BACKUP_DIR) + "/"):
            return out
        for entry in self.server.listdir(backup):
            name = entry.removesuffix(".absent")
            path = posixpath.join(self.server.snippet_dir, name)
            old = None if entry.endswith(".absent") else self.server.read(f"{backup}/{entry}")
            out.append(FileChange(path, old, b"", self.server.mode(path)))
        return out


def _why(e: BaseException) -> str:
    if isinstance(e, Interrupted):
        return f"interrupted ({e})"
    if isinstance(e, RemoteError):
        return f"push interrupted: {e.message}"
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return f"push interrupted: {type(e).__name__}: {e}"


def _tail(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def unlock_host(name: str, cfg: WebServerConfig, *, opener: Opener | None = None) -> str:
    """Remove a host's push lock (``aktui push --unlock``); returns what was removed. A lock
    held by a running aktui on this machine is refused."""
    server = (opener or WebServer)(name, cfg)
    server.connect()
    try:
        lock = _Lock(server, [])
        if server.mode(lock.path) is None:
            return f"{name}: no lock at {lock.path}"
        owner = lock.owner()
        if owner.host == socket.gethostname() and owner.pid and _pid_alive(owner.pid):
            raise RemoteLocked(
                f"{name}: {lock.path} is held by pid {owner.pid}, still running here",
                "wait for it, or stop that process",
            )
        server.rmtree(lock.path)
        pending = server.mode(posixpath.join(server.snippet_dir, PENDING_NAME)) is not None
        note = "; an interrupted push's marker remains: the next push tests it" if pending else ""
        return f"{name}: removed {lock.path} ({owner.text}){note}"
    finally:
        server.close()


# --- dry run: the candidate under nginx -t, off to the side ---------------------------------

_INCLUDE_ABS = re.compile(r"(\binclude\s+)([\"']?)/")


def staged_test(plan: HostPlan, cfg: WebServerConfig, *, opener: Opener | None = None) -> str:
    """``nginx -t`` on a copy of the host's whole config (from ``nginx -T``) in a private temp
    dir there, with the planned files in place and absolute includes pointed into the copy.
    Returns '' when it passes, else why. Nothing live is touched."""
    server = (opener or WebServer)(plan.name, cfg)
    try:
        server.connect()
    except RemoteError as e:
        return str(e)
    staging = ""
    try:
        dump = server.nginx_dump()
        if not dump.ok:
            return f"the live config fails nginx -t already: {_tail(dump.output, 500)}"
        files = dump_files(dump.output)
        if not files:
            return "nginx -T listed no files"
        main = next(iter(files))
        staging = server.run(["mktemp", "-d"], sudo=False).output.strip()
        if not staging.startswith("/"):
            return f"mktemp -d failed: {staging}"
        texts = {path: text.removesuffix("\n") for path, text in files.items()}
        texts.update({c.path: c.new.decode("utf-8", "replace") for c in plan.changes})
        for path, text in texts.items():
            staged = staging + path
            server.mkdir(posixpath.dirname(staged), parents=True)
            moved = _INCLUDE_ABS.sub(lambda m: f"{m.group(1)}{m.group(2)}{staging}/", text)
            server.write(staged, moved.encode(), 0o644)
        argv = [cfg.nginx, "-t", "-c", staging + main]
        test = server.run(argv)
        return "" if test.ok else _tail(test.output.replace(staging, ""), 1500)
    except RemoteError as e:
        return e.message
    finally:
        if staging.startswith("/") and staging.count("/") >= 2:
            with contextlib.suppress(RemoteError):
                server.run(["rm", "-rf", "--", staging])
        server.close()


# --- several hosts --------------------------------------------------------------------------


class SessionPool:
    """An ``Opener`` that keeps each host's session from the plan to the apply: one SSH
    handshake per host instead of two (round trips, and CPU on both ends). Only for a push
    that applies right after planning (``--yes``): a session left idle at a prompt may be cut
    by a firewall. A lost session still reconnects as usual. ``close()`` ends them all."""

    def __init__(self, opener: Opener | None = None) -> None:
        self.opener = opener or WebServer
        self.sessions: dict[str, tuple[WebServer, Callable[[], None]]] = {}
        self._guard = threading.Lock()

    def __call__(self, name: str, cfg: WebServerConfig) -> WebServer:
        with self._guard:
            if name in self.sessions:
                return self.sessions[name][0]
            server = self.opener(name, cfg)
            connect, close = server.connect, server.close

            def reconnect() -> None:
                if not server.connected:
                    close()
                    connect()

            server.connect = reconnect  # type: ignore[method-assign]
            server.close = lambda: None  # type: ignore[method-assign]
            self.sessions[name] = (server, close)
            return server

    def close(self) -> None:
        with self._guard:
            for _, close in self.sessions.values():
                close()
            self.sessions.clear()


def plan_hosts(
    servers: Mapping[str, WebServerConfig],
    files: Callable[[str, WebServerConfig], Mapping[str, bytes | str]],
    *,
    max_parallel: int = 8,
    opener: Opener | None = None,
    lock_wait: float = 0.0,
    cancel: Cancel | None = None,
) -> list[HostPlan]:
    """``plan_host`` for every server in parallel, in ``servers`` order."""

    def one(name: str) -> HostPlan:
        try:
            wanted = files(name, servers[name])
            return plan_host(
                name, servers[name], wanted, opener=opener, lock_wait=lock_wait, cancel=cancel
            )
        except UnsafeValue as e:
            return HostPlan(name, servers[name].host, error=str(e), status="failed")
        except Exception as e:  # one host's surprise must not hide the others
            error = f"{type(e).__name__}: {e}"
            return HostPlan(name, servers[name].host, error=error, status="failed")

    return _parallel(one, list(servers), max_parallel)


def apply_hosts(
    plans: Iterable[HostPlan],
    servers: Mapping[str, WebServerConfig],
    *,
    max_parallel: int = 8,
    verifiers: Mapping[str, Callable[[], str]] | None = None,
    checks: Mapping[str, Callable[[WebServer, str], str]] | None = None,
    serial: Sequence[int] = (),
    max_fail: int = -1,
    cancel: Cancel | None = None,
    **options: object,
) -> list[HostResult]:
    """``apply_host`` for every plan, one result per plan, in order. Hosts go in batches whose
    sizes are ``serial`` (the last size repeats; 0 or none: all the rest), each batch
    ``max_parallel`` at a time; once more than ``max_fail`` hosts failed (-1: no limit), later
    batches are skipped, as Ansible's ``serial`` / ``max_fail_percentage``. One host's
    exception never hides the others."""
    plans = list(plans)
    results: dict[int, HostResult] = {}
    work = [i for i, p in enumerate(plans) if p.changed and not p.error]
    for i, p in enumerate(plans):
        if i not in work:  # unchanged, or the plan failed: reported as planned, no I/O
            results[i] = HostResult(p.name, p.target, p.status if p.error else "unchanged", p.error)

    def one(i: int) -> HostResult:
        plan = plans[i]
        try:
            return apply_host(
                plan,
                servers[plan.name],
                verify=(verifiers or {}).get(plan.name),
                check=(checks or {}).get(plan.name),
                cancel=cancel,
                **options,  # type: ignore[arg-type]
            )
        except Exception as e:  # apply_host rolled back already
            return HostResult(plan.name, plan.target, "failed", f"{type(e).__name__}: {e}")

    failed = 0
    for batch in _batches(work, serial):
        if 0 <= max_fail < failed:
            for i in batch:
                why = f"not started: {failed} host(s) failed before (--max-fail {max_fail})"
                results[i] = HostResult(plans[i].name, plans[i].target, "skipped", why)
            continue
        for i, r in zip(batch, _parallel(one, batch, max_parallel), strict=True):
            results[i] = r
            failed += not r.ok and r.status != "skipped"
    return [results[i] for i in range(len(plans))]


def _batches(items: list[int], serial: Sequence[int]) -> list[list[int]]:
    out, rest, sizes = [], list(items), list(serial) or [0]
    while rest:
        size = sizes.pop(0) if len(sizes) > 1 else sizes[0]
        size = size if size > 0 else len(rest)
        out.append(rest[:size])
        rest = rest[size:]
    return out


_T = TypeVar("_T")
_R = TypeVar("_R")


def _parallel(fn: Callable[[_T], _R], items: list[_T], max_parallel: int) -> list[_R]:
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


# --- the local audit log --------------------------------------------------------------------


def audit_path() -> str:
    return str(user_dir("state") / "push-audit.jsonl")


def audit(results: Iterable[HostResult], *, dry_run: bool = False, path: str = "") -> str:
    """Append one JSON line for this push (who, when, hosts, file hashes, results) to the audit
    log; returns its path. Never raises: a push is not undone by a full home directory."""
    path = path or audit_path()
    hosts = [
        {
            "name": r.name,
            "target": r.target,
            "status": r.status,
            "detail": r.detail,
            "files": dict(r.files),
            "backup": r.backup_dir,
        }
        for r in results
    ]
    record = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "user": getpass.getuser(),
        "from": socket.gethostname(),
        "pid": os.getpid(),
        "dry_run": dry_run,
        "hosts": hosts,
        "result": "ok" if all(h["status"] in OK_STATUSES for h in hosts) else "failed",
    }
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    except OSError:
        return ""
    return path
