"""`aktui export ansible` run for real with ansible-playbook against the test sshd + nginx hosts:
the first run changes and verifies, the second changes nothing, a broken snippet is restored
and the host still serves, and the lock is never left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from aktui.deploy.push import BACKUP_DIR, LOCK_NAME, PENDING_NAME
from tests.fixtures.procs import unavailable
from tests.fixtures.pushdata import SITE, config, on_disk, snapshot, wait_serving
from tests.fixtures.webhost import FakeOutpost, WebHost

# ansible-playbook starts a Python module over SSH per task and host: minutes, not seconds.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


@pytest.fixture
def exported(webhosts: list[WebHost], fake_outpost: FakeOutpost, tmp_path, monkeypatch, capsys):
    from aktui.cli import main
    from aktui.cmd import export

    if not PLAYBOOK_BIN.exists():
        unavailable("ansible-playbook not installed (pip install -e '.[test]' brings ansible-core)")
    for h in webhosts:
        h.reset()
    backend = SimpleNamespace(config=config(fake_outpost, webhosts), read_only=False)
    monkeypatch.setattr(export, "load", lambda args: (backend, snapshot(), []))
    out = tmp_path / "ansible"
    assert main(["export", "ansible", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"run: ansible-playbook -i {out / 'inventory.yml'} {out / 'push.yml'}" in printed
    return out


def playbook(out: Path, hosts: list[WebHost], tmp_path: Path) -> tuple[int, str]:
    """Run the exported playbook; the sites' 302 checks go to each test nginx's own port."""
    extra = {"ansible_python_interpreter": "/usr/bin/python3"}
    # Short: a Unix socket path has ~100 bytes, pytest's tmp_path is longer already.
    sockets = Path(tempfile.mkdtemp(prefix="aktui-cp-"))
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TMP": str(tmp_path / "ansible-remote"),
        # One SSH connection per host, its master stopped after the run (stop_masters).
        "ANSIBLE_SSH_ARGS": (
            f"-o ControlMaster=auto -o ControlPersist=60s -o ControlPath={sockets}/%C"
        ),
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOG_PATH": str(tmp_path / "ansible.log"),
    }
    inventory = json.loads((out / "inventory.yml").read_text())
    for h in hosts:
        host = inventory["all"]["children"]["aktui_web"]["hosts"][h.name]
        host["aktui_checks"] = [
            {
                "url": f"http://{SITE}:{h.http_port}/",
                "resolve": f"{SITE}:{h.http_port}:127.0.0.1",
            }
        ]
    local = out / "inventory.local.yml"
    local.write_text(json.dumps(inventory))
    argv = [str(PLAYBOOK_BIN), "-i", str(local), str(out / "push.yml"), "-e", json.dumps(extra)]
    argv += ["--limit", ",".join(h.name for h in hosts)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=out,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:  # a timeout or Ctrl-C: stop ansible and its ssh children
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        stop_masters(sockets)
        shutil.rmtree(sockets, ignore_errors=True)
    return proc.returncode, output


def stop_masters(sockets: Path) -> None:
    """The SSH connection masters ansible started (ControlPersist) end with the run."""
    for sock in sockets.iterdir():
        subprocess.run(
            ["ssh", "-S", str(sock), "-O", "exit", "aktui-test"], capture_output=True, timeout=30
        )


def sighups(host: WebHost) -> int:
    return host.error_log.read_text(errors="replace").count("signal 1 (SIGHUP) received")


def recap(output: str, host: WebHost) -> dict[str, int]:
    m = re.search(rf"^{host.name}\s*:\s*(.*)$", output, re.M)
    assert m, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def test_inventory_from_web_servers(exported, webhosts):
    inventory = json.loads((exported / "inventory.yml").read_text())
    hosts = inventory["all"]["children"]["aktui_web"]["hosts"]
    assert list(hosts) == [h.name for h in webhosts]
    first = hosts[webhosts[0].name]
    assert first["ansible_port"] == webhosts[0].ssh_port
    assert first["ansible_ssh_private_key_file"] == str(webhosts[0].client_key)
    assert f"UserKnownHostsFile={webhosts[0].known_hosts}" in first["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in first["ansible_ssh_common_args"]
    assert first["aktui_files"] == sorted(p.name[:-3] for p in (exported / "templates").iterdir())
    assert first["aktui_checks"] == [
        {"url": f"https://{SITE}:443/", "resolve": f"{SITE}:443:127.0.0.1"}
    ]


def test_playbook_pushes_then_changes_nothing_then_restores_a_broken_snippet(
    exported, webhosts, fake_outpost, tmp_path
):
    from aktui.deploy.snippets import build_snippets

    wanted = {
        k: v.encode() for k, v in build_snippets(snapshot(), config(fake_outpost, [])).files.items()
    }
    code, out = playbook(exported, webhosts, tmp_path)
    assert code == 0, out
    for h in webhosts:
        counts = recap(out, h)
        assert counts["changed"] > 0 and counts["failed"] == 0, out
        assert on_disk(h) == wanted  # byte for byte what `aktui push` writes
        assert wait_serving(h, 302) == 302
        assert not (h.snippet_dir / LOCK_NAME).exists()
    assert "reloaded: new worker" in out or "Prove the reload took" in out

    code, out = playbook(exported, webhosts, tmp_path)
    assert code == 0, out
    for h in webhosts:
        assert recap(out, h)["changed"] == 0, out

    # An aktui push killed mid-way left its marker: the playbook tests and reloads, then clears.
    marker = webhosts[0].snippet_dir / PENDING_NAME
    marker.write_text("ops@elsewhere pid 1 since 2026-01-01T00:00:00+00:00\n")
    hups = sighups(webhosts[0])
    code, out = playbook(exported, webhosts[:1], tmp_path)
    assert code == 0 and recap(out, webhosts[0])["changed"] > 0, out
    assert not marker.exists()
    assert sighups(webhosts[0]) == hups + 1  # tested and reloaded although no file changed
    assert wait_serving(webhosts[0], 302) == 302

    good = {h.name: on_disk(h) for h in webhosts}
    template = next((exported / "templates").glob("authentik-forward-auth.conf.j2"))
    template.write_text(
        template.read_text().replace("{% endraw %}", "auth_request_bogus on;\n{% endraw %}")
    )
    code, out = playbook(exported, webhosts, tmp_path)
    assert code != 0
    first, second = webhosts
    assert recap(out, first)["failed"] == 1 and recap(out, first)["rescued"] == 1, out
    assert "push failed on web" in out and "the previous snippets are back" in out
    # The first host goes alone and failed: the second is never touched.
    assert f"{second.name}" not in out.split("PLAY RECAP")[1] or recap(out, second)["changed"] == 0
    for h in webhosts:
        assert on_disk(h) == good[h.name]
        assert wait_serving(h, 302) == 302
        assert not (h.snippet_dir / LOCK_NAME).exists()
    assert any((first.snippet_dir / BACKUP_DIR).iterdir())


def test_playbook_restores_when_the_reload_does_not_take(exported, webhosts, tmp_path):
    """`listen` on a port held elsewhere: nginx -t passes, the reload exits 0, nginx keeps the
    old config ([emerg] bind). The handler's check fails, rescue restores and reloads."""
    import socket

    code, out = playbook(exported, webhosts, tmp_path)
    assert code == 0, out
    good = on_disk(webhosts[0])
    template = exported / "templates" / "authentik-forward-auth.conf.j2"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        template.write_text(
            template.read_text().replace(
                "{% endraw %}", f"listen 127.0.0.1:{port};\n{{% endraw %}}"
            )
        )
        code, out = playbook(exported, webhosts[:1], tmp_path)
    assert code != 0
    assert "nginx kept the old config" in out and "Address already in use" in out, out
    assert recap(out, webhosts[0])["rescued"] == 1
    assert on_disk(webhosts[0]) == good
    assert httpx.get(webhosts[0].url("/index.html")).status_code == 302
    assert not (webhosts[0].snippet_dir / LOCK_NAME).exists()
