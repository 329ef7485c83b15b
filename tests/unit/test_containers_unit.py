"""DockerRuntime's pure parts, error wording and the verified actions, without a daemon."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests
import urllib3.exceptions

from aktui.config import Config, ContextConfig, DockerHostConfig, LogsConfig, OutpostMapping
from aktui.docker import runtime as containers
from aktui.docker.discovery import KnownOutposts, classify, info_from_inspect, slugify
from aktui.docker.host import DockerHost
from aktui.docker.logs import (
    ContainerNotFound,
    LogCursor,
    parse_docker_time,
    parse_timestamp_ns,
    split_stamp,
)
from aktui.docker.runtime import DockerRuntime
from aktui.errors import ActionRefused, AktuiError, DockerUnavailable
from aktui.outposts import evidence as outpost_evidence
from aktui.outposts.fixes import OutpostActions
from aktui.outposts.metrics import parse_last_update
from aktui.runtime import ContainerInfo, LogLine

KNOWN = KnownOutposts.build(
    [("5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "My Outpost"), ("x", "outpost-single")]
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My Outpost", "my-outpost"),
        ("outpost-single", "outpost-single"),
        ("Ünï  Cödé!", "uni-code"),
    ],
)
def test_slugify_like_django(name: str, slug: str) -> None:
    assert slugify(name) == slug


CLASSIFY = [
    # name, labels, image, ports, mappings, expected
    ("custom", {}, "x", [], {"cfg": OutpostMapping(container="custom")}, ("config", "cfg")),
    (
        "whatever",
        {"io.goauthentik.outpost-uuid": "5f0c1a2b3c4d4e5f8a9b0c1d2e3f4a5b"},
        "x",
        [],
        {},
        ("label", "My Outpost"),
    ),
    ("ak-outpost-xyz", {"io.goauthentik.outpost-uuid": "ffff"}, "x", [], {}, ("label", None)),
    ("ak-outpost-my-outpost", {}, "x", [], {}, ("name", "My Outpost")),
    ("outpost-single", {}, "x", [], {}, ("name", "outpost-single")),
    (
        "proj-a-1",
        {"com.docker.compose.service": "outpost-single"},
        "x",
        [],
        {},
        ("name", "outpost-single"),
    ),
    ("p", {}, "x", [(9000, 9005)], {"mapped": OutpostMapping(port=9005)}, ("port", "mapped")),
    ("p", {}, "x", [(9000, 9002)], {}, ("port", None)),
    ("p", {}, "ghcr.io/goauthentik/proxy:2024.2.2", [], {}, ("image", None)),
    ("p", {}, "ghcr.io/goauthentik/proxy@sha256:abc", [], {}, ("image", None)),
    ("ak-outpost-unknown", {}, "x", [], {}, ("image", None)),
    # the authentik server publishes 9000:9000; a random app publishes 8080
    ("server", {}, "ghcr.io/goauthentik/server:2024.2.2", [(9000, 9000)], {}, None),
    ("web", {}, "nginx", [(80, 8080), (9001, 9001)], {}, None),
    # a mapping for another docker host does not claim this container
    ("custom", {}, "x", [], {"cfg": OutpostMapping(container="custom", docker_host="b")}, None),
]


@pytest.mark.parametrize(("name", "labels", "image", "ports", "mappings", "expected"), CLASSIFY)
def test_classify(name, labels, image, ports, mappings, expected) -> None:
    got = classify(name, labels, image, ports, host="a", mappings=mappings, known=KNOWN)
    assert got == expected


def _attrs(**over: Any) -> dict[str, Any]:
    attrs = {
        "Id": "abc123" * 10,
        "Name": "/ak-outpost-my-outpost",
        "RestartCount": 2,
        "State": {
            "Status": "running",
            "Running": True,
            "StartedAt": "2026-03-29T08:40:20.123456789Z",
            "Health": {"Status": "healthy"},
        },
        "Config": {
            "Image": "ghcr.io/goauthentik/proxy:2024.2.2",
            "Env": ["AUTHENTIK_TOKEN=sup3rs3cret", "AUTHENTIK_HOST_BROWSER=https://auth.example"],
        },
        "NetworkSettings": {"Ports": {"9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9001"}]}},
        "HostConfig": {"PortBindings": {"9000/tcp": [{"HostPort": "9001"}]}},
    }
    attrs.update(over)
    return attrs


def test_info_from_inspect_keeps_no_env_values() -> None:
    info = info_from_inspect("h", _attrs(), "name", "My Outpost")
    assert info.name == "ak-outpost-my-outpost" and info.host == "h"
    assert info.started_at == datetime(2026, 3, 29, 8, 40, 20, 123456, tzinfo=UTC)
    assert (info.restart_count, info.ports, info.health) == (2, (9001,), "healthy")
    assert info.image == "ghcr.io/goauthentik/proxy:2024.2.2"
    assert info.host_browser_set
    assert "sup3rs3cret" not in repr(info) and "auth.example" not in repr(info)


def test_info_from_inspect_stopped_container() -> None:
    attrs = _attrs(
        State={"Status": "exited", "Running": False, "StartedAt": "0001-01-01T00:00:00Z"},
        Config={"Image": "i", "Env": ["AUTHENTIK_HOST_BROWSER="]},
        NetworkSettings={"Ports": {}},
    )
    info = info_from_inspect("h", attrs, "port", None)
    assert info.started_at is None and info.health is None
    assert info.ports == (9001,)  # from the configured bindings
    assert not info.host_browser_set  # set but empty is as good as unset


def test_docker_timestamps() -> None:
    assert parse_timestamp_ns("2026-03-29T08:40:20.123456789Z") == 1774773620123456789
    assert parse_timestamp_ns("2026-03-29T08:40:20.1Z") == 1774773620100000000
    assert parse_timestamp_ns("2026-03-29T10:40:20+02:00") == 1774773620000000000
    assert parse_timestamp_ns("garbage") is None
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert split_stamp('2026-03-29T08:40:20.5Z {"a":1} x') == (1774773620500000000, '{"a":1} x')
    assert split_stamp("no stamp here") == (None, "no stamp here")


def test_log_cursor_replays_nothing_twice_and_loses_nothing() -> None:
    cur = LogCursor()
    assert cur.since() is None
    for ns, text in [(100_000, "a"), (200_000, "b"), (200_000, "c")]:
        assert cur.accept(ns, text)
    since = cur.since()
    assert since is not None and since * 1e9 < 200_000
    cur.rewind()  # re-attached from `since`: docker sends b, c again, then new lines
    assert not cur.accept(100_000, "a")
    assert not cur.accept(200_000, "b")
    assert not cur.accept(200_000, "c")
    assert cur.accept(200_000, "d")  # same stamp, never shown: new
    assert cur.accept(300_000, "e")
    assert cur.accept(250_000, "late stderr")  # live (not replaying): out-of-order kept
    cur.rewind()
    assert not cur.accept(300_000, "e")
    assert cur.accept(300_000, "e")  # a second identical line at the same stamp is new


def _error(exc: BaseException, url: str = "unix:///run/x.sock") -> DockerUnavailable:
    return DockerHost("lab", url, 3.0).error("list containers", exc)


def test_error_wording_names_host_and_cause() -> None:
    missing = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError(
            "Connection aborted.", FileNotFoundError(2, "No such file or directory")
        )
    )
    e = _error(missing)
    assert (
        e.message
        == "docker host lab (unix:///run/x.sock): list containers: No such file or directory"
    )
    assert "dockerd running" in e.hint
    e = _error(requests.exceptions.ReadTimeout("read timed out"), "tcp://10.0.0.5:2375")
    assert "no answer within 3s" in e.message
    e = _error(ConnectionRefusedError(111, "Connection refused"), "tcp://10.0.0.5:2375")
    assert e.message.endswith("Connection refused") and e.hint
    resp = requests.Response()
    resp.status_code = 404
    e = _error(docker.errors.NotFound("404", response=resp, explanation="No such container: x"))
    assert isinstance(e, ContainerNotFound) and e.message.endswith("No such container: x")
    import paramiko

    e = _error(paramiko.SSHException("Server '[h]:22' not found in known_hosts"), "ssh://u@h")
    assert "host key not in known_hosts" in e.message and "ssh-keyscan" not in e.hint


def _config(**over: Any) -> Config:
    base: dict[str, Any] = {
        "contexts": {"main": ContextConfig(url="https://ak")},
        "logs": LogsConfig(),
    }
    base.update(over)
    return Config(**base)


def test_from_config_none_without_any_docker(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(containers, "LOCAL_SOCKET", tmp_path / "absent.sock")
    assert DockerRuntime.from_config(_config(), "main") is None


def test_from_config_uses_docker_host_env_and_local_socket(monkeypatch, tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    sock.touch()
    monkeypatch.setattr(containers, "LOCAL_SOCKET", sock)
    rt = DockerRuntime.from_config(_config(), "main")
    assert rt is not None and {h.url for h in rt.hosts.values()} == {f"unix://{sock}"}
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    rt = DockerRuntime.from_config(_config(), "main")
    assert rt is not None and [h.url for h in rt.hosts.values()] == ["tcp://10.1.2.3:2375"]


def test_from_config_hosts_of_the_context(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(containers, "LOCAL_SOCKET", tmp_path / "absent.sock")
    config = _config(
        contexts={
            "main": ContextConfig(url="https://ak", docker_hosts=["a"]),
            "other": ContextConfig(url="https://ak2", docker_hosts=["b"]),
        },
        docker_hosts={
            "a": DockerHostConfig(url="ssh://ops@a.example", timeout=4.0),
            "b": DockerHostConfig(url="tcp://b:2375"),
            "c": DockerHostConfig(url="unix:///c.sock"),
        },
        outposts={
            "on-a": OutpostMapping(container="x", docker_host="a"),
            "on-b": OutpostMapping(container="y", docker_host="b"),
        },
    )
    rt = DockerRuntime.from_config(config, "main")
    assert rt is not None
    assert {k: (h.url, h.timeout) for k, h in rt.hosts.items()} == {
        "a": ("ssh://ops@a.example", 4.0)
    }
    assert set(rt.mappings) == {"on-a"}
    third = DockerRuntime.from_config(config, "other")
    assert third is not None and set(third.hosts) == {"b"}


class _FakeAPI:
    """Just enough of docker's low-level API for discovery."""

    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self._containers = {c["Id"]: c for c in containers}

    def containers(self, all: bool = False) -> list[dict[str, Any]]:
        return [
            {
                "Id": c["Id"],
                "Names": [c["Name"]],
                "Image": c["Config"]["Image"],
                "Labels": c.get("Labels", {}),
                "State": c["State"]["Status"],
                "Ports": [
                    {"PrivatePort": 9000, "PublicPort": int(b["HostPort"]), "Type": "tcp"}
                    for b in (c["NetworkSettings"]["Ports"] or {}).get("9000/tcp") or ()
                ],
            }
            for c in self._containers.values()
        ]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return self._containers[cid]


def _runtime_with(hosts: dict[str, list[dict[str, Any]]]) -> DockerRuntime:
    rt = DockerRuntime({h: f"unix:///{h}.sock" for h in hosts}, outposts=[("x", "My Outpost")])
    for label, found in hosts.items():
        client = type("C", (), {"api": _FakeAPI(found)})()
        rt.hosts[label]._client = client  # type: ignore[assignment]
    return rt


def test_find_by_outpost_name_and_ambiguity_across_hosts() -> None:
    one = _attrs()
    rt = _runtime_with({"a": [one], "b": [_attrs(Id="def456" * 10)]})
    assert len(rt.containers()) == 2
    with pytest.raises(ActionRefused, match="ambiguous"):
        rt.find("My Outpost")
    host, info = rt.find("b/ak-outpost-my-outpost")
    assert (host.label, info.id) == ("b", "def456" * 10)
    assert rt.find("a/abc123abc1")[1].host == "a"
    with pytest.raises(ContainerNotFound):
        rt.find("nope")


def test_one_dead_host_does_not_hide_the_others(tmp_path: Path) -> None:
    rt = _runtime_with({"a": [_attrs()]})
    rt.hosts["dead"] = DockerHost("dead", f"unix://{tmp_path}/none.sock", 1.0)
    assert [c.host for c in rt.containers()] == ["a"]
    assert "docker host dead" in str(rt.host_errors["dead"])


def test_parse_last_update_metric() -> None:
    text = (
        "# HELP authentik_outpost_last_update ...\n"
        'authentik_outpost_last_update{outpost_name="a",outpost_type="proxy",uuid="u",'
        'version="v",build=""} 1774773620.5\n'
        'authentik_outpost_last_update{outpost_name="b",outpost_type="proxy",uuid="u",'
        'version="v",build=""} 1774773700\n'
        'authentik_outpost_connection{outpost_name="a"} 1\n'
    )
    assert parse_last_update(text, "a") == datetime(2026, 3, 29, 8, 40, 20, 500000, tzinfo=UTC)
    assert parse_last_update(text) == datetime.fromtimestamp(1774773700, UTC)
    assert parse_last_update("authentik_outpost_last_update 0\n") is None
    assert parse_last_update("") is None


# --- verified actions against a scripted runtime ---------------------------------------------


LOADED = '{"event":"Loaded application","name":"app"}'


class FakeRuntime:
    """An OutpostRuntime whose outposts log what the test scripts, when signalled."""

    def __init__(self, on_reload: str = LOADED, on_restart: str = LOADED) -> None:
        self.on_reload = on_reload
        self.on_restart = on_restart
        self.calls: list[tuple[str, str]] = []
        self.health: dict[str, tuple[str, str | None]] = {}
        self.streams: dict[str, list[queue.Queue[str]]] = {}
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def containers(self) -> list[ContainerInfo]:
        return [
            ContainerInfo("lab", n, n, n, state, None, health=health)
            for n, (state, health) in self.health.items()
        ]

    def _emit(self, name: str, text: str) -> None:
        if text:
            for q in self.streams.get(name, []):
                q.put(text)

    def _act(self, name: str, kind: str, text: str) -> None:
        with self._lock:
            self.calls.append((kind, name))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.05)
        with self._lock:
            self.active -= 1
        if name == "broken":
            raise DockerUnavailable(f"docker host lab: {kind} {name}: boom")
        self._emit(name, text)

    def reload(self, name: str) -> None:
        self._act(name, "reload", self.on_reload)

    def restart(self, name: str, timeout: float = 30.0) -> None:
        self._act(name, "restart", self.on_restart)

    def stream_logs(
        self, name: str, *, since: float | None, tail: int, stop: threading.Event
    ) -> Iterator[LogLine]:
        q: queue.Queue[str] = queue.Queue()
        self.streams.setdefault(name, []).append(q)
        # the newest line already in the log, which must never count as evidence
        yield LogLine(name, datetime.now(UTC), '{"event":"Loaded application","name":"old"}')
        while not stop.is_set():
            try:
                text = q.get(timeout=0.02)
            except queue.Empty:
                continue
            yield LogLine(name, datetime.now(UTC), text)


def test_actions_refused_in_read_only_mode() -> None:
    rt = FakeRuntime()
    actions = OutpostActions(rt, read_only=True)
    for call in (actions.reload, actions.restart, actions.fix):
        with pytest.raises(ActionRefused, match="read-only"):
            call("op")
    with pytest.raises(ActionRefused, match="read-only"):
        actions.fix_all(["op"])
    assert rt.calls == []


def test_reload_verified_only_by_a_line_after_the_action() -> None:
    ok = OutpostActions(FakeRuntime(), read_only=False, verify_timeout=1).reload("op")
    assert ok.ok and ok.action == "reload" and "Loaded application" in ok.detail
    silent = OutpostActions(FakeRuntime(on_reload=""), read_only=False, verify_timeout=0.3)
    result = silent.reload("op")
    assert not result.ok
    assert result.detail == (
        "no fresh load seen (no 'Loaded application' line within 0.3s after the reload)"
    )


def test_fix_escalates_silent_reload_but_not_failed_refresh() -> None:
    rt = FakeRuntime(on_reload="")
    result = OutpostActions(rt, read_only=False, verify_timeout=0.3).fix("op")
    assert result.ok and result.attempts == ("reload", "restart")
    assert rt.calls == [("reload", "op"), ("restart", "op")]
    failing = FakeRuntime(
        on_reload='{"error":"403 Forbidden","event":"Failed to fetch outpost configuration"}'
    )
    result = OutpostActions(failing, read_only=False, verify_timeout=1).fix("op")
    assert not result.ok and "403 Forbidden" in result.detail
    assert failing.calls == [("reload", "op")]


def test_fix_restarts_unhealthy_directly() -> None:
    rt = FakeRuntime()
    rt.health["op"] = ("running", "unhealthy")
    result = OutpostActions(rt, read_only=False, verify_timeout=1).fix("op")
    assert result.ok and result.action == "restart"
    assert result.detail.startswith("container unhealthy")
    assert rt.calls == [("restart", "op")]


def test_probe_change_is_evidence() -> None:
    values = iter([1.0, 1.0, 2.0, 2.0, 2.0])
    rt = FakeRuntime(on_reload="")
    actions = OutpostActions(
        rt, read_only=False, verify_timeout=2, probes={"metric": lambda name: next(values)}
    )
    result = actions.reload("op")
    assert result.ok and result.detail == "metric changed (1.0 -> 2.0)"


def test_fix_all_bounded_concurrency_and_a_result_each() -> None:
    rt = FakeRuntime()
    actions = OutpostActions(rt, read_only=False, verify_timeout=1, max_concurrency=2)
    names = ["o1", "o2", "broken", "o3", "o4", "o1"]
    results = actions.fix_all(names)
    assert [r.target for r in results] == ["o1", "o2", "broken", "o3", "o4"]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert "boom" in results[2].detail
    assert rt.max_active <= 2
    with pytest.raises(ActionRefused, match="no stale outpost"):
        actions.fix_all([])


def test_action_errors_are_aktui_errors() -> None:
    assert issubclass(ContainerNotFound, AktuiError)


# --- evidence collection and the doctor check ------------------------------------------------


def test_read_recent_returns_the_backlog_then_closes() -> None:
    rt = FakeRuntime()
    lines = outpost_evidence.read_recent(rt, "op", tail=5, quiet=0.1)
    assert [ln.text for ln in lines] == ['{"event":"Loaded application","name":"old"}']
    evidence = outpost_evidence.collect_evidence(
        rt, ContainerInfo("lab", "op", "op", "op", "running", datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert evidence.last_loaded_log is not None
    assert evidence.container_started == datetime(2026, 1, 1, tzinfo=UTC)


async def test_doctor_check_reports_stale_and_fresh_outposts() -> None:
    from datetime import timedelta

    from aktui.authentik.model import ModelChange, Outpost, OutpostInstance, Snapshot
    from aktui.doctor.staleness import doctor_checks

    now = datetime.now(UTC)
    inst = OutpostInstance("u", now, "v", "v")
    stale = Outpost("pk-1", "stale-one", "proxy", (3,), instances=(inst,))
    fresh = Outpost("pk-2", "fresh-one", "proxy", (4,), instances=(inst,))
    nobody = Outpost("pk-3", "no-container", "proxy", (5,))
    future = now + timedelta(hours=1)  # changed after the fake's "Loaded application" line
    changes = (
        ModelChange("proxyprovider", "3", "blog-forward-auth", future),
        ModelChange("proxyprovider", "4", "old-change", now - timedelta(hours=1)),
    )
    snap = Snapshot(
        future + timedelta(minutes=1), "http://ak", "v", (stale, fresh, nobody), (), (), (), changes
    )
    rt = FakeRuntime()
    backend = type("B", (), {"runtime": rt})()
    boxes = [ContainerInfo("lab", n, n, n, "running", now) for n in ("stale-one", "fresh-one")]
    results = await doctor_checks(backend, snap, boxes)
    by_subject = {r.subject: r for r in results}
    assert set(by_subject) == {"outpost:pk-1", "outpost:pk-2"}
    bad = by_subject["outpost:pk-1"]
    assert (bad.check, bad.status, bad.action) == ("outpost-stale", "error", "reload")
    assert "provider blog-forward-auth changed" in bad.evidence and "USR1" in bad.fix
    assert by_subject["outpost:pk-2"].status == "ok"
    none = await doctor_checks(backend, snap, [])
    assert [r.status for r in none] == ["skipped"]


def test_live_stream_caps_an_endless_line_and_keeps_its_head() -> None:
    # A container writing without line breaks used to grow one buffer without end (split
    # again on every frame): the line now keeps LINE_CAP bytes of its head, marked cut.
    import contextlib
    import threading

    from aktui.docker import logs as containerlogs

    stamp = b"2026-03-29T08:40:20.000000001Z "
    frames = [stamp + b"x" * 5000] + [b"y" * 5000] * 200 + [b"\n", stamp, b"ok\n", b"tail"]

    class Api:
        def _url(self, path: str, cid: str) -> str:
            return path.format(cid)

        def _get(self, url: str, params: dict, stream: bool) -> Any:
            return self

        def _raise_for_status(self, res: Any) -> None:
            pass

        def _get_raw_response_socket(self, res: Any) -> None:
            return None

        def _stream_helper(self, res: Any) -> Any:
            return iter(frames)

        def close(self) -> None:
            pass

    class Host:
        def errors(self, what: str) -> Any:
            return contextlib.nullcontext()

        def client(self) -> Any:
            return type("Client", (), {"api": Api()})()

    lines = list(
        containerlogs._follow_once(
            Host(),  # type: ignore[arg-type]
            "cid",
            "outpost",
            containerlogs.LogCursor(),
            threading.Event(),
            started="",
            tty=True,
            idle_check=60,
        )
    )
    cap = containerlogs.LINE_CAP
    head = (b"x" * 5000 + b"y" * 200 * 5000)[: cap - len(stamp)].decode()
    assert [line.text for line in lines] == [
        head + f"…[line cut: {5000 + 200 * 5000 - len(head)} more bytes]",
        "ok",
        "tail",
    ]
