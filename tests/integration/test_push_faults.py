"""`aktui push` under faults, on real sshd + nginx (issue 16): a signal or a dropped session at
every step, unexpected exceptions, a reload nginx does not take, a full disk, symlinks, a
concurrent push, a push killed outright.

Every CLI run here ends with the same checks (``consistent``): the host's snippet files are
byte-identical to before or fully new, nginx serves what is on disk (no snippets: 200, the
snippets: 302 to /outpost.goauthentik.io/start), no lock and no pending marker are left, and
the output has exactly one result line per host.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest

from aktui.deploy.push import (
    BACKUP_DIR,
    LOCK_NAME,
    PENDING_NAME,
    Cancel,
    SessionPool,
    apply_host,
    plan_host,
    unlock_host,
)
from aktui.deploy.ssh import WebServer
from aktui.errors import RemoteError
from aktui.nginx.templates import FORWARD_AUTH_FILE
from tests.fixtures.procs import free_port
from tests.fixtures.pushdata import (
    config,
    on_disk,
    serving,
    snapshot,
    wait_serving,
    wanted,
)
from tests.fixtures.webhost import FakeOutpost, WebHost

pytestmark = pytest.mark.integration


def consistent(host: WebHost, before: dict[str, bytes], new: dict[str, bytes]) -> str:
    """'old' or 'new' after checking everything the issue's done-when asks of one host."""
    now = on_disk(host)
    assert now in (before, new), f"{host.name}: half-pushed files: {sorted(now)}"
    state = "new" if now == new and now != before else "old"
    expect = 302 if now else 200
    assert wait_serving(host, expect) == expect, f"{host.name}: nginx does not run the disk"
    assert not (host.snippet_dir / LOCK_NAME).exists(), f"{host.name}: lock left behind"
    assert not (host.snippet_dir / PENDING_NAME).exists(), f"{host.name}: marker left behind"
    assert not list(host.snippet_dir.glob(".*.tmp")), f"{host.name}: temp files left"
    return state


def result_lines(out: str, hosts: list[WebHost]) -> dict[str, str]:
    """Each host's one result line (after the blank line that starts the results)."""
    tail = out.rsplit("\n\n", 1)[-1]
    found: dict[str, str] = {}
    for h in hosts:
        lines = [line for line in tail.splitlines() if re.match(rf"^{h.name}\s+\S", line)]
        assert len(lines) == 1, f"{h.name}: result lines {lines} in\n{out}"
        found[h.name] = lines[0].split()[1]
    return found


# --- faults at named steps -------------------------------------------------------------------

STEPS = ("lock", "backup", "marker", "write1", "write2", "test", "reload", "probe", "check")


def step_of(server: Faulty, op: str, arg: object) -> str:
    text = arg if isinstance(arg, str) else " ".join(map(str, arg))  # type: ignore[arg-type]
    if op == "mkdir":
        return "lock" if text.endswith(LOCK_NAME) else ""
    if op == "write":
        if BACKUP_DIR in text:
            return "backup"
        if text.endswith(PENDING_NAME):
            return "marker"
        if text.endswith(".conf"):
            server.counts["write"] = server.counts.get("write", 0) + 1
            return f"write{server.counts['write']}"
        return ""
    if " -T" in text:
        return "test"
    if "-s reload" in text:
        server.counts["reloaded"] = 1
        return "reload"
    if ("aktui-probe" in text or "aktui-took" in text) and server.counts.get("reloaded"):
        return "probe"
    if text.startswith("curl "):
        return "check"
    return ""


class Faulty(WebServer):
    """A real session with one fault at one step. ``do``: ``signal:NAME`` (to this process,
    then waits until the CLI's handler saw it), ``drop`` (the session dies before the step),
    ``drop-after`` (the step runs, then the session dies before its answer arrives),
    ``raise:ssh`` (paramiko.SSHException out of the step), ``raise:bug`` (RuntimeError)."""

    at = ""
    do = ""
    armed = False  # faults only in the apply phase (the plan shares the session: --yes)
    fired: list[str] = []
    cancels: list[Cancel] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.counts: dict[str, int] = {}

    def fault(self, op: str, arg: object, real):
        if not self.armed:
            return real()
        step = step_of(self, op, arg)
        if not step or step != self.at or self.fired:
            return real()
        self.fired.append(step)
        kind, _, detail = self.do.partition(":")
        if kind == "signal":
            os.kill(os.getpid(), getattr(signal, detail))
            deadline = time.monotonic() + 5
            while not (self.cancels and self.cancels[-1]) and time.monotonic() < deadline:
                time.sleep(0.01)
            return real()
        if kind == "drop":
            self._client.get_transport().close()
            return real()
        if kind == "drop-after":
            real()
            self._client.get_transport().close()
            raise RemoteError(f"{self.endpoint.target}: session lost after the {step} step")
        if detail == "ssh":
            raise paramiko.SSHException("simulated: Server connection dropped")
        raise RuntimeError(f"simulated bug at {step}")

    def mkdir(self, path: str, *, parents: bool = False) -> bool:
        return self.fault("mkdir", path, lambda: super(Faulty, self).mkdir(path, parents=parents))

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        return self.fault("write", path, lambda: super(Faulty, self).write(path, data, mode))

    def write_new(self, path: str, data: bytes, mode: int = 0o644) -> None:
        return self.fault("write", path, lambda: super(Faulty, self).write_new(path, data, mode))

    def run(self, argv, *, sudo=None, **kw):
        return self.fault("run", argv, lambda: super(Faulty, self).run(argv, sudo=sudo, **kw))


@pytest.fixture(autouse=True)
def _state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, fake_outpost: FakeOutpost, capsys):
    """``cli(hosts, *argv, at=step, do=fault)`` runs `aktui push --yes` with that fault in the
    apply phase; returns (exit code, stdout)."""
    from aktui.cli import main
    from aktui.cmd import push as cmd

    class Recording(Cancel):
        def __init__(self) -> None:
            super().__init__()
            Faulty.cancels.append(self)

    monkeypatch.setattr(cmd, "Cancel", Recording)
    # --yes keeps each host's session from plan to apply: the sessions are Faulty ones.
    monkeypatch.setattr(cmd, "SessionPool", lambda: SessionPool(Faulty))
    real_apply = cmd.apply_hosts

    def run(hosts: list[WebHost], *argv: str, at: str = "", do: str = "", **cfg: object):
        backend = SimpleNamespace(config=config(fake_outpost, hosts, **cfg), read_only=False)
        monkeypatch.setattr(cmd, "load", lambda args: (backend, snapshot(), []))
        Faulty.at, Faulty.do, Faulty.fired, Faulty.cancels = at, do, [], []
        Faulty.armed = False

        def apply(*a: object, **kw: object):
            Faulty.armed = True
            return real_apply(*a, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(cmd, "apply_hosts", apply)
        code = main(["push", "--yes", *argv])
        out = capsys.readouterr().out
        assert not at or Faulty.fired == [at], f"fault at {at} never fired:\n{out}"
        return code, out

    return run


@pytest.fixture
def host(webhost: WebHost) -> WebHost:
    webhost.reset()
    return webhost


@pytest.mark.parametrize("step", STEPS)
def test_sigterm_at_each_step(host, cli, fake_outpost, step):
    before, new = on_disk(host), wanted(fake_outpost)
    code, out = cli([host], at=step, do="signal:SIGTERM")
    assert code == 128 + signal.SIGTERM, out
    state = consistent(host, before, new)
    status = result_lines(out, [host])[host.name]
    # Before the reload the push is undone; once the reload took it is complete.
    if STEPS.index(step) < STEPS.index("reload"):
        assert state == "old" and status in ("interrupted", "rolled-back"), out
        assert "SIGTERM" in out
    else:
        assert state == "new" and status.startswith("pushed"), out


@pytest.mark.parametrize("sig", ["SIGINT", "SIGHUP", "SIGTERM"])
def test_each_signal_between_writes_rolls_back(host, cli, fake_outpost, sig):
    before, new = on_disk(host), wanted(fake_outpost)
    code, out = cli([host], at="write2", do=f"signal:{sig}")
    assert code == 128 + getattr(signal, sig)
    assert consistent(host, before, new) == "old"
    assert result_lines(out, [host])[host.name] == "rolled-back"
    assert f"interrupted ({sig})" in out
    # A later push goes through normally: nothing is left that blocks or confuses it.
    code, out = cli([host])
    assert code == 0 and consistent(host, before, new) == "new", out


@pytest.mark.parametrize("step", STEPS)
def test_session_drop_at_each_step(host, cli, fake_outpost, step):
    before, new = on_disk(host), wanted(fake_outpost)
    code, out = cli([host], at=step, do="drop")
    state = consistent(host, before, new)
    status = result_lines(out, [host])[host.name]
    assert "Traceback" not in out
    if state == "new":
        assert step == "check" and status in ("pushed+verified", "verify-failed"), out
    else:
        assert code == 1 and status in ("failed", "rolled-back"), out


@pytest.mark.parametrize("step", ["reload", "probe"])
def test_reload_that_took_before_the_session_died_is_reloaded_back(host, cli, fake_outpost, step):
    """Issue 16.2: the reload ran (nginx serves the new files), then the answer was lost: the
    old files go back *and* nginx is reloaded onto them, proven."""
    before, new = on_disk(host), wanted(fake_outpost)
    code, out = cli([host], at=step, do="drop-after")
    assert code == 1
    assert consistent(host, before, new) == "old"
    assert result_lines(out, [host])[host.name] == "rolled-back"
    assert "old config reloaded and running" in out


@pytest.mark.parametrize("step", ["lock", "backup", "marker", "write1", "test"])
def test_ssh_exception_is_a_result_not_a_traceback(host, cli, fake_outpost, step):
    """Issue 16.4: paramiko.SSHException (not an OSError) out of any step."""
    before, new = on_disk(host), wanted(fake_outpost)
    code, out = cli([host], at=step, do="raise:ssh")
    assert code == 1
    assert consistent(host, before, new) == "old"
    assert result_lines(out, [host])[host.name] in ("failed", "rolled-back")
    assert "SSHException" in out and "Server connection dropped" in out


def test_one_hosts_exception_never_hides_the_others(webhosts, cli, fake_outpost):
    for h in webhosts:
        h.reset()
    first, second = webhosts
    before, new = on_disk(first), wanted(fake_outpost)
    # Default: the first host alone, stop at the first failure: the second is not started.
    code, out = cli(webhosts, at="write2", do="raise:bug")
    assert code == 1
    assert result_lines(out, webhosts) == {first.name: "rolled-back", second.name: "skipped"}
    assert "RuntimeError: simulated bug at write2" in out
    assert consistent(first, before, new) == consistent(second, before, new) == "old"
    # --max-fail -1: every host runs; the failing one does not hide the other's result.
    code, out = cli(webhosts, "--max-fail", "-1", "--serial", "2", at="write2", do="raise:bug")
    statuses = result_lines(out, webhosts)
    assert sorted(statuses.values()) == ["pushed+verified", "rolled-back"], out
    assert sorted([consistent(first, before, new), consistent(second, before, new)]) == [
        "new",
        "old",
    ]


# --- a reload that does not take -------------------------------------------------------------


def test_reload_exit_0_but_old_config_kept(host, fake_outpost):
    """Issue 16.3 with real nginx: `listen` on a port another process holds passes `nginx -t`
    (it binds nothing) and `nginx -s reload` exits 0, but the master logs [emerg] bind() and
    keeps the old workers. The push must notice, put the old files back and reload them."""
    import socket

    cfg = host.web_server_config()
    first = plan_host(host.name, cfg, wanted(fake_outpost))
    assert apply_host(first, cfg).status == "pushed"
    good = on_disk(host)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        files = dict(wanted(fake_outpost))
        files[FORWARD_AUTH_FILE] += f"listen 127.0.0.1:{port};\n".encode()
        plan = plan_host(host.name, cfg, files)
        result = apply_host(plan, cfg)
    assert result.status == "rolled-back", result
    assert "reload did not take: nginx kept the old config" in result.detail
    assert "bind() to 127.0.0.1:" in result.detail and "Address already in use" in result.detail
    assert "nginx -t passed" in result.steps  # the test really passed: only the reload failed
    assert "old config reloaded and running" in result.steps
    assert on_disk(host) == good
    assert wait_serving(host, 302) == 302
    assert not (host.snippet_dir / PENDING_NAME).exists()


def test_reload_command_exits_0_without_reloading(host, fake_outpost):
    """A reload wrapper that says yes and does nothing: no new workers, so not 'pushed'."""
    cfg = host.web_server_config(reload="true")
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    result = apply_host(plan, cfg, reload_wait=1.0)
    assert result.status == "rollback-failed", result  # the old config cannot be reloaded either
    assert "no new nginx workers within 1 s" in result.detail
    assert on_disk(host) == {}  # the files went back; nginx never loaded them
    assert serving(host) == 200
    # The marker stays: the next push (with a working reload) tests and reloads for real.
    assert (host.snippet_dir / PENDING_NAME).exists()
    fixed = host.web_server_config()
    again = plan_host(host.name, fixed, wanted(fake_outpost))
    assert again.status == "pending" and again.changed
    assert apply_host(again, fixed).status == "pushed"
    assert not (host.snippet_dir / PENDING_NAME).exists()


# --- pending marker: a push killed outright --------------------------------------------------

DRIVER = """
import sys
from types import SimpleNamespace
sys.path.insert(0, {repo!r})
from tests.fixtures import pushdata as t
from tests.fixtures.webhost import FakeOutpost
from aktui.cmd import push as cmd
from aktui.cli import main
import pickle
hosts, outpost = pickle.loads(bytes.fromhex({payload!r}))
backend = SimpleNamespace(config=t.config(outpost, hosts, nginx={nginx!r}), read_only=False)
cmd.load = lambda args: (backend, t.snapshot(), [])
sys.exit(main(["push", "--yes", "--no-check"]))
"""


def slow_nginx(host: WebHost) -> tuple[Path, Path, Path]:
    """An nginx wrapper whose `-T` says it started, then waits for a go file (bounded)."""
    shim, started, go = host.bin_dir / "nginx-slow", host.root / "started", host.root / "go"
    started.unlink(missing_ok=True)
    go.unlink(missing_ok=True)
    shim.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" -T "*) touch ' + str(started) + "\n"
        "  i=0; while [ ! -e "
        + str(go)
        + " ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done;;\n"
        "esac\n"
        'exec /usr/sbin/nginx "$@"\n'
    )
    shim.chmod(0o755)
    return shim, started, go


def wait_file(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def start_driver(host: WebHost, outpost: FakeOutpost, nginx: str) -> subprocess.Popen[str]:
    import pickle

    repo = str(Path(__file__).resolve().parents[2])
    payload = pickle.dumps(([host], FakeOutpost(outpost.port))).hex()
    code = DRIVER.format(repo=repo, payload=payload, nginx=nginx)
    env = {**os.environ, "PYTHONPATH": repo}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def test_killed_during_nginx_t_then_next_push_tests(host, fake_outpost):
    """Issue 16.1: SIGKILL (nothing can roll back) while the new files are live and untested.
    The lock and the pending marker stay; the next push breaks the dead lock (same machine,
    PID gone), sees the marker and tests and reloads instead of calling the host unchanged."""
    shim, started, go = slow_nginx(host)
    proc = start_driver(host, fake_outpost, str(shim))
    try:
        wait_file(started)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        go.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert on_disk(host) == wanted(fake_outpost)  # live, untested, not loaded
    assert serving(host) == 200
    assert (host.snippet_dir / LOCK_NAME).exists() and (host.snippet_dir / PENDING_NAME).exists()

    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    assert plan.status == "pending" and plan.changed and not plan.diff()
    result = apply_host(plan, cfg)
    assert result.status == "pushed", result
    assert any(s.startswith("found an interrupted push") for s in result.steps)
    assert consistent(host, {}, wanted(fake_outpost)) == "new"


def test_interrupted_push_that_fails_the_test_is_restored_from_its_backup(host, fake_outpost):
    cfg = host.web_server_config()
    assert apply_host(plan_host(host.name, cfg, wanted(fake_outpost)), cfg).status == "pushed"
    good = on_disk(host)
    # What a killed push leaves: its backup of the good files, its marker, a broken file.
    backup = host.snippet_dir / BACKUP_DIR / "20260101T000000.000000Z"
    backup.mkdir(parents=True)
    (backup / FORWARD_AUTH_FILE).write_bytes(good[FORWARD_AUTH_FILE])
    (backup / "authentik-extra.conf.absent").write_bytes(b"")
    (host.snippet_dir / FORWARD_AUTH_FILE).write_bytes(b"auth_request_bogus on;\n")
    (host.snippet_dir / "authentik-extra.conf").write_bytes(b"# left by the killed push\n")
    (host.snippet_dir / PENDING_NAME).write_text(
        f"ops@elsewhere pid 1 since 2026-01-01T00:00:00+00:00\ntoken=x\nbackup={backup}\n"
    )
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    assert plan.status == "pending"
    result = apply_host(plan, cfg)
    assert result.status == "rolled-back", result
    assert "restored its backup" in result.detail
    assert on_disk(host) == good
    assert consistent(host, good, good) == "old"


# --- locks -----------------------------------------------------------------------------------


def test_plan_during_another_push_in_nginx_t_is_locked_not_unchanged(host, fake_outpost):
    """Issue 16.5: a second push while the first one's new files are under `nginx -t`."""
    shim, started, go = slow_nginx(host)
    slow = host.web_server_config(nginx=str(shim))
    files = wanted(fake_outpost)
    results = []
    first = threading.Thread(
        target=lambda: results.append(apply_host(plan_host(host.name, slow, files), slow))
    )
    first.start()
    try:
        wait_file(started)
        second = plan_host(host.name, host.web_server_config(), files)
        assert second.status == "locked", second
        assert "another push holds" in second.error and f"pid {os.getpid()}" in second.error
        # Waiting for the lock instead: the plan is made after the first push finished.
        waiter: list = []
        later = threading.Thread(
            target=lambda: waiter.append(
                plan_host(host.name, host.web_server_config(), files, lock_wait=30)
            )
        )
        later.start()
        go.touch()
        later.join(60)
        first.join(60)
    finally:
        go.touch()
        first.join(60)
    assert results[0].status == "pushed", results
    assert waiter[0].status == "unchanged"  # read after the first push was tested and live


def test_stale_lock_detected_and_unlock(host, fake_outpost):
    cfg = host.web_server_config()
    lock = host.snippet_dir / LOCK_NAME
    lock.mkdir()
    (lock / "owner").write_text("ops@laptop pid 42 since 2020-01-01T00:00:00+00:00\ntoken=x\n")
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    assert plan.status == "locked"
    assert "stale lock: held for" in plan.error and "ops@laptop pid 42" in plan.error
    assert f"aktui push --unlock {host.name}" in plan.error
    assert lock.exists()  # another machine's lock is never removed without being asked
    said = unlock_host(host.name, cfg)
    assert "removed" in said and "ops@laptop pid 42" in said and not lock.exists()

    # A dead aktui on this machine (its PID is gone) is provably stale: removed on the way.
    pid = subprocess.Popen(["true"])
    pid.wait()  # reaped: that PID is not running any more
    lock.mkdir()
    me = os.uname().nodename
    (lock / "owner").write_text(f"ops@{me} pid {pid.pid} since 2026-01-01T00:00:00+00:00\n")
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    assert plan.status == "ready", plan.error
    assert not lock.exists()


def test_cli_unlock(host, fake_outpost, tmp_path, capsys):
    from aktui.cli import main

    cfg_file = tmp_path / "config.yaml"
    c = host.web_server_config()
    cfg_file.write_text(
        "web_servers:\n"
        f"  {host.name}:\n"
        f"    host: {c.host}\n    port: {c.port}\n    user: {c.user}\n"
        f"    key_file: {c.key_file}\n    known_hosts: {c.known_hosts}\n"
        f"    snippet_dir: {c.snippet_dir}\n"
    )
    lock = host.snippet_dir / LOCK_NAME
    lock.mkdir()
    (lock / "owner").write_text("ops@laptop pid 42 since 2020-01-01T00:00:00+00:00\n")
    assert main(["--config", str(cfg_file), "push", "--unlock", host.name]) == 0
    out = capsys.readouterr().out
    assert f"{host.name}: removed {lock} (ops@laptop pid 42" in out and not lock.exists()
    assert main(["--config", str(cfg_file), "push", "--unlock", host.name]) == 0
    assert "no lock at" in capsys.readouterr().out


# --- smaller faults (issue 16.6) -------------------------------------------------------------


class FirstWriteFails(WebServer):
    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        if path.endswith(".conf"):
            raise RemoteError(f"{self.endpoint.target}: cannot write {path}: No space left")
        return super().write(path, data, mode)


def test_full_disk_on_first_write_is_not_a_failed_rollback(host, fake_outpost):
    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, wanted(fake_outpost))
    result = apply_host(plan, cfg, opener=FirstWriteFails)
    assert result.status == "rolled-back", result
    assert "No space left" in result.detail and "ROLLBACK FAILED" not in str(result.steps)
    assert "nothing had changed" in result.steps
    assert consistent(host, {}, {}) == "old"


@pytest.fixture
def tiny_disk(host: WebHost):
    """The snippet dir on a 64 KiB tmpfs (root only); unmounted after."""
    mount = host.root / "tiny"
    mount.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk(host, fake_outpost, tiny_disk):
    """A real ENOSPC: a file bigger than what is left fails in its temp file; nothing live
    changed, so nothing is reported as a failed rollback, and the lock is gone."""
    cfg = host.web_server_config(snippet_dir=str(tiny_disk))
    (tiny_disk / FORWARD_AUTH_FILE).write_bytes(b"# old\n")
    files = {FORWARD_AUTH_FILE: b"# big\n" + b"#" * 200_000 + b"\n"}
    plan = plan_host(host.name, cfg, files)
    result = apply_host(plan, cfg)
    assert result.status == "rolled-back", result
    assert "ROLLBACK FAILED" not in str(result.steps) and "nothing had changed" in result.steps
    assert (tiny_disk / FORWARD_AUTH_FILE).read_bytes() == b"# old\n"
    assert not (tiny_disk / LOCK_NAME).exists() and not (tiny_disk / PENDING_NAME).exists()
    assert not list(tiny_disk.glob(".*.tmp"))


def test_symlinked_snippet_is_written_through(host, fake_outpost):
    shared = host.root / "shared"
    shared.mkdir(exist_ok=True)
    real = shared / "forward-auth.conf"
    real.write_text("# shared copy\n")
    real.chmod(0o640)
    link = host.snippet_dir / FORWARD_AUTH_FILE
    link.symlink_to(os.path.relpath(real, host.snippet_dir))
    cfg = host.web_server_config()
    files = wanted(fake_outpost)
    result = apply_host(plan_host(host.name, cfg, files), cfg)
    assert result.status == "pushed", result
    assert link.is_symlink() and real.read_bytes() == files[FORWARD_AUTH_FILE]
    assert real.stat().st_mode & 0o777 == 0o640
    # And back: a rollback also writes through the link.
    broken = {**files, FORWARD_AUTH_FILE: b"auth_request_bogus on;\n"}
    result = apply_host(plan_host(host.name, cfg, broken), cfg)
    assert result.status == "rolled-back"
    assert link.is_symlink() and real.read_bytes() == files[FORWARD_AUTH_FILE]


def test_temp_file_is_created_with_its_final_mode(host):
    seen: list[int] = []

    class Watch(WebServer):
        def connect(self) -> None:
            super().connect()
            real_chmod = self.sftp.chmod

            def chmod(path: str, mode: int) -> None:
                seen.append(os.stat(path).st_mode & 0o777)  # the host is this machine
                real_chmod(path, mode)

            self.sftp.chmod = chmod  # type: ignore[method-assign]

    server = Watch(host.name, host.web_server_config())
    server.connect()
    try:
        server.write(str(host.snippet_dir / "secret.conf"), b"# 0600\n", 0o600)
    finally:
        server.close()
    # sshd's umask (022) would have made it 0644 until the chmod.
    assert seen == [0o600]
    assert (host.snippet_dir / "secret.conf").stat().st_mode & 0o777 == 0o600


def test_session_lost_during_nginx_t_is_not_a_rejection(host, fake_outpost):
    shim, started, go = slow_nginx(host)

    class Cut(WebServer):
        def run(self, argv, *, sudo=None, **kw):
            if " -T" in f" {argv if isinstance(argv, str) else ' '.join(argv)}" and not getattr(
                self, "cut", False
            ):
                self.cut = True

                def cut() -> None:
                    wait_file(started)
                    self._client.get_transport().close()
                    go.touch()

                threading.Thread(target=cut, daemon=True).start()
            return super().run(argv, sudo=sudo, **kw)

    cfg = host.web_server_config(nginx=str(shim))
    result = apply_host(plan_host(host.name, cfg, wanted(fake_outpost)), cfg, opener=Cut)
    assert result.status == "rolled-back", result
    assert "session lost during" in result.detail and "rejected" not in result.detail
    assert consistent(host, {}, wanted(fake_outpost)) == "old"


def test_dead_proxy_command_fails_fast_without_spinning(host, tmp_path, monkeypatch):
    import select as select_module

    import paramiko.proxy

    calls = [0]
    real_select = select_module.select

    def counting(*args: object, **kwargs: object):
        calls[0] += 1
        return real_select(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(select_module, "select", counting)
    monkeypatch.setattr(paramiko.proxy, "select", counting)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host dead\n  HostName 127.0.0.1\n  ProxyCommand sh -c 'exit 3'\n")
    cfg = host.web_server_config(host="dead", port=free_port())
    server = WebServer(host.name, cfg, ssh_config=str(ssh_config), connect_timeout=60)
    with pytest.raises(RemoteError) as e:
        server.connect()
    assert "cannot connect" in e.value.message
    assert calls[0] < 50  # paramiko's own loop selects on the dead pipe until the timeout


# --- dry run (issue 16.7) --------------------------------------------------------------------


def test_dry_run_tests_a_staged_copy(host, fake_outpost):
    """The candidate goes under `nginx -t` in a copy of the whole config on the host, with
    absolute includes pointed into the copy; the live files stay as they are."""
    from aktui.deploy.push import staged_test

    cfg = host.web_server_config()
    good = plan_host(host.name, cfg, wanted(fake_outpost))
    assert staged_test(good, cfg) == ""
    broken = {**wanted(fake_outpost), FORWARD_AUTH_FILE: b"auth_request_bogus on;\n"}
    plan = plan_host(host.name, cfg, broken)
    problem = staged_test(plan, cfg)
    assert 'unknown directive "auth_request_bogus"' in problem
    assert f"{host.snippet_dir}/{FORWARD_AUTH_FILE}" in problem  # named as the live path
    assert on_disk(host) == {} and serving(host) == 200
    assert not list(Path("/tmp").glob("tmp.*/" + str(host.snippet_dir).lstrip("/")))


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_working_proxy_command_still_connects(host, fake_outpost, tmp_path):
    """The end-of-output fix must not break a live ProxyCommand (here `ssh -W` through the
    same test sshd, as a jump host would be used), and closing it must not raise in paramiko's
    transport thread."""
    jump = (
        f"ssh -q -i {host.client_key} -o UserKnownHostsFile={host.known_hosts}"
        f" -o StrictHostKeyChecking=yes -o BatchMode=yes -p {host.ssh_port}"
        f" {host.user}@127.0.0.1 -W 127.0.0.1:{host.ssh_port}"
    )
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host behind-jump\n  HostName 127.0.0.1\n  ProxyCommand {jump}\n")
    cfg = host.web_server_config(host="behind-jump")
    plan = plan_host(
        host.name,
        cfg,
        wanted(fake_outpost),
        opener=lambda n, c: WebServer(n, c, ssh_config=str(ssh_config)),
    )
    assert plan.status == "ready", plan.error
