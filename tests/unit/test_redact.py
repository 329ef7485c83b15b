"""Secrets out of displayed log text: cookie values, credentials, bearer tokens, JWTs."""

from __future__ import annotations

import argparse
import io

import pytest

from aktui.cmd import annotate as annotate_cmd
from aktui.logs.redact import MARK, redact

JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJnb2F1dGhlbnRpay5pbyJ9."
    "ytPe3B583WthGmuztlFmoiZULHRxdv__ANWQBnWr2X8"
)
# From goauthentik/authentik#10848: a trace-level outpost line dumping the request headers.
TRACE = (
    'timestamp="2024-08-15T21:25:04Z" level=trace event="tracing headers for debug" '
    'header="map[Accept:[text/html] Cookie:[authentik_proxy_gYg4g0pN=MTcyMzc1NjU3OHxOd3dBTkZo'
    'TVMw] Dnt:[1] X-Original-Url:[https://app.example.com/]]" logger=authentik.outpost.x'
)


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (TRACE, "MTcyMzc1NjU3OHxOd3dBTkZo", "Cookie:[authentik_proxy_gYg4g0pN=<redacted>]"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop", "Authorization: Bearer"),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz", '"Authorization": "Basic'),
        ('{"Cookie": "a=1; authentik_session=xyz"}', "xyz", "authentik_session=<redacted>"),
        (
            "Set-Cookie: authentik_proxy_abc=SECRETVAL; Path=/; Domain=example.com; HttpOnly",
            "SECRETVAL",
            "Path=/; Domain=example.com; HttpOnly",
        ),
        (f"GET /outpost.goauthentik.io/callback?code=4e3b&state={JWT}", JWT[:20], "state="),
        ("curl -b authentik_proxy_x1=abcdef https://a", "abcdef", "authentik_proxy_x1="),
        ("AUTHENTIK_TOKEN=abc123secret", "abc123secret", "AUTHENTIK_TOKEN="),
        ('x-authentik-jwt: "' + JWT + '"', JWT[-20:], "x-authentik-jwt"),
    ],
)
def test_secret_values_go_names_stay(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out and MARK in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        '{"event":"/outpost.goauthentik.io/auth/nginx","status":401}',
        'timestamp="2024-08-15T21:25:04Z" level=trace event="cookie decode"',
        "event=Loaded config path=inbuilt-default",
        '{"event":"Starting authentik outpost","hash":"tagged","version":"2024.12.1"}',
        '"auth_via": "api_token", "user": "ak-outpost-566de0a4"',
    ],
)
def test_near_misses_stay_as_they_are(text: str) -> None:
    assert redact(text) == text


def test_an_oauth_authorize_url_is_not_looked_at() -> None:
    # Every login logs /application/o/authorize/: "authorize" is not a trigger word, so the
    # line is returned as it came, not rewritten (and `aktui annotate` writes it in bulk).
    for text in (
        "< Location: http://server:9000/application/o/authorize/?client_id=abc&state=1",
        '{"event":"/application/o/authorize/","status":302}',
        "GET /APPLICATION/O/AUTHORIZE/ HTTP/1.1",
    ):
        assert redact(text) is text


def test_only_the_patterns_whose_word_a_line_holds_run_with_the_same_result() -> None:
    # _redact_line skips the patterns whose word the line lacks: pinned to running them all,
    # over each secret line, its case variants, mixes of secrets, and non-ASCII look-alikes.
    from aktui.logs.redact import _redact_all, _redact_line

    lines = [
        TRACE,
        f"Authorization: Bearer abcdefghijklmnop Cookie: a=1 state={JWT} AUTHENTIK_TOKEN=zz",
        '{"Cookie": "a=1; authentik_session=xyz", "authorization": "Token abcdefgh12"}',
        "curl -b authentik_proxy_x1=abcdef -H 'proxy-authorisation: Basic dXNlcjpwYXNz'",
        "set-cookie=a=1; Path=/ bearer   0123456789abcdef",
        "< Location: http://server:9000/application/o/authorize/?client_id=abc",
        "cooKie: a=1 ſet-cookie: b=2 AUTHORIZATION: Bearer abcdefghijk",  # Kelvin sign, long s
        "authentik_csrf=abc; eyJhbGciOi.eyJpc3MiOi.sig",
    ]
    for line in lines:
        for text in (line, line.upper(), line.lower(), line.swapcase()):
            assert _redact_line(text) == _redact_all(text), text


def test_evidence_of_a_trailing_newline_survives() -> None:
    # The token-whitespace cause is still visible: the value goes, the "\n" after it stays.
    out = redact('net/http: invalid header field value "Bearer xyz_token_value\\n" for key')
    assert "xyz_token_value" not in out and "\\n" in out


def test_never_crosses_a_line() -> None:
    out = redact("Cookie: a=1\nb=2 stays\n")
    assert out == "Cookie: a=<redacted>\nb=2 stays\n"


def _run(text: str, *extra: str) -> str:
    parser = argparse.ArgumentParser()
    annotate_cmd.configure(parser)
    args = parser.parse_args(list(extra))
    out = io.StringIO()
    annotate_cmd.run(args, stdin=io.StringIO(text), stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("extra", [(), ("--json",), ("--only-annotated",)])
def test_annotate_redacts_by_default(extra: tuple[str, ...]) -> None:
    failing = (
        '{"error":"Get \\"https://a/api/v3/outposts/instances/\\": net/http: invalid header '
        'field value \\"Bearer s3cr3tT0k3nValue\\\\n\\" for key Authorization",'
        '"event":"Failed to fetch outpost configuration","level":"error"}\n'
    )
    out = _run(TRACE + "\n" + failing, *extra)
    assert "s3cr3tT0k3nValue" not in out and "MTcyMzc1NjU3OHxOd3dBTkZo" not in out
    # The rule saw the whole line: the cause is still named.
    assert "outpost-token-whitespace" in out


def test_show_secrets_writes_lines_as_read() -> None:
    out = _run(TRACE + "\n", "--show-secrets")
    assert out == TRACE + "\n"


def test_log_view_entries_are_redacted() -> None:
    from aktui.logs.store import make_entry
    from aktui.runtime import LogLine

    entry = make_entry("outpost", LogLine("outpost", None, TRACE), None)
    assert "MTcyMzc1NjU3OHxOd3dBTkZo" not in entry.message + entry.extra
