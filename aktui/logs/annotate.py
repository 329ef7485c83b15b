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

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aktui.logs.format import LogRecord, new_record, parse_for_rules, parse_line, probe
from aktui.logs.prefilter import BlockFilter, Hint
from aktui.logs.prefilter import build as build_block_filter
from aktui.logs.rules import SEVERITIES, Annotation, Rule, RulesError, parse_rules

__all__ = [
    "SEVERITIES",
    "Annotation",
    "BlockFilter",
    "Hint",
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
    adds a regex after a word; a word without one makes any longer word starting with it
    redundant for a search, so those are dropped."""
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
        self.ordered = rules = tuple(sorted(rules, key=_order))  # for few rules: see _FEW
        for rule in rules:
            kind, keys = rule.anchor
            index: dict[str, list[Rule]] | dict[int, list[Rule]]
            if kind == "scan":
                fn, scan, values = keys[:3]
                if scan == "other":
                    self.other.append((rule, fn))
                    continue
                index = self.contains if scan == "contains" else self.prefix
            elif kind == "always" or kind == "raw":
                self.always.append(rule)
                continue
            elif kind == "exact":
                index, values = self.exact, keys
            elif kind == "exact_ci":
                index, values = self.exact_ci, keys
            else:  # "status": int keys
                index, values = self.status, keys
            for key in dict.fromkeys(values):
                index.setdefault(key, []).append(rule)
        # Per status, the message tests of its rules; None: a rule that needs no message.
        self.status_messages: dict[int, list[Callable[[str], bool]] | None] = {}
        for code, bucket in self.status.items():
            tests = [rule.message for rule in bucket if rule.message is not None]
            self.status_messages[code] = tests if len(tests) == len(bucket) else None
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
        self.known: dict[tuple[str, int | None], tuple[Rule, ...]] = {}
        if not (
            self.exact or self.exact_ci or literals or self.prefix or self.other or self.always
        ):
            # Only a status can anchor (a hint of status rules: every healthy outpost 401 asks
            # this): the same answer as maybe's, without its other lookups.
            self.maybe = self._maybe_status  # type: ignore[method-assign]

    def _maybe_status(self, message: str, status: int | None) -> bool:
        """``maybe`` for an index whose rules are all anchored on a status."""
        tests = self.status_messages.get(status, _NO_STATUS)  # type: ignore[arg-type]
        if tests is _NO_STATUS:
            return False
        if tests is None:
            return True
        for test in tests:  # noqa: SIM110 - as in maybe
            if test(message):
                return True
        return False

    def maybe(self, message: str, status: int | None) -> bool:
        """Could any rule match? The same tests as ``candidates`` without building a list:
        this answers "no" for nearly every line, so it is kept as lean as possible."""
        if message in self.exact or self.always:
            return True
        if status is not None and status in self.status:
            tests = self.status_messages[status]
            if tests is None:
                return True
            for test in tests:  # a loop, not any(generator): every healthy 401 comes here
                if test(message):
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

    def candidates(self, message: str, status: int | None) -> tuple[Rule, ...]:
        """The rules that could match, in order. A pure function of (message, status), and
        failure lines repeat their message: answers are remembered, bounded like ``seen``."""
        key = (message, status)
        known = self.known.get(key)
        if known is None:
            known = tuple(self._candidates(message, status))
            if len(message) <= 256:
                if len(self.known) >= 4096:
                    self.known.clear()  # bounded: a live tail runs for days
                self.known[key] = known
        return known

    def _candidates(self, message: str, status: int | None) -> list[Rule]:
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


# A flagged line's hint holds a few rules, and its message rarely repeats (a request path, a
# whole text line): trying each of at most this many rules costs less than working out its
# candidates (every literal searched for, the answer sorted) for a message seen once.
_FEW = 12
# status_messages.get's default: no rule for that status.
_NO_STATUS: list[Callable[[str], bool]] = []
_SETTLED = ("exact", "exact_ci", "scan")
_HintEntry = tuple[tuple[Rule, ...], dict[str, "_Index"], bool, bool, bool]
# For a hint's rules: the probe families' pre-filter indexes (json, nginx, text) and the
# sources' rule indexes (nginx and text are both), by the rule sources each holds (None: all).
_HINT_SOURCES: dict[str, frozenset[str] | None] = {
    "json": frozenset({"outpost", "server", "any"}),
    "nginx": frozenset({"nginx", "any"}),
    "text": None,
    "outpost": frozenset({"outpost", "any"}),
    "server": frozenset({"server", "any"}),
}


class RuleSet:
    """Compiled rules with their indexes; ``annotate`` is the only thing callers need."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(sorted(rules, key=lambda r: r.order))
        # Rules tried on every line ("always", "raw": the whole record decides) leave
        # nothing to pre-filter on.
        self._prefilter = not any(r.anchor[0] in ("always", "raw") for r in self.rules)
        self._hints: dict[int, _HintEntry] = {}
        # Rules whose only test is the message test their anchor stands for (exact text,
        # contains, prefix or a regex, without a status): being a candidate of a message
        # (see _Index.candidates) is matching it.
        self._settled = frozenset(
            rule
            for rule in self.rules
            if rule.message_only and len(rule.tests) == 1 and rule.anchor[0] in _SETTLED
        )

    # The indexes of annotate()'s per-line path, built on first use: compiling them takes
    # ~30 ms, and `aktui annotate` on a pipe or file may never need them (the block filter's
    # hints have indexes of their own).
    @functools.cached_property
    def _all(self) -> _Index:
        return _Index(self.rules)

    @functools.cached_property
    def _by_source(self) -> dict[str, _Index]:
        # Per kind of line, only the rules that can apply: an outpost line never wakes up the
        # NGINX access-log "raw 401" rule with the 401 of every unauthenticated /auth/nginx
        # request, nor the browser regexes. Plain text may come from anywhere: every rule.
        return {
            "outpost": self._subset("outpost"),
            "server": self._subset("server"),
            "nginx": self._subset("nginx"),
            "text": self._all,
        }

    @functools.cached_property
    def _maybe(self) -> dict[str, Callable[[str, int | None], bool]]:
        # probe() families: "json" is an authentik logrus/structlog line, outpost or server.
        return {
            "json": self._subset("outpost", "server").maybe,
            "nginx": self._by_source["nginx"].maybe,
            "text": self._all.maybe,
        }

    def block_filter(self, also: Iterable[str] = (), controls: bool = True) -> BlockFilter | None:
        """A filter finding the lines of a block that these rules could match (see
        ``aktui.prefilter``), and those holding any of the literals ``also``, or None when
        every line must take ``annotate``."""
        block = build_block_filter(self.rules, also, controls)
        if block is not None:
            block.dismiss_with(self._dismissal)
        return block

    def _dismissal(self, hint: Hint) -> Callable[[str], bool] | None:
        """For the block filter: a test true for a line of this hint that annotate_hinted
        dismisses on probe's reading alone (its first branch), or None. Lines that only a
        status flagged then never become candidates (see BlockFilter.dismiss_with)."""
        if not hint or not self._prefilter:
            return None
        rules: tuple[Rule, ...] = hint
        entry = self._hints.get(id(rules))
        if entry is None or entry[0] is not rules:
            entry = self._hinted(rules)
        if not entry[2]:
            return None
        maybe = {family: index.maybe for family, index in entry[1].items()}

        def dismissed(line: str) -> bool:  # not _gate_passes(line, entry[1]), one call less
            quick = probe(line)
            return quick is not None and not maybe[quick[0]](quick[1], quick[2])

        return dismissed

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
        if isinstance(item, LogRecord):
            record = item
        else:  # rules never look at the time: not building it saves a good part of a parse
            record = parse_for_rules(item) if type(item) is str else parse_line(item)
        source = record.source
        for rule in self._by_source[source].candidates(record.message, record.status):
            if rule.matches(record, source):
                return rule.annotation
        return None

    def annotate_hinted(self, line: str, hint: Hint) -> Annotation | None:
        """``annotate(line)`` for a line the block filter flagged, given its hint: the rules
        whose patterns the line holds (a superset of those that can match it), in order, or
        None (any rule). The same answer, without searching every rule's anchor again."""
        if hint is None or not self._prefilter:
            return self.annotate(line)
        rules: tuple[Rule, ...] = hint
        if not rules:
            return None  # flagged for its output only (a secret, a control character)
        entry = self._hints.get(id(rules))
        if entry is None or entry[0] is not rules:
            entry = self._hinted(rules)
        indexes = entry[1]
        if entry[2]:
            # Only a status as JSON or logfmt flagged the line: most likely a healthy request
            # (every unauthenticated /auth/nginx is a 401 in the outpost's log), which probe()
            # dismisses at a fifth of a parse.
            quick = probe(line)
            if quick is not None:
                if not indexes[quick[0]].maybe(quick[1], quick[2]):
                    return None
                if quick[0] != "json" and line[:1] != "{":
                    return self._judge(line, quick[0], quick[1], quick[2], indexes[quick[0]])
            found = self._first_match(parse_for_rules(line), indexes)
        elif entry[3] and line[:1] != "{" and (quick := probe(line)) is not None:
            family = quick[0]
            if family != "json":
                # Not asked of index.maybe first: a rule's anchor flagged the line, so it is
                # most likely a failure, and _judge finds no match where maybe would say no.
                return self._judge(line, family, quick[1], quick[2], indexes[family])
            if entry[4]:
                return None  # an authentik line (outpost or server): none of these rules
            # probe read it as authentik's: annotate's pre-filter passes for any match.
            found = self._first_match(parse_for_rules(line), indexes)
        else:
            # Likely a failure: parse first, and ask annotate's pre-filter (probe) only
            # about a match, unless its answer is known (see _probe_agrees).
            record = parse_for_rules(line)
            found = self._first_match(record, indexes)
            if (
                found is not None
                and not _probe_agrees(record, line)
                and not self._gate_passes(line, indexes)
            ):
                return None
        return found

    def _judge(
        self, line: str, source: str, message: str, status: int | None, index: _Index
    ) -> Annotation | None:
        """The first match for an NGINX or plain-text line (``source``) not starting with
        "{", given probe's reading of it (probe reads exactly what parse_line does there:
        the same regexes in the same order, no JSON before them): rules that test only the
        message and status are judged on that reading, the line is parsed only for the
        others."""
        seen: LogRecord | None = None
        shape = "nginx-error" if source == "nginx" else "text"
        judged = new_record(raw=line, format=shape, message=message, status=status)
        few = len(index.ordered) <= _FEW
        settled = frozenset() if few else self._settled
        for rule in index.ordered if few else index.candidates(message, status):
            if not rule.message_only:
                if rule.message is not None and not rule.message(message):
                    continue  # what its candidacy would have said, without parsing
                seen = seen or parse_for_rules(line)
                if rule.matches(seen, source):
                    return rule.annotation
            elif rule in settled or rule.matches(judged, source):
                return rule.annotation
        return None

    def _gate_passes(self, line: str, indexes: dict[str, _Index]) -> bool:
        """What annotate's pre-filter answers (could a rule of the line's probe family match
        its message and status?), asked of the hinted rules only: any rule that could is
        among them."""
        quick = probe(line)
        return quick is None or indexes[quick[0]].maybe(quick[1], quick[2])

    def _first_match(self, record: LogRecord, indexes: dict[str, _Index]) -> Annotation | None:
        source = record.source
        index = indexes[source]
        if len(index.ordered) <= _FEW:
            # An index of one source holds only rules for it (text: all): their tests decide.
            for rule in index.ordered:
                for test in rule.tests:
                    if not test(record):
                        break
                else:
                    return rule.annotation
            return None
        settled = self._settled
        for rule in index.candidates(record.message, record.status):
            # An index of one source holds only rules for it (text: all), so a rule whose one
            # test its anchor already passed matches without testing the message again.
            if rule in settled or rule.matches(record, source):
                return rule.annotation
        return None

    def _hinted(self, rules: tuple[Rule, ...]) -> _HintEntry:
        """A hint, the indexes of its rules per probe family and per source, whether to ask
        probe first (only status rules, some not NGINX's: a status in a JSON line), whether
        rules for NGINX or browser lines are among them, and whether none is for authentik's
        JSON lines, built once per hint (the block filter hands out one tuple per set of
        patterns) and kept by id, with the hint itself, so that the id stays its own."""
        if len(self._hints) >= 4096:
            self._hints.clear()  # bounded, like the filter's own hints
        indexes = {
            key: _Index(r for r in rules if wanted is None or r.sources & wanted)
            for key, wanted in _HINT_SOURCES.items()
        }
        probe_first = all(r.anchor[0] == "status" for r in rules) and any(
            not r.sources & {"nginx", "any"} for r in rules
        )
        # Rules for lines that are not authentik's JSON (NGINX's, a browser's): worth asking
        # probe first about a line not starting with "{".
        plain = any(r.sources & {"nginx", "browser", "any"} for r in rules)
        no_json = not any(r.sources & {"outpost", "server", "any"} for r in rules)
        entry = self._hints[id(rules)] = (rules, indexes, probe_first, plain, no_json)
        return entry


def _probe_agrees(record: LogRecord, line: str) -> bool:
    """Whether probe(line) is None or gives ``record``'s message, status and a family
    holding its source, so that annotate's pre-filter passes for any rule the record
    matches. Known without running it for a line parsed by json.loads as an authentik line
    (probe reads exactly that or gives up; its one gap is JSON json.loads rejects), and for
    an NGINX or plain-text line whose text (after the prefixes) does not start with "{"
    (probe tries the same shapes in the same order, and gives up on the others)."""
    if record.format in ("logrus", "structlog"):
        return True
    if line[:1] == "{":
        return False
    if record.format == "nginx-error":
        return True
    if record.format == "nginx-access":
        return str(record.fields["remote_addr"])[:1] != "{"
    return record.format == "text" and record.message[:1] != "{"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: rules file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RulesError(f"{path}: cannot read rules file: {e}") from None


def load_rules(user_file: str | Path | None = None) -> RuleSet:
    """The packaged rules, with ``user_file``'s rules first (same id replaces a packaged one)."""
    # Next to this module (package data), read without importlib.resources: its import
    # (tempfile, zipfile's helpers) was ~6 ms of every `aktui annotate` start.
    text = Path(__file__).with_name("rules.yaml").read_text(encoding="utf-8")
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
