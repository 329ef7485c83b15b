"""One docker host as aktui talks to it: a lazily made, bounded docker client and errors that
name the host (``DockerUnavailable`` with the innermost useful cause and a hint).

``unix://``, ``tcp://`` and ``ssh://user@host`` URLs; ``$DOCKER_HOST`` with the docker CLI's TLS
settings when ``DOCKER_TLS_VERIFY`` is set. ``ssh://`` connects through
``aktui.openssh.connect``, as web servers do: ~/.ssh/config (ProxyJump included), known_hosts
with ``@revoked`` and ``@cert-authority`` lines, and the configured timeout for every step.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aktui.docker.logs import ContainerNotFound
from aktui.errors import DockerUnavailable, HostKeyUnknown, RemoteError

if TYPE_CHECKING:
    import docker

API_VERSION = "1.41"  # Debian's docker.io 20.10 offers no newer; newer daemons accept it


# The docker SDK (with requests, urllib3 and paramiko) takes ~180 ms to import, more than a bare
# Textual app needs to show its first frame (bench/bench_tui.py). `aktui` builds its runtime
# before the first frame but only talks to docker in worker threads, so the SDK is imported on
# first use there, not at startup.
@functools.cache
def _sdk() -> ModuleType:
    import docker
    import docker.errors
    import docker.utils

    return docker


@functools.cache
def _timeouts() -> tuple[type[BaseException], ...]:
    import requests.exceptions
    import urllib3.exceptions

    return (requests.exceptions.Timeout, TimeoutError, urllib3.exceptions.TimeoutError)


def _reason(exc: BaseException, timeout: float) -> str:
    """One short cause for the operator, from the innermost useful exception."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, RemoteError):  # ssh://, already one line naming the host
            return e.message.split(": ", 1)[-1]
        # urllib3's NewConnectionError is a ConnectTimeoutError, also for a refused connect:
        # its cause says which.
        if isinstance(e, _timeouts()) and not _is_new_connection_error(e):
            return f"no answer within {timeout:g}s"
        if isinstance(e, _sdk().errors.APIError):
            return str(e.explanation or e)
        if "known_hosts" in str(e):
            return "host key not in known_hosts"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        # requests and urllib3 wrap the real cause in args, .reason or the exception chain
        inner = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        todo += [i for i in inner if isinstance(i, BaseException)]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _is_new_connection_error(e: BaseException) -> bool:
    import urllib3.exceptions

    return isinstance(e, urllib3.exceptions.NewConnectionError) and isinstance(
        e.__cause__ or e.__context__, OSError
    )


@functools.cache
def _transport_errors() -> tuple[type[BaseException], ...]:
    import requests.exceptions
    import urllib3.exceptions

    errors: tuple[type[BaseException], ...] = (
        _sdk().errors.DockerException,
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
    )
    try:  # paramiko is a dependency, but ssh:// is the only user
        import paramiko
    except ImportError:  # pragma: no cover
        return errors
    return (*errors, paramiko.SSHException)


@functools.cache
def _ssh_adapter_class() -> type:
    from docker.transport.sshconn import SSHHTTPAdapter

    from aktui.openssh.connect import Endpoint, connect

    class OpenSSHAdapter(SSHHTTPAdapter):
        """The SDK's paramiko adapter, connected through ``aktui.openssh.connect``."""

        def __init__(self, endpoint: Endpoint, base_url: str, timeout: float) -> None:
            self._endpoint, self._connect_timeout = endpoint, timeout
            super().__init__(base_url, timeout)  # type: ignore[arg-type]  # a float works

        def _create_paramiko_client(self, base_url: str) -> None:
            self.ssh_client = None
            self.ssh_params: dict[str, object] = {}

        def _connect(self) -> None:
            if self.ssh_client is not None:
                self.ssh_client.close()
            self.ssh_client = connect(self._endpoint, timeout=self._connect_timeout)

    return OpenSSHAdapter


@dataclass
class DockerHost:
    label: str  # docker_hosts key, shown to the operator
    url: str
    timeout: float = 10.0
    _client: docker.DockerClient | None = None
    _lock: threading.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def error(self, what: str, exc: BaseException) -> DockerUnavailable:
        reason = _reason(exc, self.timeout)
        hint = ""
        if (
            isinstance(exc, HostKeyUnknown)
            and exc.fingerprint
            and "@cert-authority" not in str(exc)
        ):
            # Not `ssh-keyscan >> known_hosts`: that trusts whatever answers, attacker included.
            reason = f"host key not in known_hosts: {exc.fingerprint}"
            hint = (
                f"compare {exc.fingerprint} with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` "
                "run on the host itself; if it matches, ssh to it once and accept that key"
            )
        elif isinstance(exc, RemoteError):
            hint = exc.hint
        elif "known_hosts" in reason:
            hint = (
                "ssh to it once and compare the fingerprint ssh shows with "
                "`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` run on the host itself"
            )
        elif self.url.startswith("unix://") and reason in ("No such file or directory",):
            hint = "is dockerd running? check the socket path"
        elif "refused" in reason.lower() or "no answer" in reason:
            hint = "is dockerd running and reachable from here?"
        not_found = isinstance(exc, _sdk().errors.NotFound)
        cls = ContainerNotFound if not_found else DockerUnavailable
        return cls(f"docker host {self.label} ({self.url}): {what}: {reason}", hint)

    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                with self.errors("connect"):
                    if self.url.startswith("ssh://"):
                        self._client = self._ssh_client()
                        return self._client
                    base_url, tls = self.url, None
                    if self.url == os.environ.get("DOCKER_HOST") and os.environ.get(
                        "DOCKER_TLS_VERIFY"
                    ):
                        # $DOCKER_HOST with the docker CLI's TLS settings (DOCKER_CERT_PATH)
                        env = _sdk().utils.kwargs_from_env()
                        base_url, tls = env.get("base_url", base_url), env.get("tls")
                    self._client = _sdk().DockerClient(
                        base_url=base_url,
                        timeout=self.timeout,
                        version=API_VERSION,
                        use_ssh_client=False,
                        tls=tls,
                    )
            return self._client

    def _ssh_client(self) -> docker.DockerClient:
        """A docker client whose SSH session comes from ``aktui.openssh.connect``. The SDK's own
        adapter reads known_hosts with paramiko (a traceback on ``@revoked``), ignores
        ProxyJump and waits paramiko's 15 s banner timeout whatever the configured one."""
        from aktui.openssh.connect import resolve

        parts = urlsplit(self.url)
        endpoint = resolve(parts.hostname or "", user=parts.username or "", port=parts.port or 0)
        # use_ssh_client: the SDK's adapter then connects nothing in the constructor; ours
        # replaces it before the first request.
        client: docker.DockerClient = _sdk().DockerClient(
            base_url=self.url, timeout=self.timeout, version=API_VERSION, use_ssh_client=True
        )
        adapter = _ssh_adapter_class()(endpoint, self.url, self.timeout)
        client.api.mount("http+docker://ssh", adapter)
        # APIClient.__init__ sets this attribute (docker/api/client.py); types-docker omits it
        client.api._custom_adapter = adapter  # type: ignore[attr-defined]
        return client

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except DockerUnavailable:
            raise
        except Exception as e:
            if not isinstance(e, (*_transport_errors(), RemoteError)):
                raise
            raise self.error(what, e) from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with suppress(*_transport_errors()):
                    self._client.close()
                self._client = None

    @property
    def address(self) -> str:
        """This host's address as seen from here, for ports it publishes on all interfaces."""
        if self.url.startswith(("tcp://", "ssh://", "http://", "https://")):
            return urlsplit(self.url).hostname or "127.0.0.1"
        return "127.0.0.1"

    def bind_address(self, bound: str) -> str:
        """Where a port published on ``bound`` (docker's HostIp) answers from here."""
        return self.address if bound in ("", "0.0.0.0", "::") else bound
