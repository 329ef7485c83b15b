"""Facts the checks ask about a server: which locations are the outpost's, where authentik's
auth_request really runs, what a location proxies to and with which headers."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from aktui.nginx.config import Directive
from aktui.nginx.locations import OUTPOST_PREFIX, Level, Location, Server
from aktui.nginx.report import LintFinding

START_URI = f"{OUTPOST_PREFIX}/start"
CALLBACK_URI = f"{OUTPOST_PREFIX}/callback"
AUTH_URI = f"{OUTPOST_PREFIX}/auth/nginx"
# `$host` as a whole variable name (not `$http_host`, not `$hostname`).
HOST_VAR = re.compile(r"\$(?:host\b|\{host\})")


def is_outpost(loc: Location) -> bool:
    """A location meant for the outpost's own paths (/start, /callback, /auth/nginx)."""
    if loc.is_named:
        return False
    if loc.is_regex:
        return "goauthentik" in loc.pattern
    return loc.pattern.startswith(OUTPOST_PREFIX)


def auth_request(level: Level) -> Directive | None:
    """The `auth_request` in force at a level, None when there is none or it is `off`."""
    found, _ = level.effective("auth_request")
    if not found or not found[-1].args or found[-1].args[0] == "off":
        return None
    return found[-1]


def authentik_auth(level: Level) -> Directive | None:
    d = auth_request(level)
    return d if d is not None and d.args[0].startswith(OUTPOST_PREFIX) else None


def server_returns(server: Server) -> bool:
    """A server-level `return` answers in the server rewrite phase: no location, no auth."""
    return bool(server.own("return"))


def protected(server: Server) -> list[Level]:
    if "protected" not in server.memo:
        server.memo["protected"] = _protected(server)
    levels = cast("list[Level]", server.memo["protected"])
    return list(levels)


def _protected(server: Server) -> list[Level]:
    """Where a browser request really goes through authentik's auth_request.

    Not in the outpost's own locations (the outpost answers 200 there, see auth-on-outpost-
    paths), not where `return` answers first (rewrite phase runs before access), not in named
    locations (reached after auth already ran). The server level itself counts when no
    location catches every URI.
    """
    if server_returns(server):
        return []
    out: list[Level] = []
    for loc in server.all_locations():
        if loc.is_named or is_outpost(loc) or loc.own("return"):
            continue
        if authentik_auth(loc) is not None:
            out.append(loc)
    catch_all = any(loc.modifier in ("", "^~") and loc.pattern == "/" for loc in server.locations)
    if not catch_all and authentik_auth(server) is not None:
        out.insert(0, server)
    return out


def auth_uris(server: Server) -> dict[str, Directive]:
    """Each authentik auth_request URI used in the server, with the first directive using it."""
    if "auth_uris" not in server.memo:
        server.memo["auth_uris"] = _auth_uris(server)
    uris = cast("dict[str, Directive]", server.memo["auth_uris"])
    return dict(uris)


def _auth_uris(server: Server) -> dict[str, Directive]:
    found: dict[str, Directive] = {}
    for d in auth_requests(server):
        if d.args and d.args[0].startswith(OUTPOST_PREFIX):
            found.setdefault(d.args[0].split("?", 1)[0], d)
    return found


def auth_requests(server: Server) -> Iterator[Directive]:
    """Every auth_request written for this server: in it, the levels around it (http) and
    its locations, in that order."""
    levels: list[Level] = [server, *(server.parent.chain() if server.parent else ())]
    for level in [*levels, *server.all_locations()]:
        yield from level.own("auth_request")


def _short(d: Directive) -> str:
    # The finding already names the full path; the base name keeps evidence readable.
    return f"{os.path.basename(d.file)}:{d.line}"


def label(level: Level) -> str:
    if isinstance(level, Location):
        return f"{level.label()} ({_short(level.directive) if level.directive else '?'})"
    if level.directive is not None:
        return f"the server block ({_short(level.directive)})"
    return "the server level"


def anchor(level: Level, fallback: Directive) -> Directive:
    return level.directive if level.directive is not None else fallback


def has_hole(level: Level) -> bool:
    """An include that could not be read (or elided lines) here or in a level around it: the
    missing text may set what this level seems to lack (proxy_set_header, ...)."""
    return any(d.unresolved for lvl in level.chain() for d in lvl.own("include"))


def headers(level: Level) -> tuple[dict[str, tuple[str, Directive]], Level | None]:
    """proxy_set_header in force, by lower-cased header name, and the level they come from."""
    found, source = level.effective("proxy_set_header")
    return {d.args[0].lower(): (d.args[1], d) for d in found if len(d.args) >= 2}, source


def dropped(
    level: Level, name: str, wanted: Callable[[Directive], bool]
) -> tuple[Level, Directive] | None:
    """If an inner level's own `name` entries hide an outer entry satisfying ``wanted``
    (array directives do not merge), return the hiding level and the hidden directive."""
    found, source = level.effective(name)
    if source is None or any(wanted(d) for d in found):
        return None
    for outer in source.chain():
        if outer is source:
            continue
        for d in outer.own(name):
            if wanted(d):
                return source, d
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a location's proxy_pass sends requests."""

    directive: Directive
    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    # host:port of the servers, when ``host`` names an `upstream` block.
    members: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        if self.members:
            return self.members
        return (f"{self.host}:{self.port}" if self.port else self.host,)


def proxy_target(loc: Level, server: Server) -> Target | None:
    """proxy_pass is a location's content handler, never inherited: only its own counts."""
    own = loc.own("proxy_pass")
    if not own or not own[-1].args:
        return None
    d = own[-1]
    url = d.args[0]
    if "://" not in url:
        return None  # `proxy_pass $backend;`, or no scheme: nginx refuses it (proxy-pass-invalid)
    if "$" in url.split("://", 1)[-1].split("/", 1)[0]:
        url = _substitute_set(url, loc)
        if "$" in url.split("://", 1)[-1].split("/", 1)[0]:
            return None  # host from a request-time variable: cannot tell
    scheme, rest = url.split("://", 1)
    if rest.lower().startswith("unix:"):
        # `http://unix:/run/outpost.sock:/outpost.goauthentik.io`: the socket path ends at
        # the next colon, the URI part follows it (nginx's own syntax, not a URL's).
        sock, colon, uri = rest[5:].partition(":")
        return Target(d, url, scheme.lower(), f"unix:{sock}", None, uri if colon else "")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    return Target(
        d, url, parts.scheme, host, port, parts.path, server.upstreams.get(parts.hostname or "", ())
    )


_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _substitute_set(url: str, loc: Level) -> str:
    """``proxy_pass http://$upstream_authentik:9000`` with ``set $upstream_authentik
    authentik-server;`` in this location or above it (the SWAG pattern, which makes nginx
    resolve the name per request): the constant value stands in for the variable."""
    values: dict[str, str] = {}
    for level in loc.chain():
        for d in level.own("set"):
            if len(d.args) == 2 and d.args[0].startswith("$") and "$" not in d.args[1]:
                values.setdefault(d.args[0][1:].strip("{}"), d.args[1])

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))

    return _VAR.sub(value, url)


def fronts_same_host(server: Server, host: str) -> bool:
    """The server's own `location /` proxies to the same host as its outpost location: it is
    the authentik server's own site (its /outpost.goauthentik.io serves domain-level
    callbacks), not a protected app sending auth checks to the embedded outpost."""
    root = next(
        (x for x in server.locations if x.pattern == "/" and x.modifier in ("", "^~")), None
    )
    if root is None or is_outpost(root):
        return False
    other = proxy_target(root, server)
    return other is not None and bool(host) and other.host == host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def signin_target(error_page: Directive) -> str:
    """The target of `error_page 401 403 = @signin;` (the last argument)."""
    return error_page.args[-1] if error_page.args else ""


def error_codes(error_page: Directive) -> set[str]:
    return {a for a in error_page.args[:-1] if a.isdigit()}


def non_default_port(server: Server) -> str:
    """Why `$host` (no port) would not name this site, or '' when it would."""
    if not server.listen_known:
        return "the listen port of this fragment is unknown (it may not be 80/443)"
    odd = sorted({p for p in server.listen_ports if p not in (80, 443)})
    if odd:
        return f"the server listens on port {', '.join(map(str, odd))}"
    if server.own("real_ip_header") or server.own("set_real_ip_from"):
        return "the server sits behind another proxy (real_ip_header/set_real_ip_from)"
    if server.parent and (
        server.parent.own("real_ip_header") or server.parent.own("set_real_ip_from")
    ):
        return "the server sits behind another proxy (real_ip_header/set_real_ip_from)"
    return ""


def signin_pages(server: Server) -> list[Directive]:
    """The `error_page` directives catching 401 that are in force where auth applies."""
    found: dict[Directive, None] = {}
    for level in protected(server):
        for ep in level.effective("error_page")[0]:
            if "401" in error_codes(ep) and ep.args:
                found[ep] = None
    return list(found)


@dataclass(frozen=True, slots=True)
class Env:
    """What the caller knows about addresses, e.g. from an aktui context or discovered
    outpost containers: turns embedded-outpost-target from a guess into a decision."""

    server_hosts: frozenset[str] = frozenset()  # host names/IPs of the authentik server
    outpost_addresses: frozenset[str] = frozenset()  # "host:port" or "host" of outposts


def finding(
    server: Server, check_id: str, severity: str, at: Directive, evidence: str, fix: str
) -> LintFinding:
    return LintFinding(check_id, severity, at.file, at.line, evidence, fix, server.display_name)
