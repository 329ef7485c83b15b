"""One log line in, one ``LogRecord`` out: the formats an operator meets when forward auth breaks.

Detected per line, because one ``docker logs`` of the authentik server mixes Go (logrus) and
Python (structlog) JSON, and a pasted incident log mixes NGINX, outposts and browser text:

- docker's ``-t`` and ``kubectl logs --timestamps`` prefix, ``kubectl logs --prefix``'s pod,
  ``docker compose logs`` (and swarm's ``name.1.id@node``) ``name  | `` prefix, journald's
  ``Mon DD HH:MM:SS host unit[pid]:``, a log viewer's ``2023-02-07 21:22:42.498+00:00``
  (often glued to the JSON), and the json-file driver's
  ``{"log": ..., "stream": ..., "time": ...}`` wrapper;
- authentik Go/logrus JSON (keys sorted, no spaces, ``event``/``level``/``logger``/``timestamp``);
- authentik Python structlog JSON (``", "`` separators, local time with microseconds);
- the Rust outpost's tracing JSON (``target``/``filename``, message under ``fields``);
- logfmt (``AUTHENTIK_DEBUG=true`` switches logrus to text: ``level=warning msg="..."``);
- NGINX error and access logs (combined, and Nginx Proxy Manager's proxy and standard formats);
  anything else is plain text.

Pure and total: garbage, binary, invalid UTF-8 and megabyte lines give a ``text`` record, never an
exception. No Textual or rich here: the docker log reader and the TUI both import this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any

__all__ = [
    "FORMATS",
    "LEVELS",
    "LogRecord",
    "new_record",
    "normalise_level",
    "parse_for_rules",
    "parse_line",
    "probe",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = (
    "logrus",
    "structlog",
    "rust",
    "logfmt",
    "console",
    "fragment",
    "json",
    "nginx-error",
    "nginx-access",
    "text",
)

# json.loads on a hostile 1 MB line costs milliseconds and builds a huge dict; real authentik
# lines are under 4 KiB even with a stack trace, so anything bigger is treated as text.
MAX_JSON = 64 * 1024
# Kept in ``message`` for display and matching; ``raw`` always keeps the whole line.
MESSAGE_CAP = 4096

_LEVEL_MAP = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "err": "error",
    "fatal": "critical",
    "panic": "critical",
    "critical": "critical",
    "crit": "critical",
    "alert": "critical",
    "emerg": "critical",
    # Console renderers' three-letter levels (structlog/zerolog): INF, WRN, ERR ...
    "trc": "debug",
    "dbg": "debug",
    "inf": "info",
    "wrn": "warning",
    "ftl": "critical",
    "pnc": "critical",
}
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def normalise_level(value: object) -> str | None:
    """logrus/structlog/tracing/NGINX level names folded onto ``LEVELS``."""
    if not isinstance(value, str):
        return None
    return _LEVEL_MAP.get(value.strip().lower())


@dataclass(frozen=True, slots=True)
class LogRecord:
    raw: str
    format: str
    time: datetime | None = None
    level: str | None = None
    message: str = ""
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)
    status: int | None = None
    logger: str | None = None
    # ``docker compose logs`` service name (``outpost-single-1``), when the prefix was there.
    container: str | None = None

    @property
    def source(self) -> str:
        """Which component wrote the line: outpost, server, nginx, or text (unknown)."""
        if self.format in ("nginx-error", "nginx-access"):
            return "nginx"
        if self.format == "structlog":
            # Python's separators. An outpost's line re-serialised that way (a log shipper, a
            # viewer) keeps its authentik.outpost.* logger, which no Python module has.
            return "outpost" if self.logger and _outpost_logger(self.logger) else "server"
        if self.format in ("fragment", "console") and not self.logger:
            # A pasted piece of JSON, or a console line, without its logger: both the server
            # and the Go outposts write these, so the origin is unknown.
            return "text"
        if self.format in ("logrus", "logfmt", "rust", "console", "fragment"):
            # Refresh failures carry no logger at all.
            return "outpost" if not self.logger or _outpost_logger(self.logger) else "server"
        return "text"


def _outpost_logger(logger: str) -> bool:
    """The server container's embedded outpost and the outposts log as authentik.outpost.*
    (the Rust ones as authentik::outpost::*); its Go router as authentik.router, and the
    server's Python side as authentik.outposts.* (plural: signals, controllers)."""
    logger = logger.replace("::", ".")
    return logger == "authentik.outpost" or logger.startswith("authentik.outpost.")


_new = object.__new__
(
    _set_raw,
    _set_format,
    _set_time,
    _set_level,
    _set_message,
    _set_fields,
    _set_status,
    _set_logger,
    _set_container,
) = (
    LogRecord.__dict__[name].__set__
    for name in (
        "raw",
        "format",
        "time",
        "level",
        "message",
        "fields",
        "status",
        "logger",
        "container",
    )
)


def new_record(
    raw: str,
    format: str,
    time: datetime | None = None,
    level: str | None = None,
    message: str = "",
    fields: Mapping[str, Any] = _EMPTY,
    status: int | None = None,
    logger: str | None = None,
) -> LogRecord:
    """``LogRecord(...)`` at a third of the cost: a frozen dataclass sets each field through
    ``object.__setattr__``; the slots' own setters are cheaper, and an annotated log builds
    one record per candidate line."""
    record = _new(LogRecord)
    _set_raw(record, raw)
    _set_format(record, format)
    _set_time(record, time)
    _set_level(record, level)
    _set_message(record, message)
    _set_fields(record, fields)
    _set_status(record, status)
    _set_logger(record, logger)
    _set_container(record, None)
    return record


# The zone parse_for_rules passes: no time is built (rules never look at it).
_NO_TIME: tzinfo = timezone(timedelta(0), "no time")


_DOCKER_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")
# Compose service (``outpost-1``), swarm task (``authentik_server.1.ph27qpq6@node``), or an
# empty name where a paste wrapped the line (`` | {...}``).
_COMPOSE = re.compile(r"([A-Za-z0-9][\w.@-]*)? *\| ")
# journald (``journalctl -u``): "Jul 19 09:04:45 HOST authentik-ldap[4001649]: ".
_JOURNALD = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d{4})"
    r" [^\s:]+ ([^\s:\[]{1,64})(?:\[\d+\])?: "
)
# A viewer's space-separated time, glued to the line or followed by " | " or a space:
# "2023-02-07 21:22:42.498179+00:00{...}", "2025-09-26 00:09:09 | {...}".
_SPACED_TS = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)(?: ?\| | (?=\S)|(?=\{))"
)
_NGINX_ERROR = re.compile(
    r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)", re.S
)
# The same line pasted without its date ("[error] 332#332: *26135 ...") or level ("420#420: ...").
_NGINX_BARE = re.compile(r"(?:\[([a-z]+)\] )?(\d+)#(\d+): (?:\*(\d+) )?(.*)", re.S)
# Quoted strings as an unrolled loop: ``(?:[^"\\]|\\.)*`` costs ~5x more in ``re``.
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_NGINX_CONTEXT = re.compile(r'(\w+): ("[^"\\]*(?:\\.[^"\\]*)*"|[^,]*)(?:, |$)')
# Combined format, in two parts: the head (up to the body size) decides that a line is an
# access line and is all that probe() needs; the tail (referer, user agent, extras) is parsed
# only when a record is built.
_NGINX_ACCESS = re.compile(rf"(\S+) \S+ (\S+) \[([^\]]{{1,64}})\] {_QUOTED} (\d{{3}}) (\d+|-)")
_ACCESS_TAIL = re.compile(rf"(?: {_QUOTED} {_QUOTED})?(.*)", re.S)
# Nginx Proxy Manager's own formats (conf.d/include/log-proxy.conf): "proxy", which its proxy
# hosts write ("[$time_local] $upstream_cache_status $upstream_status $status - $request_method
# $scheme $host \"$request_uri\" [Client $remote_addr] [Length ...] ..."), and "standard", the
# same without the two upstream fields.
_NPM_ACCESS = re.compile(
    rf"\[([^\]]{{1,64}})\] (?:(\S+) (\S+) )?(\d{{3}}) - ([A-Z]+) (\S+) (\S+) {_QUOTED} "
    r"\[Client ([^\]]{1,64})\]"
)
_LOGFMT_PAIR = re.compile(r'([\w.-]+)=("[^"\\]*(?:\\.[^"\\]*)*"|\S*)')
# Console form: a level word first (time before it optional), then either key=value pairs or
# a message and then pairs. A value runs to the next " key=", so it may hold spaces.
_CONSOLE_HEAD = re.compile(
    r"(?:\d{4}-\d\d-\d\dT\S+ |\d{1,2}:\d\d(?:[AP]M)? )?"
    r"(TRC|DBG|INF|WRN|ERR|FTL|PNC|trace|debug|info|warning|warn|error|fatal|panic)(?: \|)? +"
)
_CONSOLE_KEY = re.compile(r"(?:^| )([A-Za-z_][\w.-]{0,40})=")
# A pasted JSON fragment: the quoted event and its neighbours without the braces around them.
_FRAGMENT_PAIR = re.compile(r'"([A-Za-z_][\w.-]{0,40})": ?("[^"\\]*(?:\\.[^"\\]*)*"|-?\d+)')
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def parse_line(text: str | bytes | object, *, naive_tz: tzinfo = UTC) -> LogRecord:
    """Parse one line (trailing newline optional) into a ``LogRecord``; never raises.

    ``naive_tz`` is the zone assumed for timestamps written without one (structlog's local
    time, NGINX's ``2026/03/29 08:40:20``). authentik and NGINX containers run in UTC unless
    TZ is set, hence the default. A docker ``-t`` prefix, when present, is preferred: it is
    always UTC with nanoseconds, so merged streams from several containers order correctly.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    raw = text.rstrip("\r\n")
    body, docker_time, container = strip_prefixes(raw, want_time=naive_tz is not _NO_TIME)
    record = _parse_body(raw, body, naive_tz, depth=0)
    if docker_time is not None or container is not None:
        record = replace(record, time=docker_time or record.time, container=container)
    return record


def parse_for_rules(text: str) -> LogRecord:
    """``parse_line(text)`` without the time (None): all that annotation rules look at, for
    less (building datetimes is a good part of parsing a short line)."""
    return parse_line(text, naive_tz=_NO_TIME)


def strip_prefixes(raw: str, *, want_time: bool = True) -> tuple[str, datetime | None, str | None]:
    """Remove the prefixes log collectors add: ``docker compose logs``' ``name  | ``,
    ``docker logs -t``/``kubectl logs --timestamps``' RFC 3339 time, journald's
    ``Mon DD HH:MM:SS host unit[pid]: `` and a viewer's ``YYYY-MM-DD HH:MM:SS`` time."""
    if raw[:1] == "{":  # the common case, a bare JSON line: no prefix starts with "{"
        return raw, None, None
    container = None
    # kubectl logs --prefix: "[pod/ak-outpost-x-6d5c9b7f4-2xq8w/proxy] ".
    if raw[:5] == "[pod/":
        end = raw.find("] ", 5, 256)
        if end > 0:
            container, raw = raw[5:end], raw[end + 2 :]
    # str.find with bounds first: a failed regex attempt costs ~5x more on every plain line.
    if raw[:1] != "{" and raw.find("| ", 0, 128) >= 0:
        m = _COMPOSE.match(raw, 0, 128)
        if m:
            container = m.group(1)
            raw = raw[m.end() :]
    docker_time = None
    if raw[4:5] == "-" and raw[10:11] == "T":
        m = _DOCKER_TS.match(raw, 0, 48)
        if m:
            docker_time = _iso_time(m.group(1), UTC) if want_time else None
            raw = raw[m.end() :]
        else:  # journalctl -o short-iso: "2024-07-19T09:04:45+0200 host unit[pid]: "
            m = _JOURNALD.match(raw, 0, 160)
            if m:
                container = container or m.group(1)
                raw = raw[m.end() :]
    elif raw[4:5] == "-" and raw[10:11] == " ":
        m = _SPACED_TS.match(raw, 0, 48)
        if m:
            docker_time = _iso_time(m.group(1), UTC) if want_time else None
            raw = raw[m.end() :]
    elif raw[3:4] == " " and raw[6:7] == " " and raw[9:10] == ":":
        m = _JOURNALD.match(raw, 0, 160)
        if m:
            container = container or m.group(1)
            raw = raw[m.end() :]
    return raw, docker_time, container


def _parse_body(raw: str, body: str, naive_tz: tzinfo, depth: int) -> LogRecord:
    stripped = body.strip()
    if stripped[:1] == "{" and stripped[-1:] == "}" and len(stripped) <= MAX_JSON:
        record = _parse_json(raw, stripped, naive_tz, depth)
        if record is not None:
            return record
    if body[4:5] == "/" and body[7:8] == "/":
        record = _parse_nginx_error(raw, body, naive_tz)
        if record is not None:
            return record
    if body.find('] "', 0, 256) >= 0:
        record = _parse_nginx_access(raw, body, naive_tz)
        if record is not None:
            return record
    if body[:1] == "[":
        record = _parse_npm_access(raw, body, naive_tz)
        if record is not None:
            return record
    if ("msg=" in body or "event=" in body) and "level=" in body:
        record = _parse_logfmt(raw, body, naive_tz)
        if record is not None:
            return record
    if "=" in body:
        record = _parse_console(raw, body, naive_tz)
        if record is not None:
            return record
    if "#" in body[:24]:
        record = _parse_nginx_bare(raw, body)
        if record is not None:
            return record
    if depth == 0 and '"' in body:
        record = _parse_embedded(raw, stripped, naive_tz)
        if record is not None:
            return record
    return new_record(raw=raw, format="text", message=_cap(stripped))


def _fragment_value(value: str) -> Any:
    if value[:1] != '"':
        return int(value)
    try:
        return json.loads(value)
    except ValueError:  # an escape JSON does not know: keep the text as written
        return value[1:-1]


def _parse_console(raw: str, body: str, naive_tz: tzinfo) -> LogRecord | None:
    head = _CONSOLE_HEAD.match(body)
    if head is None:
        return None
    rest = body[head.end() :]
    keys = list(_CONSOLE_KEY.finditer(rest, 0, MESSAGE_CAP * 2))
    if not keys:
        return None  # "ERROR something": plain text, its origin is unknown
    data: dict[str, str] = {}
    lead = rest[: keys[0].start()].strip()
    for i, k in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(rest)
        value = rest[k.end() : end].strip()
        if len(value) >= 2 and value[0] == '"' == value[-1]:
            value = value[1:-1].replace('\\"', '"')
        data.setdefault(k.group(1), value)
    key = next((k for k in ("event", "msg", "message") if k in data), "")
    message = data.get(key, "") if key else lead
    if not key and not lead:
        return None
    fields = {k: v for k, v in data.items() if k not in (key, "level", "timestamp", "logger")}
    return new_record(
        raw=raw,
        format="console",
        time=_iso_time(data.get("timestamp"), naive_tz),
        level=normalise_level(head.group(1)),
        message=_cap(message),
        fields=MappingProxyType(fields),
        status=_status(data.get("status")),
        logger=data.get("logger") or None,
    )


def _parse_nginx_bare(raw: str, body: str) -> LogRecord | None:
    m = _NGINX_BARE.match(body)
    if m is None:
        return None
    level, pid, tid, conn, rest = m.groups()
    fields: dict[str, Any] = {"pid": int(pid), "tid": int(tid)}
    if conn:
        fields["connection"] = int(conn)
    message, cut = _error_message(rest)
    _nginx_context(fields, rest, cut)
    return new_record(
        raw=raw,
        format="nginx-error",
        level=normalise_level(level) if level else None,
        message=message,
        fields=MappingProxyType(fields),
    )


def _parse_embedded(raw: str, stripped: str, naive_tz: tzinfo) -> LogRecord | None:
    """JSON behind a prefix we do not know, or a fragment of it pasted from an issue."""
    at = stripped.find('{"', 0, 256)
    if at > 0 and stripped[-1:] == "}" and len(stripped) - at <= MAX_JSON:
        record = _parse_json(raw, stripped[at:], naive_tz, 1)
        if record is not None:
            return record
    if '":' not in stripped:
        return None
    data: dict[str, Any] = {}
    for key, value in _FRAGMENT_PAIR.findall(stripped, 0, MESSAGE_CAP * 2):
        data.setdefault(key, _fragment_value(value))
    if "event" not in data:
        return None
    fields = {k: v for k, v in data.items() if k not in ("event", "level", "logger", "timestamp")}
    # A fragment usually starts inside its first key, its opening quote cut off: error":"...
    head = stripped.find('":', 0, 48)
    if head > 0 and '"' not in stripped[:head] and stripped[:head] not in data:
        first = _FRAGMENT_PAIR.match('"' + stripped)
        if first is not None:
            fields[first.group(1)] = _fragment_value(first.group(2))
    return new_record(
        raw=raw,
        format="fragment",
        time=_iso_time(data.get("timestamp"), naive_tz),
        level=normalise_level(data.get("level")),
        message=_cap(_text(data["event"])),
        fields=MappingProxyType(fields),
        status=_status(data.get("status")),
        logger=data["logger"] if isinstance(data.get("logger"), str) else None,
    )


def _cap(text: str) -> str:
    return text if len(text) <= MESSAGE_CAP else text[:MESSAGE_CAP] + "…"


def _iso_time(value: object, naive_tz: tzinfo) -> datetime | None:
    if naive_tz is _NO_TIME or not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)


def _status(value: object) -> int | None:
    if isinstance(value, str) and len(value) == 3 and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)[:MESSAGE_CAP]


# json.loads without its Python-level steps (str check, BOM, whitespace around): a body here
# starts with "{" and ends with "}", so the object must end exactly at its end.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__, untyped


def _parse_json(raw: str, body: str, naive_tz: tzinfo, depth: int) -> LogRecord | None:
    try:
        data, end = _scan_json(body, 0)
    except (StopIteration, ValueError, RecursionError):  # malformed, hostile nesting depth
        return None
    if end != len(body):  # json.loads: "Extra data"
        return None
    if not isinstance(data, dict):
        return None
    if "target" in data and ("filename" in data or "line_number" in data):
        # The Rust outpost (2026.8+) names its message "event" too; its tracing keys decide.
        return _parse_rust(raw, data, naive_tz)
    if "event" in data:
        # authentik's own shapes first: the pre-filter (probe) relies on this precedence.
        colon = body.find('":')
        fmt = "structlog" if body[colon + 2 : colon + 3] == " " else "logrus"
        message_key, time_key = "event", "timestamp"
    elif depth == 0 and isinstance(data.get("log"), str) and "stream" in data:
        # docker's json-file driver: the real line is inside, the time is docker's (UTC).
        inner = data["log"].rstrip("\r\n")
        inner_body, _, _ = strip_prefixes(inner)
        record = _parse_body(raw, inner_body, naive_tz, depth + 1)
        wrapped = None if naive_tz is _NO_TIME else _iso_time(data.get("time"), UTC)
        return replace(record, raw=raw, time=wrapped or record.time)
    elif "target" in data or str(data.get("filename", "")).endswith(".rs"):
        return _parse_rust(raw, data, naive_tz)
    else:
        fmt = "json"
        # "Message": the outpost's 400 body; "detail"/"error": authentik API and router bodies.
        keys = ("msg", "message", "Message", "error", "detail")
        message_key = next((k for k in keys if isinstance(data.get(k), str)), "")
        time_key = next((k for k in ("timestamp", "time", "ts", "@timestamp") if k in data), "")
    fields = dict(data)  # without the promoted keys, in order (a copy and pops: cheaper)
    for key in (message_key, "level", "logger", time_key):
        fields.pop(key, None)
    return new_record(
        raw=raw,
        format=fmt,
        time=_iso_time(data.get(time_key), naive_tz) if time_key else None,
        level=normalise_level(data.get("level")),
        message=_cap(_text(data.get(message_key)) if message_key else body),
        fields=MappingProxyType(fields),
        status=_status(data.get("status")),
        logger=data["logger"] if isinstance(data.get("logger"), str) else None,
    )


def _parse_rust(raw: str, data: dict[str, Any], naive_tz: tzinfo) -> LogRecord:
    # tracing-subscriber's JSON layer nests the event under "fields" unless flattened; the
    # Rust outpost (2026.8+) is not verified from source, so accept both shapes.
    inner = data.get("fields")
    nested: dict[str, Any] = inner if isinstance(inner, dict) else {}
    fields = {k: v for k, v in data.items() if k not in ("fields", "level", "target", "timestamp")}
    fields.update(nested)
    message: object = ""
    for key in ("message", "msg", "event"):
        if key in fields:
            message = fields.pop(key)
            break
    # The Rust outpost puts its error report under "err", coloured for a terminal; rules
    # (and people) read one "error" field whatever the outpost's language.
    err = fields.get("err")
    if "error" not in fields and isinstance(err, str):
        fields["error"] = _ANSI.sub("", err).strip()
    if message in ("", None) and isinstance(fields.get("error"), str):
        # A failed step (get_outpost: the config fetch) is logged with its report alone, no
        # message: its headline is what the line says, for rules and for people.
        message = _error_headline(fields["error"])
    return new_record(
        raw=raw,
        format="rust",
        time=_iso_time(data.get("timestamp"), naive_tz),
        level=normalise_level(data.get("level")),
        message=_cap(_text(message)),
        fields=MappingProxyType(fields),
        status=_status(fields.get("status")),
        logger=data["target"] if isinstance(data.get("target"), str) else None,
    )


def _error_headline(report: str) -> str:
    """The first line of a color-eyre report ("0: error in response: status code 404 Not
    Found", then Location and SPANTRACE sections), without its frame number."""
    first = report.strip().split("\n", 1)[0].strip()
    number, sep, rest = first.partition(": ")
    return rest if sep and number.isdigit() else first


def _naive(parts: tuple[str, ...], naive_tz: tzinfo) -> datetime | None:
    if naive_tz is _NO_TIME:
        return None
    try:
        y, mo, d, h, mi, s = (int(p) for p in parts)
        return datetime(y, mo, d, h, mi, s, tzinfo=naive_tz)
    except ValueError:
        return None


def _parse_nginx_error(raw: str, body: str, naive_tz: tzinfo) -> LogRecord | None:
    m = _NGINX_ERROR.match(body)
    if m is None:
        return None
    rest = m.group(11)
    fields: dict[str, Any] = {"pid": int(m.group(8)), "tid": int(m.group(9))}
    if m.group(10):
        fields["connection"] = int(m.group(10))
    message, cut = _error_message(rest)
    _nginx_context(fields, rest, cut)
    return new_record(
        raw=raw,
        format="nginx-error",
        time=_naive(m.groups()[:6], naive_tz),
        level=normalise_level(m.group(7)),
        message=message,
        fields=MappingProxyType(fields),
    )


def _nginx_context(fields: dict[str, Any], rest: str, cut: int) -> None:
    if cut >= 0:
        for key, value in _NGINX_CONTEXT.findall(rest, cut + 2, cut + 2 + MESSAGE_CAP):
            if len(value) >= 2 and value[0] == '"' == value[-1]:
                value = value[1:-1]
            fields.setdefault(key, value)


def _error_message(rest: str) -> tuple[str, int]:
    # The context NGINX appends (", client: ..., server: ..., request: "...") starts at the
    # first ", client: "; the message before it may itself contain commas.
    cut = rest.find(", client: ")
    return _cap((rest if cut < 0 else rest[:cut]).strip()), cut


def _access_path(request: str) -> str:
    parts = request.split(" ")
    return _cap(parts[1] if len(parts) == 3 else request)


def _parse_nginx_access(raw: str, body: str, naive_tz: tzinfo) -> LogRecord | None:
    m = _NGINX_ACCESS.match(body)
    if m is None:
        return None
    remote, user, when, request, status, size = m.groups()
    tail = _ACCESS_TAIL.match(body, m.end())
    referer, agent, extra = tail.groups() if tail else (None, None, "")
    parts = request.split(" ")
    fields: dict[str, Any] = {
        "remote_addr": remote,
        "remote_user": user,
        "request": request,
        "body_bytes_sent": int(size) if size.isdigit() else 0,
    }
    if len(parts) == 3:
        fields["method"], fields["protocol"] = parts[0], parts[2]
    if referer is not None:
        fields["http_referer"], fields["http_user_agent"] = referer, agent
    if extra.strip():
        fields["extra"] = _cap(extra.strip())
    return _access_record(raw, when, naive_tz, int(status), _access_path(request), fields)


def _parse_npm_access(raw: str, body: str, naive_tz: tzinfo) -> LogRecord | None:
    m = _NPM_ACCESS.match(body)
    if m is None:
        return None
    when, cache, upstream, status, method, scheme, host, uri, remote = m.groups()
    fields: dict[str, Any] = {
        "remote_addr": remote,
        "method": method,
        "scheme": scheme,
        "host": host,
        "request_uri": uri,
    }
    if upstream is not None:
        fields["upstream_cache_status"], fields["upstream_status"] = cache, upstream
    extra = body[m.end() :].strip()
    if extra:
        fields["extra"] = _cap(extra)
    return _access_record(raw, when, naive_tz, int(status), _cap(uri), fields)


def _access_record(
    raw: str, when: str, naive_tz: tzinfo, code: int, message: str, fields: dict[str, Any]
) -> LogRecord:
    """An access-log record of any of the formats read (combined, Proxy Manager's)."""
    return new_record(
        raw=raw,
        format="nginx-access",
        time=_access_time(when, naive_tz),
        level="error" if code >= 500 else "warning" if code >= 400 else "info",
        message=message,
        fields=MappingProxyType(fields),
        status=_status(code),
    )


def _access_time(value: str, naive_tz: tzinfo) -> datetime | None:
    # "29/Mar/2026:08:40:20 +0000"; strptime's %b depends on the locale, so map months here.
    # The zone is the line's own; naive_tz only says whether a time is wanted at all.
    if naive_tz is _NO_TIME:
        return None
    try:
        day, mon, rest = value.split("/", 2)
        year, h, mi, s_zone = rest.split(":", 3)
        s, zone = s_zone.split(" ")
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        return datetime(
            int(year), _MONTHS[mon], int(day), int(h), int(mi), int(s), tzinfo=timezone(offset)
        )
    except (ValueError, KeyError, IndexError):
        return None


def _parse_logfmt(raw: str, body: str, naive_tz: tzinfo) -> LogRecord | None:
    data: dict[str, str] = {}
    for key, value in _LOGFMT_PAIR.findall(body, 0, MESSAGE_CAP * 2):
        if len(value) >= 2 and value[0] == '"' == value[-1]:
            value = value[1:-1].replace('\\"', '"')
        data.setdefault(key, value)
    key = "msg" if "msg" in data else "event"
    if key not in data or "level" not in data:
        return None
    time_key = "time" if "time" in data else "timestamp"
    fields = {k: v for k, v in data.items() if k not in (key, "level", time_key, "logger")}
    return new_record(
        raw=raw,
        format="logfmt",
        time=_iso_time(data.get(time_key), naive_tz),
        level=normalise_level(data["level"]),
        message=_cap(data[key]),
        fields=MappingProxyType(fields),
        status=_status(data.get("status")),
        logger=data.get("logger"),
    )


_PROBE_STATUS = re.compile(r'\s*:\s*("?)(\d{3})\1\s*[,}]')
_STATUS_ENDS = (",", "}")


def probe(text: str) -> tuple[str, str, int | None] | None:
    """``(family, message, status)`` of a line at a fraction of ``parse_line``'s cost, or None.

    The annotator's pre-filter: most lines of a busy log are healthy request lines, and the
    rules only need the message and status to know that none of them can match. ``family`` is
    ``json`` (an authentik logrus/structlog line, so an outpost or server source), ``nginx``
    or ``text``. It must agree with ``parse_line`` whenever it answers (tests check this), so
    it gives up (None) on anything it cannot read exactly: escapes in the event, nested
    objects, repeated keys, the Rust and docker json-file shapes, logfmt. One known gap:
    syntactically broken JSON is read as JSON here, where ``parse_line`` makes it text.
    """
    if text[:1] == "{":  # the common case, a bare authentik line: no prefix to look for
        body = text.rstrip()
        if body[-1:] == "}" and len(body) <= MAX_JSON:
            return _probe_json(body)
    body, _, _ = strip_prefixes(text.rstrip("\r\n"), want_time=False)
    stripped = body.strip()
    if stripped[:1] == "{" and stripped[-1:] == "}" and len(stripped) <= MAX_JSON:
        return _probe_json(stripped)
    if body[4:5] == "/" and body[7:8] == "/":
        m = _NGINX_ERROR.match(body)
        if m is not None:
            return "nginx", _error_message(m.group(11))[0], None
    if body.find('] "', 0, 256) >= 0:
        m = _NGINX_ACCESS.match(body)
        if m is not None:
            return "nginx", _access_path(m.group(4)), _status(int(m.group(5)))
    if body[:1] == "[":
        m = _NPM_ACCESS.match(body)
        if m is not None:
            return "nginx", _cap(m.group(8)), _status(int(m.group(4)))
    # Shapes parse_line reads as structured (logfmt, console, nginx without its date, JSON
    # behind an unknown prefix or in pieces): the full parse decides.
    if "=" in body and (
        ("level=" in body and ("msg=" in body or "event=" in body)) or _CONSOLE_HEAD.match(body)
    ):
        return None
    if '":' in body or ("#" in body[:24] and _NGINX_BARE.match(body)):
        return None
    return "text", _cap(stripped), None


def _probe_json(body: str) -> tuple[str, str, int | None] | None:
    # Plain str.find and slicing, no helper calls: this runs for nearly every line, and on
    # CPython each call or regex costs about as much as the whole of the rest.
    at = body.find('"event"')
    # The last occurrence is the first: no repeated key (an overlapping one, at + 6, is not
    # followed by ":" and gives up below anyway). rfind: ~40% cheaper than find from at + 7.
    if at < 0 or body.find("{", 1) >= 0 or body.rfind('"event"') != at:
        return None
    if body.startswith(':"', at + 7):
        start = at + 9
    elif body.startswith(': "', at + 7):
        start = at + 10
    else:
        return None
    end = body.find('"', start)
    message = body[start:end]
    if end < 0 or "\\" in message or len(message) > MESSAGE_CAP:
        return None
    at = body.find('"status"')
    if at < 0:
        return "json", message, None
    if body.find('"status"', at + 8) >= 0:
        return None
    digits = body[at + 9 : at + 12]
    if (
        body[at + 8 : at + 9] == ":"
        and body[at + 12 : at + 13] in _STATUS_ENDS
        and (
            len(digits) == 3 and digits.isdecimal()  # \d: any decimal digit, as int() reads
        )
    ):
        code = int(digits)  # the common shape ("status":401,) without the regex's cost
    else:
        s = _PROBE_STATUS.match(body, at + 8)
        # A status that is not a plain 3-digit number is None for parse_line too, unless
        # the key is not a key at all ("kind": "status"); only the exact shape is trusted.
        if s is None:
            return None
        code = int(s.group(2))
    return "json", message, code if 100 <= code <= 599 else None
