"""What nginx really does with a server block: which location answers a URI, and which
directives apply there after inheritance.

Location choice follows ``ngx_http_core_find_location`` (src/http/ngx_http_core_module.c):
an exact ``=`` match ends the search; otherwise the longest prefix match is remembered, its
nested locations are searched, then the regex locations of the level are tried in config
order, unless the remembered prefix had ``^~``. A regex match also searches its own nested
locations. Named (``@``) locations are only reached by ``error_page``/``try_files``.

Inheritance follows each module's merge function: a directive set at an inner level replaces
the outer one, and for the array directives (``add_header``, ``proxy_set_header``,
``error_page``, ``auth_request_set``, ``fastcgi_param``) one entry at the inner level drops
*all* the outer entries. That second rule is the source of several pitfalls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from re import _parser as _sre  # private, but stable on the Python versions we support (3.11+)

from aktui.nginx.config import Config, Directive

OUTPOST_PREFIX = "/outpost.goauthentik.io"
# Patterns longer than this are not compiled: a hostile regex must not make linting slow.
_MAX_REGEX = 2000
_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")  # PCRE (?<name>...) -> Python (?P<name>...)


@lru_cache(maxsize=4096)
def compile_regex(pattern: str, caseless: bool) -> re.Pattern[str] | None:
    """A location regex as Python's ``re`` understands it; None when it cannot (PCRE-only
    syntax) or when matching it could backtrack for minutes (a hostile config must not hang
    the linter). Callers then treat the location as "cannot tell" rather than guess."""
    if len(pattern) > _MAX_REGEX:
        return None
    python = _NAMED_GROUP.sub("(?P<", pattern)
    flags = re.IGNORECASE if caseless else 0
    try:
        tree = _sre.parse(python, flags)
        if _star_height(tree) > 1 or _unbounded(tree) > _MAX_UNBOUNDED:
            return None
        return re.compile(python, flags)
    except (re.error, RecursionError, OverflowError):
        return None


# Backtracking blows up with a repeat inside a repeat (`(.*)*x`, `([a-z]+.?)+$x`: 2^n steps
# on a 30-character URI) or with many unbounded repeats in a row (`.*.*.*.*.*.*x`: n^k).
# Real location regexes have neither; Python's re cannot be interrupted, so refuse them.
_MAX_UNBOUNDED = 4
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)}


def _children(av: object) -> Iterator[object]:
    """Nested sub-patterns of one parsed regex item, whatever its shape."""
    items = av if isinstance(av, tuple | list) else (av,)
    for item in items:
        if isinstance(item, _sre.SubPattern):
            yield item
        elif isinstance(item, list):
            yield from (x for x in item if isinstance(x, _sre.SubPattern))


def _star_height(tree: object) -> int:
    height = 0
    for op, av in tree:  # type: ignore[attr-defined]
        if op in _REPEATS:
            _lo, hi, inner = av
            height = max(height, _star_height(inner) + (1 if hi > 1 else 0))
        else:
            for child in _children(av):
                height = max(height, _star_height(child))
    return height


def _unbounded(tree: object) -> int:
    count = 0
    for op, av in tree:  # type: ignore[attr-defined]
        if op in _REPEATS:
            count += (1 if av[1] == _sre.MAXREPEAT else 0) + _unbounded(av[2])
        else:
            count += sum(_unbounded(child) for child in _children(av))
    return count


@dataclass(eq=False)
class Level:
    """A server or location block: its own directives and the level it inherits from."""

    directive: Directive | None
    parent: Level | None
    statements: tuple[Directive, ...]
    locations: list[Location] = field(default_factory=list)

    def own(self, name: str) -> list[Directive]:
        return [d for d in self.statements if d.name == name]

    def chain(self) -> Iterator[Level]:
        level: Level | None = self
        while level is not None:
            yield level
            level = level.parent

    def effective(self, name: str) -> tuple[list[Directive], Level | None]:
        """The directives named ``name`` that apply here and the level they come from: the
        nearest level that sets any of them (inner entries replace all outer ones)."""
        for level in self.chain():
            found = level.own(name)
            if found:
                return found, level
        return [], None


@dataclass(eq=False)
class Location(Level):
    modifier: str = ""  # "", "=", "^~", "~", "~*", "@"
    pattern: str = ""

    @property
    def is_regex(self) -> bool:
        return self.modifier in ("~", "~*")

    @property
    def is_named(self) -> bool:
        return self.modifier == "@"

    def label(self) -> str:
        mod = f"{self.modifier} " if self.modifier and self.modifier != "@" else ""
        return f"location {mod}{self.pattern}"

    def matches(self, uri: str) -> bool | None:
        """Whether this location alone would take ``uri`` (None: regex we cannot evaluate)."""
        if self.modifier == "=":
            return uri == self.pattern
        if self.modifier in ("", "^~"):
            return uri.startswith(self.pattern)
        if self.is_regex:
            rx = compile_regex(self.pattern, self.modifier == "~*")
            return None if rx is None else rx.search(uri) is not None
        return False

    def walk(self) -> Iterator[Location]:
        yield self
        for child in self.locations:
            yield from child.walk()


@dataclass(eq=False)
class Server(Level):
    names: tuple[str, ...] = ()
    listen_ports: tuple[int, ...] = ()
    # No listen directive seen (a location fragment): the port is unknown.
    listen_known: bool = True
    named: dict[str, Location] = field(default_factory=dict)
    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # An include inside it (or above it) could not be read: absence checks must hold back.
    incomplete: bool = False
    fragment: str = ""
    # Facts several checks ask for (protected levels, auth URIs), computed once per server.
    memo: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def display_name(self) -> str:
        if self.names:
            return " ".join(self.names)
        return self.fragment or "(no server_name)"

    def all_locations(self) -> Iterator[Location]:
        for loc in self.locations:
            yield from loc.walk()

    def match(self, uri: str) -> Location | None:
        """The location nginx picks for ``uri``; None when only the server level applies."""
        return _find(self, uri)[0]


def _find(level: Level, uri: str) -> tuple[Location | None, bool]:
    """ngx_http_core_find_location for one level. Returns (location, final): final is True for
    an exact or regex match, which stops the outer levels from trying their regexes."""
    exact = [c for c in level.locations if c.modifier == "=" and c.pattern == uri]
    if exact:
        return exact[0], True
    prefixes = [
        c for c in level.locations if c.modifier in ("", "^~") and uri.startswith(c.pattern)
    ]
    best: Location | None = max(prefixes, key=lambda c: len(c.pattern)) if prefixes else None
    noregex = False
    if best is not None:
        noregex = best.modifier == "^~"
        inner, final = _find(best, uri)
        if final:
            return inner, True
        best = inner or best
    if not noregex:
        for c in level.locations:
            if c.is_regex and c.matches(uri):
                inner, _ = _find(c, uri)
                return inner or c, True
    return best, False


def _ports(listen: Directive) -> int | None:
    """The port of a `listen` directive (80 when only an address is given); None for unix:."""
    if not listen.args:
        return None
    addr = listen.args[0]
    if addr.startswith("unix:"):
        return None
    if addr.isdigit():
        return int(addr)
    tail = addr.rsplit("]", 1)[-1] if addr.startswith("[") else addr
    if ":" in tail:
        port = tail.rsplit(":", 1)[1]
        return int(port) if port.isdigit() else None
    return 80


def _build_locations(parent: Level, statements: tuple[Directive, ...]) -> list[Location]:
    out = []
    for d in statements:
        if d.name != "location" or d.block is None or not d.args:
            continue
        if len(d.args) >= 2:
            modifier, pattern = d.args[0], d.args[1]
        elif d.args[0].startswith("@"):
            modifier, pattern = "@", d.args[0]
        elif d.args[0].startswith("="):  # `location =/x` is legal
            modifier, pattern = "=", d.args[0][1:]
        else:
            modifier, pattern = "", d.args[0]
        loc = Location(d, parent, d.block, modifier=modifier, pattern=pattern)
        loc.locations = _build_locations(loc, d.block)
        out.append(loc)
    return out


def _has_hole(statements: tuple[Directive, ...]) -> bool:
    for d in statements:
        if d.unresolved or (d.block is not None and d.name != "if" and _has_hole(d.block)):
            return True
    return False


def _upstreams(statements: tuple[Directive, ...]) -> dict[str, tuple[str, ...]]:
    return {
        d.args[0]: tuple(s.args[0] for s in d.children("server") if s.args)
        for d in statements
        if d.name == "upstream" and d.args and d.block is not None
    }


def _server(
    directive: Directive | None,
    http: Level,
    statements: tuple[Directive, ...],
    upstreams: dict[str, tuple[str, ...]],
    fragment: str = "",
) -> Server:
    listens = [d for d in statements if d.name == "listen"]
    ports = tuple(p for p in (_ports(d) for d in listens) if p is not None)
    names = tuple(a for d in statements if d.name == "server_name" for a in d.args if a != '""')
    server = Server(
        directive,
        http,
        statements,
        names=names,
        # A server without `listen` listens on *:80 (as root), which is a default port.
        listen_ports=ports if listens else (80,),
        listen_known=not fragment,
        upstreams=upstreams,
        incomplete=_has_hole(statements) or _has_hole(http.statements),
        fragment=fragment,
    )
    server.locations = _build_locations(server, statements)
    server.named = {loc.pattern: loc for loc in server.all_locations() if loc.is_named}
    return server


def servers(config: Config) -> list[Server]:
    """Every http server block of a config; a location fragment becomes one synthetic server
    (checked as if pasted into a server, as Nginx Proxy Manager does with its advanced tab)."""
    if config.context == "server":
        http = Level(None, None, ())
        return [_server(None, http, config.statements, {}, fragment="(fragment)")]
    if config.context == "main":
        blocks = [d for d in config.statements if d.name == "http" and d.block is not None]
        http_statements = tuple(s for b in blocks for s in b.block or ())
    else:
        http_statements = config.statements
    http = Level(None, None, tuple(d for d in http_statements if d.name != "server"))
    upstreams = _upstreams(http_statements)
    return [
        _server(d, http, d.block or (), upstreams)
        for d in http_statements
        if d.name == "server" and d.block is not None
    ]
