"""Reading server blocks as nginx would for one site: which block serves it, where that block
listens, and a URL it protects. Used by the doctor to ask nginx the way a browser would.

``server_for`` follows nginx's choice by ``server_name`` (exact, ``*.`` / ``.`` wildcards,
``.*`` suffix, ``~`` regex), else the ``default_server``; among several it prefers the block
with authentik's auth_request on the site's scheme.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from aktui.nginx.facts import auth_uris, protected
from aktui.nginx.locations import Location, Server

# Paths safe to put in a probe URL as they are (no regex, no variables, no query).
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~/%-]*$")


def defined_at(level: Server | Location) -> str:
    """``file:line`` of a server or location block, for evidence."""
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
        listen = listen_address(s, https)
        return not auth_uris(s), listen is None or listen[0] != url_scheme(https)

    return min(named, key=rank) if named else None


def url_scheme(https: bool) -> str:
    return "https" if https else "http"


def listen_address(block: Server, https: bool) -> tuple[str, str, int] | None:
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
        found.append((url_scheme(tls), _connect_address(host), port))
    found.sort(key=lambda f: f[0] != url_scheme(https))
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


def probe_path(block: Server | None) -> str:
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
