"""`aktui export ansible`: the same push as `aktui push`, as an Ansible inventory and playbook.

The inventory comes from ``web_servers`` (SSH settings, snippet dir, nginx, reload command,
which files each host gets, the 302 checks of its sites); the snippets rendered from live
authentik data become templates. The playbook, per host and under aktui's own push lock:
plans in check mode, backs up what will change, writes the templates (through symlinks), then
in handlers tests the *whole* nginx config (a template ``validate: nginx -t -c %s`` cannot: a
snippet is no main config), records the workers, reloads, and proves the reload took (new
workers, no ``[emerg]``/``[alert]`` logged since). Then the 302 check. Any failure restores the
backup in ``rescue`` (new files removed), tests and reloads that, and fails the host; the first
host goes alone and a failure stops the rest (``serial`` / ``max_fail_percentage``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aktui.authentik.model import Snapshot
from aktui.config import WebServerConfig
from aktui.deploy.push import BACKUP_DIR, LOCK_NAME, PENDING_NAME, remote_paths
from aktui.deploy.snippets import SnippetSet
from aktui.deploy.ssh import resolve_endpoint
from aktui.deploy.upstreams import outpost_for_site
from aktui.errors import UnsafeValue

PLAYBOOK_NAME = "push.yml"
INVENTORY_NAME = "inventory.yml"
GROUP = "aktui_web"

# Ansible's own YAML is JSON-compatible: the inventory is written as JSON (no quoting doubts).
PLAYBOOK = r"""# Exported by `aktui export ansible`: the push `aktui push` does, for a fleet.
# Run: ansible-playbook -i inventory.yml push.yml
- name: Push the authentik forward-auth snippets
  hosts: aktui_web
  gather_facts: false
  serial: "{{ aktui_serial | default([1, '100%']) }}"
  max_fail_percentage: 0
  vars:
    aktui_nginx_cmd: >-
      {{ aktui_nginx }}{{ (' -c ' ~ aktui_nginx_conf) if aktui_nginx_conf else '' }}
    aktui_reload_cmd: >-
      {{ aktui_reload if aktui_reload else (aktui_nginx_cmd ~ ' -s reload') }}
    aktui_lock: "{{ aktui_snippet_dir }}/@LOCK@"
  tasks:
    - name: Push under aktui's lock
      block:
        - name: Take the push lock (the one `aktui push` uses)
          ansible.builtin.command:
            argv: [mkdir, --, "{{ aktui_lock }}"]
          changed_when: false

        - name: Record the lock's owner
          ansible.builtin.copy:
            dest: "{{ aktui_lock }}/owner"
            content: >
              ansible@{{ lookup('pipe', 'hostname') }} pid 0
              since {{ now(utc=true).isoformat() }}
            mode: "0644"
          changed_when: false

        - name: Hold the lock
          ansible.builtin.set_fact:
            aktui_locked: true
            aktui_backup: >-
              {{ aktui_snippet_dir }}/@BACKUPS@/ansible-{{ now(utc=true, fmt='%Y%m%dT%H%M%S%fZ') }}

        - name: Untested files an interrupted aktui push left (its pending marker)?
          ansible.builtin.stat:
            path: "{{ aktui_snippet_dir }}/@PENDING@"
          register: aktui_pending
          changed_when: aktui_pending.stat.exists
          notify: aktui snippets changed

        - name: Current snippets
          ansible.builtin.stat:
            path: "{{ aktui_snippet_dir }}/{{ item }}"
          loop: "{{ aktui_files }}"
          register: aktui_before

        - name: Plan (check mode)
          ansible.builtin.template:
            src: "templates/{{ item }}.j2"
            dest: "{{ aktui_snippet_dir }}/{{ item }}"
            mode: "0644"
            follow: true
          loop: "{{ aktui_files }}"
          check_mode: true
          register: aktui_plan

        - name: Back up what will change
          when: aktui_plan is changed
          block:
            - name: Backup directory
              ansible.builtin.file:
                path: "{{ aktui_backup }}"
                state: directory
                mode: "0755"
            - name: Copy the current files
              ansible.builtin.copy:
                src: "{{ aktui_snippet_dir }}/{{ item.item }}"
                dest: "{{ aktui_backup }}/{{ item.item }}"
                remote_src: true
                mode: preserve
              loop: "{{ aktui_before.results }}"
              when: item.stat.exists
            - name: Backed up
              ansible.builtin.set_fact:
                aktui_backed_up: true

        - name: Write the snippets
          ansible.builtin.template:
            src: "templates/{{ item }}.j2"
            dest: "{{ aktui_snippet_dir }}/{{ item }}"
            mode: "0644"
            follow: true
          loop: "{{ aktui_files }}"
          notify: aktui snippets changed

        - name: Test the whole config, reload, prove the reload took
          ansible.builtin.meta: flush_handlers

        - name: Tested and running now, the marker goes
          ansible.builtin.file:
            path: "{{ aktui_snippet_dir }}/@PENDING@"
            state: absent
          when: aktui_pending.stat.exists

        - name: 302 check (a GET without login answers a redirect to /outpost.goauthentik.io/start)
          ansible.builtin.command:
            argv: [curl, -sS, -k, -o, /dev/null, -w, "%{http_code} %{redirect_url}",
                   --max-time, "10", --resolve, "{{ item.resolve }}", "{{ item.url }}"]
          loop: "{{ aktui_checks }}"
          register: aktui_302
          changed_when: false
          failed_when: >-
            aktui_302.rc != 0 or
            not (aktui_302.stdout is regex('^30[1237] .*/outpost\.goauthentik\.io/start'))

      rescue:
        - name: Restore the backed-up files
          ansible.builtin.copy:
            src: "{{ aktui_backup }}/{{ item.item }}"
            dest: "{{ aktui_snippet_dir }}/{{ item.item }}"
            remote_src: true
            mode: preserve
            follow: true
          loop: "{{ aktui_before.results }}"
          when: aktui_backed_up | default(false) and item.stat.exists

        - name: Remove files that did not exist before
          ansible.builtin.file:
            path: "{{ aktui_snippet_dir }}/{{ item.item }}"
            state: absent
          loop: "{{ aktui_before.results }}"
          when: aktui_backed_up | default(false) and not item.stat.exists

        - name: Test the restored config
          ansible.builtin.command: "{{ aktui_nginx_cmd }} -t"
          changed_when: false
          when: aktui_backed_up | default(false)

        - name: Reload the restored config (the failed one may have been loaded)
          when: aktui_reload_sent | default(false)
          block:
            - name: Workers before
              ansible.builtin.shell: "{{ aktui_probe }}"
              register: aktui_restore_before
              changed_when: false
            - name: Reload
              ansible.builtin.command: "{{ aktui_reload_cmd }}"
            - name: Prove it took
              ansible.builtin.shell: "{{ aktui_took }}"
              vars:
                aktui_probe_result: "{{ aktui_restore_before }}"
              changed_when: false

        - name: Fail this host
          ansible.builtin.fail:
            msg: >-
              push failed on {{ inventory_hostname }}
              ({{ ansible_failed_task.name | default('?') }}: {{ ansible_failed_result.msg
              | default(ansible_failed_result.stderr | default('')) }});
              the previous snippets are back{{ ' and reloaded' if aktui_reload_sent
              | default(false) else '' }}

      always:
        - name: Release the push lock
          ansible.builtin.file:
            path: "{{ aktui_lock }}"
            state: absent
          when: aktui_locked | default(false)
          changed_when: false

  handlers:
    - name: Test the whole nginx config
      ansible.builtin.command: "{{ aktui_nginx_cmd }} -t"
      changed_when: false
      listen: aktui snippets changed

    - name: Record nginx workers and error log size
      ansible.builtin.shell: "{{ aktui_probe }}"
      register: aktui_probe_result
      changed_when: false
      listen: aktui snippets changed

    - name: Reload nginx
      ansible.builtin.command: "{{ aktui_reload_cmd }}"
      register: aktui_reload_done
      listen: aktui snippets changed

    - name: Mark the reload as sent
      ansible.builtin.set_fact:
        aktui_reload_sent: true
      listen: aktui snippets changed

    - name: Prove the reload took (new workers, no [emerg]/[alert] logged since)
      ansible.builtin.shell: "{{ aktui_took }}"
      changed_when: false
      listen: aktui snippets changed
"""

# Master PID file (from nginx -T, else /run/nginx.pid), its workers, the error log's size.
PROBE = (
    "pidf=$({{ aktui_nginx_cmd }} -T 2>/dev/null"
    " | sed -n 's/^[[:space:]]*pid[[:space:]]\\+\\([^;[:space:]]*\\).*/\\1/p' | head -n 1);"
    ' [ -n "$pidf" ] || pidf=/run/nginx.pid;'
    ' echo "$pidf";'
    ' pgrep -P "$(cat "$pidf")" | tr "\\n" " "; echo;'
    " wc -c < {{ aktui_error_log | quote }} 2>/dev/null || echo 0"
)
# Until a worker not in the recorded set runs (took) or the log since shows [emerg]/[alert].
TOOK = (
    "set -- {{ aktui_probe_result.stdout_lines | map('quote') | join(' ') }};"
    ' pidf=$1; old=" $2 "; off=${3:-0};'
    " i=0; while [ $i -lt 100 ]; do"
    " bad=$(tail -c +$((off + 1)) {{ aktui_error_log | quote }} 2>/dev/null"
    " | grep -E '\\[(emerg|alert)\\]' | tail -n 1);"
    ' if [ -n "$bad" ]; then echo "nginx kept the old config: $bad" >&2; exit 1; fi;'
    ' for w in $(pgrep -P "$(cat "$pidf")"); do'
    ' case "$old" in *" $w "*) ;; *) echo "reloaded: new worker $w"; exit 0;; esac; done;'
    " sleep 0.1; i=$((i + 1)); done;"
    ' echo "no new nginx workers within 10 s" >&2; exit 1'
)


@dataclass(frozen=True, slots=True)
class Export:
    inventory: Path
    playbook: Path
    templates: tuple[Path, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def checks_for(snapshot: Snapshot, cfg: WebServerConfig, address: str) -> list[dict[str, str]]:
    """One 302 check per listed site: its provider's external URL, curl --resolve'd to the
    web server itself (the check runs there, as the doctor's does)."""
    out = []
    for site in cfg.sites:
        try:
            choice = outpost_for_site(snapshot, site)
        except UnsafeValue:
            continue
        provider = next(p for p in snapshot.providers if p.name == choice.provider)
        url = urlsplit(provider.external_host or f"https://{site}")
        scheme = url.scheme or "https"
        port = url.port or (80 if scheme == "http" else 443)
        out.append(
            {
                "url": f"{scheme}://{choice.site}:{port}/",
                "resolve": f"{choice.site}:{port}:{address}",
            }
        )
    return out


def host_vars(
    name: str, cfg: WebServerConfig, files: list[str], snapshot: Snapshot
) -> dict[str, object]:
    ep = resolve_endpoint(cfg)
    known = f"-o UserKnownHostsFile={ep.known_hosts} -o StrictHostKeyChecking=yes"
    values: dict[str, object] = {
        "ansible_host": ep.hostname,
        "ansible_port": ep.port,
        "ansible_user": ep.user,
        "ansible_ssh_common_args": known,
        "ansible_become": cfg.sudo,
        "aktui_snippet_dir": cfg.snippet_dir,
        "aktui_nginx": cfg.nginx,
        "aktui_nginx_conf": cfg.nginx_conf,
        "aktui_reload": cfg.reload,
        "aktui_error_log": cfg.error_log,
        "aktui_files": files,
        "aktui_checks": checks_for(snapshot, cfg, "127.0.0.1"),
    }
    if ep.key_files:
        values["ansible_ssh_private_key_file"] = ep.key_files[0]
    if ep.proxy_command:
        values["ansible_ssh_common_args"] = f"{known} -o ProxyCommand='{ep.proxy_command}'"
    return values


def export_ansible(
    out: Path,
    servers: Mapping[str, WebServerConfig],
    snapshot: Snapshot,
    snippets: SnippetSet,
) -> Export:
    """Write inventory, playbook and templates under ``out`` (created; files replaced)."""
    hosts: dict[str, object] = {}
    names: set[str] = set()
    for name, cfg in servers.items():
        files = snippets.files_for_sites(snapshot, cfg.sites)
        remote_paths(cfg, files)  # the same file-name checks as a push
        names.update(files)
        hosts[name] = host_vars(name, cfg, sorted(files), snapshot)
    shared = {"aktui_probe": PROBE, "aktui_took": TOOK}
    inventory = {"all": {"children": {GROUP: {"hosts": hosts, "vars": shared}}}}
    (out / "templates").mkdir(parents=True, exist_ok=True)
    templates = []
    for file_name in sorted(names):
        path = out / "templates" / f"{file_name}.j2"
        # Rendered from live data already: raw, so nginx's text is never read as Jinja.
        path.write_text("{% raw %}" + snippets.files[file_name] + "{% endraw %}")
        templates.append(path)
    inv = out / INVENTORY_NAME
    inv.write_text(json.dumps(inventory, indent=2) + "\n")
    book = out / PLAYBOOK_NAME
    text = PLAYBOOK.replace("@LOCK@", LOCK_NAME).replace("@BACKUPS@", BACKUP_DIR)
    book.write_text(text.replace("@PENDING@", PENDING_NAME))
    return Export(inv, book, tuple(templates), snippets.skipped)
