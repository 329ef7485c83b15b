"""The rules file: YAML validated like the config, compiled into ``Rule`` objects.

Every problem names ``file:line: rules[3].match.level: ...`` from pyyaml's node marks (the
reason nodes are walked instead of ``safe_load``'s plain dict). ``aktui.logs.annotate`` indexes the
compiled rules and matches log lines against them; the rule format is described at the top of
``aktui/logs/rules.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from aktui.errors import ConfigError
from aktui.logs.format import LEVELS, LogRecord
from aktui.yamlnodes import SCALARS, compose_yaml, did_you_mean, node_kind

__all__ = ["SEVERITIES", "SOURCES", "Annotation", "Rule", "RulesError", "parse_rules"]

SOURCES = ("outpost", "server", "nginx", "browser", "any")
SEVERITIES = ("info", "warning", "error")  # ascending, for --fail-on
# ``regex`` (the last resort) sees at most this much of a line: a user pattern with nested
# quantifiers on a 1 MB line could otherwise stall a live tail.
RAW_CAP = 8192
_RULE_KEYS = ("id", "title", "sources", "match", "also", "cause", "fix", "severity", "ref")
_OPTIONAL_KEYS = ("ref", "also")
_MATCH_KEYS = ("level", "message", "event", "fields", "status", "logger", "regex")
_STR_KINDS = ("exact", "contains", "prefix", "regex")
_ID = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")


class RulesError(ConfigError):
    """A rules file is unreadable or invalid; the message names file, line and key."""


@dataclass(frozen=True, slots=True)
class Annotation:
    rule: str
    title: str
    severity: str
    cause: str
    fix: str
    ref: str


Test = Callable[[LogRecord], bool]


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: rules are deduplicated in sets
class Rule:
    id: str
    sources: frozenset[str]
    annotation: Annotation
    tests: tuple[Test, ...]
    # How the rule is indexed: ("exact", keys), ("exact_ci", keys), ("status", codes),
    # ("scan", (test, "contains"|"prefix"|"other", literals, kind, ignore_case)), ("raw", ()),
    # ("always", ()); kind is exact|contains|prefix|regex (the block pre-filter needs it).
    anchor: tuple[str, tuple[Any, ...]]
    order: int = 0
    # The message matcher, if any: a status anchor alone lets every 401 of a busy log through
    # (the outposts' answer before login); with the message the index can say no.
    message: Callable[[str], bool] | None = None
    # Its tests read only the record's message and status (no level, logger, fields, regex):
    # what probe() reads of a line is enough to judge it.
    message_only: bool = False

    def matches(self, record: LogRecord, source: str | None = None) -> bool:
        source = source or record.source
        # A plain-text line has no known origin (an outpost's stderr, a pasted browser page),
        # so every rule may try it; structured lines only meet rules for their own source.
        if source != "text" and source not in self.sources and "any" not in self.sources:
            return False
        # A loop, not all(generator): ~0.3 us less per call, and this runs per candidate line.
        for test in self.tests:  # noqa: SIM110
            if not test(record):
                return False
        return True


class _Reader:
    """Turns composed YAML nodes into values, failing with ``file:line: where: problem``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, where: str, message: str) -> RulesError:
        return RulesError(f"{self.path}:{node.start_mark.line + 1}: {where}: {message}")

    def mapping(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                node, where or "(file)", f"expected a mapping, got {node_kind(node, article=True)}"
            )
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = f"{where}.{key}" if where else key
            if allowed and key not in allowed:
                hint = did_you_mean(key, allowed) or f" (known: {', '.join(allowed)})"
                raise self.fail(key_node, sub, "unknown key" + hint)
            if key in out:
                raise self.fail(key_node, sub, "duplicate key")
            out[key] = value_node
        return out

    def value(self, node: yaml.Node) -> Any:
        return yaml.SafeLoader.construct_object(SCALARS, node, deep=True)

    def text(self, node: yaml.Node, where: str, *, empty: bool = False) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, f"expected text, got {node_kind(node, article=True)}")
        value = self.value(node)
        if value is None or isinstance(value, bool):
            raise self.fail(node, where, f'expected text, got "{node.value}"; quote it')
        text = value if isinstance(value, str) else node.value
        if not text.strip() and not empty:
            raise self.fail(node, where, "must not be empty")
        return text

    def texts(self, node: yaml.Node, where: str, *, empty: bool = False) -> list[str]:
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                raise self.fail(node, where, "must list at least one value")
            return [self.text(n, f"{where}[{i}]", empty=empty) for i, n in enumerate(node.value)]
        return [self.text(node, where, empty=empty)]

    def choice(self, node: yaml.Node, where: str, allowed: tuple[str, ...]) -> list[str]:
        values = self.texts(node, where)
        for i, value in enumerate(values):
            if value not in allowed:
                sub = f"{where}[{i}]" if isinstance(node, yaml.SequenceNode) else where
                raise self.fail(node, sub, f"{value!r} is not one of {', '.join(allowed)}")
        return values

    def regex(self, node: yaml.Node, where: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
        try:
            return re.compile(pattern, flags)
        except re.error as e:
            raise self.fail(node, where, f"invalid regex: {e}") from None


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _StrMatch:
    """``"x"`` (exact) or ``{exact|contains|prefix|regex: x or [x, ...], ignore_case: bool}``."""

    __slots__ = ("fn", "ignore_case", "kind", "values")

    def __init__(self, reader: _Reader, node: yaml.Node, where: str) -> None:
        self.ignore_case = False
        if isinstance(node, yaml.MappingNode):
            spec = reader.mapping(node, where, (*_STR_KINDS, "ignore_case"))
            if "ignore_case" in spec:
                flag = reader.value(spec.pop("ignore_case"))
                if not isinstance(flag, bool):
                    raise reader.fail(node, f"{where}.ignore_case", "expected true or false")
                self.ignore_case = flag
            if len(spec) != 1:
                raise reader.fail(node, where, f"needs exactly one of {', '.join(_STR_KINDS)}")
            ((self.kind, value_node),) = spec.items()
            where = f"{where}.{self.kind}"
        else:
            self.kind, value_node = "exact", node
        self.values = tuple(reader.texts(value_node, where, empty=self.kind == "exact"))
        fold = self.ignore_case
        if self.kind == "regex":
            flags = re.IGNORECASE if fold else 0
            compiled = [reader.regex(value_node, where, v, flags) for v in self.values]
            self.fn: Callable[[str], bool] = _searches_any(compiled)
            return
        values = tuple(v.lower() for v in self.values) if fold else self.values
        if self.kind == "exact":
            self.fn = (lambda s: s.lower() in values) if fold else (lambda s: s in values)
        elif self.kind == "prefix":
            self.fn = (
                (lambda s: s.lower().startswith(values))
                if fold
                else (lambda s: s.startswith(values))
            )
        else:
            self.fn = _contains_any(values, fold)

    def scan_kind(self) -> str:
        """How the index finds this matcher: by ``contains`` or ``prefix`` literal, or ``other``
        (regex, ignore_case), which is tried on every line of its family."""
        return "other" if self.ignore_case or self.kind not in ("contains", "prefix") else self.kind


def _searches_any(patterns: list[re.Pattern[str]]) -> Callable[[str], bool]:
    """Whether one of ``patterns`` is found in a text: one pattern searched directly, several
    in a loop (not any(generator): this runs for every candidate line)."""
    if len(patterns) == 1:
        search = patterns[0].search
        return lambda s: search(s) is not None

    def searches(text: str) -> bool:
        for pattern in patterns:  # noqa: SIM110 - see the docstring
            if pattern.search(text):
                return True
        return False

    return searches


def _contains_any(values: tuple[str, ...], fold: bool) -> Callable[[str], bool]:
    """Whether a text holds one of ``values`` (lower-cased ones when ``fold``): a loop, not
    any(generator), and one value tested directly, as this runs for every candidate line."""
    if len(values) == 1:
        (value,) = values
        return (lambda s: value in s.lower()) if fold else (lambda s: value in s)

    def contains(text: str) -> bool:
        if fold:
            text = text.lower()
        for value in values:  # noqa: SIM110 - see the docstring
            if value in text:
                return True
        return False

    return contains


def _field_test(reader: _Reader, name: str, node: yaml.Node, where: str) -> Test:
    if isinstance(node, yaml.ScalarNode) and reader.value(node) is None:
        return lambda r: r.fields.get(name) is None
    if isinstance(node, yaml.ScalarNode):
        # Compared as text so that `status: 400` and `status: "400"` both work.
        want = _as_text(reader.value(node))
        return lambda r: name in r.fields and _as_text(r.fields[name]) == want
    fn = _StrMatch(reader, node, where).fn
    return lambda r: name in r.fields and fn(_as_text(r.fields[name]))


def _statuses(reader: _Reader, node: yaml.Node, where: str) -> tuple[int, ...]:
    nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
    codes: list[int] = []
    for i, item in enumerate(nodes):
        sub = f"{where}[{i}]" if isinstance(node, yaml.SequenceNode) else where
        value = reader.value(item) if isinstance(item, yaml.ScalarNode) else None
        if isinstance(value, str) and re.fullmatch(r"[1-5]xx", value):
            codes.extend(range(int(value[0]) * 100, int(value[0]) * 100 + 100))
        elif isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            codes.append(value)
        else:
            raise reader.fail(item, sub, "expected an HTTP status (e.g. 404) or a class like 5xx")
    return tuple(codes)


def _compile_rule(reader: _Reader, node: yaml.Node, where: str, order: int) -> list[Rule]:
    """One rule entry: its ``match``, then one more ``Rule`` (same id and annotation) for each
    condition set under ``also`` (the same failure in another shape, e.g. pasted as text)."""
    spec = reader.mapping(node, where, _RULE_KEYS)
    for key in _RULE_KEYS:
        if key not in spec and key not in _OPTIONAL_KEYS:
            raise reader.fail(node, f"{where}.{key}", "required key missing")
    rule_id = reader.text(spec["id"], f"{where}.id")
    if not _ID.fullmatch(rule_id):
        raise reader.fail(spec["id"], f"{where}.id", "use lower-case letters, digits, - and .")
    sources = frozenset(reader.choice(spec["sources"], f"{where}.sources", SOURCES))
    severity = reader.choice(spec["severity"], f"{where}.severity", SEVERITIES)
    if len(severity) != 1:
        raise reader.fail(spec["severity"], f"{where}.severity", "expected one severity")
    matches = [(spec["match"], f"{where}.match")]
    if "also" in spec:
        also = spec["also"]
        if not isinstance(also, yaml.SequenceNode) or not also.value:
            raise reader.fail(also, f"{where}.also", "expected a list of match conditions")
        matches += [(item, f"{where}.also[{i}]") for i, item in enumerate(also.value)]
    annotation = Annotation(
        rule=rule_id,
        title=reader.text(spec["title"], f"{where}.title"),
        severity=severity[0],
        cause=reader.text(spec["cause"], f"{where}.cause"),
        fix=reader.text(spec["fix"], f"{where}.fix"),
        ref=reader.text(spec["ref"], f"{where}.ref") if "ref" in spec else "",
    )
    rules = []
    for match_node, match_where in matches:
        match = reader.mapping(match_node, match_where, _MATCH_KEYS)
        if not match:
            raise reader.fail(match_node, match_where, "needs at least one condition")
        if "message" in match and "event" in match:
            raise reader.fail(match_node, match_where, "use message or event, not both")
        tests, anchor, message = _compile_match(reader, match, match_where)
        simple = set(match) <= {"status", "message", "event"}
        rules.append(Rule(rule_id, sources, annotation, tests, anchor, order, message, simple))
    return rules


def _compile_match(
    reader: _Reader, match: dict[str, yaml.Node], where: str
) -> tuple[tuple[Test, ...], tuple[str, tuple[Any, ...]], Callable[[str], bool] | None]:
    # Cheapest and most selective tests first: most candidates fail on level or status.
    tests: list[Test] = []
    anchor: tuple[str, tuple[Any, ...]] = ("always", ())
    fn: Callable[[str], bool] | None = None
    if "level" in match:
        levels = frozenset(reader.choice(match["level"], f"{where}.level", LEVELS))
        tests.append(lambda r: r.level in levels)
    if "status" in match:
        codes = _statuses(reader, match["status"], f"{where}.status")
        wanted = frozenset(codes)
        tests.append(lambda r: r.status in wanted)
        anchor = ("status", codes)
    key = "message" if "message" in match else "event" if "event" in match else ""
    if key:
        msg = _StrMatch(reader, match[key], f"{where}.{key}")
        fn = msg.fn
        tests.append(lambda r: fn(r.message))
        if msg.kind == "exact":
            values = tuple(v.lower() for v in msg.values) if msg.ignore_case else msg.values
            anchor = ("exact_ci" if msg.ignore_case else "exact", values)
        elif anchor[0] == "always":
            anchor = ("scan", (fn, msg.scan_kind(), msg.values, msg.kind, msg.ignore_case))
    if "logger" in match:
        logger_fn = _StrMatch(reader, match["logger"], f"{where}.logger").fn
        tests.append(lambda r: r.logger is not None and logger_fn(r.logger))
    if "fields" in match:
        fields = reader.mapping(match["fields"], f"{where}.fields", ())
        if not fields:
            raise reader.fail(match["fields"], f"{where}.fields", "needs at least one field")
        for name, node in fields.items():
            tests.append(_field_test(reader, name, node, f"{where}.fields.{name}"))
    if "regex" in match:
        pattern = reader.regex(
            match["regex"], f"{where}.regex", reader.text(match["regex"], f"{where}.regex")
        )
        tests.append(lambda r: pattern.search(r.raw, 0, RAW_CAP) is not None)
        if anchor[0] == "always":
            anchor = ("raw", ())
    return tuple(tests), anchor, fn


def parse_rules(text: str, path: str, *, first_order: int = 0) -> list[Rule]:
    """Validate and compile one rules file's text; ``path`` is only used in messages."""
    reader = _Reader(path)
    root = compose_yaml(text, path, RulesError)
    if root is None:
        raise RulesError(f"{path}: empty rules file; expected `rules:` with a list")
    top = reader.mapping(root, "", ("version", "rules"))
    if "rules" not in top:
        raise reader.fail(root, "rules", "required key missing")
    if "version" in top and reader.value(top["version"]) != 1:
        raise reader.fail(top["version"], "version", "only version 1 is known")
    items = top["rules"]
    if not isinstance(items, yaml.SequenceNode):
        raise reader.fail(items, "rules", f"expected a list, got {node_kind(items, article=True)}")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(items.value):
        compiled = _compile_rule(reader, node, f"rules[{i}]", first_order + i)
        rule_id = compiled[0].id
        if rule_id in seen:
            first = f"rules[{seen[rule_id]}]"
            raise reader.fail(node, f"rules[{i}].id", f"duplicate id {rule_id!r} (see {first})")
        seen[rule_id] = i
        rules.extend(compiled)
    return rules
