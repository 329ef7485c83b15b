"""Which nginx variables a config declares: nginx knows a variable when any directive of the
whole config declares it (``set``, ``auth_request_set``, ``map``, ...) or a regex names a
capture, wherever it stands; a variable used and declared nowhere makes nginx refuse the
config at load (``unknown "auth_cookie" variable``, with no file or line)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from aktui.nginx.config import Directive

# Directives that declare the variable(s) named in their arguments, besides every `set*` and
# `*_set` directive (set, set_escape_uri, set_by_lua_block, auth_request_set, perl_set,
# js_set, ...).
_DECLARING = frozenset({"map", "geo", "geoip2", "split_clients", "js_var", "image_filter"})
_VARIABLE_ARG = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# (?<name>...), (?P<name>...) and (?'name'...): PCRE's named captures become variables.
_NAMED_CAPTURE = re.compile(r"\(\?P?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')")
_USED = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")


def walk(statements: Iterable[Directive]) -> Iterator[Directive]:
    """Every directive, blocks depth first, in config order."""
    for d in statements:
        yield d
        if d.block is not None:
            yield from walk(d.block)


def _declares(name: str) -> bool:
    return name.startswith("set") or name.endswith("_set") or name in _DECLARING


def undeclared(statements: Iterable[Directive], prefixes: tuple[str, ...]) -> frozenset[str]:
    """The variables (names without $, lower-cased as nginx compares them) whose names start
    with one of ``prefixes`` that the statements read but declare nowhere. Declarations are read
    generously (a declaring directive declares every bare $name among its arguments), so a
    declared name is never reported. One pass over the config, with plain substring tests
    before any regex: a dump of a big site has tens of thousands of arguments."""
    declared: set[str] = set()
    used: set[str] = set()
    for d in walk(statements):
        declaring: bool | None = None
        for arg in d.args:
            if "$" in arg:
                low = arg.lower()
                if any(p in low for p in prefixes):
                    used.update(n for n in _names(low) if n.startswith(prefixes))
                if declaring is None:
                    declaring = _declares(d.name)
                if declaring and (m := _VARIABLE_ARG.fullmatch(low)) is not None:
                    declared.add(m.group(1))
            if "(?" in arg:
                declared.update(_captures(arg))
    return frozenset(used - declared)


def _names(text: str) -> Iterator[str]:
    for m in _USED.finditer(text):
        yield m.group(1) or m.group(2)


def _captures(text: str) -> Iterator[str]:
    for m in _NAMED_CAPTURE.finditer(text):
        yield (m.group(1) or m.group(2)).lower()


def used_variables(d: Directive) -> Iterator[str]:
    """The variable names (without $, lower-cased) a directive's arguments read."""
    for arg in d.args:
        if "$" in arg:
            yield from _names(arg.lower())
