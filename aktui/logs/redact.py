"""Secrets out of log text before it is shown: cookie values, Authorization credentials, bearer
tokens and JWTs.

Trace-level outpost logs dump request headers (``Cookie:[authentik_proxy_gYg4g0pN=MTcy...]``),
the Rust outpost logs whole callback URLs with their state JWT, and a pasted incident log is
read over someone's shoulder. ``redact`` keeps what diagnosis needs (which header, which cookie
name, which auth scheme) and replaces the values with ``<redacted>``. Pure and linear: each
pattern is a single pass with bounded repetition, and text without any trigger word is returned
as is after one scan. Used by ``aktui annotate`` (unless ``--show-secrets``) and the log view
(``aktui.logs.store``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["MARK", "TRIGGERS", "redact"]

MARK = "<redacted>"

# Cheap gate: pieces of the words that can start a secret, found with str.find (C speed; a
# case-insensitive regex alternation costs ~100x more per character), in the spellings logs
# use. Most log text has none of them, and in a long run of lines only the lines holding one
# are rewritten. `aktui annotate` finds them in its block scan too (healthy lines in bulk).
TRIGGERS = (
    "ookie",  # Cookie, cookie, Set-Cookie
    "OOKIE",
    # Authorization, authorization, Proxy-Authorization; not "uthori" alone: every OAuth
    # login logs /application/o/authorize/, which holds no credential.
    "uthorization",
    "uthorisation",
    "UTHORIZATION",
    "UTHORISATION",
    "earer",  # Bearer, bearer
    "EARER",
    "authentik_proxy_",
    "authentik_session",
    "authentik_csrf",
    "eyJ",  # a JWT
    "AUTHENTIK_TOKEN",
)

# A cookie header's value up to the end of the header: "Cookie: a=1; b=2", "Cookie:[a=1; b=2]"
# (Go's header map dump), '"cookie": "a=1"' (JSON), "set-cookie=a=1" (logfmt).
_COOKIE_HEADER = re.compile(
    r"""(?i)(\b(?:set-)?cookie\\?["']?\s{0,3}[:=]\s{0,3}\[?\\?["']?)([^\]"'\\\n]{1,8192})"""
)
_COOKIE_PAIR = re.compile(r"([^\s=;,]{1,256})=([^;,\s]{1,8192})")
_COOKIE_ATTRIBUTES = frozenset(
    {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority"}
)
# authentik's own session cookies wherever they appear (a curl -b, a URL, a header dump).
_AUTHENTIK_COOKIE = re.compile(
    r"\b((?:authentik_proxy_[A-Za-z0-9]{1,64}|authentik_session|authentik_csrf)=)"
    r"([^;,\s\"'\]\\]{1,8192})"
)
# "Authorization: Bearer x", "Authorization:[Basic x]", '"authorization": "Token x"'.
_AUTHORIZATION = re.compile(
    r"""(?i)(\b(?:proxy-)?authori[sz]ation\\?["']?\s{0,3}[:=]\s{0,3}\[?\\?["']?"""
    r"""(?:(?:bearer|basic|token|digest|negotiate)\s{1,3})?)([^\s"'\],;\\]{1,8192})"""
)
_BEARER = re.compile(r"(?i)(\bbearer\s{1,3})([A-Za-z0-9._~+/=-]{8,8192})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,4096}\.eyJ[A-Za-z0-9_-]{4,8192}\.[A-Za-z0-9_-]{0,4096}")
_TOKEN_VAR = re.compile(r"\b(AUTHENTIK_TOKEN\s{0,3}[=:]\s{0,3}[\"']?)([^\s\"']{1,8192})")


def _cookie_values(m: re.Match[str]) -> str:
    return m.group(1) + _COOKIE_PAIR.sub(_pair, m.group(2))


def _pair(m: re.Match[str]) -> str:
    name = m.group(1)
    if name.lower() in _COOKIE_ATTRIBUTES or m.group(2) == MARK:
        return m.group(0)
    return f"{name}={MARK}"


def _keep_name(m: re.Match[str]) -> str:
    return m.group(1) + MARK if m.group(2) != MARK else m.group(0)


def redact(text: str) -> str:
    """``text`` with cookie values, credentials, bearer tokens and JWTs replaced by
    ``<redacted>``; names (header, cookie, scheme) are kept. Line breaks are never crossed,
    and only lines holding a trigger word are rewritten, so a run of healthy lines costs a few
    ``str.find`` passes."""
    starts: set[int] = set()
    for word in TRIGGERS:
        at = text.find(word)
        while at >= 0:
            starts.add(text.rfind("\n", 0, at) + 1)
            end = text.find("\n", at)
            if end < 0:
                break
            at = text.find(word, end)
    if not starts:
        return text
    out: list[str] = []
    pos = 0
    for start in sorted(starts):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        out.append(text[pos:start])
        out.append(_redact_line(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _redact_line(text: str) -> str:
    if not text.isascii():  # re's case folding reaches beyond str.lower() ("K", "ſ", "ı")
        return _redact_all(text)
    # Each pattern only where the word it needs is: a line holds one trigger word, and the
    # regexes cost ~1 us each. Marks never join text into a new word, so one look suffices.
    low = text.lower()
    for word, pattern, replacement in _STEPS:
        if word in low:
            text = pattern.sub(replacement, text)
    return text


def _redact_all(text: str) -> str:
    for _, pattern, replacement in _STEPS:
        text = pattern.sub(replacement, text)
    return text


# In order: the lower-case word a pattern cannot match without, the pattern, its replacement.
_STEPS: tuple[tuple[str, re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    ("eyj", _JWT, MARK),
    ("cookie", _COOKIE_HEADER, _cookie_values),
    ("authentik_", _AUTHENTIK_COOKIE, _keep_name),
    ("authori", _AUTHORIZATION, _keep_name),
    ("bearer", _BEARER, _keep_name),
    ("authentik_token", _TOKEN_VAR, _keep_name),
)
