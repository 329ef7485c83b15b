"""Load NGINX config for the linter: files, directories, `nginx -T` dumps and pasted fragments.

Tokenising is crossplane's (NGINX's own Python parser: quotes, escapes, `#` comments,
`${var}`), and every directive is checked against crossplane's table of where it is allowed.
We build the tree ourselves instead of calling ``crossplane.parse`` because that only reads the
real file system: a `nginx -T` dump is a set of virtual files, includes must stay inside the
roots the operator gave, and hostile input (deep nesting, huge or binary files) must be refused
in bounded time. Every directive keeps the file and line it came from, through includes.
"""

from __future__ import annotations

import glob
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from crossplane.analyzer import analyze, enter_block_ctx
from crossplane.errors import NgxParserBaseException

# crossplane only exposes `lex(filename)`; the file-object lexer underneath is what lets us lex
# dump sections and stdin. The dependency is pinned to <0.6, where these names are stable.
from crossplane.lexer import _lex_file_object

from aktui.nginx.sources import (
    INCLUDE_DIRS,
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    DumpSource,
    FileSource,
    Overlay,
    Source,
    Unreadable,
    candidate_files,
    prefixes_for,
    root_of,
    split_dump,
)

# Limits against hostile or accidental input (file sizes: see sources.py).
MAX_DEPTH = 32  # nginx configs nest http > server > location > location > if; 32 is generous
MAX_FILES = 2000
# Bounds an include fan-out (a snippet included by every server is fine: 500 sites with two
# snippets each is ~25k statements); ~15 µs per statement keeps the worst case near 3 s.
MAX_STATEMENTS = 200_000

# Files every nginx package ships, holding only *_param, types or charset_map lines (and
# Debian's snippets/fastcgi-php.conf: split_path_info, try_files, PATH_INFO), nothing a check
# reads. A pasted PHP site includes them by name; counting them as holes made the absence
# checks skip nearly every PHP config. Read when given; never a hole.
STOCK_INCLUDES = frozenset(
    {"fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "mime.types"}
    | {"koi-utf", "koi-win", "win-utf", "fastcgi-php.conf"}
)
_HOLE = "\x00aktui-hole"  # never a real token: the lexer gets no NUL bytes (refused before)
# What people write where they cut a config short in an issue or forum post.
_ELISIONS = frozenset({"...", "…", "[...]", "(...)", "<...>", "[…]", "etc", "etc."})

# Directives that only exist in nginx's main context: their presence makes a file a full config.
_MAIN_ONLY = frozenset({"http", "events", "stream", "mail", "worker_processes", "pid", "user"})


@dataclass(frozen=True, slots=True)
class Directive:
    """One statement; ``block`` is None for `name args;` and a tuple for `name args { ... }`."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None
    # Set on an `include` kept in the tree because nothing could be read for it: checks that
    # look for something missing must not trust a server with a hole in it.
    unresolved: bool = False

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def text(self) -> str:
        """The directive as written (args re-quoted when needed), for evidence lines."""
        parts = [self.name, *(_quote(a) for a in self.args)]
        return " ".join(parts) + (" {" if self.block is not None else ";")

    def children(self, name: str) -> Iterator[Directive]:
        for d in self.block or ():
            if d.name == name:
                yield d


def _quote(arg: str) -> str:
    if arg == "" or any(c in arg for c in " \t;{}\"'"):
        return '"' + arg.replace('"', '\\"') + '"'
    return arg


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """Something that kept part of the config from being read. ``kind`` becomes a check id."""

    kind: str  # config-unparseable | config-refused | include-unresolved | include-outside-roots
    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Config:
    """One configuration as nginx would assemble it from its main file (or a fragment)."""

    name: str
    # "main": a full nginx.conf; "http": server/upstream blocks (conf.d, sites-enabled);
    # "server": location blocks and directives, e.g. Nginx Proxy Manager's advanced tab.
    context: str
    statements: tuple[Directive, ...]
    files: tuple[str, ...]
    problems: tuple[LoadProblem, ...] = ()


@dataclass
class _Loader:
    source: Source
    prefixes: tuple[str, ...]
    problems: list[LoadProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    statements: int = 0
    _tokens: dict[str, list[tuple[str, int, bool]] | None] = field(default_factory=dict)
    # The same include line is met once per server that uses it: resolve (glob, stat,
    # realpath) once per pattern and file.
    _resolved: dict[str, list[str] | None] = field(default_factory=dict)
    _allowed: dict[str, bool] = field(default_factory=dict)
    # Work done so far, in directives built plus include targets considered: an include
    # fan-out (every file including `*.conf`) must stop at the same bound as a long file.
    refused: bool = False
    _cycles: set[tuple[str, int]] = field(default_factory=set)

    def problem(self, kind: str, file: str, line: int, message: str) -> None:
        self.problems.append(LoadProblem(kind, file, line, message))

    def spend(self, file: str, line: int) -> bool:
        """Count one unit of work; False (said once) when the bound is reached."""
        self.statements += 1
        if self.statements <= MAX_STATEMENTS:
            return True
        if not self.refused:
            self.refused = True
            self.problem(
                "config-refused", file, line, f"over {MAX_STATEMENTS} directives, rest not read"
            )
        return False

    def tokens(self, path: str) -> list[tuple[str, int, bool]] | None:
        """Lex a file once (it may be included from many servers); None if unusable."""
        if path in self._tokens:
            return self._tokens[path]
        self._tokens[path] = None
        try:
            data = self.source.read(path)
        except Unreadable as e:
            self.problem("config-unreadable", path, 0, f"cannot read: {e}")
            return None
        if data is None:
            return None
        if path not in self.files:
            self.files.append(path)
        if len(data) > MAX_FILE_BYTES or self.total_bytes + len(data) > MAX_TOTAL_BYTES:
            self.problem(
                "config-refused", path, 0, f"larger than {MAX_FILE_BYTES // 2**20} MiB, not read"
            )
            return None
        self.total_bytes += len(data)
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            # Windows editors' "Unicode": nginx reads bytes, so it would not load this either.
            self.problem(
                "config-refused",
                path,
                0,
                'UTF-16 text (saved as "Unicode"?): nginx reads '
                "UTF-8 only; save the file as UTF-8 without BOM",
            )
            return None
        if b"\x00" in data:
            self.problem("config-refused", path, 0, "binary data (NUL bytes), not an nginx config")
            return None
        text = data.decode("utf-8", "replace")
        if text.startswith("\ufeff"):
            # nginx does not skip a byte order mark: `unknown directive "\ufeffserver"` (checked
            # on nginx 1.22). Report it and lint the rest as it was meant.
            self.problem(
                "config-unparseable",
                path,
                1,
                "the file starts with a UTF-8 byte order mark "
                "(BOM): nginx reads it as part of the first directive and refuses the file; "
                "save it as UTF-8 without BOM",
            )
            text = text[1:]
        try:
            toks = list(self._balanced(_lex_file_object(io.StringIO(text)), path))
        except NgxParserBaseException as e:
            self.problem("config-unparseable", path, e.lineno or 0, e.strerror)
            return None
        self._tokens[path] = toks
        return toks

    def _balanced(
        self, tokens: Iterator[tuple[str, int, bool]], path: str
    ) -> Iterator[tuple[str, int, bool]]:
        """Tokens with braces made to balance, so that a pasted config that is cut short or
        has a stray "}" still yields the blocks that can be read. nginx would stop at the
        first such error: each is reported at its line (config-unparseable). A statement that
        is only an elision ("...", "…", "[...]") is dropped, or it would swallow the next
        directive as its arguments."""
        depth, line, start = 0, 1, True
        for token, line, quoted in tokens:
            if not quoted and token in ("{", "}", ";"):
                if token == "}":
                    if depth == 0:
                        self.problem("config-unparseable", path, line, 'unexpected "}"')
                        continue
                    depth -= 1
                elif token == "{":
                    depth += 1
                start = True
                yield token, line, quoted
                continue
            if start and not quoted and token.startswith("```"):
                continue  # a Markdown code fence around a config pasted from an issue
            if start and not quoted and token in _ELISIONS:
                # Lines were left out here: a hole, like an include that could not be read.
                yield _HOLE, line, False
                yield ";", line, False
                continue
            if not token.startswith("#") or quoted:
                start = False
            yield token, line, quoted
        if depth:
            # nginx's words; the open blocks are read as if closed here, with a hole where
            # the rest of the file would be, so absence checks hold back.
            self.problem("config-unparseable", path, line, 'unexpected end of file, expecting "}"')
            if not start:
                yield ";", line, False
            yield _HOLE, line, False
            yield ";", line, False
            for _ in range(depth):
                yield "}", line, False

    def load(self, path: str, context: str | None = None) -> tuple[str, tuple[Directive, ...]]:
        toks = self.tokens(path)
        if toks is None:
            return context or "http", ()
        other = _other_format(toks)
        if other is not None:
            # Read as nginx, a manifest is one long directive and lints "clean".
            self.problem("config-refused", path, other[1], other[0])
            return context or "http", ()
        context = context or _guess_context(toks)
        ctx = {"main": (), "http": ("http",), "server": ("http", "server")}[context]
        return context, tuple(self._build(path, iter(toks), ctx, 0, (path,)))

    def _build(
        self,
        path: str,
        tokens: Iterator[tuple[str, int, bool]],
        ctx: tuple[str, ...],
        depth: int,
        stack: tuple[str, ...],
    ) -> list[Directive]:
        out: list[Directive] = []
        for token, line, quoted in tokens:
            if token == "}" and not quoted:
                break
            if token.startswith("#") and not quoted:
                continue
            args: list[str] = []
            term, _, tquoted = next(tokens, (";", line, False))
            while term not in ("{", ";", "}") or tquoted:
                if not (term.startswith("#") and not tquoted):
                    args.append(term)
                term, _, tquoted = next(tokens, (";", line, False))
            name = token
            if name == _HOLE:
                out.append(Directive("include", ("(lines left out)",), path, line, unresolved=True))
                continue
            stmt = {"directive": name, "line": line, "args": args}
            if name == "if":
                _strip_if_parens(args)
            if not self.spend(path, line):
                _skip(tokens, term)
                return out
            try:
                analyze(path, stmt, term, ctx=ctx, strict=False)
            except NgxParserBaseException as e:
                self.problem("config-unparseable", path, line, e.strerror)
                if term == "{":
                    _skip(tokens, term)
                continue
            if term == "{":
                if depth >= MAX_DEPTH:
                    self.problem("config-refused", path, line, f"nested deeper than {MAX_DEPTH}")
                    _skip(tokens, term)
                    continue
                inner = enter_block_ctx(stmt, ctx)
                block = tuple(self._build(path, tokens, inner, depth + 1, stack))
                out.append(Directive(name, tuple(args), path, line, block))
            elif name == "include" and args:
                out.extend(self._include(path, line, args[0], ctx, depth, stack))
            else:
                out.append(Directive(name, tuple(args), path, line))
        return out

    def _include(
        self,
        path: str,
        line: int,
        pattern: str,
        ctx: tuple[str, ...],
        depth: int,
        stack: tuple[str, ...],
    ) -> list[Directive]:
        hole = [Directive("include", (pattern,), path, line, unresolved=True)]
        if pattern not in self._resolved:
            self._resolved[pattern] = self._resolve(pattern)
        names = self._resolved[pattern]
        if names is None and os.path.basename(pattern) in STOCK_INCLUDES:
            return []  # only *_param, types and charset lines: nothing a check reads
        if names is None:
            self.problem(
                "include-unresolved", path, line, f"include {pattern}: no such file was given"
            )
            return hole
        out: list[Directive] = []
        for name in names:
            if not self.spend(path, line):
                return out
            if name not in self._allowed:
                self._allowed[name] = self.source.allowed(name)
            if not self._allowed[name]:
                self.problem(
                    "include-outside-roots",
                    path,
                    line,
                    f"include {pattern}: {name} is outside the given paths, not read",
                )
                out.extend(hole)
                continue
            if name in stack:
                if (path, line) not in self._cycles:  # once per include line, not per path to it
                    self._cycles.add((path, line))
                    self.problem("config-unparseable", path, line, f"include cycle through {name}")
                continue
            if len(self.files) >= MAX_FILES and name not in self.files:
                self.problem("config-refused", path, line, f"more than {MAX_FILES} files")
                return out
            toks = self.tokens(name)
            if toks is None:
                out.extend(hole)
                continue
            out.extend(self._build(name, iter(toks), ctx, depth, (*stack, name)))
        return out

    def _resolve(self, pattern: str) -> list[str] | None:
        """Files an include names. nginx resolves relative paths against its conf prefix, which
        a linted site file does not tell us: try each candidate prefix, nearest first."""
        candidates = (
            [pattern]
            if os.path.isabs(pattern)
            else [os.path.join(p, pattern) for p in self.prefixes]
        )
        for cand in candidates:
            cand = os.path.normpath(cand)
            if glob.has_magic(cand):
                hits = self.source.glob(cand)
                if hits:
                    return hits
            elif self.source.exists(cand):
                return [cand]
        # A glob that matches nothing is fine for nginx (an empty conf.d); a plain name is not.
        return [] if glob.has_magic(pattern) else None


def _skip(tokens: Iterator[tuple[str, int, bool]], term: str) -> None:
    """Consume the rest of a block we refuse to build."""
    if term != "{":
        return
    depth = 1
    for token, _, quoted in tokens:
        if quoted:
            continue
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return


def _strip_if_parens(args: list[str]) -> None:
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        args[:] = [a for a in args if a]


# A YAML mapping key (`apiVersion:`, `services:`), a YAML list item or document start: no
# nginx directive is written so.
_YAML_START = re.compile(r"[A-Za-z_][\w.-]*:|-|---")


def _other_format(tokens: list[tuple[str, int, bool]]) -> tuple[str, int] | None:
    """Why a file is not nginx syntax at all (YAML, JSON), and the line that shows it."""
    for token, line, quoted in tokens:
        if token.startswith("#") and not quoted:
            continue
        if quoted or token == "nginx:":  # `nginx -t` said its word before the config
            return None
        if _YAML_START.fullmatch(token):
            return (
                f"YAML, not NGINX syntax (`{token}`: a Kubernetes manifest or a compose "
                "file?); for ingress-nginx lint the config its controller generates: "
                "`kubectl exec -n ingress-nginx <controller-pod> -- nginx -T | aktui "
                "lint-nginx -`",
                line,
            )
        if token in ("{", "["):
            return f"JSON, not NGINX syntax (`{token}`)", line
        return None
    return None


def _guess_context(tokens: list[tuple[str, int, bool]]) -> str:
    """Which context a file's top level is: people lint nginx.conf, a conf.d file holding
    server blocks, or what they pasted into Nginx Proxy Manager's advanced tab (locations)."""
    names: set[str] = set()
    depth = 0
    expect_directive = True
    for token, _, quoted in tokens:
        if not quoted and token in ("{", "}", ";"):
            depth += {"{": 1, "}": -1, ";": 0}[token]
            expect_directive = True
            continue
        if token.startswith("#") and not quoted:
            continue
        if depth == 0 and expect_directive:
            names.add(token)
        expect_directive = False
    if names & _MAIN_ONLY:
        return "main"
    if "location" in names or not names & {"server", "upstream", "map", "geo"}:
        return "server"
    return "http"


def load_paths(
    paths: Iterable[str],
    *,
    roots: Iterable[str] = (),
    prefix: str | None = None,
    follow_any_include: bool = False,
) -> list[Config]:
    """One Config per main file. A directory with an nginx.conf is that config; otherwise each
    file in it is linted on its own, except files another one includes (snippets)."""
    configs: list[Config] = []
    for path in paths:
        if os.path.isdir(path):
            main = os.path.join(path, "nginx.conf")
            if os.path.isfile(main):
                configs.append(_load_file(main, path, roots, prefix, follow_any_include))
                continue
            errors: list[tuple[str, str]] = []
            loaded = [
                _load_file(f, path, roots, prefix, follow_any_include)
                for f in candidate_files(path, errors)
            ]
            for where, why in errors:
                problem = LoadProblem("config-unreadable", where, 0, f"cannot read: {why}")
                loaded.append(Config(where, "http", (), (), (problem,)))
            # Snippets are checked where they are included, not alone.
            included = {os.path.abspath(f) for c in loaded for f in c.files[1:]}
            configs.extend(c for c in loaded if os.path.abspath(c.name) not in included)
        elif os.path.lexists(path):
            configs.append(_load_file(path, None, roots, prefix, follow_any_include))
        else:
            problem = LoadProblem(
                "config-unreadable", path, 0, "cannot read: no such file or directory"
            )
            configs.append(Config(path, "http", (), (), (problem,)))
    return configs


def _load_file(
    path: str,
    given_dir: str | None,
    roots: Iterable[str],
    prefix: str | None,
    follow_any: bool,
) -> Config:
    root = os.path.abspath(given_dir) if given_dir else root_of(path)
    if given_dir and os.path.basename(root.rstrip(os.sep)) in INCLUDE_DIRS:
        root = os.path.dirname(root.rstrip(os.sep))
    all_roots = (root, *roots)
    loader = _Loader(FileSource(all_roots, follow_any), prefixes_for(path, root, prefix))
    context, stmts = loader.load(path)
    if not loader.files and not loader.problems:  # vanished, or a dangling symlink
        loader.problem("config-unreadable", path, 0, "cannot read: no such file")
    return Config(path, context, stmts, tuple(loader.files), tuple(loader.problems))


def load_text(
    text: str,
    name: str = "<stdin>",
    *,
    roots: Iterable[str] = (),
    prefix: str | None = None,
) -> list[Config]:
    """A `nginx -T` dump (findings name the original files), or one pasted file/fragment.
    Includes in pasted text are only read from disk when ``roots`` allow it."""
    if len(text) > MAX_TOTAL_BYTES:
        problem = LoadProblem(
            "config-refused", name, 0, f"larger than {MAX_TOTAL_BYTES // 2**20} MiB, not read"
        )
        return [Config(name, "http", (), (), (problem,))]
    files = split_dump(text)
    if files:
        main = next(iter(files))
        loader = _Loader(DumpSource(files), (prefix or os.path.dirname(main),))
        context, stmts = loader.load(main)
        return [Config(main, context, stmts, tuple(loader.files), tuple(loader.problems))]
    source: Source = DumpSource({name: text})
    roots = tuple(roots)
    if roots:
        source = Overlay(name, text, FileSource(roots))
    loader = _Loader(source, (prefix or (roots[0] if roots else os.getcwd()),))
    context, stmts = loader.load(name)
    return [Config(name, context, stmts, tuple(loader.files), tuple(loader.problems))]
