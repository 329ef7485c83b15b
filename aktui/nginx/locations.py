"""What nginx really does with a server block: which location answers a URI, and which
directives apply there after inheritance.

Location choice follows ``ngx_http_core_find_location`` (src/http/ngx_http_core_module.c):
an exact ``=`` match ends the search; otherwise the longest prefix match is remembered, its
nested locations are searched, then the regex locations of the level are tried in config
order, unless the remembered prefix had ``^~``. A regex match also searches its own nested
locations. Named (``@``) locations are only reached by ``error_page``/``try_files``. Regexes
are PCRE2's (the ``pcre2`` binding), as in nginx builds since 1.21.5.

Inheritance follows each module's merge function: a directive set at an inner level replaces
the outer one, and for the array directives (``add_header``, ``proxy_set_header``,
``error_page``, ``auth_request_set``, ``fastcgi_param``) one entry at the inner level drops
*all* the outer entries. That second rule is the source of several pitfalls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import pcre2

from aktui.nginx.config import Config, Directive
from aktui.nginx.variables import undeclared

OUTPOST_PREFIX = "/outpost.goauthentik.io"
# Patterns longer than this are not compiled: nothing real is this long.
_MAX_REGEX = 2000
# Regex evaluations allowed per server. nginx tries regex locations one by one, so each URI a
# check asks about costs one evaluation per regex location; with thousands of them and a probe
# per location that is quadratic. Real sites need a few thousand; past this bound the answer
# is "cannot tell" and the report says the server was not fully checked.
REGEX_BUDGET = 200_000


@lru_cache(maxsize=4096)
def compile_regex(pattern: str, caseless: bool) -> pcre2.Pattern | None:
    """A location regex compiled by PCRE2, the engine nginx itself uses (``~*`` is PCRE2's
    caseless flag), so ``\\Q..\\E``, ``(?<name>..)`` and the rest mean what they mean to nginx.
    None when PCRE2 (and so nginx) refuses it: callers treat the location as "cannot tell".
    Matching is bounded by PCRE2's match limit, so a catastrophic regex cannot hang a lint."""
    if len(pattern) > _MAX_REGEX:
        return None
    try:
        return pcre2.compile(pattern, flags=pcre2.IGNORECASE if caseless else 0)
    except (pcre2.LibraryError, ValueError, TypeError):
        return None


def regex_search(rx: pcre2.Pattern, uri: str) -> bool | None:
    """Whether ``rx`` finds a match in ``uri``; None when PCRE2 gives up (match limit), where
    nginx would log the error and not take the location either way we could tell."""
    try:
        return rx.search(uri) is not None
    except (pcre2.LibraryError, ValueError):
        return None


_UNSET = object()


@dataclass(frozen=True, slots=True)
class _Tables:
    """One level's child locations as nginx looks them up: exact matches by URI, prefixes by
    pattern (tried longest first, by the few distinct lengths), regexes in config order."""

    exact: dict[str, Location]
    prefix: dict[str, Location]
    lengths: tuple[int, ...]
    regex: tuple[Location, ...]

    @staticmethod
    def of(locations: list[Location]) -> _Tables:
        exact: dict[str, Location] = {}
        prefix: dict[str, Location] = {}
        for c in locations:
            if c.modifier == "=":
                exact.setdefault(c.pattern, c)
            elif c.modifier in ("", "^~"):
                prefix.setdefault(c.pattern, c)
        lengths = tuple(sorted({len(p) for p in prefix}, reverse=True))
        return _Tables(exact, prefix, lengths, tuple(c for c in locations if c.is_regex))


def index_statements(statements: tuple[Directive, ...]) -> dict[str, list[Directive]]:
    """Directives by name, in config order: one pass over a level's statements."""
    by_name: dict[str, list[Directive]] = {}
    for d in statements:
        by_name.setdefault(d.name, []).append(d)
    return by_name


@dataclass(eq=False)
class Level:
    """A server or location block: its own directives and the level it inherits from."""

    directive: Directive | None
    parent: Level | None
    statements: tuple[Directive, ...]
    locations: list[Location] = field(default_factory=list)
    # The level's directives by name, built on first use: checks ask each location for
    # inherited directives, and scanning the server's statements (thousands of locations in
    # a big site) on every ask made linting quadratic.
    _by_name: dict[str, list[Directive]] | None = field(default=None, repr=False)
    _tables: _Tables | None = field(default=None, repr=False)

    def tables(self) -> _Tables:
        """The level's child locations indexed for ``_find``, built on first use."""
        if self._tables is None:
            self._tables = _Tables.of(self.locations)
        return self._tables

    def own(self, name: str) -> list[Directive]:
        if self._by_name is None:
            self._by_name = index_statements(self.statements)
        return list(self._by_name.get(name, ()))

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
    _rx: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._rx = _UNSET

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
            # Compiled once per location: a site with thousands of regex locations would
            # otherwise evict the shared cache and recompile on every URI asked about.
            if self._rx is _UNSET:
                self._rx = compile_regex(self.pattern, self.modifier == "~*")
            rx = self._rx
            return None if rx is None else regex_search(rx, uri)
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
    # Regex evaluations left (REGEX_BUDGET); when it runs out, answers become "cannot tell".
    regex_budget: int = field(default_factory=lambda: REGEX_BUDGET)
    budget_exhausted: bool = False
    # server_name values of every server block in the same config (the hosts this NGINX
    # serves), one set shared by all its servers.
    config_names: frozenset[str] = frozenset()
    # authentik's snippet variables ($auth_cookie, $authentik_*) the whole input reads and
    # declares nowhere (aktui.nginx.variables); empty when part of it could not be read (a
    # hole or a parse error may hold the declaration).
    undeclared_auth_variables: frozenset[str] = frozenset()
    # The input is a whole nginx.conf (or an `nginx -T` dump), not a file nginx.conf includes.
    whole_config: bool = False

    @property
    def display_name(self) -> str:
        if self.names:
            return " ".join(self.names)
        return self.fragment or "(no server_name)"

    def all_locations(self) -> Iterator[Location]:
        for loc in self.locations:
            yield from loc.walk()

    def match(self, uri: str) -> Location | None:
        """The location nginx picks for ``uri``; None when only the server level applies.
        Costs one dictionary lookup per distinct prefix length and one evaluation per regex
        location tried, charged to ``regex_budget``."""
        return _find(self, uri, self)[0]


def _find(level: Level, uri: str, server: Server) -> tuple[Location | None, bool]:
    """ngx_http_core_find_location for one level. Returns (location, final): final is True for
    an exact or regex match, which stops the outer levels from trying their regexes."""
    t = level.tables()
    exact = t.exact.get(uri)
    if exact is not None:
        return exact, True
    best: Location | None = None
    for n in t.lengths:
        if n <= len(uri):
            best = t.prefix.get(uri[:n])
            if best is not None:
                break
    noregex = False
    if best is not None:
        noregex = best.modifier == "^~"
        inner, final = _find(best, uri, server)
        if final:
            return inner, True
        best = inner or best
    if not noregex:
        for c in t.regex:
            if server.regex_budget <= 0:
                server.budget_exhausted = True
                return best, False
            server.regex_budget -= 1
            if c.matches(uri):
                inner, _ = _find(c, uri, server)
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
        found = [_server(None, http, config.statements, {}, fragment="(fragment)")]
        _declared(config, found)
        return found
    if config.context == "main":
        blocks = [d for d in config.statements if d.name == "http" and d.block is not None]
        http_statements = tuple(s for b in blocks for s in b.block or ())
    else:
        http_statements = config.statements
    http = Level(None, None, tuple(d for d in http_statements if d.name != "server"))
    upstreams = _upstreams(http_statements)
    found = [
        _server(d, http, d.block or (), upstreams)
        for d in http_statements
        if d.name == "server" and d.block is not None
    ]
    names = frozenset(n.lower() for server in found for n in server.names)
    for server in found:
        server.config_names = names
    _declared(config, found)
    return found


# How the names of the variables authentik's snippets declare begin ($auth_cookie,
# $authentik_username, ...): no variable nginx has built in begins so ($http_authorization,
# $upstream_http_x_authentik_* and $cookie_authentik_* begin with their prefix).
AUTH_VARIABLES = ("auth_cookie", "authentik_")


def _declared(config: Config, found: list[Server]) -> None:
    """What the whole input leaves undeclared, for every server of it (variables are
    config-wide in nginx)."""
    whole = config.context == "main"
    for server in found:
        server.whole_config = whole
    if config.problems or _has_hole(config.statements):
        return
    missing = undeclared(config.statements, AUTH_VARIABLES)
    for server in found:
        server.undeclared_auth_variables = missing
