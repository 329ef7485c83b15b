"""Doctor checks of the web servers, over SSH: what NGINX really runs, read back (issue 8).

Per configured web server, in one SSH session (``aktui.ssh.WebServer``: known_hosts checked,
an unknown key refused with its fingerprint unless the config opts in):

- ``nginx -T`` (through ``sudo -n`` when configured) goes through the linter; every finding
  becomes a result with the linter's check id and the ORIGINAL file:line from the dump.
- The installed snippets (SFTP, from ``snippet_dir``) are compared with what ``build_snippets``
  renders from the model now: ``snippet-drift``, with the diff and the ``push`` action.
- For each ``sites`` entry: the server block nginx picks for it must send the auth subrequest to
  the outpost the model says serves the site (``site-outpost``), and an unauthenticated request
  through that nginx must get the 302 to /outpost.goauthentik.io/start, whose /start must then
  reach the outpost rather than a deny rule (``site-redirect``).

The request is made by curl on the web server itself, over the same SSH session: real sites are
often not reachable from the operator's machine on their HTTP port (firewalled, listening on
127.0.0.1 or a Tailscale address) or sit behind Cloudflare, which would answer instead of this
nginx. ``--resolve SITE:PORT:ADDR`` connects to this nginx's own listen address while sending the
site's Host and TLS SNI, as a browser would. Without curl there, the request goes from here to
the SSH host name, and the evidence says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from aktui.config import Config, WebServerConfig
from aktui.doctor import CheckResult
from aktui.errors import AktuiError, HostKeyUnknown, RemoteError, UnsafeValue
from aktui.model import Snapshot
from aktui.nginx.config import load_text
from aktui.nginx.facts import START_URI, Env, auth_uris, protected, proxy_target
from aktui.nginx.lint import RULES, lint_configs, make_env
from aktui.nginx.locations import OUTPOST_PREFIX, Location, Server, servers
from aktui.nginx_values import check_hostname, outpost_file_name
from aktui.push import FileChange, remote_paths
from aktui.runtime import ContainerInfo
from aktui.site_outposts import outpost_for_site
from aktui.snippets import SnippetSet, build_snippets
from aktui.ssh import HostKeyChanged, Opener, WebServer

__all__ = ["PITFALLS", "check_host", "dump_results", "server_for", "web_checks"]

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0
HOST_TIMEOUT = 120.0  # everything for one host: a hung host must not hold the doctor forever
REQUEST_TIMEOUT = 10
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
SITE_CHECKS = ("site-outpost", "site-redirect")
_STATUS = {"error": "error", "warning": "warn", "info": "ok"}
_REDIRECTS = (301, 302, 303, 307, 308)
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~/%-]*$")
_CURL = ["curl", "-sS", "-k", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}\\n", "--max-time"]

# Fixes in the field guide's words (its cheat sheet), by situation.
FIX = {
    "no-provider": "Create a forward-auth provider for it in authentik first.",
    "no-outpost": "Select its application in the outpost of its cookie domain; restart it.",
    "include": "Include authentik-forward-auth.conf and {file} in the server block of {site} "
    "(field guide Part 2d), then reload nginx.",
    "wrong-outpost": "Include {file} in the server block of {site} instead of {found} (one "
    "outpost per cookie domain), then reload nginx.",
    "cookie": "auth_request_set $auth_cookie $upstream_http_set_cookie; add_header Set-Cookie "
    "$auth_cookie; (authentik-forward-auth.conf)",
    "shadowed": "A deny rule (regex location, e.g. a dotfile rule matching .goauthentik) answers "
    "/outpost.goauthentik.io before the outpost location: 403 from NGINX. Use the ^~ modifier "
    "on the outpost location: location ^~ /outpost.goauthentik.io { ... }",
    "start": "The outpost location must proxy /outpost.goauthentik.io to the outpost "
    "(authentik-outpost-<name>.conf); if the outpost answers 404, restart it and verify the "
    "application is selected in it.",
    "failed": "Check that nginx listens there (listen in the server block of the site).",
    200: "The site answers without a login: include authentik-forward-auth.conf and the "
    "outpost's snippet in its server block, then reload nginx.",
    401: "Send 401 to the login: error_page 401 403 = @goauthentik_proxy_signin;",
    403: "403 from NGINX: error_page only catches 401, not 403: change to error_page 401 403 = "
    "@goauthentik_proxy_signin; (or a deny rule answers before the auth).",
    500: "The auth subrequest failed; nginx's error log says why. unexpected status: 404 → "
    "embedded outpost bug: deploy separate proxy outpost containers; 400 → this outpost has no "
    "app for the host: include the snippet of the outpost serving it; 301 → routed through "
    "Cloudflare: use Tailscale for the auth path; connect() failed → the outpost is down.",
    0: "Protected URLs must answer 302 to /outpost.goauthentik.io/start?rd=...",
}

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

    async def _host(self, name: str, prepared: asyncio.Task) -> list[CheckResult]:
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
class _Answer:
    how: str  # what was asked, and how
    status: int = 0
    location: str = ""
    cookie: bool = False
    error: str = ""

    def shown(self) -> str:
        return f"{self.how} → {self.error or self.status} {self.location[:120]}".rstrip()


@dataclass
class _HostRun:
    name: str
    cfg: WebServerConfig
    server: WebServer
    snapshot: Snapshot
    snippets: SnippetSet | None
    snippets_error: str

    def r(self, check: str, status: str, title: str, *seen_fix_action: str) -> CheckResult:
        """A result about this host: ``seen_fix_action`` are evidence, fix and action."""
        seen, fix, action = (*seen_fix_action, "", "", "")[:3]
        return CheckResult(check, status, f"{self.name}: {title}", seen, fix, self.subject, action)

    @property
    def subject(self) -> str:
        return f"host:{self.name}"

    def all(self, env: Env) -> list[CheckResult]:
        out = [self.r("web-ssh", "ok", f"SSH to {self.server.endpoint.target}", "host key known")]
        try:
            dump = self.server.run(self.server.nginx_command("-T"))
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

    # --- one site -------------------------------------------------------------------------

    def site(self, site: str, blocks: list[Server] | None) -> list[CheckResult]:
        try:
            site = check_hostname(site, f"web_servers.{self.name}.sites")
        except UnsafeValue as e:
            return [self.r(c, "error", f"{site!r} is not a hostname", str(e)) for c in SITE_CHECKS]
        try:
            choice = outpost_for_site(self.snapshot, site)
        except UnsafeValue as e:
            block = server_for(blocks or [], site)
            first = self.r(
                "site-outpost",
                "error",
                f"{site}: no provider covers it",
                str(e),
                FIX["no-provider"],
            )
            return [first, self.site_redirect(site, block, True, blocks)]
        provider = next(p for p in self.snapshot.providers if p.name == choice.provider)
        https = urlsplit(provider.external_host).scheme != "http"
        block = server_for(blocks or [], site, https)
        first = self.site_outpost(site, choice.outpost, choice.provider, block, blocks)
        return [first, self.site_redirect(site, block, https, blocks)]

    def site_outpost(
        self, site: str, outpost: str, provider: str, block: Server | None, blocks: list | None
    ) -> CheckResult:
        check, file = "site-outpost", outpost_file_name(outpost) if outpost else ""
        include = FIX["include"].format(file=file, site=site)
        if not outpost:
            return self.r(
                check,
                "error",
                f"{site}: provider {provider} is on no outpost",
                "",
                FIX["no-outpost"],
            )
        if blocks is None:
            return self.r(check, "skipped", f"{site} → {outpost}", "not checked: no nginx -T")
        if block is None:
            seen = f"no server_name in nginx -T matches {site} and there is no default_server"
            return self.r(check, "error", f"{site}: no server block for it", seen, include)
        uris = auth_uris(block)
        loc = block.match(next(iter(uris))) if uris else None
        target = proxy_target(loc, block) if loc is not None else None
        if target is None:
            seen = f"server {block.display_name} ({_where(block)}): " + (
                f"{loc.label()} ({_where(loc)}) does not proxy_pass to a fixed address"
                if loc is not None
                else f"no auth_request to {OUTPOST_PREFIX}"
            )
            return self.r(
                check, "error", f"{site}: the auth subrequest reaches no outpost", seen, include
            )
        targets = self.snippets.targets if self.snippets else ()
        reached = {_norm(a) for a in target.addresses}
        expected = next((t for t in targets if t.name == outpost), None)
        found = os.path.basename(target.directive.file)
        if expected is not None:
            right = _norm(f"{expected.address}:{expected.port}") in reached
            goes = [t.name for t in targets if _norm(f"{t.address}:{t.port}") in reached]
            found_as = ", ".join(goes) or "no outpost aktui knows"
        else:  # its address is not known here: judge by the snippet file the location is in
            right, found_as = found == file, found
        where = f"{target.directive.where()}: {target.directive.text()}"
        if right:
            return self.r(check, "ok", f"{site} → {outpost}", f"{where} (provider {provider})")
        seen = (
            f"{where}: the auth subrequest goes to {target.url} ({found_as}), but the model says "
            f"{outpost} serves {site} (provider {provider})"
        )
        fix = FIX["wrong-outpost"].format(file=file, site=site, found=found)
        return self.r(check, "error", f"{site} → {found_as} instead of {outpost}", seen, fix)

    def site_redirect(
        self, site: str, block: Server | None, https: bool, blocks: list | None
    ) -> CheckResult:
        check = "site-redirect"
        if blocks is None:  # without nginx -T its listen address and port are unknown
            return self.r(check, "skipped", site, "not checked: no nginx -T")
        scheme, addr, port = (_listen(block, https) if block else None) or (
            _scheme(https),
            "127.0.0.1",
            443 if https else 80,
        )
        first = self.request(site, scheme, addr, port, _probe_path(block))
        if first.error:
            return self.r(check, "error", f"{site}: request failed", first.shown(), FIX["failed"])
        start = urlsplit(first.location)
        if first.status not in _REDIRECTS or not start.path.startswith(START_URI):
            title = f"{site}: answered {first.status}, not 302 to /start"
            fix = FIX.get(first.status, FIX[500 if first.status >= 500 else 0])
            return self.r(check, "error", title, first.shown() + self.log_tail(site), fix)
        # The browser's next step: /start through this nginx must reach the outpost, which
        # redirects on to authentik (not a deny rule's 403, not nginx's own 404).
        then = self.request(site, scheme, addr, port, f"{start.path}?{start.query}")
        seen = f"{first.shown()}; {then.shown()}"
        if then.status not in _REDIRECTS or urlsplit(then.location).path.startswith(OUTPOST_PREFIX):
            # With `error_page 401 403`, a deny rule's 403 on /start becomes the signin
            # redirect again: a loop back to /start instead of a bare 403.
            loop, tail = urlsplit(then.location).path.startswith(START_URI), self.log_tail(site)
            shadowed = then.status == 403 or loop or "forbidden by rule" in tail
            fix = FIX["shadowed" if shadowed else "start"]
            got = "a redirect back to /start (loop)" if loop else then.error or then.status
            title = f"{site}: /start answered {got}, not the outpost"
            return self.r(check, "error", title, seen + tail, fix)
        if not first.cookie:
            title = f"{site}: the 302 to /start carries no Set-Cookie from the outpost"
            return self.r(check, "warn", title, seen, FIX["cookie"])
        return self.r(check, "ok", f"{site}: 302 to /start, and /start reaches the outpost", seen)

    def request(self, site: str, scheme: str, addr: str, port: int, path: str) -> _Answer:
        url = f"{scheme}://{site}:{port}{path}"
        pin = f"{site}:{port}:{f'[{addr}]' if ':' in addr else addr}"
        answer = _Answer(f"GET {url} (curl on {self.name}, --resolve {pin})")
        try:
            done = self.server.run(
                [*_CURL, str(REQUEST_TIMEOUT), "--resolve", pin, url], sudo=False
            )
        except RemoteError as e:
            answer.error = e.message
            return answer
        if done.status == 127:  # no curl there: from here, to the SSH host name
            return _direct(site, scheme, self.server.endpoint.hostname, port, path)
        if not done.ok:
            answer.error = done.output.strip()[-300:]
            return answer
        lines = [line.strip() for line in done.output.splitlines() if line.strip()]
        headers = [line.partition(":") for line in lines[1:-1]]
        code = lines[-1] if lines else ""
        answer.status = int(code) if code.isdigit() else 0
        answer.location = next((v.strip() for k, _, v in headers if k.lower() == "location"), "")
        answer.cookie = any(k.lower() == "set-cookie" for k, _, _ in headers)
        return answer

    def log_tail(self, site: str) -> str:
        """nginx's own reason (e.g. `auth request unexpected status: 400`), when readable."""
        try:
            text = self.server.run(["tail", "-n", "200", self.cfg.error_log]).output
        except RemoteError:
            return ""
        hits = [x for x in text.splitlines() if "auth request" in x or f'host: "{site}' in x]
        return "".join(f"\n{self.cfg.error_log}: {line[-300:]}" for line in hits[-2:])


def _direct(site: str, scheme: str, host: str, port: int, path: str) -> _Answer:
    url = f"{scheme}://{host}:{port}{path}"
    answer = _Answer(f"GET {url} Host: {site} (from here: no curl on the web server)")
    try:
        r = httpx.get(
            url,
            headers={"Host": site},
            verify=False,
            timeout=REQUEST_TIMEOUT,
            extensions={"sni_hostname": site},
        )
    except httpx.HTTPError as e:
        answer.error = f"{type(e).__name__}: {e}"
        return answer
    answer.status, answer.location = r.status_code, r.headers.get("location", "")
    answer.cookie = "set-cookie" in r.headers
    return answer


# --- reading server blocks ------------------------------------------------------------------


def _where(level: Server | Location) -> str:
    return level.directive.where() if level.directive is not None else "?"


def _name_matches(pattern: str, site: str) -> bool:
    p = pattern.lower()
    if p.startswith("~"):
        try:
            return re.search(p[1:], site) is not None
        except re.error:
            return False
    if p.startswith("*."):
        return site.endswith(p[1:])
    if p.startswith("."):
        return site == p[1:] or site.endswith(p)
    return site.startswith(p[:-1]) if p.endswith(".*") else p == site


def server_for(blocks: Sequence[Server], site: str, https: bool = True) -> Server | None:
    """The server block nginx would pick for ``site``: by server_name, else the default
    server; among several, one with authentik's auth_request, on the site's scheme first."""
    named = [s for s in blocks if any(_name_matches(n, site) for n in s.names)] or [
        s
        for s in blocks
        if any({"default_server", "default"} & set(d.args[1:]) for d in s.own("listen"))
    ]

    def rank(s: Server) -> tuple[bool, bool]:
        listen = _listen(s, https)
        return not auth_uris(s), listen is None or listen[0] != _scheme(https)

    return min(named, key=rank) if named else None


def _scheme(https: bool) -> str:
    return "https" if https else "http"


def _listen(block: Server, https: bool) -> tuple[str, str, int] | None:
    """(scheme, address to connect to, port) of the block's listen, the site's scheme first."""
    found = []
    for d in block.own("listen"):
        if not d.args or d.args[0].startswith("unix:") or "quic" in d.args[1:]:
            continue
        arg, host, port = d.args[0], "", 80
        if arg.isdigit():
            port = int(arg)
        elif arg.startswith("["):
            host, _, rest = arg[1:].partition("]")
            port = int(rest[1:]) if rest[1:].isdigit() else 80
        else:
            name, colon, num = arg.rpartition(":")
            host, port = (name, int(num)) if colon and num.isdigit() else (arg, 80)
        tls = "ssl" in d.args[1:] or port == 443
        found.append((_scheme(tls), _connect_address(host), port))
    found.sort(key=lambda f: f[0] != _scheme(https))
    return found[0] if found else None


def _connect_address(addr: str) -> str:
    if addr in ("", "*", "0.0.0.0"):
        return "127.0.0.1"
    if addr == "::":
        return "::1"
    try:
        return ipaddress.ip_address(addr).compressed
    except ValueError:
        return "127.0.0.1"  # a host name listen: nginx bound it locally, try loopback


def _probe_path(block: Server | None) -> str:
    """A URL the server protects: / when auth covers it, else the first protected prefix."""
    levels = protected(block) if block is not None else []
    if not levels or any(lv is block or getattr(lv, "pattern", "") == "/" for lv in levels):
        return "/"
    for lv in levels:
        if (
            isinstance(lv, Location)
            and lv.modifier in ("", "^~", "=")
            and _SAFE_PATH.match(lv.pattern)
        ):
            return lv.pattern
    return "/"


def _norm(address: str) -> str:
    """``host:port`` compared loosely: brackets and case dropped, port 80 when missing."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or address.endswith("]"):
        host, port = address, "80"
    return f"{host.strip('[]').lower()}:{port}"
