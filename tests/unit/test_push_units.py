"""Pure parts of the push (issue 16): lock owners and staleness, batches with max_fail, the
reload probe, nginx -T dumps, the audit log, and an outpost whose name is no file name."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aktui.authentik.model import Outpost, ProxyProvider, Snapshot
from aktui.config import Config, OutpostMapping, WebServerConfig
from aktui.deploy.push import (
    HostPlan,
    HostResult,
    LockOwner,
    _batches,
    _Probe,
    apply_hosts,
    audit,
    dump_files,
)
from aktui.deploy.snippets import build_snippets


def test_outpost_name_that_is_no_file_name_skips_only_that_outpost():
    snap = Snapshot(
        datetime(2026, 1, 1, tzinfo=UTC),
        "https://auth.example.com",
        "2026.2.0",
        (
            Outpost("s", "outpost-single", "proxy", (1,)),
            Outpost("e", "Outpost (EU)", "proxy", (2,)),
        ),
        (
            ProxyProvider(1, "app", "forward_single", "https://app.example.com"),
            ProxyProvider(2, "eu", "forward_single", "https://eu.example.com"),
        ),
        (),
        (),
    )
    mapping = {
        "outpost-single": OutpostMapping(address="10.0.0.1", port=9000),
        "Outpost (EU)": OutpostMapping(address="10.0.0.2", port=9000),
    }
    built = build_snippets(snap, Config(outposts=mapping))
    assert "authentik-outpost-single.conf" in built.files
    assert [name for name, _ in built.skipped] == ["Outpost (EU)"]
    assert "cannot be used in a file name" in built.skipped[0][1]


def test_lock_owner_parse_and_staleness():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    old = LockOwner.parse(b"ops@laptop pid 42 since 2026-01-01T10:00:00+00:00\ntoken=abc\n")
    assert (old.user, old.host, old.pid, old.token) == ("ops", "laptop", 42, "abc")
    assert old.stale(now) == "held for 120 min"
    assert old.stale(now - timedelta(hours=1, minutes=30)) == ""
    # The first line as written before issue 16 (no token) still parses.
    legacy = LockOwner.parse(b"ops@laptop pid 42 since 2026-01-01T11:59:00+00:00\n")
    assert legacy.pid == 42 and legacy.token == "" and legacy.stale(now) == ""
    garbage = LockOwner.parse(b"\xff\xfe nonsense")
    assert garbage.pid == 0 and garbage.stale(now) == ""
    assert LockOwner.parse(None).text == "unknown owner"

    here = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = LockOwner.parse(f"me@{here} pid {gone.pid} since {now.isoformat()}\n".encode())
    assert dead.stale(now) == f"pid {gone.pid} is not running on this machine"
    alive = LockOwner.parse(f"me@{here} pid {os.getpid()} since {now.isoformat()}\n".encode())
    assert alive.stale(now) == ""


def test_batches():
    items = list(range(7))
    assert _batches(items, ()) == [items]
    assert _batches(items, (1, 0)) == [[0], [1, 2, 3, 4, 5, 6]]
    assert _batches(items, (3,)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _batches(items, (1, 2)) == [[0], [1, 2], [3, 4], [5, 6]]
    assert _batches([], (1, 0)) == []


def test_max_fail_skips_later_batches(monkeypatch):
    import aktui.deploy.push as push

    calls = []

    def fake_apply(plan, cfg, **kw):
        calls.append(plan.name)
        status = "rolled-back" if plan.name == "a" else "pushed"
        return HostResult(plan.name, plan.target, status)

    monkeypatch.setattr(push, "apply_host", fake_apply)
    plans = [HostPlan(n, n, pending="x") for n in "abc"]
    plans.insert(1, HostPlan("down", "down", error="cannot connect", status="unreachable"))
    servers = {p.name: WebServerConfig(host=p.name) for p in plans}
    results = apply_hosts(plans, servers, serial=(1, 0), max_fail=0)
    assert [(r.name, r.status) for r in results] == [
        ("a", "rolled-back"),
        ("down", "unreachable"),  # a plan error is reported, never hidden or retried
        ("b", "skipped"),
        ("c", "skipped"),
    ]
    assert "--max-fail 0" in results[2].detail

    def boom(plan, cfg, **kw):
        if plan.name == "b":
            raise RuntimeError("a bug")
        return HostResult(plan.name, plan.target, "pushed")

    monkeypatch.setattr(push, "apply_host", boom)
    results = apply_hosts(plans, servers)
    assert [r.status for r in results] == ["pushed", "unreachable", "failed", "pushed"]
    assert results[2].detail == "RuntimeError: a bug"


def test_probe_parse():
    p = _Probe.parse("master 100\nworkers 101 102 \nlogsize 5000\n---\n[emerg] x\n")
    assert (p.master, p.workers, p.log_size, p.log) == (100, {101, 102}, 5000, "[emerg] x\n")
    p = _Probe.parse("master -\nworkers \nlogsize -\n")
    assert (p.master, p.workers, p.log_size) == (0, frozenset(), -1)


def test_dump_files_drops_nginx_stderr():
    dump = (
        "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
        "# configuration file /etc/nginx/nginx.conf:\nhttp { include s/*.conf; }\n\n"
        "# configuration file /etc/nginx/s/a.conf:\nlisten 80;\n\n"
        "nginx: configuration file /etc/nginx/nginx.conf test is successful\n"
    )
    files = dump_files(dump)
    assert list(files) == ["/etc/nginx/nginx.conf", "/etc/nginx/s/a.conf"]
    assert files["/etc/nginx/s/a.conf"] == "listen 80;\n\n"


def test_audit_log(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    results = [
        HostResult("a", "u@a:22", "pushed", "2 file(s) changed", files=(("/s/x.conf", "ab"),)),
        HostResult("b", "u@b:22", "rolled-back", "nginx -t rejected the new config"),
    ]
    path = audit(results)
    assert path == str(tmp_path / "aktui" / "push-audit.jsonl")
    audit(results[:1])
    lines = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert [r["result"] for r in lines] == ["failed", "ok"]
    assert lines[0]["hosts"][0]["files"] == {"/s/x.conf": "ab"}
    assert lines[0]["user"] and lines[0]["time"]
    assert os.stat(path).st_mode & 0o777 == 0o600
