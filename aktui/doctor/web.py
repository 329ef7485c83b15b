"""Doctor checks of the web servers, over SSH: what NGINX really runs, read back.

Per configured web server, in one SSH session (``aktui.deploy.ssh.WebServer``: known_hosts checked,
an unknown key refused with its fingerprint unless the config opts in):

- ``nginx -T`` (through ``sudo -n`` when configured) goes through the linter; every finding
  becomes a result with the linter's check id and the ORIGINAL file:line from the dump.
- The installed snippets (SFTP, from ``snippet_dir``) are compared with what ``build_snippets``
  renders from the model now: ``snippet-drift``, with the diff and the ``push`` action.
- For each ``sites`` entry, ``site-outpost`` and ``site-redirect`` (``aktui.doctor.sites``).

Hosts are checked in parallel, each in its own thread, each bounded by ``HOST_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aktui.authentik.model import Snapshot
from aktui.config import Config, WebServerConfig
from aktui.deploy.push import FileChange, remote_paths
from aktui.deploy.snippets import SnippetSet, build_snippets
from aktui.deploy.ssh import HostKeyChanged, Opener, WebServer
from aktui.doctor.checks import CheckResult
from aktui.doctor.sites import SITE_CHECKS, SiteChecks
from aktui.errors import AktuiError, HostKeyUnknown, RemoteError, UnsafeValue
from aktui.nginx.config import load_text
from aktui.nginx.facts import Env
from aktui.nginx.lint import RULES, lint_configs, make_env
from aktui.nginx.locations import Server, servers
from aktui.runtime import ContainerInfo

__all__ = ["PITFALLS", "check_host", "dump_results", "web_checks"]

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0
HOST_TIMEOUT = 120.0  # everything for one host: a hung host must not hold the doctor forever
DIFF_LINES = 40

# The field guide's NGINX pitfalls: each gets an explicit ok when the linter finds nothing,
# because silence would not tell the operator it was looked at.
PITFALLS = {
    "outpost-location-shadowed": "no regex location (dotfile deny rule) shadows the outpost",
    "error-page-401-only": "the signin error_page catches 401 and 403",
    "cookie-not-passed": "the outpost's Set-Cookie is passed back to the browser",
    "host-vs-http-host": "no $host where $http_host is needed",
    "auth-path-via-proxy": "the auth subrequest goes straight to the outpost",
}
_STATUS = {"error": "error", "warning": "warn", "info": "ok"}

WebCheck = Callable[[], Awaitable[list[CheckResult]]]


def web_checks(
    backend: object, snapshot: Snapshot, containers: Sequence[ContainerInfo] | None = None
) -> list[WebCheck]:
    """One zero-argument async check per ``backend.config.web_servers`` entry. The first one
    awaited starts every host at once (each in its own thread), so hosts are checked in
    parallel although ``run_doctor`` awaits the checks one after the other."""
    config: Config = backend.config  # type: ignore[attr-defined]
    if not config.web_servers:
        return []
    batch = _Batch(config, snapshot, getattr(backend, "runtime", None), containers)
    return [batch.check(name) for name in config.web_servers]


@dataclass
class _Batch:
    config: Config
    snapshot: Snapshot
    runtime: object
    containers: Sequence[ContainerInfo] | None
    _loop: object = None
    _tasks: dict[str, asyncio.Task[list[CheckResult]]] = field(default_factory=dict)

    def check(self, name: str) -> WebCheck:
        async def run() -> list[CheckResult]:
            task = self._start()[name]
            try:
                return await asyncio.wait_for(asyncio.shield(task), HOST_TIMEOUT)
            except TimeoutError:
                why = f"gave no answer within {HOST_TIMEOUT:.0f} s"
                return _not_checked(name, self.config.web_servers[name], why, why)

        return run

    def _start(self) -> dict[str, asyncio.Task[list[CheckResult]]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (the TUI's next run): start afresh
            self._loop = loop
            prepared = loop.create_task(asyncio.to_thread(self._prepare))
            self._tasks = {
                n: loop.create_task(self._host(n, prepared)) for n in self.config.web_servers
            }
        return self._tasks

    async def _host(
        self, name: str, prepared: asyncio.Task[tuple[SnippetSet | None, str, Env]]
    ) -> list[CheckResult]:
        cfg = self.config.web_servers[name]
        try:
            snippets, error, env = await prepared
            return await asyncio.to_thread(
                check_host, name, cfg, self.snapshot, snippets, error, env
            )
        except Exception as e:  # a bug here must not take the other hosts' results with it
            return _not_checked(name, cfg, "check failed", f"{type(e).__name__}: {e}")

    def _prepare(self) -> tuple[SnippetSet | None, str, Env]:
        """What aktui would generate now, and the outposts' addresses for the linter."""
        containers = list(self.containers or ())
        mapped = self.config.outposts
        unmapped = any(
            not (o.name in mapped and mapped[o.name].address and mapped[o.name].port)
            for o in self.snapshot.outposts
            if not o.embedded
        )
        if self.containers is None and unmapped and self.runtime is not None:
            try:  # addresses the config does not give come from container discovery
                containers = self.runtime.containers()  # type: ignore[attr-defined]
            except Exception:
                containers = []  # discovery is optional here: the config may be enough
        try:
            snippets = build_snippets(self.snapshot, self.config, containers)
        except UnsafeValue as e:
            return None, str(e), make_env([self.snapshot.server_url])
        addresses = [f"{t.address}:{t.port}" for t in snippets.targets]
        return snippets, "", make_env([self.snapshot.server_url], addresses)


# --- one host -------------------------------------------------------------------------------


def check_host(
    name: str,
    cfg: WebServerConfig,
    snapshot: Snapshot,
    snippets: SnippetSet | None,
    snippets_error: str = "",
    env: Env | None = None,
    *,
    opener: Opener | None = None,
) -> list[CheckResult]:
    """Every check of one web server (blocking: run it in a thread)."""
    try:
        server = (opener or _open)(name, cfg)
    except AktuiError as e:  # e.g. an unsafe snippet_dir
        return _not_checked(name, cfg, "bad configuration", str(e), e.hint)
    try:
        server.connect()
    except RemoteError as e:
        if isinstance(e, HostKeyUnknown):
            title = "host key unknown, connection refused"
        elif isinstance(e, HostKeyChanged):
            title = "HOST KEY CHANGED, connection refused"
        else:
            title = f"unreachable over SSH ({server.endpoint.target})"
        fix = e.hint or f"Check that {server.endpoint.target} accepts SSH from here with this key."
        return _not_checked(name, cfg, title, e.message, fix)
    try:
        return _HostRun(name, cfg, server, snapshot, snippets, snippets_error).all(env or Env())
    finally:
        server.close()


def _open(name: str, cfg: WebServerConfig) -> WebServer:
    return WebServer(name, cfg, connect_timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT)


def _not_checked(
    name: str, cfg: WebServerConfig, title: str, evidence: str, fix: str = ""
) -> list[CheckResult]:
    """One error naming the host, then every check that could not run, as skipped (never ok)."""
    subject, why = f"host:{name}", f"not checked: {name} {title}"
    out = [CheckResult("web-ssh", "error", f"{name}: {title}", evidence, fix, subject)]
    ids = [(c, c) for c in ("nginx-config", *PITFALLS, "snippet-drift")]
    ids += [(c, site) for site in cfg.sites for c in SITE_CHECKS]
    out += [CheckResult(c, "skipped", f"{name}: {what}", why, "", subject) for c, what in ids]
    return out


def dump_results(
    name: str, dump: str, env: Env | None = None
) -> tuple[list[CheckResult], list[Server]]:
    """The linter on an ``nginx -T`` dump: one result per finding (file:line as in the dump),
    an ok for each field-guide pitfall not found, and the server blocks for the site checks."""
    subject = f"host:{name}"
    configs = load_text(dump, f"{name}:nginx -T")
    report = lint_configs(configs, env)
    summary = f"nginx -T: {len(report.files)} file(s), {report.servers} server block(s)"
    out = [CheckResult("nginx-config", "ok", f"{name}: {summary}", "", "", subject)]
    for f in report.findings:
        title = f"{name}: {RULES.get(f.check_id, f.check_id)} [{f.server_name}]"
        status = _STATUS.get(f.severity, "warn")
        out.append(
            CheckResult(f.check_id, status, title, f"{f.where()}: {f.evidence}", f.fix, subject)
        )
    failed = {f.check_id for f in report.findings if f.severity != "info"}
    out += [
        CheckResult(check, "ok", f"{name}: {what}", "", "", subject)
        for check, what in PITFALLS.items()
        if check not in failed
    ]
    return out, [s for c in configs for s in servers(c)]


@dataclass
class _HostRun(SiteChecks):
    """Every check of one connected host: nginx -T, snippet drift, then each site."""

    snippets_error: str

    def all(self, env: Env) -> list[CheckResult]:
        out = [self.r("web-ssh", "ok", f"SSH to {self.server.endpoint.target}", "host key known")]
        try:
            dump = self.server.nginx_dump()
            command, output, ok = dump.command, dump.output, dump.ok
        except RemoteError as e:  # the session broke or nginx -T hung past the timeout
            command, output, ok = f"{self.cfg.nginx} -T", e.message, False
        blocks: list[Server] | None = None
        if ok and "# configuration file " in output:
            lint, blocks = dump_results(self.name, output, env)
            out += lint
        else:
            out.append(self.dump_failed(command, output))
            out += [self.r(c, "skipped", c, "not checked: no nginx -T") for c in PITFALLS]
        out.append(self.drift())
        for site in self.cfg.sites:
            out += self.site(site, blocks)
        return out

    def dump_failed(self, command: str, output: str) -> CheckResult:
        text = output.strip()[-800:] or "(no output)"
        if "password is required" in text:
            fix = f"Allow `sudo -n {self.cfg.nginx}` without a password for this user."
        elif "ermission denied" in text and not self.cfg.sudo:
            fix = "Set sudo: true for this web server: nginx -T must read every config file."
        else:
            fix = "Fix what nginx names at that file:line (`nginx -t` says the same)."
        return self.r("nginx-config", "error", "nginx -T failed", f"`{command}`: {text}", fix)

    def drift(self) -> CheckResult:
        check, push = "snippet-drift", f"aktui push --host {self.name}"
        if self.snippets is None:
            return self.r(check, "skipped", "snippets not compared", self.snippets_error)
        try:
            files = self.snippets.files_for_sites(self.snapshot, self.cfg.sites)
            wanted = remote_paths(self.cfg, files)
            changes = [FileChange(p, self.server.read(p), data) for p, data in wanted.items()]
        except AktuiError as e:
            return self.r(check, "skipped", "snippets not compared", str(e), e.hint)
        names = ", ".join(os.path.basename(c.path) for c in changes)
        if all(c.old is None for c in changes):
            title = f"no aktui snippets installed in {self.cfg.snippet_dir}"
            fix = f"`{push}` installs them; include them in the server blocks."
            return self.r(check, "skipped", title, f"none of {names} there", fix, "push")
        changed = [c for c in changes if c.changed]
        if not changed:
            return self.r(check, "ok", "installed snippets match the model", names)
        lines = "".join(c.diff(self.name) for c in changed).splitlines()
        more = f"\n… {len(lines) - DIFF_LINES} more line(s)" if len(lines) > DIFF_LINES else ""
        title = f"{len(changed)} installed snippet(s) differ from what aktui generates now"
        fix = f"Push them again: `{push}` shows this diff, backs up, runs nginx -t, reloads."
        return self.r(check, "warn", title, "\n".join(lines[:DIFF_LINES]) + more, fix, "push")
