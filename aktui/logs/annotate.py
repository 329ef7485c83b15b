"""Which known forward-auth failure a log line shows, with its cause and fix.

The rules are data: ``rules.yaml`` next to this module, plus an optional user file whose rules
come first and replace packaged rules of the same id (``aktui.logs.rules`` validates and compiles
them). Matching is first-match in file order.

Built to run on every line of a live tail: each rule is indexed by its most selective anchor
(exact event/message, else status, else a literal or regex on the message), the indexes are
split by family of line (authentik JSON, NGINX, plain text), and ``annotate(str)`` first asks
``logformat.probe`` for the message and status, so a healthy line is never fully parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from aktui.logs.format import MESSAGE_CAP, LogRecord, parse_line, probe
from aktui.logs.rules import SEVERITIES, Annotation, Rule, RulesError, parse_rules

__all__ = [
    "SEVERITIES",
    "Annotation",
    "BlockFilter",
    "Rule",
    "RuleSet",
    "RulesError",
    "annotate",
    "default_rules",
    "load_rules",
    "parse_rules",
]


def _trie_regex(words: Iterable[str], tails: dict[str, str] | None = None) -> str:
    """One alternation for many literals, shared prefixes merged: Python's ``re`` tries each
    branch at each position, so a flat ``a|b|c`` of 40 needles costs ~2x the trie. ``tails``
    (for the block filter) adds a regex after a word; a word without one makes any longer
    word starting with it redundant for a search, so those are dropped."""
    tails = tails or {}
    trie: dict[str, Any] = {}
    for word in sorted(words):
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node.setdefault("", set()).add(tails.get(word, ""))

    def build(node: dict[str, Any]) -> str:
        ends = node.get("", set())
        if tails and "" in ends:
            return ""
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        branches += sorted(tail for tail in ends if tail)
        if not branches:
            return ""
        optional = "" in ends
        if len(branches) == 1 and not optional:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if optional else "")

    return build(trie)


class _Index:
    """Rules bucketed by anchor, so a line only meets the few rules that could match it."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.exact: dict[str, list[Rule]] = {}
        self.exact_ci: dict[str, list[Rule]] = {}
        self.status: dict[int, list[Rule]] = {}
        self.contains: dict[str, list[Rule]] = {}
        self.prefix: dict[str, list[Rule]] = {}
        self.other: list[tuple[Rule, Callable[[str], bool]]] = []
        self.always: list[Rule] = []  # also "raw": both need the whole record, every line
        for rule in rules:
            kind, keys = rule.anchor
            if kind == "scan":
                fn, scan, values = keys[:3]
                if scan == "other":
                    self.other.append((rule, fn))
                    continue
                index = self.contains if scan == "contains" else self.prefix
            elif kind == "always" or kind == "raw":
                self.always.append(rule)
                continue
            else:
                index = {"exact": self.exact, "exact_ci": self.exact_ci}.get(kind, self.status)
                values = keys
            for key in dict.fromkeys(values):
                index.setdefault(key, []).append(rule)
        # All `contains` literals in one trie-shaped regex: one C-level search per line instead
        # of one test per rule. A message without spaces (a request path: NGINX and the
        # outposts log it URL-encoded) cannot contain a literal with one, so paths get their
        # own, usually empty, finder; scanning costs ~50-100 ns per character otherwise.
        literals = tuple(self.contains)
        bare = tuple(lit for lit in literals if " " not in lit)
        self.finder = re.compile(_trie_regex(literals)) if literals else None
        self.bare_finder = re.compile(_trie_regex(bare)) if bare else None
        self.literals, self.bare = literals, bare
        self.prefixes = tuple(self.prefix)
        self.seen: dict[str, bool] = {}

    def maybe(self, message: str, status: int | None) -> bool:
        """Could any rule match? The same tests as ``candidates`` without building a list:
        this answers "no" for nearly every line, so it is kept as lean as possible."""
        if message in self.exact or self.always:
            return True
        if status is not None and status in self.status:
            return True
        if self.prefixes and message.startswith(self.prefixes):
            return True
        if self.exact_ci and message.lower() in self.exact_ci:
            return True
        if " " in message:
            finder = self.finder
        elif self.bare_finder is None and not self.other:
            return False  # a request path, and no literal without spaces: the common case
        else:
            finder = self.bare_finder
        # Scanning costs ~50-100 ns per character while messages repeat a lot ("signal
        # process started", a plain-text banner), so the answer is remembered per message.
        seen = self.seen.get(message)
        if seen is None:
            seen = bool(finder is not None and finder.search(message)) or any(
                fn(message) for _, fn in self.other
            )
            if len(message) <= 256:
                if len(self.seen) >= 4096:
                    self.seen.clear()  # bounded: a live tail runs for days
                self.seen[message] = seen
        return seen

    def candidates(self, message: str, status: int | None) -> list[Rule]:
        found: list[Rule] = []
        hit = self.exact.get(message)
        if hit:
            found += hit
        if self.exact_ci:
            found += self.exact_ci.get(message.lower(), ())
        if status is not None:
            hit = self.status.get(status)
            if hit:
                found += hit
        if " " in message:
            finder, literals = self.finder, self.literals
        else:
            finder, literals = self.bare_finder, self.bare
        if finder is not None and finder.search(message):
            # A hit is rare (a failure line): find which literals, overlaps included.
            for literal in literals:
                if literal in message:
                    found += self.contains[literal]
        if self.prefixes and message.startswith(self.prefixes):
            for prefix in self.prefixes:
                if message.startswith(prefix):
                    found += self.prefix[prefix]
        for rule, fn in self.other:
            if fn(message):
                found.append(rule)
        if self.always:
            found += self.always
        if len(found) > 1:
            found = sorted(set(found), key=_order)
        return found


def _order(rule: Rule) -> int:
    return rule.order


# --------------------------------------------------------------------------- block filter ---
# Characters by how often they appear in healthy authentik/NGINX logs, commonest first; any
# other is rarer still. Each needle is searched from its rarest character on, so that the
# combined regex's first-character set stays rare: ``re`` skips non-candidates in a C loop.
_COMMON = '"te :0oapi2.sn,mr/u1lh-c3g4dv8x6T95k_7fGzMEy{}Z[]L=wHPX()?;+b#qS&FI<OD*UNACRJ|WQ'
_RANK = {ch: i for i, ch in enumerate(_COMMON)}
# Where a line's message is not a verbatim piece of it: JSON escapes (and docker's json-file
# wrapper, always escaped), or a non-string event/message that parse_line re-serialises.
_NOT_STRING = r'[ \t\r]*:[ \t\r]*[^ \t\r"]'
_GUARDS = {"\\": "", '"event"': _NOT_STRING, '"message"': _NOT_STRING, '"msg"': _NOT_STRING}
# A status code as JSON (`"status": 502`, `"502"`), logfmt (`status=502`) or access-log field
# (`" 502 `): the digits, not part of a longer number, after one of those separators.
_STATUS_TAIL = r'(?<=[ \t\r:"=][0-9]{3})(?![0-9])'
_CONTEXT_OPS = {"AT", "ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE"}
_NON_ASCII = re.compile("[^\x00-\x7f]")


def _factor(word: str, least: int = 6) -> str:
    """The suffix of ``word`` from its rarest character (any match of word contains it), at
    least 6 characters long: a short piece like "quest" also hits healthy "request_id"."""
    last = len(word) - min(len(word), least)
    best = max(range(last + 1), key=lambda i: (_RANK.get(word[i], len(_COMMON)), -i))
    return word[best:]


def _factors(words: dict[str, str]) -> dict[str, str]:
    """Each word cut to a suffix that starts with a character shared with other words where
    possible: what the scan pays for is the set of first characters, not each word's."""
    chosen: set[str] = set()
    tails: dict[str, str] = {}

    def cost(ch: str) -> int:
        return 0 if ch in chosen else (len(_COMMON) - _RANK.get(ch, len(_COMMON))) ** 2

    def options(word: str, tail: str) -> range:
        return range(len(word) - min(len(word), 3 if tail else 6) + 1)

    for word, tail in sorted(words.items(), key=lambda wt: len(options(*wt))):
        at = min(options(word, tail), key=lambda i: (cost(word[i]), i))
        chosen.add(word[at])
        factor = word[at:]
        # Both tails on one factor: the bare factor is a superset of either.
        tails[factor] = tail if tails.get(factor, tail) == tail else ""
    return tails


def _required_words(pattern: str, flags: int) -> list[str] | None:
    """Literals one of which every match of ``pattern`` contains (one per top-level branch),
    for a regex that ``re`` could not search fast by itself; None to keep the regex."""
    from re import _parser  # type: ignore[attr-defined]

    if flags & re.IGNORECASE:
        return None
    parsed = _parser.parse(pattern, flags)
    items = parsed.data
    if len(items) == 1 and str(items[0][0]) == "BRANCH":
        branches = [b.data for b in items[0][1][1]]
    else:
        if len(items) > 2 and all(str(op) == "LITERAL" for op, _ in items[:3]):
            return None  # a literal prefix: re's own fast search is as good
        branches = [items]
    words: list[str] = []
    for branch in branches:
        runs, run = [], ""
        for op, av in branch:
            if str(op) == "LITERAL":
                run += chr(av)
            else:
                runs.append(run)
                run = ""
        runs.append(run)
        runs = [r for r in runs if len(r) >= 4]
        if not runs:
            return None
        words.append(max(runs, key=lambda r: (_RANK.get(_factor(r)[0], len(_COMMON)), len(r))))
    return words


def _context_free(pattern: str, flags: int) -> bool:
    """True when a match inside a line's message is also a match inside the whole chunk:
    no anchors, word boundaries, lookarounds or backreferences, which look past the match."""
    from re import _parser  # type: ignore[attr-defined]

    def walk(node: Any) -> bool:
        if isinstance(node, _parser.SubPattern):
            return all(walk(item) for item in node.data)
        if isinstance(node, (list, tuple)):
            return all(walk(item) for item in node)
        return str(node) not in _CONTEXT_OPS

    try:
        return walk(_parser.parse(pattern, flags))
    except re.error:
        return False


class BlockFilter:
    """Finds, in a chunk of many lines, every line that ``RuleSet.annotate`` could match.

    A superset, never a miss: each rule's anchor (exact or literal message, status code,
    message regex) is searched for in the raw text, guarded by the cases where a message is
    not verbatim in its line (escapes, non-string JSON, the 4 KiB cap, non-ASCII digits and
    case folding). All other lines are known healthy without a per-line Python call.
    """

    def __init__(self, passes: list[re.Pattern[str]], non_ascii: bool, long_lines: bool) -> None:
        self.passes = passes
        self.non_ascii = non_ascii
        self.long_lines = long_lines

    def starts(self, chunk: str) -> list[int]:
        """Sorted start offsets of the candidate lines in ``chunk`` (lines end with "\\n")."""
        found: set[int] = set()
        passes = self.passes
        if self.non_ascii and not chunk.isascii():
            passes = [*passes, _NON_ASCII]
        for pattern in passes:
            search, rfind, find = pattern.search, chunk.rfind, chunk.find
            pos = 0
            while (m := search(chunk, pos)) is not None:
                at = m.start()
                found.add(rfind("\n", 0, at) + 1)
                pos = find("\n", at) + 1
                if not pos:
                    break
        if self.long_lines:
            found.update(_long_lines(chunk))
        return sorted(found)


def _long_lines(chunk: str) -> Iterator[int]:
    # Capped messages end in "…", which a message regex may match where the line cannot.
    # rfind over a window jumps many short lines at once; a window without "\\n" is one line.
    pos, size = 0, len(chunk)
    while pos < size:
        end = pos + MESSAGE_CAP + 1
        last = chunk.rfind("\n", pos, end)
        if last < 0:
            if end > size and not chunk.endswith("\n") and size - pos <= MESSAGE_CAP:
                return
            yield pos
            nxt = chunk.find("\n", pos)
            if nxt < 0:
                return
            pos = nxt + 1
        else:
            pos = last + 1


class RuleSet:
    """Compiled rules with their indexes; ``annotate`` is the only thing callers need."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(sorted(rules, key=lambda r: r.order))
        self._all = _Index(self.rules)
        # Per kind of line, only the rules that can apply: an outpost line never wakes up the
        # NGINX access-log "raw 401" rule with the 401 of every unauthenticated /auth/nginx
        # request, nor the browser regexes. Plain text may come from anywhere: every rule.
        nginx = self._subset("nginx")
        self._by_source = {
            "outpost": self._subset("outpost"),
            "server": self._subset("server"),
            "nginx": nginx,
            "text": self._all,
        }
        # probe() families: "json" is an authentik logrus/structlog line, outpost or server.
        self._maybe = {"json": self._subset("outpost", "server").maybe, "nginx": nginx.maybe}
        self._maybe["text"] = self._all.maybe
        self._prefilter = not self._all.always

    def block_filter(self) -> BlockFilter | None:
        """A ``BlockFilter`` for these rules, or None when one of them cannot be expressed as
        a search in raw text (a rule tried on every line, an empty or "…" literal, a message
        regex that looks around its match): then every line must take ``annotate``."""
        words: dict[str, str] = dict(_GUARDS)
        folded: set[str] = set()
        passes: list[re.Pattern[str]] = []
        codes: set[int] = set()
        for rule in self.rules:
            kind, keys = rule.anchor
            if kind == "status":
                codes.update(keys)
                continue
            if kind in ("exact", "exact_ci"):
                values, how, fold = keys, "exact", kind == "exact_ci"
            elif kind == "scan":
                values, how, fold = keys[2], keys[3], keys[4]
            else:  # "always", "raw": the whole record decides, on every line
                return None
            for value in values:
                if not value or "\n" in value or "…" in value:
                    return None
                if how == "regex":
                    flags = re.IGNORECASE if fold else 0
                    if not _context_free(value, flags):
                        return None
                    required = _required_words(value, flags)
                    if required is None:
                        passes.append(re.compile(value, flags))
                    else:
                        words.update(dict.fromkeys(required, ""))
                elif fold:
                    folded.add(value.lower())
                else:
                    words[value] = ""
        if codes:
            # Apart from the literals: a digit as a first character would stop the scan at
            # every number. "status" and '" ' are literal prefixes that re finds at C speed.
            alternation = _trie_regex(str(code) for code in codes)
            passes.append(
                re.compile(f'status(?:"[ \\t\\r]*:[ \\t\\r]*"?|="?){alternation}(?![0-9])')
            )
            passes.append(re.compile(f'" {alternation} '))
        tails = _factors(words)
        main = re.compile(_trie_regex(tails, tails))
        if folded:
            passes.append(re.compile(_trie_regex(folded), re.IGNORECASE))
        # Non-ASCII lines: str.lower and re's case folding differ there, and int() reads
        # non-ASCII digits ("٤٠٤") as a status; such lines simply all take annotate().
        return BlockFilter([main, *passes], bool(codes or folded), bool(passes))

    def _subset(self, *sources: str) -> _Index:
        wanted = {*sources, "any"}
        return _Index(r for r in self.rules if r.sources & wanted)

    def __len__(self) -> int:
        return len(self.rules)

    def annotate(self, item: LogRecord | str | bytes) -> Annotation | None:
        """The first rule matching a line or record, or None (healthy or unknown)."""
        if self._prefilter and type(item) is str:
            quick = probe(item)
            if quick is not None and not self._maybe[quick[0]](quick[1], quick[2]):
                return None
        record = item if isinstance(item, LogRecord) else parse_line(item)
        source = record.source
        for rule in self._by_source[source].candidates(record.message, record.status):
            if rule.matches(record, source):
                return rule.annotation
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: rules file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RulesError(f"{path}: cannot read rules file: {e}") from None


def load_rules(user_file: str | Path | None = None) -> RuleSet:
    """The packaged rules, with ``user_file``'s rules first (same id replaces a packaged one)."""
    packaged = resources.files("aktui.logs").joinpath("rules.yaml")
    text = packaged.read_text(encoding="utf-8")
    rules = parse_rules(text, "aktui/logs/rules.yaml", first_order=0)
    if user_file:
        path = Path(user_file).expanduser()
        # Negative orders put user rules ahead of every packaged one.
        user = parse_rules(_read(path), str(path), first_order=-1_000_000)
        replaced = {r.id for r in user}
        rules = user + [r for r in rules if r.id not in replaced]
    return RuleSet(rules)


_DEFAULT: RuleSet | None = None


def default_rules() -> RuleSet:
    """The packaged rules, compiled once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_rules()
    return _DEFAULT


def annotate(item: LogRecord | str | bytes, rules: RuleSet | None = None) -> Annotation | None:
    """Cause and fix for a log line or parsed record, or None when no rule matches."""
    return (rules or default_rules()).annotate(item)
