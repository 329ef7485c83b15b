"""Typed errors an operator can act on.

Every failure that reaches a screen or the CLI is an ``AktuiError``: one line that says what was
tried, against what, and what to do next. Library exceptions are translated at the boundary.
"""

from __future__ import annotations


class AktuiError(Exception):
    """Base error: ``message`` is one line for the operator, ``hint`` an optional next step."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AktuiError):
    """The config file is missing, unreadable, malformed or unsafe."""


class AuthentikError(AktuiError):
    """authentik answered, but not with what we asked for."""


class AuthentikUnreachable(AuthentikError):
    """DNS, connect, TLS or timeout failure talking to authentik."""


class TokenRejected(AuthentikError):
    """authentik refused the API token (403 Token invalid/expired, or missing rights)."""


class NotFound(AuthentikError):
    """The object asked for does not exist (404)."""


class DockerUnavailable(AktuiError):
    """A docker host cannot be reached or refused the request."""


class ActionRefused(AktuiError):
    """A mutating action was refused (read-only mode, or nothing to act on)."""


class RemoteError(AktuiError):
    """SSH to a web server failed."""


class HostKeyUnknown(RemoteError):
    """The web server's host key is not in known_hosts and the user did not opt in."""


class NginxTestFailed(RemoteError):
    """``nginx -t`` rejected the new config (it was rolled back)."""


class UnsafeValue(AktuiError):
    """A value bound for NGINX config could inject directives."""


class Secret:
    """A string that never shows itself in repr, str, f-strings or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> object:
        raise TypeError("Secret cannot be pickled")
