"""The rule base: every cheat-sheet row and documented failure is explained, healthy lines are not.

Test lines live in tests/data/logs/: failing.log pairs each line with the rule it must get
("#> rule-id" on the line before), healthy.log must stay silent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aktui.errors import ConfigError
from aktui.logs.annotate import (
    SEVERITIES,
    Annotation,
    RulesError,
    RuleSet,
    annotate,
    default_rules,
    load_rules,
    parse_rules,
)
from aktui.logs.format import parse_line
from tests.fixtures.paths import SHARED

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"


def _cases() -> list[tuple[int, str, str]]:
    cases: list[tuple[int, str, str]] = []
    expect = None
    for number, line in enumerate((LOGS / "failing.log").read_text().splitlines(), 1):
        if line.startswith("#> "):
            expect = line[3:].strip()
        elif expect is not None:
            cases.append((number, expect, line))
            expect = None
    return cases


def _healthy() -> list[str]:
    text = (LOGS / "healthy.log").read_text()
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


CASES = _cases()
RULES = default_rules()

# The ERROR CHEAT SHEET of shared/seeds/001 (Error column) -> rules that explain it, in
# whichever source the failure shows (outpost log, NGINX error/access log, browser).
CHEAT_SHEET = {
    "500, log says unexpected status: 301": ["nginx-auth-status-3xx"],
    "500, log says unexpected status: 404": [
        "nginx-auth-status-404",
        "server-embedded-outpost-404",
    ],
    "403 from NGINX, no error log entry": ["request-outpost-403", "nginx-outpost-path-forbidden"],
    "403 from NGINX, correct location matches": ["access-403", "browser-nginx-403"],
    "403 from Cloudflare": ["browser-cloudflare-403", "nginx-tls-sni"],
    '400 on callback, "mismatched session ID"': [
        "outpost-session-mismatch",
        "browser-mismatched-session",
        "request-callback-400",
    ],
    '400 on callback, "mismatched session ID" should=""': ["outpost-session-cookie-missing"],
    '400 on callback, "invalid state"': ["outpost-invalid-state", "browser-invalid-state"],
    "302 redirects to http://server:9000/...": ["browser-internal-redirect"],
    "404 from outpost on localhost": [
        "request-outpost-404",
        "outpost-no-providers",
        "browser-outpost-route-404",
    ],
    '"no app for hostname" in outpost logs': [
        "outpost-no-app-for-hostname",
        "request-start-400",
        "browser-no-app-for-hostname",
    ],
    "Site worked, then stopped after Authentik changes": [
        "server-provider-changed",
        "outpost-config-failed",
    ],
}

# Failure messages of FACTS.md's outpost log table (part c) and server/worker messages
# (parts d, e): (logrus level, exact event) -> the severity class they must get.
OUTPOST_FAILURES = [
    ("warning", "No providers assigned to this outpost, check outpost configuration in authentik"),
    ("warning", "failed to setup application"),
    ("error", "Failed to fetch outpost configuration, retrying in 3 seconds"),
    ("error", "Failed to fetch outpost configuration"),
    ("error", "Failed to fetch providers"),
    ("warning", "failed to fetch page"),
    ("panic", "No outposts found with given token, ensure the given token corresponds to an "
              "authentik Outpost"),
    ("error", "Failed to fetch global configuration"),
    ("warning", "failed to connect websocket"),
    ("warning", "event read error"),
    ("warning", "event write error"),
    ("warning", "Failed to hello to authentik"),
    ("error", "Reporting configuration error"),
    ("warning", "mismatched session ID"),
    ("warning", "failed to parse state jwt"),
    ("warning", "state jwt without issuer"),
    ("warning", "invalid state jwt issuer"),
    ("warning", "failed to get session"),
    ("warning", "invalid state"),
    ("warning", "failed to redeem code"),
    ("warning", "failed to verify token"),
    ("warning", "failed to convert token to claims"),
    ("warning", "token is not active"),
    ("warning", "failed to send introspection request"),
    ("warning", "redirect URI did not contain external host"),
    ("warning", "redirect URI Hostname was not included in cookie domain"),
    ("warning", "Failed to fetch certificate's fingerprint"),
    ("warning", "failed to fetch certificate"),
    ("warning", "Error proxying to upstream server"),
    ("warning", "Outpost has localhost/blank API Connection but no authentik_host is configured."),
    ("warning", "Failed to listen"),
    ("warning", "Failed to listen (TLS)"),
]  # fmt: skip
SERVER_FAILURES = [
    "WS Request without authorization header",
    "Failed to authenticate",
    "runtime error during accept",
    "Container is unhealthy, restarting...",
    "Container is not running, restarting...",
]
# Informational, per the field guide or FACTS: annotated, but at info severity.
INFORMATIONAL = [
    ('{"event":"no app for hostname","host":"x","level":"warning",'
     '"logger":"authentik.outpost.proxyv2","timestamp":"2026-03-29T08:43:15Z"}'),
    ('{"event":"waiting 4 seconds to reconnect","level":"info",'
     '"logger":"authentik.outpost.ak-api-controller","timestamp":"2026-03-29T08:43:15Z"}'),
    ('{"event": "Container has mismatched image, re-creating...", "level": "info", '
     '"logger": "authentik.outposts.controllers.docker", "timestamp": "2026-03-29T08:42:16.1"}'),
]  # fmt: skip


def _logrus(level: str, event: str) -> str:
    return (
        f'{{"event":"{event}","level":"{level}","logger":"authentik.outpost.proxyv2",'
        '"timestamp":"2026-03-29T08:43:00Z"}'
    )


def _structlog(event: str) -> str:
    return (
        f'{{"event": "{event}", "level": "info", "logger": "authentik.outposts.controllers", '
        '"pid": 47, "schema_name": "public", "timestamp": "2026-03-29T08:43:00.123456"}'
    )


@pytest.mark.parametrize(("number", "rule", "line"), CASES, ids=[f"L{c[0]}-{c[1]}" for c in CASES])
def test_failing_line_gets_its_rule(number: int, rule: str, line: str) -> None:
    found = annotate(line)
    assert found is not None, f"failing.log:{number}: no annotation, expected {rule}"
    assert found.rule == rule, f"failing.log:{number}: got {found.rule}, expected {rule}"
    # the pre-filtered str path and the parsed-record path must agree
    assert annotate(parse_line(line)) == found


@pytest.mark.parametrize("line", _healthy())
def test_healthy_line_stays_silent(line: str) -> None:
    assert annotate(line) is None
    assert annotate(parse_line(line)) is None


def test_every_rule_has_a_test_line() -> None:
    wild = LOGS.parent / "wild" / "failing.jsonl"
    tested = {rule for _, rule, _ in CASES}
    tested |= {json.loads(row)["rule"] for row in wild.read_text().splitlines() if row.strip()}
    untested = sorted(r.id for r in RULES.rules if r.id not in tested)
    assert not untested, f"rules without a line in failing.log or wild/: {untested}"


@pytest.mark.parametrize("row", list(CHEAT_SHEET))
def test_cheat_sheet_row_is_covered(row: str) -> None:
    tested = {rule for _, rule, _ in CASES}
    by_id = {r.id: r for r in RULES.rules}
    for rule_id in CHEAT_SHEET[row]:
        assert rule_id in by_id, f"{row}: rule {rule_id} missing"
        assert rule_id in tested, f"{row}: rule {rule_id} has no test line"
    refs = [by_id[r].annotation.ref for r in CHEAT_SHEET[row]]
    assert any("cheat sheet" in ref for ref in refs), f"{row}: no rule cites the cheat sheet"


def test_cheat_sheet_table_matches_the_seed() -> None:
    """The rows above are the rows of the field guide's table, no more and no fewer."""
    seed = SHARED / "seeds" / "001_a41a9b8a2dc5110a.txt"
    if not seed.is_file():
        pytest.skip(f"field guide not found at {seed}")
    text = seed.read_text(encoding="utf-8")
    table = text[text.index("The Error Code Cheat Sheet") : text.index("The Questions You")]
    quotes = str.maketrans({"\u201c": '"', "\u201d": '"'})
    rows = [
        line.strip("| ").split(" | ")[0].translate(quotes)
        for line in table.splitlines()[3:]
        if " | " in line
    ]
    assert rows == list(CHEAT_SHEET)


@pytest.mark.parametrize(("level", "event"), OUTPOST_FAILURES)
def test_facts_outpost_failure_messages(level: str, event: str) -> None:
    found = annotate(_logrus(level, event))
    assert found is not None, event
    assert found.severity in ("warning", "error"), (event, found.severity)


@pytest.mark.parametrize("event", SERVER_FAILURES)
def test_facts_server_and_worker_failure_messages(event: str) -> None:
    found = annotate(_structlog(event))
    assert found is not None and found.severity in ("warning", "error"), event


@pytest.mark.parametrize("line", INFORMATIONAL)
def test_informational_lines_get_the_nuance_not_an_alarm(line: str) -> None:
    found = annotate(line)
    assert found is not None and found.severity == "info"


def test_no_app_for_hostname_is_blocking_when_the_browser_sees_it() -> None:
    assert annotate('{"Message":"no app for hostname","Host":"x"}').severity == "error"  # type: ignore[union-attr]
    assert annotate(_logrus("warning", "no app for hostname")).severity == "info"  # type: ignore[union-attr]


def test_sources_keep_rules_apart() -> None:
    # an outpost request line with 401 is the normal unauthenticated answer, while the same
    # status in NGINX's access log means error_page did not redirect
    outpost_401 = _logrus("info", "/outpost.goauthentik.io/auth/nginx").replace(
        '"level"', '"status":401,"level"'
    )
    assert annotate(outpost_401) is None
    access_401 = '1.2.3.4 - - [29/Mar/2026:08:42:08 +0000] "GET /admin HTTP/1.1" 401 179 "-" "-"'
    assert annotate(access_401).rule == "access-401"  # type: ignore[union-attr]
    # a browser rule never fires on a structured line
    assert annotate(_logrus("warning", "ERR_TOO_MANY_REDIRECTS seen")) is None


def test_every_rule_is_complete() -> None:
    for rule in RULES.rules:
        a = rule.annotation
        assert a.severity in SEVERITIES and a.title and a.cause and a.fix and a.ref, rule.id
        assert rule.sources, rule.id


def test_annotation_is_plain_data() -> None:
    found = annotate(CASES[0][2])
    assert isinstance(found, Annotation)
    assert found == Annotation(
        found.rule, found.title, found.severity, found.cause, found.fix, found.ref
    )


def test_bytes_and_garbage() -> None:
    assert annotate(CASES[0][2].encode()) is not None
    for raw in (LOGS / "hostile.log").read_bytes().split(b"\n"):
        annotate(raw)
        annotate(raw.decode("utf-8", errors="replace"))


# ---------------------------------------------------------------- rules-file validation ----
GOOD = """\
version: 1
rules:
  - id: my-rule
    title: mine
    sources: [outpost]
    match:
      message: "no app for hostname"
    cause: mine
    fix: mine
    severity: error
"""


def _error(text: str) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "mine.yaml")
    assert isinstance(info.value, ConfigError)
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("severity: error", "severity: fatal"),
         "mine.yaml:10: rules[0].severity: 'fatal' is not one of info, warning, error"),
        (("      message:", "      level: loud\n      message:"),
         "mine.yaml:7: rules[0].match.level: 'loud' is not one of debug, info, warning"),
        (("    fix: mine\n", ""), "mine.yaml:3: rules[0].fix: required key missing"),
        (("severity: error", "sevrity: error"),
         "mine.yaml:10: rules[0].sevrity: unknown key; did you mean 'severity'?"),
        (("    cause: mine", "    cause: mine\n    colour: red"),
         "mine.yaml:9: rules[0].colour: unknown key (known: id, title, sources, match"),
        (("sources: [outpost]", "sources: [proxy]"), "mine.yaml:5: rules[0].sources[0]: 'proxy'"),
        (('message: "no app for hostname"', "message: {regex: '(unclosed'}"),
         "mine.yaml:7: rules[0].match.message.regex: invalid regex"),
        (('message: "no app for hostname"', "status: 999"), "mine.yaml:7: rules[0].match.status"),
        (('message: "no app for hostname"', "message: {contains: x, prefix: y}"),
         "mine.yaml:7: rules[0].match.message: needs exactly one of"),
        (('      message: "no app for hostname"', "      {}"),
         "rules[0].match: needs at least one"),
        (("id: my-rule", "id: My Rule"), "mine.yaml:3: rules[0].id: use lower-case"),
        (("title: mine", "title: mine\n    title: again"),
         "mine.yaml:5: rules[0].title: duplicate key"),
        (("version: 1", "version: 2"), "mine.yaml:1: version: only version 1"),
        (("rules:\n  - id", "rules: oops\nother:\n  - id"), "mine.yaml:3: other: unknown key"),
        (("version: 1\nrules:\n", "rules: oops\nx:\n"), "mine.yaml:2: x: unknown key"),
        (("    title: mine", "    title: [mine"), "mine.yaml:"),
    ],
)  # fmt: skip
def test_rules_file_errors_name_file_line_and_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    assert expected in _error(GOOD.replace(old, new, 1))


def test_duplicate_rule_id() -> None:
    text = GOOD + GOOD.split("rules:\n", 1)[1]
    assert "mine.yaml:11: rules[1].id: duplicate id 'my-rule' (see rules[0])" in _error(text)


def test_empty_file_and_wrong_shapes() -> None:
    assert "empty rules file" in _error("")
    assert 'mine.yaml:1: rules: expected a list, got "oops"' in _error("rules: oops\n")
    assert "mine.yaml:1: rules: required key missing" in _error("version: 1\n")
    assert "mine.yaml:1: (file): expected a mapping" in _error("- a\n")


def test_user_rules_come_first_and_replace_by_id(tmp_path: Path) -> None:
    user = tmp_path / "rules.yaml"
    user.write_text(GOOD + GOOD.split("rules:\n", 1)[1].replace("my-rule", "outpost-invalid-state"))
    rules = load_rules(user)
    assert rules.annotate(_logrus("warning", "no app for hostname")).rule == "my-rule"  # type: ignore[union-attr]
    ids = [r.id for r in rules.rules]
    assert ids.count("outpost-invalid-state") == 1 and ids[:2] == [
        "my-rule",
        "outpost-invalid-state",
    ]
    assert len(rules) == len(RULES) + 1


def test_user_rules_file_missing(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="rules file not found"):
        load_rules(tmp_path / "nope.yaml")


def test_matchers_fields_status_logger_regex() -> None:
    text = """\
rules:
  - id: by-fields
    title: t
    sources: [any]
    match: {fields: {host: {prefix: "evil."}, size: 21, user: null}}
    cause: c
    fix: f
    severity: warning
  - id: by-status-class
    title: t
    sources: [nginx]
    match: {status: 5xx, logger: {contains: nothing}}
    cause: c
    fix: f
    severity: error
  - id: by-raw-regex
    title: t
    sources: [any]
    match: {regex: 'secret=\\w+'}
    cause: c
    fix: f
    severity: info
  - id: ci
    title: t
    sources: [browser]
    match: {message: {exact: HELLO THERE, ignore_case: true}}
    cause: c
    fix: f
    severity: info
"""
    rules = RuleSet(parse_rules(text, "t.yaml"))
    line = '{"event":"/x","host":"evil.example.com","level":"info","size":21,"status":200}'
    assert rules.annotate(line).rule == "by-fields"  # type: ignore[union-attr]
    assert rules.annotate(line.replace('"size":21', '"size":22')) is None
    assert rules.annotate(line.replace('"size"', '"user":"bob","size"')) is None
    access = '1.2.3.4 - - [29/Mar/2026:08:42:08 +0000] "GET / HTTP/1.1" 503 1 "-" "-"'
    assert rules.annotate(access) is None  # logger condition fails on NGINX lines
    assert rules.annotate("GET /?secret=abc").rule == "by-raw-regex"  # type: ignore[union-attr]
    assert rules.annotate("hello there").rule == "ci"  # type: ignore[union-attr]


def test_also_conditions_share_the_rule() -> None:
    text = GOOD.replace(
        "    cause: mine",
        '    also:\n      - message: {contains: "pasted: no app"}\n    cause: mine',
    )
    rules = RuleSet(parse_rules(text, "mine.yaml"))
    line = '{"event":"no app for hostname","level":"warning","logger":"authentik.outpost.x"}'
    assert rules.annotate(line).rule == "my-rule"  # type: ignore[union-attr]
    assert rules.annotate("log said: pasted: no app here").rule == "my-rule"  # type: ignore[union-attr]
    assert rules.annotate("unrelated") is None
    assert rules.block_filter() is not None


@pytest.mark.parametrize(
    ("also", "expected"),
    [
        ("    also: []\n", "mine.yaml:8: rules[0].also: expected a list of match conditions"),
        ("    also:\n      - {}\n", "mine.yaml:9: rules[0].also[0]: needs at least one condition"),
        ("    also:\n      - colour: red\n", "mine.yaml:9: rules[0].also[0].colour: unknown key"),
    ],
)
def test_also_is_validated(also: str, expected: str) -> None:
    assert _error(GOOD.replace("    cause: mine\n", also + "    cause: mine\n")).startswith(
        expected
    )


def test_user_rule_replaces_every_shape_of_a_packaged_rule(tmp_path: Path) -> None:
    mine = tmp_path / "rules.yaml"
    mine.write_text(GOOD.replace("my-rule", "outpost-token-whitespace"), encoding="utf-8")
    rules = load_rules(mine)
    assert sum(r.id == "outpost-token-whitespace" for r in rules.rules) == 1
    assert rules.annotate("invalid header field value for key Authorization") is None


def test_throughput_smoke() -> None:
    """Not a timing assertion: 100k mixed lines go through the pre-filtered path."""
    lines = [line for _, _, line in CASES] + _healthy() * 20
    found = sum(1 for line in (lines * (100_000 // len(lines))) if RULES.annotate(line))
    assert found > 0


def test_message_memo_is_bounded_and_does_not_change_answers() -> None:
    rules = load_rules()
    texts = [f"plain banner number {i}" for i in range(5000)]
    for text in texts:
        assert rules.annotate(text) is None
    assert rules.annotate("plain banner number 7 ERR_TOO_MANY_REDIRECTS") is not None
    assert all(len(ix.seen) <= 4096 for ix in rules._by_source.values())


def test_remembered_candidates_are_bounded_and_the_same() -> None:
    # candidates() remembers its answer per (message, status): a live tail runs for days,
    # so the memo is bounded, and an answer from it is the one computed afresh.
    from aktui.logs.annotate import default_rules

    index = default_rules()._all
    messages = [f"auth request unexpected status: {400 + i % 200} #{i}" for i in range(5000)]
    for i, message in enumerate(messages):
        status = 400 + i % 7
        assert index.candidates(message, status) == tuple(index._candidates(message, status))
        assert index.candidates(message, status) == tuple(index._candidates(message, status))
        assert len(index.known) <= 4096
    long = "x " * 200
    index.candidates(long, None)
    assert (long, None) not in index.known  # long messages are not kept


def test_a_status_rule_with_a_message_lets_other_messages_of_that_status_go() -> None:
    # server-outpost-token-403 wants 401/403 on /api/v3/outposts/: the 401 an outpost answers
    # to every request before login must not cost a full parse on each line of a busy log.
    from aktui.logs.annotate import default_rules

    rules = default_rules()
    maybe = rules._maybe["json"]
    assert not maybe("/outpost.goauthentik.io/auth/nginx", 401)
    assert maybe("/api/v3/outposts/instances/", 403)
    line = (
        '{"event": "/api/v3/outposts/instances/", "host": "server:9000", "level": "warning", '
        '"logger": "authentik.asgi", "method": "GET", "status": 401, "timestamp": "x"}'
    )
    found = rules.annotate(line)
    assert found is not None and found.rule == "server-outpost-token-403"


def test_an_index_of_status_rules_answers_maybe_without_its_other_lookups() -> None:
    # A hint of status rules (every healthy outpost 401 is one) gets an index whose maybe is
    # _maybe_status: pinned to the general maybe, for each probe family's share of the rules.
    from aktui.logs.annotate import _HINT_SOURCES, _Index

    rules = default_rules()
    status_rules = [r for r in rules.rules if r.anchor[0] == "status"]
    assert status_rules
    messages = [
        "/outpost.goauthentik.io/auth/nginx",
        "/api/v3/outposts/instances/",
        "/ws/outpost/abc/",
        "Forbidden: /api/v3/outposts/",
        "auth request unexpected status: 404",
        "",
        "a message with spaces",
    ]
    checked = 0
    for wanted in _HINT_SOURCES.values():
        index = _Index(r for r in status_rules if wanted is None or r.sources & wanted)
        assert index.maybe == index._maybe_status  # the fast one is in use
        for message in messages:
            for status in (None, 200, 400, 401, 403, 404, 500, 502, 599):
                fast = index.maybe(message, status)
                assert fast == _Index.maybe(index, message, status), (wanted, message, status)
                checked += fast
    assert checked  # some answers are "yes"
    # An index with any other anchor keeps the general maybe.
    assert _Index(rules.rules).maybe != _Index(rules.rules)._maybe_status
