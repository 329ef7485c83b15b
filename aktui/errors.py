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


class TokenInvalid(TokenRejected):
    """The token itself was refused (invalid, expired or not sent), not just a permission."""


class NotAuthentik(AuthentikError):
    """The configured URL answers, but not as authentik's API does (a 404 page, a proxy)."""


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

    fingerprint = ""  # "ssh-ed25519 SHA256:..." of the key offered, to compare on the host


class HostKeyChanged(RemoteError):
    """known_hosts holds a different key for this host: possibly an attack, never accepted."""


class HostKeyRevoked(HostKeyChanged):
    """The host offered a key marked ``@revoked`` in known_hosts: never accepted (refused like
    a changed key, wherever that is handled)."""


class NginxTestFailed(RemoteError):
    """``nginx -t`` rejected the new config (it was rolled back)."""


class UnsafeValue(AktuiError):
    """A value bound for NGINX config could inject directives."""


def describe_error(error: BaseException) -> str:
    """One line for the operator: an ``AktuiError`` says what to do; anything else is named as
    unexpected. Not escaped: callers escape for their terminal or screen."""
    if isinstance(error, AktuiError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"
