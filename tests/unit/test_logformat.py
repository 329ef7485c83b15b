"""parse_line: one record per line, per-line format detection, never an exception."""

from __future__ import annotations

import json
import random
from dataclasses import FrozenInstanceError, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aktui.logs.annotate import annotate
from aktui.logs.format import (
    LEVELS,
    MESSAGE_CAP,
    LogRecord,
    parse_for_rules,
    parse_line,
    probe,
)

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"

LOGRUS = (
    '{"event":"/outpost.goauthentik.io/auth/nginx","host":"app.example.com","level":"info",'
    '"logger":"authentik.outpost.proxyv2.application","method":"GET","name":"app-provider",'
    '"remote":"172.18.0.5:41234","runtime":"0.812","scheme":"http","size":21,"status":401,'
    '"timestamp":"2026-03-29T08:40:20Z","user_agent":"Mozilla/5.0"}'
)
STRUCTLOG = (
    '{"auth_via": "unauthenticated", "domain_url": "auth.example.com", "event": "Scope '
    'mismatch.", "host": "auth.example.com", "level": "warning", "logger": '
    '"authentik.providers.oauth2.utils", "pid": 47, "request_id": "abc", "schema_name": '
    '"public", "timestamp": "2025-10-08T07:04:56.733333"}'
)
NGINX_ERROR = (
    "2026/03/29 08:40:20 [error] 123#123: *45 auth request unexpected status: 404 while sending "
    'to client, client: 203.0.113.7, server: app.example.com, request: "GET / HTTP/1.1", '
    'subrequest: "/outpost.goauthentik.io/auth/nginx", upstream: "http://100.64.0.10:9001/'
    'outpost.goauthentik.io/auth/nginx", host: "app.example.com"'
)
ACCESS = (
    '203.0.113.7 - alice [29/Mar/2026:10:40:20 +0200] "GET /wp-admin/?a=1 HTTP/2.0" 302 145 '
    '"https://app.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"'
)


def test_logrus_outpost_line() -> None:
    r = parse_line(LOGRUS)
    assert (r.format, r.source, r.level, r.status) == ("logrus", "outpost", "info", 401)
    assert r.message == "/outpost.goauthentik.io/auth/nginx"
    assert r.logger == "authentik.outpost.proxyv2.application"
    assert r.time == datetime(2026, 3, 29, 8, 40, 20, tzinfo=UTC)
    assert r.fields["host"] == "app.example.com" and r.fields["runtime"] == "0.812"
    assert "event" not in r.fields and "level" not in r.fields
    assert r.raw == LOGRUS


def test_structlog_server_line_local_time_is_assumed_utc_unless_told() -> None:
    r = parse_line(STRUCTLOG)
    assert (r.format, r.source, r.level) == ("structlog", "server", "warning")
    assert r.message == "Scope mismatch."
    assert r.time == datetime(2025, 10, 8, 7, 4, 56, 733333, tzinfo=UTC)
    cet = timezone(timedelta(hours=1))
    assert parse_line(STRUCTLOG, naive_tz=cet).time == datetime(
        2025, 10, 8, 7, 4, 56, 733333, tzinfo=cet
    )


def test_the_server_container_mixes_go_and_python_json() -> None:
    router = '{"event":"started","level":"info","logger":"authentik.router","timestamp":"x"}'
    embedded = '{"event":"Loaded application","level":"info","logger":"authentik.outpost.proxyv2"}'
    assert parse_line(router).source == "server"
    assert parse_line(embedded).source == "outpost"
    # refresh failures are logged by logrus' package logger: no logger field (FACTS c)
    no_logger = '{"error":"403 Forbidden","event":"Failed to fetch outpost configuration"}'
    assert parse_line(no_logger).source == "outpost"


def test_docker_timestamp_prefix_wins_for_time() -> None:
    r = parse_line("2026-03-29T08:40:20.123456789Z " + LOGRUS)
    assert r.format == "logrus" and r.message == "/outpost.goauthentik.io/auth/nginx"
    assert r.time == datetime(2026, 3, 29, 8, 40, 20, 123456, tzinfo=UTC)


def test_compose_prefix_and_timestamp() -> None:
    r = parse_line("outpost-single-1  | 2026-03-29T08:40:20.5Z " + LOGRUS + "\n")
    assert r.container == "outpost-single-1"
    assert r.format == "logrus" and r.status == 401
    assert r.time == datetime(2026, 3, 29, 8, 40, 20, 500000, tzinfo=UTC)


def test_docker_json_file_driver_wrapper() -> None:
    inner = LOGRUS.replace('"', '\\"')
    line = f'{{"log":"{inner}\\n","stream":"stderr","time":"2026-03-29T08:40:21.25Z"}}'
    r = parse_line(line)
    assert r.format == "logrus" and r.status == 401 and r.raw == line
    assert r.time == datetime(2026, 3, 29, 8, 40, 21, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "line",
    [
        '{"timestamp":"2026-08-20T09:12:01.123456Z","level":"WARN","fields":{"message":"no app '
        'for hostname","host":"foo"},"target":"authentik::outpost::proxy","filename":"src/'
        'outpost/proxy/mod.rs","line_number":88}',
        '{"filename":"src/outpost/mod.rs","host":"foo","level":"warn","line_number":88,'
        '"message":"no app for hostname","target":"authentik::outpost",'
        '"timestamp":"2026-08-20T09:12:01.123456Z"}',
    ],
)
def test_rust_outpost_nested_and_flattened(line: str) -> None:
    r = parse_line(line)
    assert (r.format, r.source, r.level, r.message) == (
        "rust",
        "outpost",
        "warning",
        "no app for hostname",
    )
    assert r.fields["host"] == "foo" and r.time is not None and r.time.tzinfo is not None


def test_nginx_error_line() -> None:
    r = parse_line(NGINX_ERROR)
    assert (r.format, r.source, r.level, r.status) == ("nginx-error", "nginx", "error", None)
    assert r.message == "auth request unexpected status: 404 while sending to client"
    assert r.fields["client"] == "203.0.113.7"
    assert r.fields["request"] == "GET / HTTP/1.1"
    assert r.fields["subrequest"] == "/outpost.goauthentik.io/auth/nginx"
    assert r.fields["upstream"].startswith("http://100.64.0.10:9001/")
    assert r.fields["host"] == "app.example.com" and r.fields["connection"] == 45
    assert r.time == datetime(2026, 3, 29, 8, 40, 20, tzinfo=UTC)


def test_nginx_error_without_context() -> None:
    r = parse_line(
        '2026/03/29 08:41:33 [emerg] 1#1: host not found in upstream "outpost:9000" in '
        "/etc/nginx/conf.d/default.conf:3"
    )
    assert r.level == "critical" and r.message.startswith("host not found in upstream")
    assert "client" not in r.fields


def test_nginx_access_line() -> None:
    r = parse_line(ACCESS)
    assert (r.format, r.source, r.status, r.message) == (
        "nginx-access",
        "nginx",
        302,
        "/wp-admin/?a=1",
    )
    assert r.fields["remote_user"] == "alice" and r.fields["method"] == "GET"
    assert r.fields["http_user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert r.time == datetime(2026, 3, 29, 10, 40, 20, tzinfo=timezone(timedelta(hours=2)))


def test_nginx_proxy_manager_access_lines() -> None:
    # Nginx Proxy Manager's "proxy" format (its proxy hosts) and "standard" format.
    proxy = parse_line(
        '[30/May/2024:01:26:28 +0200] - - 500 - GET http tandoor.local "/?a=1" '
        '[Client 192.168.178.22] [Length 572] [Gzip -] [Sent-to app] "Mozilla/5.0" "-"'
    )
    assert (proxy.format, proxy.source, proxy.status, proxy.message) == (
        "nginx-access",
        "nginx",
        500,
        "/?a=1",
    )
    assert proxy.fields["upstream_status"] == "-" and proxy.fields["host"] == "tandoor.local"
    assert proxy.time == datetime(2024, 5, 30, 1, 26, 28, tzinfo=timezone(timedelta(hours=2)))
    assert probe(proxy.raw) == ("nginx", "/?a=1", 500)
    standard = parse_line(
        '[19/Mar/2024:10:00:00 +0000] 302 - GET https a.example "/x" [Client 10.0.0.1] '
        '[Length 0] [Gzip -] "curl/8" "-"'
    )
    assert (standard.format, standard.status, standard.fields["remote_addr"]) == (
        "nginx-access",
        302,
        "10.0.0.1",
    )
    assert "upstream_status" not in standard.fields


def test_server_outposts_logger_is_the_server() -> None:
    # authentik.outposts.* (plural) is the server's Python side; authentik.outpost.* the outposts.
    server = parse_line(
        "INF domain_url=null event=Provider changed, rebuilding permissions and sending update "
        "logger=authentik.outposts.signals outpost=authentik Embedded Outpost pid=90"
    )
    assert (server.format, server.source) == ("console", "server")
    outpost = parse_line("INF event=waiting 4 seconds to reconnect logger=authentik.outpost.ak-ws")
    assert outpost.source == "outpost"
    # An outpost line re-serialised with Python's separators is still the outpost's.
    spaced = parse_line(
        '{"event": "mismatched session ID", "level": "warning", '
        '"logger": "authentik.outpost.proxyv2.application", "name": "app"}'
    )
    assert (spaced.format, spaced.source) == ("structlog", "outpost")


def test_nginx_access_garbage_request() -> None:
    r = parse_line(
        '198.51.100.1 - - [29/Mar/2026:08:40:20 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"'
    )
    assert r.format == "nginx-access" and r.status == 400 and r.level == "warning"


def test_logfmt_debug_format() -> None:
    r = parse_line(
        'time="2026-03-29T08:43:31Z" level=warning msg="mismatched session ID" is=abc '
        "logger=authentik.outpost.proxyv2.application should="
    )
    assert (r.format, r.source, r.level, r.message) == (
        "logfmt",
        "outpost",
        "warning",
        "mismatched session ID",
    )
    assert r.fields == {"is": "abc", "should": ""}


@pytest.mark.parametrize(
    ("value", "level"),
    [("trace", "debug"), ("warn", "warning"), ("WARN", "warning"), ("fatal", "critical"),
     ("panic", "critical"), ("notice", "info"), ("emerg", "critical"), ("bogus", None)],
)  # fmt: skip
def test_levels_are_normalised(value: str, level: str | None) -> None:
    r = parse_line(f'{{"event":"x","level":"{value}"}}')
    assert r.level == level and (level is None or level in LEVELS)


def test_plain_text_and_bytes() -> None:
    r = parse_line(b"  Starting nginx: nginx.\r\n")
    assert (r.format, r.source, r.message, r.raw) == (
        "text",
        "text",
        "Starting nginx: nginx.",
        "  Starting nginx: nginx.",
    )


def test_record_is_frozen_and_hashable() -> None:
    r = parse_line(LOGRUS)
    with pytest.raises(AttributeError):
        r.message = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.fields["host"] = "x"  # type: ignore[index]
    assert hash(r) == hash(parse_line(LOGRUS)) and r == parse_line(LOGRUS)


def test_one_megabyte_line_keeps_raw_caps_message() -> None:
    line = '{"event":"' + "A" * 1_048_576 + '","level":"info"}'
    r = parse_line(line)
    assert r.format == "text"  # beyond MAX_JSON: not parsed
    assert r.raw == line and len(r.message) <= MESSAGE_CAP + 1
    r = parse_line("x" * 1_048_576)
    assert len(r.message) <= MESSAGE_CAP + 1 and len(r.raw) == 1_048_576


def test_hostile_file_never_raises() -> None:
    for raw in (LOGS / "hostile.log").read_bytes().split(b"\n"):
        r = parse_line(raw)
        assert isinstance(r, LogRecord)
        assert r.time is None or r.time.tzinfo is not None


def test_deeply_nested_json_is_text() -> None:
    line = "{" + '"a":{' * 3000 + "}" * 3001
    assert parse_line(line).format == "text"


def test_fuzz_never_raises() -> None:
    rng = random.Random(6)
    seeds = [LOGRUS, STRUCTLOG, NGINX_ERROR, ACCESS]
    for _ in range(3000):
        base = bytearray(rng.choice(seeds).encode())
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(base))
            op = rng.random()
            if op < 0.4:
                base[pos] = rng.randrange(256)
            elif op < 0.7:
                del base[pos : pos + rng.randint(1, 40)]
            else:
                base[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        r = parse_line(bytes(base))
        assert isinstance(r, LogRecord)
    for _ in range(500):
        parse_line(bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))


def _all_sample_lines() -> list[str]:
    lines: list[str] = []
    for name in ("failing.log", "healthy.log", "hostile.log"):
        text = (LOGS / name).read_bytes().decode("utf-8", errors="replace")
        lines += [line for line in text.split("\n") if not line.startswith("#")]
    for name in ("failing.jsonl", "benign.jsonl"):
        text = (LOGS.parent / "wild" / name).read_text(encoding="utf-8")
        lines += [json.loads(row)["line"] for row in text.splitlines() if row.strip()]
    return [*lines, LOGRUS, STRUCTLOG, NGINX_ERROR, ACCESS]


@pytest.mark.parametrize("line", _all_sample_lines())
def test_probe_agrees_with_parse_line(line: str) -> None:
    """The annotator's pre-filter must read exactly what parse_line reads, or give up."""
    quick = probe(line)
    if quick is None:
        return
    family, message, status = quick
    record = parse_line(line)
    assert (message, status) == (record.message, record.status)
    expected = {"json": {"outpost", "server"}, "nginx": {"nginx"}, "text": {"text"}}[family]
    assert record.source in expected


@pytest.mark.parametrize("line", _all_sample_lines())
def test_parse_for_rules_is_parse_line_without_the_time(line: str) -> None:
    """Annotation parses with parse_for_rules (no datetimes built): every other field must be
    what parse_line gives, and records built by the fast constructor equal dataclass ones."""
    full, quick = parse_line(line), parse_for_rules(line)
    assert quick == replace(full, time=None) and quick.time is None
    assert full == LogRecord(**{f.name: getattr(full, f.name) for f in fields(LogRecord)})
    assert hash(full) == hash(replace(full))
    with pytest.raises(FrozenInstanceError):
        full.message = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "line",
    [
        '{"event":"a","event":"b","level":"info"}',  # duplicate key: json keeps the last
        '{"event":"say \\"hi\\"","level":"info"}',  # escapes
        '{"event":"x","status":400,"status":200}',
        '{"kind":"status","event":"x"}',
        '{"event":"x","nested":{"status":500}}',
        '{"event" : "spaced", "status" : 404}',
        '{"event":"a","x":"y","event":"b"}',  # the repeated key far from the first
        '{"event"event":"a"}',  # overlapping occurrences: not JSON, and not read
        '{"event":"a","b":"\\"event\\""}',  # the key's text inside a value (escaped)
    ],
)
def test_probe_gives_up_or_agrees_on_tricky_json(line: str) -> None:
    quick = probe(line)
    record = parse_line(line)
    assert quick is None or (quick[1], quick[2]) == (record.message, record.status)


@pytest.mark.parametrize(
    "tail",
    [
        ":401,",
        ":401}",
        ":401 ,",
        ": 401,",
        ':"401",',
        ":4011,",
        ":40,",
        ":40}",
        ":401",
        ":٤٠١,",
        ":²⁰¹,",
        ":099}",
        ":600,",
        ":401]",
        "",
        ":",
        ":401:",
    ],
)
def test_probe_reads_a_status_as_its_pattern_does(tail: str) -> None:
    # probe reads the common `"status":401,` without its regex: pinned to the regex's answer.
    from aktui.logs.format import _PROBE_STATUS

    body = '{"event":"x","status"' + tail + ("" if tail.endswith("}") else "}")
    m = _PROBE_STATUS.match(body, body.index('"status"') + 8)
    code = int(m.group(2)) if m else None
    expected = None if m is None else ("json", "x", code if 100 <= code <= 599 else None)
    assert probe(body) == expected


@pytest.mark.parametrize(
    "line",
    [
        '{"event":"x"}',
        '{"ab-cdefgTx":1}',  # a docker time's "-" and "T" where one would be
        '{"ab-cdefg x":1}',
        '{"a b  c :x"}',  # journald's spaces and colon
        "{pod/x] y",
        '{"a":1} | {"b":2}',
    ],
)
def test_no_prefix_starts_with_a_brace(line: str) -> None:
    # strip_prefixes answers a line starting with "{" at once: none of the prefixes it looks
    # for (their patterns, kubectl's "[pod/") would have matched there.
    from aktui.logs import format as logformat

    assert logformat.strip_prefixes(line) == (line, None, None)
    assert not line.startswith("[pod/")
    for prefix in (logformat._COMPOSE, logformat._DOCKER_TS, logformat._JOURNALD):
        assert prefix.match(line) is None, prefix.pattern
    assert logformat._SPACED_TS.match(line) is None


# --- the shapes real operators paste (tests/data/wild/ has each with its source) -----------


def test_console_form_values_with_spaces() -> None:
    line = (
        "ERR error=403 Forbidden event=Failed to fetch outpost configuration, retrying in 3 "
        "seconds logger=authentik.outpost.ak-api-controller timestamp=2024-05-10T02:01:07Z"
    )
    r = parse_line(line)
    assert (r.format, r.level, r.source) == ("console", "error", "outpost")
    assert r.message == "Failed to fetch outpost configuration, retrying in 3 seconds"
    assert r.fields["error"] == "403 Forbidden"
    assert r.time == datetime(2024, 5, 10, 2, 1, 7, tzinfo=UTC)


def test_console_form_lower_case_level_and_status() -> None:
    r = parse_line("INF event=/api/v3/outposts/instances/ logger=authentik.asgi status=403 user=")
    assert (r.format, r.source, r.status, r.level) == ("console", "server", 403, "info")
    assert r.fields["user"] == ""
    w = parse_line("warning error=authentik starting event=failed to proxy to backend")
    assert (w.level, w.message, w.fields["error"]) == (
        "warning",
        "failed to proxy to backend",
        "authentik starting",
    )


def test_console_message_first_then_pairs_and_plain_level_text() -> None:
    r = parse_line('FTL Get "https://x/": boom stage=github url=https://github.com')
    assert (r.format, r.message, r.fields["stage"]) == (
        "console",
        'Get "https://x/": boom',
        "github",
    )
    assert r.source == "text"  # no logger: server and outposts both write this form
    # A level word and a sentence without any key=value is just text.
    assert parse_line("ERROR something broke").format == "text"


def test_logfmt_with_event_instead_of_msg() -> None:
    r = parse_line(
        'timestamp="2024-08-15T21:25:04Z" level=warning event="redirect URI did not contain '
        'external host" logger=authentik.outpost.proxyv2.application name=Provider'
    )
    assert (r.format, r.level, r.source) == ("logfmt", "warning", "outpost")
    assert r.message == "redirect URI did not contain external host"
    assert r.time == datetime(2024, 8, 15, 21, 25, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "container"),
    [
        ("Jul 19 09:04:45 HOST authentik-ldap[4001649]: ", "authentik-ldap"),
        ("2025-07-19T09:04:45+0200 HOST authentik-proxy[41]: ", "authentik-proxy"),  # short-iso
        ("2023-02-19 23:24:40.596688+00:00", None),
        ("2025-09-26 00:09:09 | ", None),
        (
            "authentik_server.1.ph27qpq6scgq@home-server    | ",
            "authentik_server.1.ph27qpq6scgq@home-server",
        ),
        (" | ", None),
        ("2024-12-22T07:39:41.123456789Z ", None),  # kubectl logs --timestamps
        (
            "[pod/ak-outpost-single-6d5c9b7f4-2xq8w/proxy] ",
            "ak-outpost-single-6d5c9b7f4-2xq8w/proxy",
        ),
    ],
)
def test_collector_prefixes(prefix: str, container: str | None) -> None:
    r = parse_line(prefix + LOGRUS)
    assert (r.format, r.message, r.status) == ("logrus", "/outpost.goauthentik.io/auth/nginx", 401)
    assert r.container == container


def test_json_behind_an_unknown_prefix() -> None:
    r = parse_line("whatever-agent[12] >>> " + LOGRUS)
    assert (r.format, r.message) == ("logrus", "/outpost.goauthentik.io/auth/nginx")


def test_json_fragment_pasted_without_braces() -> None:
    r = parse_line(
        'error":"oidc: id token issued by a different provider","event":"failed to redeem code",'
        '"level":"warning","logger":"authentik.outpost.proxyv2.application","timestamp":"2023-02'
    )
    assert (r.format, r.source, r.level) == ("fragment", "outpost", "warning")
    assert r.message == "failed to redeem code"
    assert r.fields["error"] == "oidc: id token issued by a different provider"
    anon = parse_line('"event":"no providers assigned to this outpost","name":"refresh"}')
    assert (anon.format, anon.source, anon.fields["name"]) == ("fragment", "text", "refresh")


def test_nginx_error_pasted_without_date_or_level() -> None:
    r = parse_line("[error] 332#332: *26135 Upstream sent too big header while reading x")
    assert (r.format, r.source, r.level, r.fields["connection"]) == (
        "nginx-error",
        "nginx",
        "error",
        26135,
    )
    bare = parse_line(
        "420#420: *6 auth request unexpected status: 303 while sending to client, "
        'client: 1.2.3.4, host: "a"'
    )
    assert bare.message == "auth request unexpected status: 303 while sending to client"
    assert bare.fields["host"] == "a" and bare.level is None


def test_rust_outpost_event_and_coloured_err() -> None:
    r = parse_line(
        '{"filename":"src/outpost/event.rs","level":"warn","line_number":330,"target":'
        '"authentik::outpost::event","timestamp":"2026-08-25T10:24:49.357991","err":"\\n   0: '
        '\\u001b[91mIO error: invalid peer certificate\\u001b[0m","event":"websocket error"}'
    )
    assert (r.format, r.source, r.level, r.message) == (
        "rust",
        "outpost",
        "warning",
        "websocket error",
    )
    assert r.fields["error"] == "0: IO error: invalid peer certificate"


def test_rust_outpost_error_without_a_message_is_read_by_its_report() -> None:
    # A real 2026.8 line (community-scripts/ProxmoxVE#16943, journald prefix): the config
    # fetch failed, and the line has no event/message, only the coloured report under "err".
    line = (
        "Sep 01 14:44:15 authentik authentik[112]: "
        '{"filename":"src/outpost/mod.rs","level":"warn","line_number":57,"pid":112,'
        '"spans":[{"name":"start"},{"name":"new"},{"name":"get_outpost"}],'
        '"target":"authentik::outpost","thread_id":"ThreadId(1)","thread_name":"main",'
        '"timestamp":"2026-09-01T14:44:15.075521","err":"\\n   0: \\u001b[91merror in response: '
        "status code 404 Not Found\\u001b[0m\\n\\nLocation:\\n   \\u001b[35m/rustc/8bab26f4f68e0e"
        "26f0bb7960be334d5b520ea452/library/core/src/ops/function.rs\\u001b[0m:\\u001b[35m250"
        '\\u001b[0m\\n"}'
    )
    r = parse_line(line)
    assert (r.format, r.source, r.container) == ("rust", "outpost", "authentik")
    assert r.message == "error in response: status code 404 Not Found"
    found = annotate(line)
    assert found is not None and found.rule == "outpost-config-wrong-host"


@pytest.mark.parametrize(
    "body",
    [
        '{"event":"a","level":"info"}',
        '{"event":"a"}}',
        '{"event":"a"} }',
        '{"event":"a"}\t}',
        '{} {"event":"a"}',
        '{"event":[}',
        '{"event":NaN,"x":Infinity}',
        '{"event":"a",}',
        '{"event":"\\ud800"}',
        '{"event":"a","event":"b"}',
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"log":"{\\"event\\":\\"x\\"}","stream":"stdout"}',
    ],
)
def test_json_is_read_as_json_loads_reads_it(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # _parse_json scans with the decoder's scan_once, without json.loads' outer steps: the
    # records are those json.loads gives.
    from aktui.logs import format as logformat

    fast = parse_line(body)
    monkeypatch.setattr(logformat, "_scan_json", lambda text, _at: (json.loads(text), len(text)))
    assert fast == parse_line(body)


def test_sample_lines_are_read_as_json_loads_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from aktui.logs import format as logformat

    lines = _all_sample_lines()
    fast = [parse_line(line) for line in lines]
    monkeypatch.setattr(logformat, "_scan_json", lambda text, _at: (json.loads(text), len(text)))
    assert fast == [parse_line(line) for line in lines]
