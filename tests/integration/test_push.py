"""Push over real SSH to real nginx: diff, backup, atomic write, nginx -t, reload, rollback."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from aktui.config import Config, OutpostMapping
from aktui.deploy.push import (
    BACKUP_DIR,
    LOCK_NAME,
    apply_host,
    apply_hosts,
    plan_host,
    plan_hosts,
    redirect_verifier,
)
from aktui.deploy.snippets import build_snippets
from aktui.deploy.ssh import WebServer
from aktui.errors import RemoteError
from aktui.nginx.templates import FORWARD_AUTH_FILE
from tests.fixtures import pushdata
from tests.fixtures.procs import free_port
from tests.fixtures.webhost import COOKIE_OK, NGINX, FakeOutpost, WebHost, keygen

pytestmark = pytest.mark.integration

OUTPOST_FILE = "authentik-outpost-single.conf"


def snippet_files(outpost: FakeOutpost) -> dict[str, str]:
    snap = pushdata.snapshot()
    config = Config(
        outposts={"outpost-single": OutpostMapping(address=outpost.address, port=outpost.port)}
    )
    return build_snippets(snap, config).files


@pytest.fixture
def host(webhost: WebHost) -> WebHost:
    webhost.reset()
    return webhost


@pytest.fixture
def files(fake_outpost: FakeOutpost) -> dict[str, str]:
    return snippet_files(fake_outpost)


def on_disk(host: WebHost) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(host.snippet_dir.glob("*.conf"))}


def reloads(host: WebHost) -> int:
    return host.error_log.read_text(errors="replace").count("signal 1 (SIGHUP) received")


def push(host: WebHost, files: dict[str, str | bytes], **options):
    """Plan and apply; after a reload, wait until old workers stopped answering."""
    cfg = host.web_server_config()
    before = host.workers()
    plan = plan_host(host.name, cfg, files)
    result = apply_host(plan, cfg, **options)
    if result.status.startswith("pushed"):
        host.wait_reloaded(before)
    return plan, result


def test_first_push_then_no_change(host, files):
    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, files)
    assert plan.status == "ready" and plan.changed
    diff = plan.diff()
    assert f"--- /dev/null\n+++ {host.name}:{host.snippet_dir}/{OUTPOST_FILE} (new)" in diff
    assert "+auth_request /outpost.goauthentik.io/auth/nginx;" in diff
    assert on_disk(host) == {}  # the plan wrote nothing

    before = reloads(host)
    result = apply_host(plan, cfg, verify=redirect_verifier(host.url("/")))
    assert result.status == "pushed+verified", result
    assert on_disk(host) == {k: v.encode() for k, v in files.items()}
    assert reloads(host) == before + 1
    backups = list((host.snippet_dir / BACKUP_DIR).iterdir())
    assert len(backups) == 1
    assert sorted(p.name for p in backups[0].iterdir()) == sorted(f + ".absent" for f in files)
    assert not (host.snippet_dir / LOCK_NAME).exists()
    assert not list(host.snippet_dir.glob(".*.tmp"))
    assert [s.split(" ")[0] for s in result.steps] == [
        "locked", "backed", "wrote", "wrote", "nginx", "reloaded:", "verified",
    ]  # fmt: skip

    again = plan_host(host.name, cfg, files)
    assert again.status == "unchanged" and again.diff() == ""
    nothing = apply_host(again, cfg)
    assert nothing.status == "unchanged" and nothing.steps == ()
    assert reloads(host) == before + 1
    assert len(list((host.snippet_dir / BACKUP_DIR).iterdir())) == 1


def test_end_to_end_redirect_to_start(host, files, fake_outpost):
    assert httpx.get(host.url("/")).status_code == 200  # unprotected before the push
    _, result = push(host, files, verify=redirect_verifier(host.url("/")))
    assert result.ok, result

    r = httpx.get(host.url("/index.html"))
    assert r.status_code == 302
    assert r.headers["location"] == (
        f"http://127.0.0.1:{host.http_port}/outpost.goauthentik.io/start"
        f"?rd=http://127.0.0.1:{host.http_port}/index.html"
    )
    # The outpost's redirect cookie is passed through to the browser.
    assert r.headers["set-cookie"].startswith("authentik_proxy_test=redirect")
    _, headers = next(
        (p, h) for p, h in reversed(fake_outpost.requests) if p.endswith("/auth/nginx")
    )
    assert headers["X-Original-URL"] == f"http://127.0.0.1:{host.http_port}/index.html"
    assert "Content-Length" not in headers or headers["Content-Length"] == "0"

    start = httpx.get(host.url("/outpost.goauthentik.io/start?rd=/"))
    assert start.status_code == 302 and "/application/o/authorize/" in start.headers["location"]
    signed_in = httpx.get(host.url("/index.html"), headers={"Cookie": COOKIE_OK})
    assert signed_in.status_code == 200 and signed_in.text == f"hello from {host.name}\n"


def test_broken_config_rolls_back_byte_for_byte(host, files):
    _, first = push(host, files)
    assert first.ok, first
    good = on_disk(host)
    before = reloads(host)

    broken = {**files, FORWARD_AUTH_FILE: files[FORWARD_AUTH_FILE] + "auth_request_bogus on;\n"}
    broken["authentik-extra.conf"] = "# a new file that must disappear again\n"
    plan, result = push(host, broken)
    assert "+auth_request_bogus on;" in plan.diff()
    assert result.status == "rolled-back", result
    assert 'unknown directive "auth_request_bogus"' in result.nginx_output
    assert "nginx -t rejected the new config" in result.detail
    assert on_disk(host) == good  # same names, same bytes: the new file is gone
    assert "old config: nginx -t passed" in result.steps
    assert reloads(host) == before  # never reloaded with the broken file
    assert httpx.get(host.url("/")).status_code == 302  # still serving the old config
    backup = Path(result.backup_dir)
    assert (backup / FORWARD_AUTH_FILE).read_bytes() == good[FORWARD_AUTH_FILE]
    assert (backup / "authentik-extra.conf.absent").exists()


def test_changed_since_plan_is_not_overwritten(host, files):
    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, files)
    (host.snippet_dir / FORWARD_AUTH_FILE).write_text("# edited by hand meanwhile\n")
    result = apply_host(plan, cfg)
    assert result.status == "failed" and "changed since the diff was shown" in result.detail
    assert on_disk(host) == {FORWARD_AUTH_FILE: b"# edited by hand meanwhile\n"}
    assert not (host.snippet_dir / LOCK_NAME).exists()


def test_lock_held_by_another_push(host, files):
    (host.snippet_dir / LOCK_NAME).mkdir()
    (host.snippet_dir / LOCK_NAME / "owner").write_text("ops@laptop pid 42 since 2026-01-01\n")
    _, result = push(host, files)
    assert result.status == "locked"
    assert "ops@laptop pid 42" in result.detail and on_disk(host) == {}
    assert (host.snippet_dir / LOCK_NAME).exists()  # someone else's lock is left alone


def test_missing_snippet_dir_fails_cleanly(host, files):
    cfg = host.web_server_config(snippet_dir=str(host.root / "no-such-dir"))
    plan = plan_host(host.name, cfg, files)
    # Planning takes the lock in that directory: it fails there already, naming it.
    assert plan.status == "failed" and "no-such-dir" in plan.error
    result = apply_host(plan, cfg)
    assert result.status == "failed" and "no-such-dir" in result.detail
    assert not (host.root / "no-such-dir").exists()


def test_unknown_host_key_refused_with_fingerprint(host, files, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    plan = plan_host(host.name, host.web_server_config(known_hosts=str(known)), files)
    assert plan.status == "refused"
    assert f"ssh-ed25519 {host.host_key_fingerprint()}" in plan.error
    assert "host key not in" in plan.error
    assert known.read_text() == ""


def test_accept_new_host_key(host, files, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    cfg = host.web_server_config(known_hosts=str(known), accept_new_host_key=True)
    assert plan_host(host.name, cfg, files).status == "ready"
    assert known.read_text() == host.known_hosts_line
    # From now on the key is known: a strict connection works and nothing more is appended.
    strict = host.web_server_config(known_hosts=str(known))
    assert plan_host(host.name, strict, files).status == "ready"
    assert known.read_text() == host.known_hosts_line


def test_changed_host_key_always_refused(host, files, tmp_path):
    other = keygen(tmp_path / "other_key", "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{host.ssh_port} {other}\n")
    cfg = host.web_server_config(known_hosts=str(known), accept_new_host_key=True)
    plan = plan_host(host.name, cfg, files)
    assert plan.status == "refused"
    assert "HOST KEY CHANGED" in plan.error and host.host_key_fingerprint() in plan.error
    assert known.read_text() == f"[127.0.0.1]:{host.ssh_port} {other}\n"


def test_ssh_config_alias(host, files, tmp_path):
    ssh_config = tmp_path / "config"
    ssh_config.write_text(
        f"Host web-alias\n  HostName 127.0.0.1\n  Port {host.ssh_port}\n  User {host.user}\n"
        f"  IdentityFile {host.client_key}\n  UserKnownHostsFile {host.known_hosts}\n"
    )
    cfg = host.web_server_config(host="web-alias", port=0, user="", key_file="", known_hosts="")
    plan = plan_host(
        host.name, cfg, files, opener=lambda n, c: WebServer(n, c, ssh_config=str(ssh_config))
    )
    assert plan.status == "ready", plan.error
    assert plan.target == f"{host.user}@127.0.0.1:{host.ssh_port}"


def test_several_hosts_one_unreachable(webhosts, files):
    for h in webhosts:
        h.reset()
    servers = {h.name: h.web_server_config() for h in webhosts}
    servers["down"] = webhosts[0].web_server_config(port=free_port())
    plans = plan_hosts(servers, lambda name, cfg: files)
    assert [p.status for p in plans] == ["ready", "ready", "unreachable"]
    assert "cannot connect" in plans[2].error
    results = apply_hosts(plans, servers)
    assert [r.status for r in results] == ["pushed", "pushed", "unreachable"]
    for h in webhosts:
        assert on_disk(h) == {k: v.encode() for k, v in files.items()}


def test_cli_push(host, fake_outpost, monkeypatch, capsys, tmp_path):
    import json
    from types import SimpleNamespace

    from aktui.cli import main
    from aktui.cmd import push as cmd

    snap = pushdata.snapshot()
    config = Config(
        outposts={
            "outpost-single": OutpostMapping(address=fake_outpost.address, port=fake_outpost.port)
        },
        web_servers={"web": host.web_server_config(sites=["app.example.com"])},
    )
    backend = SimpleNamespace(config=config, read_only=False)
    monkeypatch.setattr(cmd, "load", lambda args: (backend, snap, []))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    assert main(["push", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "== web (" in out and "2 file(s) to change" in out and "+++ web:" in out
    assert "web: staged nginx -t: passed" in out
    assert "dry run: 1 host(s) would change" in out and on_disk(host) == {}

    assert main(["push"]) == 1  # no TTY to ask, no --yes: nothing applied
    assert "not applied" in capsys.readouterr().err and on_disk(host) == {}

    assert main(["--read-only", "push"]) == 2
    assert "read-only mode: push refused" in capsys.readouterr().err
    assert main(["push", "--host", "nope", "--yes"]) == 2
    assert "unknown web server(s): nope (known: web)" in capsys.readouterr().err

    assert main(["push", "--yes"]) == 0
    # The 302 check of the listed site ran through this nginx after the reload.
    out = capsys.readouterr().out
    assert re.search(r"^web\s+pushed\+verified\s+2 file\(s\) changed$", out, re.M), out
    assert sorted(on_disk(host)) == [FORWARD_AUTH_FILE, OUTPOST_FILE]
    (record,) = [
        json.loads(line)
        for line in (tmp_path / "state/aktui/push-audit.jsonl").read_text().splitlines()
    ]
    assert record["result"] == "ok" and record["hosts"][0]["status"] == "pushed+verified"
    assert sorted(record["hosts"][0]["files"]) == sorted(
        str(host.snippet_dir / f) for f in (FORWARD_AUTH_FILE, OUTPOST_FILE)
    )
    assert main(["push", "--yes"]) == 0
    assert "web (" in (out := capsys.readouterr().out) and "nothing to push" in out


class DropsConnection(WebServer):
    """Real server; the SSH connection dies right before `nginx -T` (the test)."""

    def run(self, argv, *, sudo=None, **kw):
        if "-T" in argv and not getattr(self, "dropped", False):
            self.dropped = True
            self._client.get_transport().close()
        return super().run(argv, sudo=sudo, **kw)


class WriteFails(WebServer):
    """Real server; the second write fails (a full disk, say)."""

    writes = 0

    def write(self, path, data, mode=0o644):
        if path.endswith(".conf") and "/.aktui-" not in path:
            WriteFails.writes += 1
            if WriteFails.writes == 2:
                raise RemoteError(f"{path}: No space left on device")
        return super().write(path, data, mode)


def test_connection_dropped_mid_push_is_restored(host, files):
    assert push(host, files)[1].ok
    good = on_disk(host)
    changed = {**files, FORWARD_AUTH_FILE: "# new\n", "authentik-new.conf": "# new file\n"}
    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, changed)
    result = apply_host(plan, cfg, opener=lambda n, c: DropsConnection(n, c))
    assert result.status == "rolled-back", result
    assert "push interrupted" in result.detail
    assert "connection lost" in result.steps and "reconnected to restore" in result.steps
    assert on_disk(host) == good
    assert not (host.snippet_dir / LOCK_NAME).exists()  # released over the new connection


def test_failed_write_midway_restores_earlier_files(host, files):
    assert push(host, files)[1].ok
    good = on_disk(host)
    changed = {k: v + "# v2\n" for k, v in files.items()}
    cfg = host.web_server_config()
    plan = plan_host(host.name, cfg, changed)
    WriteFails.writes = 0
    result = apply_host(plan, cfg, opener=lambda n, c: WriteFails(n, c))
    assert result.status == "rolled-back", result
    assert "No space left on device" in result.detail
    assert on_disk(host) == good


def test_sudo_mode(host, files):
    """With `sudo: true` writes go through a staging dir and `sudo -n install/mv`."""
    shim = host.bin_dir / "sudo"
    log = host.root / "sudo.log"
    shim.write_text(f'#!/bin/sh\n[ "$1" = -n ] || exit 99\nshift\necho "$*" >> {log}\nexec "$@"\n')
    shim.chmod(0o755)
    try:
        assert push(host, files)[1].ok
        cfg = host.web_server_config(sudo=True)
        changed = {**files, FORWARD_AUTH_FILE: files[FORWARD_AUTH_FILE] + "# via sudo\n"}
        plan = plan_host(host.name, cfg, changed)
        result = apply_host(plan, cfg)
        assert result.status == "pushed", result
        assert on_disk(host)[FORWARD_AUTH_FILE] == changed[FORWARD_AUTH_FILE].encode()
        commands = log.read_text().splitlines()
        assert any(c.startswith("install -m 644 -o 0 -g 0 -- /tmp/") for c in commands)
        assert any(c.startswith("mv -f -- ") for c in commands)
        assert any(c.startswith("/usr/sbin/nginx -T -c ") for c in commands)
        assert any(c.startswith("/usr/sbin/nginx -s reload -c ") for c in commands)
        assert not list(host.snippet_dir.glob(".*.tmp"))
    finally:
        shim.unlink()


def test_nginx_dump_keeps_the_test_messages_out_of_the_files(host: WebHost, files) -> None:
    """`nginx -T` writes `syntax is ok` to stderr just before the dump to stdout; merged as
    they arrive, sshd may pass part of the dump first, and the two lines then land inside a
    file of the dump (here: after its first half), breaking its parse. A shim around the real
    nginx forces that order."""
    from aktui.nginx.sources import split_dump

    shim = host.bin_dir / "nginx-interleaved"
    shim.write_text(
        "#!/bin/sh\n"
        f'"{NGINX}" "$@" 2>"$0.err" >"$0.out" || exit $?\n'
        'half=$(( $(wc -c <"$0.out") / 2 ))\n'
        'head -c "$half" "$0.out"; sleep 0.3\n'
        'cat "$0.err" >&2; sleep 0.3\n'
        'tail -c +"$((half + 1))" "$0.out"\n'
    )
    shim.chmod(0o755)
    for name, text in files.items():
        (host.snippet_dir / name).write_text(text)
    with WebServer(host.name, host.web_server_config(nginx=str(shim))) as server:
        dump = server.nginx_dump()
    assert dump.ok, dump.output
    assert "syntax is ok" in dump.output  # the messages are kept, before the dump
    parts = split_dump(dump.output)
    assert parts is not None and str(host.nginx_conf) in parts
    assert not [p for p, body in parts.items() if "syntax is ok" in body or "successful" in body]
    assert "".join(parts.values()).count("{") == "".join(parts.values()).count("}")
