"""Checks about the outpost's own locations and the auth subrequest.

Each check is ``check(server, env) -> Iterator[LintFinding]``; the fix texts use the field
guide's words and snippet file names (authentik-forward-auth.conf and
authentik-outpost-single.conf).
"""

from __future__ import annotations

from collections.abc import Iterator

from aktui.nginx.config import Directive
from aktui.nginx.facts import (
    AUTH_URI,
    CALLBACK_URI,
    HOST_VAR,
    START_URI,
    Env,
    auth_request,
    auth_requests,
    auth_uris,
    authentik_auth,
    finding,
    fronts_same_host,
    has_hole,
    headers,
    is_outpost,
    label,
    non_default_port,
    protected,
    proxy_target,
    signin_pages,
)
from aktui.nginx.locations import OUTPOST_PREFIX, Location, Server
from aktui.nginx.report import LintFinding

CARET_FIX = (
    "Use the ^~ modifier on the outpost location: `location ^~ /outpost.goauthentik.io { ... }`. "
    "^~ tells NGINX to use this location and stop checking regex patterns "
    "(authentik-outpost-single.conf)."
)
AUTH_LOCATION = (
    "location = /outpost.goauthentik.io/auth/nginx { proxy_pass http://TAILSCALE_IP:9001; "
    "proxy_set_header Host $host; "
    "proxy_set_header X-Original-URL $scheme://$http_host$request_uri; "
    'proxy_pass_request_body off; proxy_set_header Content-Length ""; }'
)


def _effect(loc: Location) -> str:
    if loc.own("deny"):
        return "denies it (403) before the outpost is reached"
    if loc.own("return"):
        return f"answers `{loc.own('return')[0].text()}` before the outpost is reached"
    return "serves it instead of the outpost"


def outpost_location(server: Server, env: Env) -> Iterator[LintFinding]:
    """outpost-location-shadowed / outpost-location-no-caret, by nginx's matching order."""
    probes = [START_URI, CALLBACK_URI, *auth_uris(server)]
    for loc in server.all_locations():
        if not is_outpost(loc) or loc.modifier == "=" or loc.directive is None:
            continue
        shadow = None
        for uri in probes:
            if not loc.matches(uri):
                continue
            winner = server.match(uri)
            if winner is not None and winner is not loc and not is_outpost(winner):
                shadow = (uri, winner)
                break
        if shadow is not None:
            uri, winner = shadow
            fix = CARET_FIX
            if loc.is_regex:
                fix = "Replace it with a prefix location that regexes cannot override: " + fix
            yield finding(
                server,
                "outpost-location-shadowed",
                "error",
                loc.directive,
                f"for {uri}, {label(winner)} wins over {loc.label()} "
                f"(a regex location beats a plain prefix) and {_effect(winner)}",
                fix,
            )
        elif loc.modifier == "":
            yield finding(
                server,
                "outpost-location-no-caret",
                "warning",
                loc.directive,
                f"{loc.label()} is a plain prefix location: nothing shadows it yet, but any "
                "regex location that matches these paths (an app route like `location ~ /auth/`,"
                " a broad deny rule) will win over it",
                CARET_FIX,
            )


def _absence(server: Server) -> tuple[str, str]:
    """Severity and a note for a finding about a location the server lacks. Text without a
    server block (a snippet file, an NPM Advanced tab) may go into a server that has it, as
    an include or an NPM custom location: a warning there, an error for a whole server."""
    if server.fragment:
        return "warning", (
            " (this text has no server block: if the server it goes into has that location, "
            "lint that server or its `nginx -T`)"
        )
    return "error", ""


def _proxies(loc: Location | None, server: Server) -> bool:
    return loc is not None and bool(loc.own("proxy_pass"))


def _covered_by_outpost(server: Server, uri: str) -> bool:
    return any(is_outpost(loc) and loc.matches(uri) for loc in server.all_locations())


def missing_outpost_locations(server: Server, env: Env) -> Iterator[LintFinding]:
    """auth_request to a URI nothing proxies (or only the app's location: auth-subrequest-to-app);
    a signin target that does not exist."""
    if server.incomplete:
        return  # the missing location may be in the include we could not read
    # Only where auth really runs: an auth_request inherited by a server that answers with a
    # server-level `return` (the port-80 redirect next to the site) never asks the outpost.
    applied = {d.args[0].split("?", 1)[0] for d in map(authentik_auth, protected(server)) if d}
    for uri, d in auth_uris(server).items():
        if uri not in applied:
            continue
        winner = server.match(uri)
        if winner is not None and not is_outpost(winner) and _covered_by_outpost(server, uri):
            continue  # reported as outpost-location-shadowed
        if _proxies(winner, server):
            assert winner is not None
            if not is_outpost(winner) and not _outpost_like(winner, env):
                yield _to_app(server, uri, d, winner)
            continue
        seen = f"it is answered by {label(winner)}" if winner else "no location matches it"
        severity, note = _absence(server)
        yield finding(
            server,
            "missing-outpost-locations",
            severity,
            d,
            f"{d.text()} but nothing proxies {uri} to the outpost ({seen}): the auth "
            f"subrequest fails and NGINX answers 500{note}",
            "Include the outpost snippet (authentik-outpost-single.conf) in this server: "
            + AUTH_LOCATION,
        )
    uses_relative_start = False
    for ep in signin_pages(server):
        target = ep.args[-1]
        if target.startswith("@") and target not in server.named:
            severity, note = _absence(server)
            yield finding(
                server,
                "missing-outpost-locations",
                severity,
                ep,
                f"{ep.text()} but this server has no `location {target}`: NGINX answers "
                f"500 instead of sending visitors to the login{note}",
                "Include authentik-outpost-single.conf, which defines `location "
                "@goauthentik_proxy_signin { internal; add_header Set-Cookie $auth_cookie; "
                "return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host"
                "$request_uri; }`",
            )
        elif target.startswith(START_URI):
            uses_relative_start = True
        elif target in server.named:
            for ret in server.named[target].own("return"):
                if ret.args and ret.args[-1].startswith(START_URI):
                    uses_relative_start = True
    if uses_relative_start:
        winner = server.match(START_URI)
        covered = winner is not None and winner.is_regex and _covered_by_outpost(server, START_URI)
        if not _proxies(winner, server) and not covered:
            at = server.directive or next(iter(auth_uris(server).values()), None)
            if at is not None:
                seen = f"{label(winner)} answers it" if winner else "no location matches it"
                severity, note = _absence(server)
                yield finding(
                    server,
                    "missing-outpost-locations",
                    severity,
                    at,
                    f"the signin redirect goes to {START_URI} on this server, but no location "
                    f"proxies it to the outpost ({seen}){note}",
                    "Include authentik-outpost-single.conf: `location ^~ /outpost.goauthentik.io "
                    "{ proxy_pass http://TAILSCALE_IP:9001; ... }` serves /start and /callback.",
                )
        elif winner is not None and winner.own("internal"):
            # `internal;` keeps browsers out (404): only the auth subrequest and internal
            # redirects get in, so /start and /callback never reach the outpost (published
            # in an NPM template that put it on the whole /outpost.goauthentik.io prefix).
            yield finding(
                server,
                "missing-outpost-locations",
                "error",
                winner.own("internal")[0],
                f"the signin redirect sends browsers to {START_URI}, but {label(winner)} is "
                "`internal;`: NGINX answers browsers 404 there, so the login never starts",
                "Remove `internal;` from the outpost location; if the auth check needs its own "
                "internal location, make it exact: `location = /outpost.goauthentik.io/auth/nginx"
                " { internal; ... }`.",
            )


def _outpost_like(loc: Location, env: Env) -> bool:
    """A non-outpost location whose proxy_pass may still reach an outpost: its URL names one
    (outpost, authentik, the outpost path) or an address the caller knows as one."""
    args = loc.own("proxy_pass")[-1].args
    url = args[0].lower() if args else ""
    if any(word in url for word in ("outpost", "authentik")):
        return True
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
    return host in {a.split(":")[0] for a in (*env.outpost_addresses, *env.server_hosts)}


def _to_app(server: Server, uri: str, d: Directive, winner: Location) -> LintFinding:
    """auth-subrequest-to-app: nginx skips the access phase (auth_request) in subrequests, so
    the app's own location answers the auth check: whatever the app says for that path decides
    who gets in (an app or SPA answering 200 for unknown paths lets everyone in; checked with
    nginx 1.22: /secret served without a login)."""
    pp = winner.own("proxy_pass")[-1]
    severity, note = _absence(server)
    return finding(
        server,
        "auth-subrequest-to-app",
        severity,
        d,
        f"{d.text()} but {uri} is answered by {label(winner)}, which proxies to the app "
        f"(`{pp.text()}`), not to an outpost: the app's answer decides who gets in (200 for "
        f"unknown paths lets every visitor in, 404 makes NGINX answer 500){note}",
        "Include the outpost snippet (authentik-outpost-single.conf) in this server: "
        + AUTH_LOCATION
        + " and `location ^~ /outpost.goauthentik.io { proxy_pass http://TAILSCALE_IP:9001; }`",
    )


def auth_locations(server: Server, env: Env) -> list[tuple[str, Location]]:
    out = []
    for uri in auth_uris(server):
        winner = server.match(uri)
        if winner is None or not _proxies(winner, server):
            continue  # missing-outpost-locations
        if server.incomplete and not is_outpost(winner):
            continue  # the outpost location may be in the part that could not be read
        if not is_outpost(winner) and _covered_by_outpost(server, uri):
            continue  # outpost-location-shadowed: the winner is not meant for the outpost
        if not is_outpost(winner) and not _outpost_like(winner, env):
            continue  # auth-subrequest-to-app: the app's location, not one for the outpost
        out.append((uri, winner))
    return out


def auth_subrequest(server: Server, env: Env) -> Iterator[LintFinding]:
    """x-original-url-missing and auth-body-passed on the location answering auth_request."""
    for uri, loc in auth_locations(server, env):
        if loc.directive is None or has_hole(loc):
            continue  # an include we could not read may set the header or body lines
        hdrs, source = headers(loc)
        # Text without a server block: a location with no proxy_set_header of its own takes
        # the server's, which this text does not show (a snippet included into a server).
        unseen = bool(server.fragment) and not loc.own("proxy_set_header")
        if "x-original-url" not in hdrs and "x-original-uri" not in hdrs and not unseen:
            why = ""
            for outer in loc.chain():
                if outer is source:
                    continue
                hidden = [
                    d
                    for d in outer.own("proxy_set_header")
                    if d.args and d.args[0].lower() in ("x-original-url", "x-original-uri")
                ]
                if hidden and source is not None:
                    why = (
                        f" ({label(source)} has its own proxy_set_header lines, which "
                        f"replace the one at {hidden[0].where()})"
                    )
                    break
            yield finding(
                server,
                "x-original-url-missing",
                "error",
                loc.directive,
                f"{loc.label()} answers the auth subrequest {uri} without an X-Original-URL "
                f"header{why}: the outpost cannot tell which URL was asked for and answers 500",
                "Add `proxy_set_header X-Original-URL $scheme://$http_host$request_uri;` to the "
                "auth location (authentik-outpost-single.conf).",
            )
        body_off = loc.effective("proxy_pass_request_body")[0]
        missing = []
        if not body_off or body_off[-1].args[:1] != ("off",):
            missing.append("proxy_pass_request_body off;")
        if hdrs.get("content-length", ("x",))[0] != "":
            missing.append('proxy_set_header Content-Length "";')
        if missing:
            yield finding(
                server,
                "auth-body-passed",
                "warning",
                loc.directive,
                f"{loc.label()} passes the request body to the outpost with every auth "
                f"subrequest (no {' / '.join(missing)}): POSTs and uploads stall or time out",
                f"Add {' '.join(missing)} to the auth location (authentik-outpost-single.conf).",
            )


def host_vs_http_host(server: Server, env: Env) -> Iterator[LintFinding]:
    """`$host` (no port) where the site's URL has a port, or another proxy sits in front."""
    reason = non_default_port(server)
    if not reason:
        return
    suspects: dict[Directive, str] = {}
    for loc in server.all_locations():
        if is_outpost(loc):
            hdrs, _ = headers(loc)
            for name in ("host", "x-forwarded-host", "x-original-url", "x-original-uri"):
                value, d = hdrs.get(name, ("", None))
                if d is not None and HOST_VAR.search(value):
                    suspects[d] = name
        elif loc.is_named:
            for ret in loc.own("return"):
                if ret.args and "rd=" in ret.args[-1] and HOST_VAR.search(ret.args[-1]):
                    suspects[ret] = "rd"
    for d in suspects:
        yield finding(
            server,
            "host-vs-http-host",
            # A pasted fragment does not say its port: say so, without failing the lint.
            "warning" if server.listen_known else "info",
            d,
            f"`{d.text()}` uses $host, which drops the port, while {reason}: the outpost "
            "matches and redirects to a URL without it (redirect loop after login)",
            "Use $http_host (includes the port) instead of $host: "
            "`proxy_set_header Host $http_host;`, "
            "`X-Original-URL $scheme://$http_host$request_uri`, "
            "`?rd=$scheme://$http_host$request_uri`.",
        )


# The outpost's endpoints for the other proxies: they answer an anonymous visitor with 302.
_OTHER_ENDPOINTS = frozenset(f"{OUTPOST_PREFIX}/auth/{p}" for p in ("traefik", "caddy", "envoy"))


def _sent_path(server: Server, uri: str) -> str | None:
    """The path the outpost receives for ``uri``, or None when it cannot be told: proxy_pass
    with a URI part replaces the matched prefix (all of it for an exact location)."""
    loc = server.match(uri)
    if loc is None or not is_outpost(loc) or loc.is_regex:
        return None
    target = proxy_target(loc, server)
    if target is None:
        return None
    if not target.path:
        return uri
    if "$" in target.path:
        return None
    if loc.modifier == "=":
        return target.path
    return target.path + uri[len(loc.pattern) :]


def auth_endpoint(server: Server, env: Env) -> Iterator[LintFinding]:
    """auth_request to another proxy's endpoint (/auth/traefik, /auth/caddy, /auth/envoy):
    those answer an anonymous visitor with a 302, and auth_request accepts only 2xx/401/403.
    Or to an outpost path that is no endpoint at all (`/outpost.goauthentik.io/auth`, seen in a
    published NPM template): the outpost answers 404, unless the location sends it on to
    /auth/nginx."""
    for uri, d in auth_uris(server).items():
        if uri == AUTH_URI:
            continue
        if uri in _OTHER_ENDPOINTS:
            yield finding(
                server,
                "auth-endpoint-wrong",
                "error",
                d,
                f"`{d.text()}` asks the outpost's {uri.rsplit('/', 1)[-1]} endpoint, which "
                "redirects (302) a visitor without a session; NGINX turns that into 500 ('auth "
                "request unexpected status: 302')",
                f"Use `auth_request {AUTH_URI};`, the endpoint written for NGINX (401 or 200).",
            )
            continue
        sent = _sent_path(server, uri)
        if sent is None or sent == AUTH_URI or sent in _OTHER_ENDPOINTS:
            continue
        yield finding(
            server,
            "auth-endpoint-wrong",
            "error",
            d,
            f"`{d.text()}`: the outpost has no {sent} endpoint (only {AUTH_URI} answers NGINX's "
            "auth subrequest), so it answers 404 and NGINX turns that into 500 ('auth request "
            "unexpected status: 404')",
            f"Use `auth_request {AUTH_URI};`, the endpoint written for NGINX (401 or 200).",
        )


def outpost_path_rewritten(server: Server, env: Env) -> Iterator[LintFinding]:
    """proxy_pass with a URI part on an outpost location replaces the matched prefix:
    `location /outpost.goauthentik.io { proxy_pass http://outpost:9001/; }` sends /auth/nginx
    instead of /outpost.goauthentik.io/auth/nginx, and the outpost answers 404; so does a path
    with the prefix twice."""
    for loc in server.all_locations():
        if not is_outpost(loc) or loc.is_regex or loc.directive is None:
            continue
        target = proxy_target(loc, server)
        if target is None or not target.path or "$" in target.path:
            continue
        probes = [u for u in (AUTH_URI, START_URI, CALLBACK_URI) if loc.matches(u)]
        rewritten = {u: target.path + u[len(loc.pattern) :] for u in probes}
        # The outpost routes exactly these paths: a lost prefix, a doubled one
        # (goauthentik/authentik#10181) or a "//" all miss (404, or a 301 auth_request rejects).
        wrong = {u: r for u, r in rewritten.items() if r != u}
        if not wrong:
            continue
        uri, sent = next(iter(wrong.items()))
        yield finding(
            server,
            "outpost-path-rewritten",
            "error",
            target.directive,
            f"`{target.directive.text()}` in {loc.label()} replaces the matched {loc.pattern} "
            f"with {target.path}: the outpost gets {sent} for {uri} and answers 404",
            "Drop the path from proxy_pass (`proxy_pass http://HOST:9001;` keeps the URI as "
            f"is), or keep it whole: `proxy_pass http://HOST:9001{OUTPOST_PREFIX};`.",
        )


def outpost_host_fixed(server: Server, env: Env) -> Iterator[LintFinding]:
    """`proxy_set_header Host auth.example.com;` on the outpost's paths: the outpost picks the
    application by Host, so every site proxied this way looks like that one host (no app for
    hostname / the embedded outpost's 404), unless it is this server's own single name."""
    # The host the signin sends browsers to, in domain-level mode the provider's external host:
    # a Host naming it is the one the outpost matches (exact external_host), not a wrong one.
    names = {n.lower() for n in server.names} | _signin_hosts(server)
    for loc in server.all_locations():
        if not is_outpost(loc):
            continue
        hdrs, _ = headers(loc)
        if "$" in hdrs.get("x-forwarded-host", ("", None))[0]:
            # The outpost picks the app by X-Forwarded-Host when it is set (GetHost), so a
            # fixed Host for a front that routes by it (Traefik, SNI) is fine (#12911's fix).
            continue
        value, d = hdrs.get("host", ("", None))
        if d is None:
            yield from _default_host(server, loc, names)
            continue
        if "$" in value or not value or value.lower() in names:
            continue
        yield finding(
            server,
            "outpost-host-fixed",
            "warning",
            d,
            f"`{d.text()}` sends every request for the outpost with Host {value}: the outpost "
            "chooses the application by Host, so it answers for "
            f'{value} instead of {server.display_name} ("no app for hostname" or 404)',
            "Send the site's own host: `proxy_set_header Host $host;` ($http_host with a port).",
        )


def _signin_hosts(server: Server) -> set[str]:
    """Hosts of absolute signin redirects (`https://auth.example.com/outpost.goauthentik.io/
    start?...`, domain-level mode), from the error_page itself or its named location."""
    targets = []
    for ep in signin_pages(server):
        target = ep.args[-1]
        named = server.named.get(target)
        if named is not None:
            targets += [r.args[-1] for r in named.own("return") if r.args]
        else:
            targets.append(target)
    hosts = set()
    for url in targets:
        if url.startswith(("http://", "https://")):
            host = url.split("://", 1)[1].split("/", 1)[0].lower()
            if "$" not in host:
                hosts |= {host, host.split(":", 1)[0]}
    return hosts


def _default_host(server: Server, loc: Location, names: set[str]) -> Iterator[LintFinding]:
    """No Host line in force: nginx sends `Host: $proxy_host`, the proxy_pass address
    (authentik-nix#22, a NixOS vhost without recommendedProxySettings). The embedded outpost
    then finds no application (404); a standalone one answers "no app for hostname" (400)
    unless it serves exactly one application. Both become 500 in NGINX."""
    if server.incomplete or loc.directive is None:
        return  # a proxy.conf we could not read may set Host
    if server.fragment and not isinstance(headers(loc)[1], Location):
        return  # text without a server block: the server it goes into may set Host
    target = proxy_target(loc, server)
    if target is None or not target.host or target.host in names:
        return
    if fronts_same_host(server, target.host):
        return  # the authentik server's own site: the outpost path is the server's
    sent = f"{target.host}:{target.port}" if target.port else target.host
    yield finding(
        server,
        "outpost-host-fixed",
        "warning",
        target.directive,
        f"{loc.label()} sets no Host, so NGINX sends `Host: {sent}` (the proxy_pass "
        "address): the outpost chooses the application by Host and finds none for it (the "
        'embedded outpost answers 404, a shared one "no app for hostname"; NGINX shows 500)',
        "Send the site's own host: `proxy_set_header Host $host;` ($http_host with a port), "
        "or `proxy_set_header X-Forwarded-Host $http_host;`.",
    )


def auth_on_outpost_paths(server: Server, env: Env) -> Iterator[LintFinding]:
    """auth_request on the outpost's own locations.

    A server-level auth_request inherited by them is fine: the outpost answers 200 on
    /auth/nginx when the forwarded path itself is under /outpost.goauthentik.io (and access
    handlers do not run for the auth subrequest). One set in the location itself, or one to
    another auth service, makes /start and /callback need a login first.
    """
    auth_targets = {id(loc) for _, loc in auth_locations(server, env)}
    for loc in server.all_locations():
        if not is_outpost(loc) or id(loc) in auth_targets or loc.directive is None:
            continue
        d = auth_request(loc)
        if d is None:
            continue
        _, source = loc.effective("auth_request")
        other = not d.args[0].startswith(OUTPOST_PREFIX)
        if not other and not isinstance(source, Location):
            continue
        yield finding(
            server,
            "auth-on-outpost-paths",
            "error" if other else "warning",
            d if isinstance(source, Location) else loc.directive,
            f"{d.text()} ({d.where()}) applies to {loc.label()}: "
            + (
                "the login pages need a login from another auth service first (login loop)"
                if other
                else "set on the outpost's own paths, it only works while the outpost "
                "waves its own paths through"
            ),
            f"Add `auth_request off;` to {loc.label()}; keep auth_request at server level "
            "(authentik-forward-auth.conf) or in the protected locations only.",
        )


LEGACY_PREFIX = "/akprox"


def legacy_outpost_path(server: Server, env: Env) -> Iterator[LintFinding]:
    """/akprox, the outposts' path before authentik 2022 (the 2021.x docs route /akprox, the
    2022.6 docs /outpost.goauthentik.io): a config copied from an old guide asks a path that
    current outposts do not serve, and nothing else in the lint recognises it as forward auth."""
    locations = [loc.directive for loc in server.all_locations() if loc.directive is not None]
    for d in [*auth_requests(server), *locations]:
        path = d.args[-1] if d.args else ""
        if path.startswith(LEGACY_PREFIX):
            yield finding(
                server,
                "legacy-outpost-path",
                "warning",
                d,
                f"`{d.text()}` uses {LEGACY_PREFIX}, the outposts' path before authentik 2022: "
                f"current outposts serve {OUTPOST_PREFIX} instead, so this auth subrequest or "
                "location misses them",
                f"Replace {LEGACY_PREFIX} with {OUTPOST_PREFIX} in the auth_request, the outpost "
                "location and the signin redirect (authentik-forward-auth.conf, "
                "authentik-outpost-single.conf).",
            )
            return  # one finding per server: the fix is the same everywhere


def header_set_twice(server: Server, env: Env) -> Iterator[LintFinding]:
    """The same request header set twice where the outpost's paths are proxied, mostly
    `include proxy_params;` (Host $http_host) followed by the snippet's own `Host $host`.
    nginx sends both lines (checked on nginx 1.22). Go's HTTP server, which the outposts and
    authentik's router are, refuses a request with two Host headers (400 "too many Host
    headers", net/http's request.go; GitLab's NGINX troubleshooting has the same error), which
    auth_request turns into a 500; of another header Go reads the first."""
    levels: dict[int, Location] = {}
    for loc in server.all_locations():
        if is_outpost(loc):
            levels[id(loc)] = loc
    for _, loc in auth_locations(server, env):
        levels.setdefault(id(loc), loc)
    for loc in levels.values():
        seen: dict[str, Directive] = {}
        for d in loc.effective("proxy_set_header")[0]:
            if len(d.args) < 2:
                continue
            name = d.args[0].lower()
            first = seen.setdefault(name, d)
            host = name == "host"
            if first is d or "" in (d.args[1], first.args[1]):
                continue  # an empty value is not sent at all
            if not host and d.args[1] == first.args[1]:
                continue  # the same value twice: whichever is read, it is right
            yield finding(
                server,
                "header-set-twice",
                "error" if host else "warning",
                d,
                f"{loc.label()} sets {d.args[0]} twice (`{first.text()}` at {first.where()}, "
                f"then `{d.text()}`): nginx sends both headers, and "
                + (
                    'the outpost (Go) refuses two Host headers: 400 "too many Host headers", '
                    "which NGINX shows as 500"
                    if host
                    else "the outpost reads the first one"
                ),
                "Keep one line per header: drop one of them, or the include that brings the "
                "other (proxy_params sets Host $http_host, X-Real-IP, X-Forwarded-For and "
                "X-Forwarded-Proto).",
            )
