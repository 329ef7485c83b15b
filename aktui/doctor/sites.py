"""The doctor's per-site checks on one web server, over its open SSH session.

For each ``sites`` entry of a web server: the server block nginx picks for it must send the auth
subrequest to the outpost the model says serves the site (``site-outpost``), and an
unauthenticated request through that nginx must get the 302 to /outpost.goauthentik.io/start,
whose /start must then reach the outpost rather than a deny rule (``site-redirect``).

The request is made by curl on the web server itself, over the same SSH session: real sites are
often not reachable from the operator's machine on their HTTP port (firewalled, listening on
127.0.0.1 or a Tailscale address) or sit behind Cloudflare, which would answer instead of this
nginx. ``--resolve SITE:PORT:ADDR`` connects to this nginx's own listen address while sending the
site's Host and TLS SNI, as a browser would. Without curl there, the request goes from here to
the SSH host name, and the evidence says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from aktui.authentik.model import Snapshot
from aktui.config import WebServerConfig
from aktui.deploy.snippets import SnippetSet
from aktui.deploy.ssh import WebServer
from aktui.deploy.upstreams import outpost_for_site
from aktui.doctor.checks import CheckResult
from aktui.errors import RemoteError, UnsafeValue
from aktui.nginx.facts import START_URI, auth_uris, proxy_target
from aktui.nginx.locations import OUTPOST_PREFIX, Server
from aktui.nginx.sites import defined_at, listen_address, probe_path, server_for, url_scheme
from aktui.nginx.values import check_hostname, outpost_file_name

SITE_CHECKS = ("site-outpost", "site-redirect")
REQUEST_TIMEOUT = 10
_REDIRECTS = (301, 302, 303, 307, 308)
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
class SiteChecks:
    """The site checks of one connected web server. ``aktui.doctor.web`` runs the rest of the
    host's checks on top of it, so ``r`` makes every result about this host."""

    name: str
    cfg: WebServerConfig
    server: WebServer
    snapshot: Snapshot
    snippets: SnippetSet | None

    def r(self, check: str, status: str, title: str, *seen_fix_action: str) -> CheckResult:
        """A result about this host: ``seen_fix_action`` are evidence, fix and action."""
        seen, fix, action = (*seen_fix_action, "", "", "")[:3]
        return CheckResult(check, status, f"{self.name}: {title}", seen, fix, self.subject, action)

    @property
    def subject(self) -> str:
        return f"host:{self.name}"

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
        self,
        site: str,
        outpost: str,
        provider: str,
        block: Server | None,
        blocks: list[Server] | None,
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
            seen = f"server {block.display_name} ({defined_at(block)}): " + (
                f"{loc.label()} ({defined_at(loc)}) does not proxy_pass to a fixed address"
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
        self, site: str, block: Server | None, https: bool, blocks: list[Server] | None
    ) -> CheckResult:
        check = "site-redirect"
        if blocks is None:  # without nginx -T its listen address and port are unknown
            return self.r(check, "skipped", site, "not checked: no nginx -T")
        scheme, addr, port = (listen_address(block, https) if block else None) or (
            url_scheme(https),
            "127.0.0.1",
            443 if https else 80,
        )
        first = self.request(site, scheme, addr, port, probe_path(block))
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
        # httpx.get() takes no extensions (a TypeError, not an HTTPError); a client does.
        with httpx.Client(verify=False, timeout=REQUEST_TIMEOUT) as client:
            r = client.get(url, headers={"Host": site}, extensions={"sni_hostname": site})
    except httpx.HTTPError as e:
        answer.error = f"{type(e).__name__}: {e}"
        return answer
    answer.status, answer.location = r.status_code, r.headers.get("location", "")
    answer.cookie = "set-cookie" in r.headers
    return answer


def _norm(address: str) -> str:
    """``host:port`` compared loosely: brackets and case dropped, port 80 when missing."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or address.endswith("]"):
        host, port = address, "80"
    return f"{host.strip('[]').lower()}:{port}"
