"""Checks about where the outpost locations send requests: the authentik server's embedded
outpost instead of an outpost container, or a public host name behind a CDN/tunnel."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aktui.nginx.checks.outpost import auth_locations
from aktui.nginx.facts import (
    Env,
    finding,
    fronts_same_host,
    headers,
    is_ip,
    is_outpost,
    proxy_target,
)
from aktui.nginx.locations import OUTPOST_PREFIX, Location, Server
from aktui.nginx.report import LintFinding

# The site's own host as a request header value: $host, $http_host (with or without braces).
_SITE_HOST = re.compile(r"\$\{?(?:host|http_host)\b")

_PRIVATE_SUFFIXES = (
    ".ts.net",
    ".local",
    ".lan",
    ".internal",
    ".home.arpa",
    ".localhost",
    ".docker",
    ".svc",
    ".cluster.local",
    ".home",
    ".intranet",
    ".corp",
)


def _looks_like_server(host: str, port: int | None) -> list[str]:
    if "outpost" in host:
        return []
    why = []
    labels = set(host.replace("_", "-").replace(".", "-").split("-"))
    if labels & {"authentik", "server", "ak"} or host.split(".")[0] in ("auth", "sso", "idp"):
        why.append(f"the host name {host} looks like the authentik server")
    if port in (9000, 9443):
        why.append(
            f"port {port} is the authentik server's (the field guide publishes outpost "
            "containers on 9001, 9002, ...)"
        )
    return why


def _split(address: str) -> tuple[str, int | None]:
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    return host.lower().strip("[]"), int(port) if port.isdigit() else None


def _known(address: str, known: frozenset[str]) -> bool:
    host, port = _split(address)
    for k in known:
        khost, kport = _split(k)
        if khost == host and (kport is None or port is None or kport == port):
            return True
    return False


def embedded_outpost_target(server: Server, env: Env) -> Iterator[LintFinding]:
    """Outpost locations that proxy to the authentik server itself (its embedded outpost)."""
    for loc in server.all_locations():
        if not is_outpost(loc):
            continue
        target = proxy_target(loc, server)
        if target is None:
            yield from _variable_target(loc, server)
            continue
        addresses = target.addresses
        if any(_known(a, env.outpost_addresses) for a in addresses):
            continue
        if fronts_same_host(server, target.host):
            continue
        sure = [a for a in addresses if _split(a)[0] in env.server_hosts]
        why: list[str] = []
        for a in addresses:
            why.extend(_looks_like_server(*_split(a)))
        if not sure and not why:
            # Keeping the path alone proves nothing: a separate outpost serves the same paths,
            # so `proxy_pass http://100.64.0.10:9001/outpost.goauthentik.io` is fine.
            continue
        if target.path.startswith(OUTPOST_PREFIX):
            why.append(
                "it keeps the /outpost.goauthentik.io path, as the embedded-outpost template does"
            )
        evidence = (
            f"{target.directive.text()} in {loc.label()} goes to the authentik server "
            f"({', '.join(sure)} is its address), i.e. to its embedded outpost"
            if sure
            else f"{target.directive.text()} in {loc.label()} looks like the authentik "
            f"server's embedded outpost: {'; '.join(why)}"
        )
        yield finding(
            server,
            "embedded-outpost-target",
            "error" if sure else "warning",
            target.directive,
            evidence + " (its /outpost.goauthentik.io/auth/nginx answers 404, which NGINX "
            "turns into 500: goauthentik/authentik#19839)",
            "Do not use the embedded outpost for forward auth: deploy a separate proxy outpost "
            "container (outpost-single, port 9001) and `proxy_pass http://TAILSCALE_IP:9001;`.",
        )


_VARIABLE_HOST = re.compile(r"^(?:\w+|\$\w+)://(\$\{?(\w+)\}?)(?::(\d+))?(/\S*)?$")


def _variable_target(loc: Location, server: Server) -> Iterator[LintFinding]:
    """``proxy_pass http://$upstream_authentik:9000`` whose value is set where the linter cannot
    see it (an include, a map): the variable's name and the port still say where it goes."""
    own = loc.own("proxy_pass")
    if not own or not own[-1].args:
        return
    d = own[-1]
    m = _VARIABLE_HOST.match(d.args[0])
    if m is None:
        return
    _, name, port, path = m.groups()
    why = _looks_like_server(name.lower().replace("upstream_", ""), int(port) if port else None)
    if not why:
        return
    if path and path.startswith(OUTPOST_PREFIX):
        why.append(
            "it keeps the /outpost.goauthentik.io path, as the embedded-outpost template does"
        )
    yield finding(
        server,
        "embedded-outpost-target",
        "warning",
        d,
        f"{d.text()} in {loc.label()} looks like the authentik server's embedded outpost: "
        f"{'; '.join(why)} (the variable's value is not in the linted files; pass "
        "--authentik-url or --outpost to decide) (its /outpost.goauthentik.io/auth/nginx "
        "answers 404, which NGINX turns into 500: goauthentik/authentik#19839)",
        "Do not use the embedded outpost for forward auth: deploy a separate proxy outpost "
        "container (outpost-single, port 9001) and `proxy_pass http://TAILSCALE_IP:9001;`.",
    )


# The ports authentik's outposts and server listen on by default: plain HTTP and TLS.
_HTTP_PORT, _TLS_PORT = 9000, 9443


def outpost_scheme_port(server: Server, env: Env) -> Iterator[LintFinding]:
    """proxy_pass speaking the wrong protocol to an outpost's default port: http:// to 9443
    gets Go's 400 "Client sent an HTTP request to an HTTPS server", https:// to 9000 fails
    NGINX's TLS handshake ("wrong version number", 502); auth_request makes either a 500."""
    for loc in server.all_locations():
        if not is_outpost(loc):
            continue
        target = proxy_target(loc, server)
        if target is None:
            continue
        ports = {_split(a)[1] for a in target.addresses}
        if target.scheme == "http" and _TLS_PORT in ports:
            problem = (
                f"sends plain HTTP to port {_TLS_PORT}, where the outpost listens with TLS: "
                'it answers 400 "Client sent an HTTP request to an HTTPS server"'
            )
        elif target.scheme == "https" and _HTTP_PORT in ports:
            problem = (
                f"speaks TLS to port {_HTTP_PORT}, where the outpost listens for plain HTTP: "
                'the handshake fails ("wrong version number") and NGINX answers 502'
            )
        else:
            continue
        yield finding(
            server,
            "outpost-scheme-port",
            "error",
            target.directive,
            f"{target.directive.text()} in {loc.label()} {problem}, which auth_request turns "
            "into a 500 for every visitor",
            f"Use `http://HOST:{_HTTP_PORT}` (or the port published for it) or "
            f"`https://HOST:{_TLS_PORT}`.",
        )


def auth_path_via_proxy(server: Server, env: Env) -> Iterator[LintFinding]:
    """The auth path sent to a public host name: through Cloudflare or another proxy that
    routes by Host (cheat sheet: 500 `unexpected status: 301`, 403 from Cloudflare)."""
    for _uri, loc in auth_locations(server, env):
        target = proxy_target(loc, server)
        if target is None or target.members or not target.host or is_ip(target.host):
            continue
        host = target.host
        if "." not in host or host.endswith(_PRIVATE_SUFFIXES) or "outpost" in host:
            continue
        if _known(f"{host}:{target.port}" if target.port else host, env.outpost_addresses):
            continue
        if target.scheme != "https" and target.port is not None:
            continue  # http to an explicit port: an outpost port, not a web front
        sni = loc.effective("proxy_ssl_server_name")[0]
        extra = ""
        if target.scheme == "https" and not (sni and sni[-1].args[:1] == ("on",)):
            extra = "; without `proxy_ssl_server_name on` there is no SNI (403 from Cloudflare)"
        yield finding(
            server,
            "auth-path-via-proxy",
            "warning",
            target.directive,
            f"the auth subrequest goes to {target.url}, a public host name: a CDN or tunnel "
            "in between routes by Host and answers 301/403, which NGINX turns into 500" + extra,
            "Send the auth path straight to the outpost container over a private network: "
            "`proxy_pass http://TAILSCALE_IP:9001;` (Cloudflare stays in front of your sites, "
            "not between NGINX and the outpost); if it must, add `proxy_ssl_server_name on;`.",
        )


def outpost_path_loops(server: Server, env: Env) -> Iterator[LintFinding]:
    """The outpost location proxies to a host name this NGINX serves itself (the authentik
    site's server_name) while sending the site's own Host: NGINX picks the server by Host, so
    the request lands in this site's outpost location again and again until connections run
    out (checked with nginx 1.22: 502 "Connection reset by peer", then 500s;
    goauthentik#4207: "error 500 on browser, 502 in logs")."""
    own = {n.lower() for n in server.names}
    for loc in server.all_locations():
        if not is_outpost(loc):
            continue
        target = proxy_target(loc, server)
        if target is None or target.members or not target.host:
            continue
        if target.host not in server.config_names and target.host not in own:
            continue
        value = headers(loc)[0].get("host", ("$proxy_host", None))[0]
        if target.host not in own and not _SITE_HOST.search(value):
            continue  # Host names the target: NGINX routes it to that server, not here
        yield finding(
            server,
            "outpost-path-loops",
            "error",
            target.directive,
            f"`{target.directive.text()}` in {loc.label()} goes to {target.host}, a name this "
            f"NGINX serves itself, with Host {value} ({server.display_name}): NGINX routes it "
            "back to this site's outpost location, which proxies it again (a loop until "
            "connections run out: 502, and 500 for every visitor)",
            "Proxy the outpost paths to the outpost itself, not to a public name served by "
            "this NGINX: `proxy_pass http://TAILSCALE_IP:9001;` (or the authentik server's "
            "internal address, e.g. http://127.0.0.1:9000/outpost.goauthentik.io).",
        )
