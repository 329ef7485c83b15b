"""DockerRuntime and OutpostActions against a real private dockerd (tests/fixtures/dockerd.py).

Containers run tests/fixtures/outpost_container.py: authentik's real log lines, a refresh on
SIGUSR1, /ping on :9000 and the last-update metric on :9300.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aktui.authentik.model import ModelChange, Outpost
from aktui.config import OutpostMapping
from aktui.docker.runtime import DockerRuntime
from aktui.errors import ActionRefused, DockerUnavailable
from aktui.outposts.fixes import OutpostActions
from aktui.outposts.metrics import last_update, metric_probe
from aktui.outposts.staleness import LoadEvidence, gather, judge
from aktui.runtime import LogLine
from tests.fixtures.dockerd import Dockerd
from tests.fixtures.procs import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

UUID_HEX = "5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b"
UUID = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def outpost_port() -> int:
    """A free loopback port in 9001-9099, where published outpost ports are recognised."""
    for port in range(9001, 9100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 9001-9099")


@pytest.fixture
def runtime(dockerd: Dockerd) -> Iterator[DockerRuntime]:
    rt = DockerRuntime({"local": (dockerd.url, 10.0)})
    yield rt
    rt.close()


@pytest.fixture
def names(dockerd: Dockerd) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    dockerd.remove(*made)


def start(dockerd: Dockerd, names: list[str], stem: str, **kw: object) -> str:
    name = kw.pop("name", None) or dockerd.unique(stem)
    dockerd.run_outpost(name, **kw)  # type: ignore[arg-type]
    names.append(name)
    return name


def wait_logged(dockerd: Dockerd, name: str, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in dockerd.cli("logs", name):
        assert time.monotonic() < deadline, f"{text!r} never logged by {name}"
        time.sleep(0.05)


class Collector:
    """Consumes a stream in a thread, like the UI's worker does."""

    def __init__(self, stream: Iterator[LogLine], stop: threading.Event) -> None:
        self.lines: list[LogLine] = []
        self.stop = stop
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: Iterator[LogLine]) -> None:
        try:
            for line in stream:
                self.lines.append(line)
        except BaseException as e:
            self.error = e

    def texts(self) -> list[str]:
        return [ln.text for ln in self.lines if not ln.marker]

    def markers(self) -> list[str]:
        return [ln.marker for ln in self.lines if ln.marker]

    def wait_for(self, pred, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred(self):
            assert time.monotonic() < deadline, f"timed out; markers={self.markers()}"
            assert self.error is None, self.error
            time.sleep(0.05)

    def finish(self, timeout: float = 3.0) -> float:
        t0 = time.monotonic()
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "stream did not end after stop"
        return time.monotonic() - t0


# --- discovery ------------------------------------------------------------------------------


def test_discovery_by_each_method(dockerd: Dockerd, names: list[str]) -> None:
    port_mapped = outpost_port()
    run_id = time.time_ns() % 10**6
    by_config = start(dockerd, names, "cfg")
    by_label = start(dockerd, names, "lbl", labels={"io.goauthentik.outpost-uuid": UUID_HEX})
    by_name = start(dockerd, names, "nm", name=f"ak-outpost-my-outpost-{run_id}")
    by_service = start(
        dockerd, names, "svc", labels={"com.docker.compose.service": "outpost-domain-a"}
    )
    by_port = start(dockerd, names, "port", publish={9000: port_mapped})
    port_range = outpost_port()
    by_range = start(dockerd, names, "range", publish={9000: port_range})
    tag = f"ghcr.io/goauthentik/proxy:{run_id}-test"
    dockerd.cli("tag", "aktui-test/fake-outpost:1", tag)
    by_image = start(dockerd, names, "img", image=tag)
    unrelated = start(dockerd, names, "other", publish={9000: free_port()})
    browser = start(
        dockerd,
        names,
        "env",
        labels={"com.docker.compose.service": "outpost-single"},
        env={"AUTHENTIK_HOST_BROWSER": "https://auth.example.com", "AUTHENTIK_TOKEN": "s3cr3t"},
    )
    my_outpost = by_name.removeprefix("ak-outpost-")
    known = [(UUID, "Labelled Outpost"), ("x", my_outpost), ("y", "outpost-domain-a")]
    rt = DockerRuntime(
        {"local": dockerd.url},
        mappings={
            "configured": OutpostMapping(container=by_config),
            "by-port": OutpostMapping(port=port_mapped),
        },
        outposts=known,
    )
    rt.set_outposts([*known, ("z", "outpost-single")])  # as the app does after each snapshot
    found = {c.name: c for c in rt.containers()}
    rt.close()
    got = {n: (found[n].matched_by, found[n].outpost_name) for n in found if n in names}
    assert got == {
        by_config: ("config", "configured"),
        by_label: ("label", "Labelled Outpost"),
        by_name: ("name", my_outpost),
        by_service: ("name", "outpost-domain-a"),
        by_port: ("port", "by-port"),
        by_range: ("port", None),
        by_image: ("image", None),
        browser: ("name", "outpost-single"),
    }
    assert unrelated not in found
    info = found[browser]
    assert info.host_browser_set and not found[by_config].host_browser_set
    assert "s3cr3t" not in repr(found) and "auth.example.com" not in repr(found)
    assert found[by_port].ports == (port_mapped,)
    assert found[by_image].image == tag
    assert info.state == "running" and info.started_at is not None and info.restart_count == 0


def test_unreachable_daemon_names_the_host_and_others_still_list(
    dockerd: Dockerd, names: list[str], tmp_path
) -> None:
    name = start(dockerd, names, "alive", name=f"ak-outpost-alive-{time.time_ns() % 10**6}")
    closed = free_port()
    rt = DockerRuntime(
        {
            "live": dockerd.url,
            "gone": f"unix://{tmp_path}/missing.sock",
            "refused": (f"tcp://127.0.0.1:{closed}", 2.0),
        },
        outposts=[("x", name.removeprefix("ak-outpost-"))],
    )
    t0 = time.monotonic()
    listed = rt.containers()
    assert time.monotonic() - t0 < 5
    assert name in {c.name for c in listed}
    assert set(rt.host_errors) == {"gone", "refused"}
    gone = str(rt.host_errors["gone"])
    assert "docker host gone" in gone and "missing.sock" in gone
    assert "No such file or directory" in gone
    assert "refused" in str(rt.host_errors["refused"]).lower()
    rt.close()
    only_dead = DockerRuntime({"gone": f"unix://{tmp_path}/missing.sock"})
    with pytest.raises(DockerUnavailable, match="docker host gone"):
        only_dead.containers()


def test_tcp_loopback_daemon(dockerd: Dockerd, names: list[str]) -> None:
    assert dockerd.tcp_url
    name = start(dockerd, names, "tcp", labels={"io.goauthentik.outpost-uuid": UUID_HEX})
    wait_logged(dockerd, name, "Loaded application")  # SIGUSR1 before the handler kills python
    rt = DockerRuntime({"tcp": dockerd.tcp_url}, outposts=[(UUID, "Over TCP")])
    info = next(c for c in rt.containers() if c.name == name)
    assert (info.host, info.outpost_name) == ("tcp", "Over TCP")
    result = OutpostActions(rt, read_only=False).reload(f"tcp/{name}")
    assert result.ok, result.detail
    rt.close()


# --- actions --------------------------------------------------------------------------------


def test_reload_is_verified_by_a_new_loaded_line(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(dockerd, names, "reload", name=f"ak-outpost-reload-{time.time_ns() % 10**6}")
    wait_logged(dockerd, name, "Loaded application")
    before = next(c for c in runtime.containers() if c.name == name).started_at
    result = OutpostActions(runtime, read_only=False).reload(name)
    assert result.ok, result.detail
    assert "Loaded application" in result.detail and result.attempts == ("reload",)
    assert dockerd.cli("logs", name).count("Loaded application") == 2
    assert runtime.inspect(name).started_at == before  # not restarted: sessions kept


def test_reload_verified_by_metric_probe(dockerd: Dockerd, names: list[str]) -> None:
    metrics = free_port()
    name = start(
        dockerd,
        names,
        "metric",
        name=f"ak-outpost-metric-{time.time_ns() % 10**6}",
        publish={9300: metrics},
        env={"FAKE_APPS": ""},  # no "Loaded application" line at all: only the metric tells
    )
    wait_logged(dockerd, name, "using filesystem session backend")
    rt = DockerRuntime({"local": dockerd.url}, outposts=[("x", name.removeprefix("ak-outpost-"))])
    url = rt.metrics_url(name)
    assert url == f"http://127.0.0.1:{metrics}/metrics"
    # The "before" value must be the first load's, not an unreachable port still starting.
    deadline = time.monotonic() + 20
    while last_update(url) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert last_update(url) is not None, "metric never answered"
    actions = OutpostActions(rt, read_only=False, probes={"metric": metric_probe(rt.metrics_url)})
    result = actions.reload(name)
    assert result.ok, result.detail
    assert result.detail.startswith("metric changed")
    rt.close()


def test_restart_waits_for_http_and_is_verified(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    port = outpost_port()
    name = start(dockerd, names, "restart", publish={9000: port}, env={"FAKE_START_DELAY": "0.3"})
    wait_logged(dockerd, name, "Loaded application")
    before = next(c for c in runtime.containers() if c.name == name)
    result = OutpostActions(runtime, read_only=False).restart(name)
    assert result.ok, result.detail
    after = runtime.inspect(name)
    assert after.started_at and before.started_at and after.started_at > before.started_at
    # restart() returned only once :9000 answered, although the fake opens it 0.3 s late
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /outpost.goauthentik.io/ping HTTP/1.0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 204")


def test_failed_refresh_is_reported_and_not_escalated(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(
        dockerd, names, "failing", name=f"ak-outpost-failing-{time.time_ns() % 10**6}",
        env={"FAKE_FAIL_FETCH": "1"},
    )  # fmt: skip
    wait_logged(dockerd, name, "Failed to fetch outpost configuration")
    started = runtime.inspect(name).started_at
    result = OutpostActions(runtime, read_only=False, verify_timeout=5).fix(name)
    assert not result.ok
    assert result.detail.startswith("refresh failed") and "403 Forbidden" in result.detail
    assert result.attempts == ("reload",)
    assert runtime.inspect(name).started_at == started


def test_fix_escalates_to_restart_when_reload_shows_nothing(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(
        dockerd, names, "deaf", name=f"ak-outpost-deaf-{time.time_ns() % 10**6}",
        env={"FAKE_IGNORE_USR1": "1"},
    )  # fmt: skip
    wait_logged(dockerd, name, "Loaded application")
    result = OutpostActions(runtime, read_only=False, verify_timeout=1.5).fix(name)
    assert result.ok, result.detail
    assert result.attempts == ("reload", "restart")
    assert result.action == "restart"
    assert "reload did not load" in result.detail


def test_fix_restarts_a_stopped_container_and_fix_all_reports_each(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    a = start(dockerd, names, "a", name=f"ak-outpost-fa-{time.time_ns() % 10**6}")
    b = start(dockerd, names, "b", name=f"ak-outpost-fb-{time.time_ns() % 10**6}")
    dockerd.cli("stop", "-t", "1", b)
    results = OutpostActions(runtime, read_only=False).fix_all([a, b, "ak-outpost-nonexistent"])
    assert [r.target for r in results] == [a, b, "ak-outpost-nonexistent"]
    assert results[0].ok and results[0].action == "reload"
    assert results[1].ok and results[1].action == "restart"
    assert results[1].detail.startswith("container exited")
    assert not results[2].ok and "no outpost container" in results[2].detail


def test_read_only_refuses_every_action(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(dockerd, names, "ro", name=f"ak-outpost-ro-{time.time_ns() % 10**6}")
    wait_logged(dockerd, name, "Loaded application")
    actions = OutpostActions(runtime, read_only=True)
    for call in (actions.reload, actions.restart, actions.fix, lambda n: actions.fix_all([n])):
        with pytest.raises(ActionRefused, match="read-only"):
            call(name)
    assert dockerd.cli("logs", name).count("Loaded application") == 1


# --- log streams ----------------------------------------------------------------------------


def ticks(texts: list[str]) -> list[list[int]]:
    """The fake's numbered tick lines, grouped per process (instance) in stream order."""
    runs: dict[str, list[int]] = {}
    for text in texts:
        if '"tick"' in text:
            record = json.loads(text)
            runs.setdefault(record["instance"], []).append(record["seq"])
    return list(runs.values())


def test_logs_reattach_across_restarts_without_loss_or_duplicates(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(
        dockerd, names, "ticks", name=f"ak-outpost-ticks-{time.time_ns() % 10**6}",
        env={"FAKE_TICK_MS": "10"},
    )  # fmt: skip
    wait_logged(dockerd, name, '"seq":5,')
    stop = threading.Event()
    got = Collector(runtime.stream_logs(name, since=None, tail=-1, stop=stop), stop)
    got.wait_for(lambda c: any('"seq":20,' in t for t in c.texts()))
    runtime.restart(name)
    got.wait_for(lambda c: "reattached" in c.markers() and len(ticks(c.texts())) == 2)
    dockerd.cli("restart", "-t", "1", name)  # a restart aktui did not make
    got.wait_for(lambda c: c.markers().count("reattached") == 2)
    got.wait_for(lambda c: len(ticks(c.texts())) == 3 and max(ticks(c.texts())[-1]) >= 30)
    got.finish()
    full = dockerd.cli("logs", name).splitlines()
    seen = got.texts()
    assert seen == full[: len(seen)]  # the same lines, in order, none twice, none missing
    assert len(seen) > 40
    runs = ticks(seen)
    assert len(runs) == 3  # three processes, each seen from its first tick on, none skipped
    assert all(seq == list(range(seq[0], seq[0] + len(seq))) for seq in runs)
    assert runs[1][0] == runs[2][0] == 1
    assert got.markers()[0] == "interrupted"


def test_logs_tail_since_and_stop_is_prompt(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(dockerd, names, "tail", name=f"ak-outpost-tail-{time.time_ns() % 10**6}")
    wait_logged(dockerd, name, "Loaded application")
    stop = threading.Event()
    got = Collector(runtime.stream_logs(name, since=None, tail=2, stop=stop), stop)
    got.wait_for(lambda c: len(c.lines) == 2)
    assert "Loaded application" in got.lines[-1].text
    assert got.lines[-1].at is not None
    assert got.finish() < 1.0  # a quiet stream still ends promptly
    stop2 = threading.Event()
    later = time.time() + 3600
    future = Collector(runtime.stream_logs(name, since=later, tail=-1, stop=stop2), stop2)
    time.sleep(0.3)
    assert future.lines == []
    future.finish()


def test_container_removed_while_streaming(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(dockerd, names, "rm", name=f"ak-outpost-rm-{time.time_ns() % 10**6}")
    wait_logged(dockerd, name, "Loaded application")
    stop = threading.Event()
    got = Collector(runtime.stream_logs(name, since=None, tail=-1, stop=stop), stop)
    got.wait_for(lambda c: len(c.texts()) >= 5)
    dockerd.cli("rm", "-f", name)
    got.thread.join(10)
    assert not got.thread.is_alive(), "stream kept running after the container was removed"
    assert got.error is None
    assert got.markers()[-1] == "removed"
    assert "was removed" in got.lines[-1].text


class _CuttableProxy:
    """A TCP forwarder to the daemon's tcp:// port that the test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.server: socket.socket | None = None
        self.open()

    def open(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self.server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self.server:
            with suppress(OSError):  # wakes the thread blocked in accept(); close() would not
                self.server.shutdown(socket.SHUT_RDWR)
            self.server.close()
            self.server = None
        for s in self.conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.conns.clear()


def test_logs_survive_a_dropped_daemon_connection(dockerd: Dockerd, names: list[str]) -> None:
    assert dockerd.tcp_port
    name = start(
        dockerd, names, "drop", name=f"ak-outpost-drop-{time.time_ns() % 10**6}",
        env={"FAKE_TICK_MS": "20"},
    )  # fmt: skip
    proxy = _CuttableProxy(dockerd.tcp_port)
    rt = DockerRuntime(
        {"flaky": (f"tcp://127.0.0.1:{proxy.port}", 2.0)},
        outposts=[("x", name.removeprefix("ak-outpost-"))],
    )
    stop = threading.Event()
    got = Collector(rt.stream_logs(name, since=None, tail=-1, stop=stop), stop)
    try:
        got.wait_for(lambda c: any('"seq":10,' in t for t in c.texts()))
        proxy.cut()
        got.wait_for(lambda c: "interrupted" in c.markers())
        time.sleep(0.5)  # lines keep coming meanwhile; they must not be lost
        proxy.open()
        got.wait_for(lambda c: "reattached" in c.markers())
        got.wait_for(lambda c: any('"seq":60,' in t for t in c.texts()))
    finally:
        got.finish()
        proxy.cut()
        rt.close()
    full = dockerd.cli("logs", name).splitlines()
    seen = got.texts()
    assert seen == full[: len(seen)]
    interrupted = next(ln.text for ln in got.lines if ln.marker == "interrupted")
    assert "docker host flaky" in interrupted


# --- ssh:// -----------------------------------------------------------------------------------


@pytest.fixture
def ssh_docker(
    dockerd: Dockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path, str]]:
    """A private sshd on loopback whose sessions reach the private daemon; HOME points at a
    temp dir holding the client key and known_hosts, as paramiko reads them from ~/.ssh."""
    sshd, keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    if not Path(sshd).exists() or not keygen:
        pytest.skip("openssh-server not installed")
    root = tmp_path / "sshd"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    root.mkdir()
    for key in (root / "host_key", home / ".ssh" / "id_ed25519"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (root / "authorized_keys").write_text((home / ".ssh" / "id_ed25519.pub").read_text())
    port = free_port()
    (root / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        "UsePAM no\nStrictModes no\nPasswordAuthentication no\nPermitRootLogin yes\n"
        f"SetEnv DOCKER_HOST={dockerd.url}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(root / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=(root / "sshd.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (
                root / "sshd.log"
            ).read_text()
            time.sleep(0.05)
        host_pub = (root / "host_key.pub").read_text().split()
        known = home / ".ssh" / "known_hosts"
        monkeypatch.setenv("HOME", str(home))
        user = os.environ.get("USER") or "root"
        line = f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n"
        yield f"ssh://{user}@127.0.0.1:{port}", known, line
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def test_ssh_docker_host_refuses_unknown_host_key_then_works(
    dockerd: Dockerd, names: list[str], ssh_docker
) -> None:
    url, known_hosts, host_line = ssh_docker
    name = start(dockerd, names, "ssh", name=f"ak-outpost-ssh-{time.time_ns() % 10**6}")
    wait_logged(dockerd, name, "Loaded application")
    outposts = [("x", name.removeprefix("ak-outpost-"))]
    stranger = DockerRuntime({"remote": (url, 5.0)}, outposts=outposts)
    with pytest.raises(DockerUnavailable, match="host key not in known_hosts") as refused:
        stranger.containers()
    assert "ssh-keyscan" not in refused.value.hint and "SHA256:" in refused.value.hint
    known_hosts.write_text(host_line)
    rt = DockerRuntime({"remote": (url, 5.0)}, outposts=outposts)
    try:
        info = next(c for c in rt.containers() if c.name == name)
        assert info.host == "remote" and info.state == "running"
        result = OutpostActions(rt, read_only=False).reload(name)
        assert result.ok, result.detail
        stop = threading.Event()
        got = Collector(rt.stream_logs(name, since=None, tail=-1, stop=stop), stop)
        got.wait_for(lambda c: sum("Loaded application" in t for t in c.texts()) == 2)
        assert got.finish() < 2.0
    finally:
        rt.close()


# --- staleness evidence from a real container -------------------------------------------------


def test_staleness_from_real_container_evidence_before_and_after_reload(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    metrics = free_port()
    name = start(
        dockerd, names, "stale", name=f"ak-outpost-stale-{time.time_ns() % 10**6}",
        publish={9300: metrics}, env={"FAKE_APPS": "blog=blog.example.org"},
    )  # fmt: skip
    wait_logged(dockerd, name, "Loaded application")
    outpost = Outpost("op-1", name, "proxy", (3,))  # health unknown: no instances read
    time.sleep(1.1)  # log and metric stamps have sub-second precision; keep them apart

    def evidence() -> LoadEvidence:
        stop = threading.Event()
        got = Collector(runtime.stream_logs(name, since=None, tail=-1, stop=stop), stop)
        got.wait_for(lambda c: len(c.texts()) >= 5)
        time.sleep(0.3)
        got.finish()
        info = runtime.inspect(name)
        return gather(info, got.lines, last_update(runtime.metrics_url(name)))

    change = ModelChange("proxyprovider", "3", "blog-forward-auth", datetime.now(UTC))
    later = change.at + timedelta(seconds=60)
    before = judge(outpost, [change], evidence(), now=later)
    assert before.is_stale and before.confidence == "high", before.reason
    assert before.reason.startswith("provider blog-forward-auth changed")
    assert OutpostActions(runtime, read_only=False).reload(name).ok
    after = judge(outpost, [change], evidence(), now=later)
    assert after.stale == "no" and after.load_source in ("metric", "log"), after.reason


def test_log_driver_without_reading_ends_the_stream_with_a_reason(
    dockerd: Dockerd, names: list[str], runtime: DockerRuntime
) -> None:
    name = start(
        dockerd, names, "nolog", name=f"ak-outpost-nolog-{time.time_ns() % 10**6}",
        extra=("--log-driver", "none"),
    )  # fmt: skip
    stop = threading.Event()
    got = Collector(runtime.stream_logs(name, since=None, tail=10, stop=stop), stop)
    got.thread.join(5)
    assert not got.thread.is_alive() and got.error is None
    assert got.markers() == ["removed"]
    assert "does not support reading" in got.lines[-1].text
