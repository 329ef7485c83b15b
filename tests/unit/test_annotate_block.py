"""The block path of `aktui annotate` is exact: byte-identical to the per-line path."""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
from pathlib import Path

import pytest

from aktui.cmd import annotate as cmd
from aktui.logs.annotate import RuleSet

REPO = Path(__file__).resolve().parent.parent.parent
LOGS = REPO / "tests" / "data" / "logs"
MODES = ((), ("--json",), ("--only-annotated",), ("--json", "--only-annotated"))
USER_RULES = """\
rules:
  - id: user-ci
    title: t
    sources: [any]
    match: {message: {contains: "Loaded APPLICATION", ignore_case: true}}
    cause: c
    fix: f
    severity: info
  - id: user-regex
    title: t
    sources: [outpost, nginx, browser]
    match: {message: {regex: "wp-[a-z]+/post", ignore_case: true}}
    cause: c
    fix: f
    severity: warning
  - id: user-exact-ci
    title: t
    sources: [nginx]
    match: {message: {exact: "SIGNAL PROCESS STARTED", ignore_case: true}}
    cause: c
    fix: f
    severity: info
"""


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    cmd.configure(parser)
    return parser.parse_args(list(argv))


def _both(
    path: Path, monkeypatch: pytest.MonkeyPatch, *argv: str, chunk: int = 1 << 20
) -> tuple[str, str]:
    import io

    monkeypatch.setattr(cmd, "_CHUNK", chunk)
    out = io.StringIO()
    cmd.run(_args(*argv, str(path)), stdout=out)
    block = out.getvalue()
    with monkeypatch.context() as m:
        m.setattr(RuleSet, "block_filter", lambda self, also=(), controls=True: None)
        out = io.StringIO()
        cmd.run(_args(*argv, str(path)), stdout=out)
    return block, out.getvalue()


def _check(path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str, chunk: int = 1 << 20) -> None:
    for mode in MODES:
        block, per_line = _both(path, monkeypatch, *mode, *extra, chunk=chunk)
        assert block == per_line, (path.name, mode, chunk)


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.log")))
@pytest.mark.parametrize(
    "chunk", [1 << 20, *(pytest.param(size, marks=pytest.mark.slow) for size in (97, 7))]
)
def test_data_logs(name: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _check(LOGS / name, monkeypatch, chunk=chunk)


@pytest.mark.slow
def test_benchmark_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_annotate
    finally:
        sys.path.remove(str(REPO / "bench"))
    log = tmp_path / "mix.log"
    bench_annotate.generate(log, 20_000, 0.05)
    _check(log, monkeypatch)
    _check(log, monkeypatch, chunk=4093)


# Healthy and failing lines holding secrets (trace-level header dumps, tokens in errors):
# redacted on every path, the block path's healthy runs included.
SECRET_LINES = (
    'timestamp="2024-08-15T21:25:04Z" level=trace event="tracing headers for debug" '
    'header="map[Accept:[text/html] Cookie:[authentik_proxy_gYg4g0pN=MTcyMzc1NjU3OHxOd3dBTkZo'
    'TVMw] Dnt:[1] X-Original-Url:[https://app.example.com/]]" logger=authentik.outpost.x',
    '{"event":"/outpost.goauthentik.io/auth/nginx","level":"info","status":200,'
    '"authorization":"Bearer abcdefghijklmnop0123"}',
    '10.0.0.1 - - [29/Mar/2026:08:40:20 +0000] "GET /cb?state=eyJhbGciOiJIUzI1NiJ9.'
    'eyJpc3MiOiJnb2F1dGhlbnRpay5pbyJ9.ytPe3B583WthGmuztlF HTTP/1.1" 200 5 "-" "curl"',
    '{"error":"Get \\"https://a/api/v3/outposts/instances/\\": net/http: invalid header '
    'field value \\"Bearer s3cr3tT0k3nValue\\\\n\\" for key Authorization",'
    '"event":"Failed to fetch outpost configuration","level":"error"}',
    "curl -b authentik_session=abcdef0123 https://a AUTHENTIK_TOKEN=abc123secret",
)


def test_secrets_are_redacted_on_the_block_path_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Healthy lines go out in bulk, unparsed: the block filter must find the lines holding a
    # secret as well, or their values would reach the output as read.
    healthy = (LOGS / "healthy.log").read_text(encoding="utf-8", errors="replace").splitlines()
    log = tmp_path / "secrets.log"
    lines = [*healthy[:50], *SECRET_LINES, *healthy[50:100], SECRET_LINES[0]]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _check(log, monkeypatch)
    _check(log, monkeypatch, "--show-secrets")
    for mode in MODES:
        out = io.StringIO()
        cmd.run(_args(*mode, str(log)), stdout=out)
        for secret in ("MTcyMzc1NjU3", "abcdefghijklmnop0123", "ytPe3B583", "s3cr3tT0k3n"):
            assert secret not in out.getvalue(), (mode, secret)
    out = io.StringIO()
    cmd.run(_args("--show-secrets", str(log)), stdout=out)
    assert all(line + "\n" in out.getvalue() for line in SECRET_LINES)


def _corpus() -> list[str]:
    lines = [*(LOGS / "healthy.log").read_text(encoding="utf-8", errors="replace").splitlines()]
    lines += (LOGS / "failing.log").read_text(encoding="utf-8", errors="replace").splitlines()
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_annotate
    finally:
        sys.path.remove(str(REPO / "bench"))
    lines += [*bench_annotate.HEALTHY, *bench_annotate.FAILING, *SECRET_LINES]
    return [line for line in lines if line]


def _mutate(rng: random.Random, line: str) -> str:
    roll = rng.random()
    if roll < 0.1:  # an escape, or a non-string event: the message is not verbatim
        return line.replace('"event":"', rng.choice(['"event":"\\u0041', '"event":7, "x":"']), 1)
    if roll < 0.2:
        return line.replace("4", rng.choice(["\u0664", "4"]))  # non-ASCII digits
    if roll < 0.3:
        cut = rng.randrange(len(line) + 1)
        return line[:cut] + rng.choice(["\r", "\x1b[2J", "é", "\u202e", "…", "\\"]) + line[cut:]
    if roll < 0.35:
        return line.upper()
    if roll < 0.4:
        return "2026-03-29T08:40:20.123456789Z " + line
    if roll < 0.45:
        return "outpost-1  | " + line
    return line


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_fuzz(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    corpus = _corpus()
    parts: list[bytes] = []
    for _ in range(600):
        line = _mutate(rng, rng.choice(corpus)).encode("utf-8")
        if rng.random() < 0.02:
            line += b"\xff\xfe\xc3"  # invalid UTF-8
        if rng.random() < 0.005:
            line = line + b"x" * rng.choice([5000, 1 << 20])  # long and 1 MB lines
        parts.append(line + rng.choice([b"\n", b"\n", b"\n", b"\r\n", b""]))
    if rng.random() < 0.5 and parts:
        parts[-1] = parts[-1].rstrip(b"\r\n")  # no trailing newline
    log = tmp_path / "fuzz.log"
    log.write_bytes(b"".join(parts))
    rules = tmp_path / "rules.yaml"
    rules.write_text(USER_RULES, encoding="utf-8")
    _check(log, monkeypatch, chunk=rng.choice([1 << 20, 1000, 97]))
    _check(log, monkeypatch, "--rules", str(rules), chunk=rng.choice([1 << 20, 555]))


def test_inexpressible_user_rules_fall_back(tmp_path: Path) -> None:
    from aktui.logs.annotate import load_rules

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        USER_RULES.replace('regex: "wp-[a-z]+/post"', 'regex: "^wp\\\\b"'), encoding="utf-8"
    )
    assert load_rules(rules).block_filter() is None
    assert load_rules().block_filter() is not None


REGEX_RULE = """\
rules:
  - id: user-regex
    title: t
    sources: [any]
    match: {message: {regex: %s, ignore_case: %s}}
    cause: c
    fix: f
    severity: warning
"""
# Regexes Python's re and Hyperscan read alike once translated ({,n}, a leading "]" in a
# class, named groups, scoped flags, \s), over lines that try each difference.
SAME_SYNTAX = (
    r"ab{,2}c",
    r"x{,}y",
    r"[]q]z",
    r"(?P<word>wp)-(?i:ADMIN)",
    r"status\s+cut",
    r"a{}b",
    r"ab.{0,20}cd",  # searched for as "ab.*cd" (a wide bounded repeat compiles slowly)
    r"ab.{3,40}ef",
)
REGEX_LINES = (
    "abbc\nac\nabbbc\nxxxy\ny\n]z\nqz\nwp-admin\nwp-AdMiN\nWP-admin\nstatus\x1ccut\n"
    "status \t cut\nstatus\x0bcut\na{}b\nab\n"
    '{"event":"abc","level":"info"}\n{"event":"st\\u0061tus cut","level":"info"}\n'
    + "".join(f"ab{'x' * n}cd\nab{'x' * n}ef\n" for n in (0, 2, 3, 20, 21, 40, 41, 80))
)


@pytest.mark.parametrize("pattern", SAME_SYNTAX)
@pytest.mark.parametrize("fold", ["false", "true"])
def test_regex_rules_are_exact(
    pattern: str, fold: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aktui.logs.annotate import load_rules

    rules = tmp_path / "rules.yaml"
    rules.write_text(REGEX_RULE % (json.dumps(pattern), fold), encoding="utf-8")
    assert load_rules(rules).block_filter() is not None
    log = tmp_path / "x.log"
    log.write_text(REGEX_LINES, encoding="utf-8")
    _check(log, monkeypatch, "--rules", str(rules))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # Python's warning on "[[:alpha:]]"
@pytest.mark.parametrize(
    "pattern",
    [r"^wp", r"wp$", r"\bwp", r"wp(?=x)", r"(w)p\1", r"(?a)wp", r"é+", r"[[:alpha:]]x", r"\u00e9"],
)
def test_regex_outside_the_common_syntax_falls_back(pattern: str, tmp_path: Path) -> None:
    from aktui.logs.annotate import load_rules

    rules = tmp_path / "rules.yaml"
    rules.write_text(REGEX_RULE % (json.dumps(pattern), "false"), encoding="utf-8")
    assert load_rules(rules).block_filter() is None


def test_without_hyperscan_every_line_takes_the_per_line_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aktui.logs import prefilter
    from aktui.logs.annotate import load_rules

    monkeypatch.setattr(prefilter, "hyperscan", None)
    assert load_rules().block_filter() is None
    code = cmd.run(_args(), stdin=io.StringIO("plain\n"), stdout=(out := io.StringIO()))
    assert code == 0 and out.getvalue() == "plain\n"


@pytest.mark.parametrize(
    "text", ["plain", 'quote " and \\ back', "tab\tcr\r nul\x00 del\x7f", "é \u2028 \U0001f600"]
)
def test_json_lines_are_what_json_dumps_writes(text: str) -> None:
    from aktui.logs.annotate import default_rules

    found = default_rules().rules[0].annotation
    for annotation in (None, found):
        record = {"line": text}
        for key in ("rule", "title", "severity", "cause", "fix"):
            record[key] = getattr(annotation, key) if annotation is not None else None
        expected = json.dumps(record, ensure_ascii=False) + "\n"
        assert cmd._json_line(text, annotation, False) == expected


OVERLAPPING_RULES = """\
rules:
  - id: user-long
    title: t
    sources: [any]
    match: {message: {contains: "Loaded application now"}}
    cause: c
    fix: f
    severity: info
  - id: user-short-ci
    title: t
    sources: [outpost]
    match: {message: {contains: "LOADED APP", ignore_case: true}, level: error}
    cause: c
    fix: f
    severity: warning
  - id: user-prefix
    title: t
    sources: [nginx]
    match: {message: {prefix: "signal process"}}
    cause: c
    fix: f
    severity: info
  - id: user-exact
    title: t
    sources: [any]
    match: {message: "signal process started now"}
    cause: c
    fix: f
    severity: error
"""
OVERLAPPING_LINES = (
    '{"event":"Loaded application now","level":"info","logger":"authentik.outpost.x"}',
    '{"event":"loaded APPlication now","level":"error","logger":"authentik.outpost.x"}',
    '{"event":"Loaded application","level":"error","logger":"authentik.outpost.x"}',
    "2026/03/29 08:40:20 [notice] 1#1: signal process started now",
    "2026/03/29 08:40:20 [notice] 1#1: signal process started",
    "signal process started now",
    "Loaded application now",
    "LOADED APPLICATION NOW",
)


def test_literals_holding_another_are_searched_for_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The filter keeps only the shortest of overlapping literals ("LOADED APP" ignoring case
    # covers "Loaded application now"): the lines the longer ones find are still found.
    from aktui.logs import prefilter

    assert prefilter._fewest(
        {
            ("Loaded application now", False),
            ("loaded app", True),
            ("signal process", False),
            ("signal process started now", False),
            ("x", True),
            ("X", False),
            ("Bearer x", False),
        },
        ("earer",),
    ) == {
        ("x", True): ("x", True),
        ("X", False): ("x", True),
        ("loaded app", True): ("loaded app", True),
        ("Loaded application now", False): ("loaded app", True),
        ("signal process", False): ("signal process", False),
        ("signal process started now", False): ("signal process", False),
        ("Bearer x", False): ("earer", False),
    }
    rules = tmp_path / "rules.yaml"
    rules.write_text(OVERLAPPING_RULES, encoding="utf-8")
    log = tmp_path / "x.log"
    log.write_text("\n".join(OVERLAPPING_LINES) + "\n", encoding="utf-8")
    _check(log, monkeypatch, "--rules", str(rules))
    out = io.StringIO()
    cmd.run(_args("--only-annotated", "--rules", str(rules), str(log)), stdout=out)
    found = [line for line in out.getvalue().splitlines() if line.startswith("  ↳")]
    assert len(found) == 7, out.getvalue()


HINT_RULES = """\
rules:
  - id: user-exact-and-status
    title: t
    sources: [any]
    match: {message: "settled or not", status: 404}
    cause: c
    fix: f
    severity: error
  - id: user-bearer
    title: t
    sources: [any]
    match: {message: {contains: "Bearer token rejected"}}
    cause: c
    fix: f
    severity: error
"""
# Lines where the hinted path (only the rules whose patterns a line holds) could part from
# annotate(): probe reads broken JSON as JSON where parse_line makes it text (any rule may
# then match), whitespace probe's \s reads in a status and the status pattern does not, a
# rule literal found through a redaction trigger it holds ("earer").
HINT_LINES = (
    '{"event":"/api/v3/outposts/x 403 Forbidden","status"\x0b:401}',
    '{"event":"/api/v3/outposts/x 403 Forbidden","status"\x0c: 403}',
    '{"event":"/api/v3/outposts/x 403 Forbidden","status":401,}',
    '{"event":"x 403 Forbidden","status":401,}',
    '{"event":"x 403 Forbidden","status":401}',
    '{"msg":"x","status":401}',
    '{"event":"/outpost.goauthentik.io/auth/nginx","status":401,"logger":"authentik.outpost.x"}',
    '{"event":"Bearer token rejected","level":"error","logger":"authentik.outpost.x"}',
    "Bearer token rejected",
    "2026/03/29 08:40:20 [error] 1#1: *3 Bearer token rejected, client: 1.2.3.4",
    # A Rust outpost line read by its error report's headline (no message of its own).
    '{"filename":"src/outpost/mod.rs","level":"warn","target":"authentik::outpost",'
    '"err":"0: error in response: status code 404 Not Found"}',
    # An exact message and a status: the message alone does not settle it.
    '{"event":"settled or not","status":200,"logger":"authentik.outpost.x"}',
    '{"event":"settled or not","status":404,"logger":"authentik.outpost.x"}',
    '{"event":"settled or not","status":404,"logger":"authentik.outpost.x",}',
    # NGINX lines judged on probe's reading (message and status rules) or parsed (fields).
    "2026/03/29 08:40:20 [error] 7#7: *9 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 1.2.3.4, server: a, request: "GET / HTTP/1.1", upstream: '
    '"http://10.0.0.1:9000/outpost.goauthentik.io/auth/nginx", host: "a"',
    "2026/03/29 08:40:20 [error] 7#7: *9 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 1.2.3.4, server: a, request: "GET / HTTP/1.1", upstream: '
    '"http://10.0.0.1:8080/", host: "a"',
    '1.2.3.4 - - [29/Mar/2026:08:40:20 +0000] "GET /outpost.goauthentik.io/start HTTP/1.1" 403 1',
    '1.2.3.4 - - [29/Mar/2026:08:40:20 +0000] "GET /app HTTP/1.1" 403 1 "-" "curl"',
    '1.2.3.4 - - [29/Mar/2026:08:40:20 +0000] "GET /app HTTP/1.1" 401 1 "-" "curl"',
    '1.2.3.4 - - [29/Mar/2026:08:40:20 +0000] "GET /app Bearer token rejected" 500 1',
    '{x - - [29/Mar/2026:08:40:20 +0000] "GET /app HTTP/1.1" 401 1 "-" "curl"',
    "outpost-1  | 2026/03/29 08:40:20 [error] 7#7: *9 auth request unexpected status: 404",
    # Statuses the status pattern once missed: broken JSON read as a fragment (int("0401")),
    # a console value read stripped; both lines are text, so the NGINX 401 rule applies.
    '{"event":"x","status":0401}',
    "INF something status= 401 msg=x",
    # Lines not starting with "{" under hints of browser rules: text judged on probe's reading,
    # an authentik line behind a prefix (none of them applies), logfmt (probe gives up).
    "< Location: http://server:9000/application/o/authorize/?client_id=abc&state=1",
    "web-1  | < Location: http://server:9000/application/o/authorize/?client_id=abc",
    "This page isn't working: ERR_TOO_MANY_REDIRECTS",
    '2026-03-29T08:40:20.123456789Z {"event":"ERR_TOO_MANY_REDIRECTS","level":"info",'
    '"logger":"authentik.outpost.x"}',
    'level=info msg="ERR_TOO_MANY_REDIRECTS" logger=authentik.outpost.x',
)


@pytest.mark.parametrize("few", [0, 12, 1000])
def test_hinted_rules_give_annotate_s_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    from aktui.logs import annotate
    from aktui.logs.annotate import load_rules
    from aktui.logs.redact import TRIGGERS

    # A hint's rules are tried one by one when they are few, looked up by anchor otherwise:
    # both ways, and the default, give annotate's answer.
    monkeypatch.setattr(annotate, "_FEW", few)
    rules = tmp_path / "rules.yaml"
    rules.write_text(HINT_RULES, encoding="utf-8")
    log = tmp_path / "x.log"
    log.write_text("\n".join(HINT_LINES) + "\n", encoding="utf-8")
    _check(log, monkeypatch, "--rules", str(rules))
    _check(log, monkeypatch, "--rules", str(rules), "--show-secrets")
    for also in ((), TRIGGERS):
        ruleset = load_rules(rules)
        block = ruleset.block_filter(also=also)
        assert block is not None
        data = log.read_bytes()
        found = block.lines(data)
        for start, hint in found:
            line = data[start : data.index(b"\n", start) + 1].decode()
            assert ruleset.annotate_hinted(line, hint) == ruleset.annotate(line), line
        # A line left out was dismissed (only a status flagged it, and no rule matches it).
        kept = {data[start : data.index(b"\n", start)].decode() for start, _ in found}
        dismissed = [line for line in HINT_LINES if line not in kept]
        assert dismissed == [HINT_LINES[6]]
        assert ruleset.annotate(dismissed[0]) is None


def test_hints_name_only_the_rules_a_line_may_match(tmp_path: Path) -> None:
    # The fast path is taken: a failure line's hint is a few rules, not None (every rule).
    from aktui.logs.annotate import default_rules

    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_annotate
    finally:
        sys.path.remove(str(REPO / "bench"))
    rules = default_rules()
    block = rules.block_filter()
    assert block is not None
    rng = random.Random(3)
    lines = [bench_annotate.fill(shape, rng) for shape in bench_annotate.FAILING]
    data = ("\n".join(lines) + "\n").encode()
    found = block.lines(data)
    assert len(found) == len(lines)
    for (_start, hint), line in zip(found, lines, strict=True):
        assert hint is not None and 0 < len(hint) <= 12, (line, hint)
        assert rules.annotate_hinted(line, hint) == rules.annotate(line) is not None


def test_dismissed_lines_are_those_annotate_hinted_dismisses(tmp_path: Path) -> None:
    # BlockFilter.lines leaves out the lines whose hint's dismissal test holds (a status-only
    # hint, probe's reading rules it out): each must be one annotate_hinted answers None for,
    # as annotate does; the others are returned with the hint they would have had.
    from aktui.logs.annotate import default_rules

    sys.path.insert(0, str(REPO / "tests" / "unit"))
    try:
        from test_logformat import _all_sample_lines
    finally:
        sys.path.remove(str(REPO / "tests" / "unit"))
    rules = default_rules()
    rng = random.Random(11)
    corpus = _corpus() + _all_sample_lines() + list(HINT_LINES)
    corpus += [line.replace("200", "401").replace("302", "403") for line in corpus]
    lines = corpus + [_mutate(rng, rng.choice(corpus)) for _ in range(3000)]
    lines = [line for line in lines if "\n" not in line and "\r" not in line]
    data = ("\n".join(lines) + "\n").encode("utf-8", errors="replace")
    data = data.decode("utf-8", errors="replace").encode()
    block = rules.block_filter()
    assert block is not None
    kept = dict(block.lines(data))
    undismissed = rules.block_filter()
    assert undismissed is not None
    undismissed._dismissal = None  # the same filter without its dismissal test
    flagged = dict(undismissed.lines(data))
    assert set(kept) <= set(flagged)
    dismissed = 0
    for start, hint in flagged.items():
        line = data[start : data.index(b"\n", start) + 1].decode()
        if start in kept:
            assert kept[start] == hint, line
            continue
        dismissed += 1
        assert rules.annotate_hinted(line, hint) is None, line
        assert rules.annotate(line) is None, line
    assert dismissed > 50


def test_probe_agrees_where_annotate_hinted_skips_it() -> None:
    # annotate_hinted asks probe only about a match it cannot vouch for: where it vouches,
    # probe must give up or read the record's message and status, in a family holding its
    # source (then annotate's pre-filter passes for any rule the record matches).
    from aktui.logs.annotate import _probe_agrees
    from aktui.logs.format import parse_for_rules, probe

    sys.path.insert(0, str(REPO / "tests" / "unit"))
    try:
        from test_logformat import _all_sample_lines
    finally:
        sys.path.remove(str(REPO / "tests" / "unit"))
    rng = random.Random(5)
    corpus = _corpus() + _all_sample_lines() + list(HINT_LINES)
    lines = corpus + [_mutate(rng, rng.choice(corpus)) for _ in range(3000)]
    families = {"json": {"outpost", "server"}, "nginx": {"nginx"}, "text": {"text"}}
    vouched = 0
    for line in lines:
        record = parse_for_rules(line)
        if not _probe_agrees(record, line):
            continue
        vouched += 1
        quick = probe(line)
        if quick is not None:
            assert (quick[1], quick[2]) == (record.message, record.status), line
            assert record.source in families[quick[0]], line
    assert vouched > len(lines) // 2


def test_compiled_patterns_are_cached_and_a_damaged_cache_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aktui.logs.annotate import load_rules

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = (LOGS / "failing.log").read_bytes()
    data = data[: data.rindex(b"\n") + 1].decode("utf-8", errors="replace").encode()
    rules = load_rules()
    first = rules.block_filter()
    assert first is not None
    (cached,) = (tmp_path / "cache" / "aktui").glob("patterns-*.hsdb")
    expected = first.lines(data)
    assert expected
    again = rules.block_filter()  # loaded from the cache
    assert again is not None and again.lines(data) == expected
    for damaged in (cached.read_bytes()[:-7], b"\0" * 40, b""):
        cached.write_bytes(damaged)
        rebuilt = rules.block_filter()
        assert rebuilt is not None and rebuilt.lines(data) == expected
    # At most a few files, the newest kept: each rules file version makes one.
    for i in range(12):
        user = tmp_path / f"rules-{i}.yaml"
        user.write_text(REGEX_RULE % (json.dumps(f"wp{i}x"), "false"), encoding="utf-8")
        assert load_rules(user).block_filter() is not None
    kept = list((tmp_path / "cache" / "aktui").glob("patterns-*.hsdb"))
    assert len(kept) == 8 and not list((tmp_path / "cache" / "aktui").glob("*.tmp"))
    # A cache that cannot be written: compiled each time, still right.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a directory")
    unwritable = rules.block_filter()
    assert unwritable is not None and unwritable.lines(data) == expected


def test_a_filter_without_the_control_pattern_refuses_to_look_for_controls() -> None:
    # Plain output writes control characters as read, so its filter leaves their pattern out;
    # asking that filter for them (what --json needs) must fail loudly, not find none.
    from aktui.logs.annotate import default_rules

    data = b'{"event":"a\tb","level":"info"}\nplain \x1b[2J\n\\ backslash\n'
    with_controls = default_rules().block_filter(controls=True)
    without = default_rules().block_filter(controls=False)
    assert with_controls is not None and without is not None
    assert with_controls.starts(data, controls=True) == [0, 31, 42]
    # Without controls asked for, both flag the same lines (the backslash is a guard).
    assert without.starts(data) == with_controls.starts(data) == [42]
    with pytest.raises(ValueError):
        without.lines(data, controls=True)


def test_a_control_character_not_asked_for_leaves_the_hint_alone() -> None:
    # A filter built with the control pattern, asked without it (plain output): a control
    # character after a rule's anchor on the same line must not turn the line's hint into
    # "any rule", as it would with the controls' pattern id among its own.
    from aktui.logs.annotate import default_rules

    line = (
        b"2026/03/29 08:40:22 [error] 31#31: *11 auth request unexpected status: 404 while "
        b'sending to client, client: 203.0.113.7, server: app.example.com, host: "a"'
    )
    with_controls = default_rules().block_filter(controls=True)
    assert with_controls is not None
    plain = dict(with_controls.lines(line + b"\n"))
    marked = dict(with_controls.lines(line + b" \x01\n"))
    assert list(plain) == list(marked) == [0]
    assert plain[0] is not None and marked[0] == plain[0]
    # Asked for, the control character makes the line one to write escaped: any rule.
    assert dict(with_controls.lines(line + b" \x01\n", controls=True))[0] is None


def test_matched_lines_in_json_are_what_json_dumps_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The block path writes a matched line with a hint as its bytes with the quotes escaped
    # (no json.dumps call): pinned to the per-line path, which uses it, for quotes, CRLF,
    # non-ASCII text, a line at the end without its line break, and --only-annotated.
    fail_404 = (
        "2026/03/29 08:40:22 [error] 31#31: *11 auth request unexpected status: 404 while "
        'sending to client, client: 203.0.113.7, server: "é.example.com", request: "GET / '
        'HTTP/1.1", host: "app.example.com"'
    )
    mismatch = (
        '{"event":"mismatched session ID","is":"","level":"warning","logger":'
        '"authentik.outpost.proxyv2.application","name":"ünïcode \\u00e9","should":"x"}'
    )
    log = tmp_path / "matched.log"
    ascii_404 = fail_404.replace("é", "e")  # a hint: non-ASCII lines have none (a guard)
    log.write_bytes(
        f"{ascii_404}\r\nhealthy\n{mismatch}\n{fail_404}\nplain \u2028 text\n{ascii_404}\n"
        f"{ascii_404}".encode()
    )
    _check(log, monkeypatch)
    block, _ = _both(log, monkeypatch, "--json")
    lines = block.split("\n")  # not splitlines(): U+2028 is no line break in JSON lines
    assert lines.pop() == "" and len(lines) == 7
    for line in lines:
        assert json.dumps(json.loads(line), ensure_ascii=False) == line
