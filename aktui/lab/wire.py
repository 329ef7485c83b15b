"""Formats the lab shares between the simulator and the fake outposts: the Go outpost's logrus
JSON lines and the Rust outpost's (2026.8+) tracing JSON lines, HS256 JWTs (state and id
tokens), the session cookie name, Prometheus text, and the fake outpost's request/reply types
and in-memory session store.

Kept dependency-free (stdlib only) because every fake outpost process imports it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any, TextIO


def rfc3339(ts: float | None = None) -> str:
    """logrus' timestamp with authentik's format: RFC 3339, seconds, 'Z'."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def log_line(event: str, level: str = "info", ts: float | None = None, **fields: Any) -> str:
    """One line as the outpost writes it: logrus JSONFormatter, FieldMap msg->event,
    time->timestamp, keys sorted, no spaces, no HTML escaping."""
    record = {**fields, "event": event, "level": level, "timestamp": rfc3339(ts)}
    return json.dumps(dict(sorted(record.items())), separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RustEvent:
    """Where the Rust outpost logs a message: its text and the source location it reports."""

    message: str
    target: str = "authentik::outpost"
    filename: str = "src/outpost/mod.rs"
    line_number: int = 1
    level: str = ""  # its own level when the Rust outpost's differs from the Go one


_RUST_LEVELS = {"warning": "warn", "panic": "error", "fatal": "error"}


def rust_log_line(
    event: RustEvent, level: str = "info", ts: float | None = None, **fields: Any
) -> str:
    """One line as the Rust outpost writes it (src/tracing.rs: json_subscriber with file,
    line number, thread id/name and pid, the event's fields flattened, "message" renamed to
    "event"), key order and zone-less microsecond UTC timestamp as in a real line:
    {"filename":"src/outpost/event.rs","level":"info","line_number":343,"pid":8,
    "target":"authentik::outpost::event","thread_id":"ThreadId(3)","thread_name":"tokio-0",
    "timestamp":"2026-09-09T17:43:49.947993","attempt":4,"delay":16,"event":"..."}"""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    record: dict[str, Any] = {
        "filename": event.filename,
        "level": event.level or _RUST_LEVELS.get(level, level),
        "line_number": event.line_number,
        "pid": os.getpid(),
        "target": event.target,
        "thread_id": f"ThreadId({threading.get_ident() % 8 + 2})",
        "thread_name": f"tokio-{threading.get_ident() % 4}",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        **fields,
        "event": event.message,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class Logger:
    """Thread-safe line writer: every line is flushed at once (docker and the lab runtime
    tail the stream live). ``extra`` is a second sink, e.g. the --log-file. Callers log the Go
    outpost's messages; with ``rust`` (a Go message -> RustEvent function) the line is
    written as the Rust outpost would write it, or dropped when that returns None."""

    def __init__(
        self,
        out: TextIO = sys.stdout,
        extra: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        rust: Callable[[str, dict[str, Any]], RustEvent | None] | None = None,
    ) -> None:
        self._out = out
        self._extra = extra
        self._clock = clock
        self._rust = rust
        self._lock = threading.Lock()

    def raw(self, text: str) -> None:
        with self._lock:
            for sink in (self._out, self._extra):
                if sink is not None:
                    sink.write(text + "\n")
                    sink.flush()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        if self._rust is None:
            self.raw(log_line(event, level, self._clock(), **fields))
            return
        found = self._rust(event, fields)
        if found is not None:
            fields.pop("logger", None)  # the Rust outpost names its module in "target"
            if "error" in fields:  # `?err`: the error's Debug text under "err"
                fields["err"] = fields.pop("error")
            self.raw(rust_log_line(found, level, self._clock(), **fields))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: dict[str, Any], key: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


class JWTError(ValueError):
    pass


def jwt_decode(token: str, key: str) -> dict[str, Any]:
    """Verify an HS256 JWT; the messages follow golang-jwt's wording the outpost logs."""
    try:
        header, body, sig = token.split(".")
        expected = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(sig)):
            raise JWTError("token signature is invalid: signature is invalid")
        claims = json.loads(_unb64(body))
    except JWTError:
        raise
    except (ValueError, TypeError) as exc:
        raise JWTError("token is malformed: could not JSON decode header") from exc
    if not isinstance(claims, dict):
        raise JWTError("token is malformed: could not JSON decode claim")
    if "exp" in claims and float(claims["exp"]) < time.time():
        raise JWTError("token has invalid claims: token is expired")
    return claims


def jwt_peek(token: str) -> dict[str, Any]:
    """Claims without verification (for logging what a bad token claimed)."""
    try:
        claims = json.loads(_unb64(token.split(".")[1]))
    except (ValueError, IndexError):
        return {}
    return claims if isinstance(claims, dict) else {}


def cookie_name(client_id: str) -> str:
    """application.go: ``authentik_proxy_`` + first 8 hex chars of sha256(client_id)."""
    return "authentik_proxy_" + hashlib.sha256(client_id.encode()).hexdigest()[:8]


def prom_labels(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())


def go_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang uses for sample values:
    shortest digits; exponent form when the decimal exponent is < -4 or >= 6 (unix times are
    printed as 1.732531123e+09)."""
    if value == 0:
        return "0"
    text = repr(float(value))
    mantissa, _, exp_part = text.partition("e")
    exponent = int(exp_part or 0)
    digits = mantissa.replace("-", "").replace(".", "").lstrip("0")
    int_len = len(mantissa.replace("-", "").split(".")[0].lstrip("0"))
    if int_len:
        exponent += int_len - 1
    else:
        frac = mantissa.split(".")[1] if "." in mantissa else ""
        exponent -= len(frac) - len(frac.lstrip("0")) + 1
    digits = digits.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    return sign + repr(abs(float(value))).removesuffix(".0")


# --- the fake outpost's HTTP exchange and session store ---------------------------------


@dataclass
class Req:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    remote: str
    host: str

    @property
    def uri(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def arg(self, name: str) -> str:
        return urllib.parse.parse_qs(self.query).get(name, [""])[-1]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        # Go's http.Error(): text/plain, nosniff, message plus newline
        return cls(
            status,
            (text + "\n").encode(),
            [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
        )

    @classmethod
    def redirect(cls, location: str) -> Reply:
        body = f'<a href="{location}">Found</a>.\n\n'.encode()
        return cls(
            302, body, [("Content-Type", "text/html; charset=utf-8"), ("Location", location)]
        )


class Sessions:
    """sid -> values; what gorilla's FilesystemStore keeps in /dev/shm."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> dict[str, Any] | None:
        with self._lock:
            found = self._data.get(sid or "")
            if found and found.get("expires", 0) < time.time():
                del self._data[sid or ""]
                return None
            return found

    def new(self, lifetime: float) -> tuple[str, dict[str, Any]]:
        sid = secrets.token_urlsafe(48)
        values: dict[str, Any] = {"expires": time.time() + lifetime}
        with self._lock:
            self._data[sid] = values
        return sid, values


class LabHTTPServer(ThreadingHTTPServer):
    """The lab's HTTP servers. The stdlib's listen backlog of 5 drops connections when aktui
    opens its 8 concurrent ones; a dropped SYN is retried only after 1 s (a refresh stall)."""

    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request is routine (probes, aborted curls): the stdlib
        # would print a traceback into the outpost's log, which no real outpost writes.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]
