"""Config: YAML validated once into frozen dataclasses, every error naming file, line and key.

Found at ``--config``, else ``$AKTUI_CONFIG``, else ``$XDG_CONFIG_HOME/aktui/config.yaml``
(``~/.config`` when unset). pyyaml's composed nodes carry line marks, which is why we walk nodes
instead of the plain ``safe_load`` dict.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

from aktui.errors import ConfigError
from aktui.secret import Secret
from aktui.userdirs import config_file
from aktui.yamlnodes import SCALARS, compose_yaml, did_you_mean, node_kind


def _f(kind: str, default: Any = MISSING, doc: str = "", **kw: Any) -> Any:
    meta = {"kind": kind, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta, **kw)
    if default is MISSING:
        return field(metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass(frozen=True, slots=True)
class ContextConfig:
    """One authentik instance."""

    url: str = _f("url", doc="authentik base URL, e.g. https://auth.example.com")
    token: Secret | None = _f(
        "secret", None, doc="API token inline (file must be 0600)", repr=False
    )
    token_env: str = _f("env_name", "", doc="environment variable holding the API token")
    token_file: str = _f("path", "", doc="file holding the API token (must be 0600)")
    verify_tls: bool = _f("bool", True, doc="verify authentik's TLS certificate")
    ca_file: str = _f("path", "", doc="CA bundle for authentik's certificate")
    timeout: float = _f("seconds", 10.0, doc="seconds per API request, retries included")
    read_only: bool = _f("bool", False, doc="refuse every mutating action for this context")
    docker_hosts: list[str] = _f("list[str]", [], doc="docker_hosts keys that run its outposts")
    # Line of each key in the config file, for errors found after loading (the token).
    lines: dict[str, int] = _f("internal", {}, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DockerHostConfig:
    url: str = _f("docker_url", "", doc="unix://, tcp:// or ssh://user@host; '' = $DOCKER_HOST")
    timeout: float = _f("seconds", 10.0, doc="seconds per docker API call")


@dataclass(frozen=True, slots=True)
class OutpostMapping:
    """How one authentik outpost maps to its container and how web servers reach it."""

    container: str = _f("str", "", doc="container name (else discovered by label/name/port)")
    docker_host: str = _f("str", "", doc="docker_hosts key it runs on")
    address: str = _f("str", "", doc="address web servers use to reach it (e.g. Tailscale IP)")
    port: int = _f("port", 0, doc="published port of its :9000 (9001, 9002, ...)")
    metrics_port: int = _f("port", 0, doc="published port of its :9300 metrics, if any")


@dataclass(frozen=True, slots=True)
class WebServerConfig:
    host: str = _f("str", doc="ssh host or ~/.ssh/config alias")
    user: str = _f("str", "", doc="ssh user ('' = from ~/.ssh/config or current user)")
    port: int = _f("port", 0, doc="ssh port (0 = from ~/.ssh/config or 22)")
    key_file: str = _f("path", "", doc="private key file ('' = agent / ~/.ssh/config)")
    known_hosts: str = _f("path", "", doc="known_hosts file ('' = ~/.ssh/known_hosts)")
    accept_new_host_key: bool = _f("bool", False, doc="trust an unknown host key (accept-new)")
    snippet_dir: str = _f("str", "/etc/nginx/snippets", doc="where snippets are written")
    nginx: str = _f("str", "/usr/sbin/nginx", doc="nginx binary on the server")
    nginx_conf: str = _f("str", "", doc="nginx -c path ('' = nginx's default)")
    reload: str = _f("str", "", doc="reload command ('' = `<nginx> -s reload`)")
    sudo: bool = _f("bool", False, doc="run nginx and file moves through sudo -n")
    sites: list[str] = _f("list[str]", [], doc="hostnames served there, for the doctor")
    error_log: str = _f("str", "/var/log/nginx/error.log", doc="error log to tail")


@dataclass(frozen=True, slots=True)
class LogsConfig:
    max_lines: int = _f("int", 10000, doc="lines kept per log view")
    tail: int = _f("int", 300, doc="lines fetched when a log view opens")
    since_minutes: int = _f("int", 60, doc="how far back a log view starts")
    rules_file: str = _f("path", "", doc="extra annotation rules (YAML)")


@dataclass(frozen=True, slots=True)
class Config:
    source: str = _f("internal", "<defaults>")
    default_context: str = _f("str", "", doc="context used without --context")
    refresh_interval: float = _f("float", 5.0, doc="seconds between refreshes")
    read_only: bool = _f("bool", False, doc="refuse every mutating action")
    contexts: dict[str, ContextConfig] = _f("map:ContextConfig", {}, doc="authentik instances")
    docker_hosts: dict[str, DockerHostConfig] = _f("map:DockerHostConfig", {}, doc="docker")
    outposts: dict[str, OutpostMapping] = _f("map:OutpostMapping", {}, doc="outpost mapping")
    web_servers: dict[str, WebServerConfig] = _f("map:WebServerConfig", {}, doc="web servers")
    logs: LogsConfig = _f("obj:LogsConfig", None, doc="log views")
    keys: dict[str, str] = _f("map:str", {}, doc="command id -> keys overrides")

    def context(self, name: str | None = None) -> tuple[str, ContextConfig]:
        wanted = name or self.default_context or (next(iter(self.contexts), ""))
        if wanted not in self.contexts:
            known = ", ".join(self.contexts) or "none"
            raise ConfigError(
                f"{self.source}: no context named {wanted!r} (known: {known})"
                + did_you_mean(wanted, self.contexts)
            )
        return wanted, self.contexts[wanted]


_CLASSES = {
    c.__name__: c
    for c in (ContextConfig, DockerHostConfig, OutpostMapping, WebServerConfig, LogsConfig)
}


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodes: dict[str, yaml.Node] = {}  # dotted key -> its value node (line marks)
        self.loose_file = False
        try:
            mode = path.stat().st_mode
            self.loose_file = bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
        except OSError:
            pass

    def fail(self, node: yaml.Node | None, where: str, message: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return ConfigError(
            f"{self.path}{line}: {where}: {message}" if where else f"{self.path}{line}: {message}"
        )

    def scalar(self, node: yaml.Node, where: str, kind: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, f"expected {kind}, got a {node_kind(node)}")
        value = yaml.SafeLoader.construct_object(SCALARS, node, deep=True)
        shown = f'"{node.value}"'
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.fail(node, where, f"expected true or false, got {shown}")
            return value
        if kind in ("int", "port"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(node, where, f"expected an integer, got {shown}")
            if kind == "port" and not 0 <= value <= 65535:
                raise self.fail(node, where, f"expected a port 1-65535, got {value}")
            return value
        if kind in ("float", "seconds"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(node, where, f"expected a number, got {shown}")
            if kind == "seconds" and not 0 < value <= 3600:
                raise self.fail(node, where, f"expected seconds between 0 and 3600, got {value}")
            return float(value)
        if value is None:
            return ""
        if not isinstance(value, str):
            value = node.value
        if kind in ("url", "docker_url") and value:
            problem = url_problem(value, docker=kind == "docker_url")
            if problem:
                raise self.fail(node, where, problem)
        if kind == "env_name" and value and looks_like_token(value):
            raise self.fail(
                node,
                where,
                "this looks like a token, not the name of an environment variable "
                "(not shown); put the token in a 0600 token_file, or name its variable here",
            )
        if kind == "path":
            return str(Path(value).expanduser()) if value else ""
        if kind == "secret":
            if self.loose_file:
                raise self.fail(
                    node,
                    where,
                    f"token in a file that group or others can read; run: chmod 600 {self.path}",
                )
            return Secret(value)
        return value

    def build(self, node: yaml.Node, where: str, kind: str) -> Any:
        self.nodes[where] = node
        if kind.startswith("obj:"):
            return self.obj(node, where, _CLASSES[kind[4:]])
        if kind.startswith("map:"):
            if not isinstance(node, yaml.MappingNode):
                raise self.fail(node, where, f"expected a mapping, got a {node_kind(node)}")
            inner = kind[4:]
            out = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                sub = f"{where}.{key}"
                out[key] = (
                    self.scalar(value_node, sub, "str")
                    if inner == "str"
                    else self.obj(value_node, sub, _CLASSES[inner])
                )
            return out
        if kind == "list[str]":
            if isinstance(node, yaml.ScalarNode) and node.value == "":
                return []
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, where, f"expected a list, got a {node_kind(node)}")
            items = []
            for i, n in enumerate(node.value):
                self.nodes[f"{where}[{i}]"] = n
                items.append(self.scalar(n, f"{where}[{i}]", "str"))
            return items
        return self.scalar(node, where, kind)

    def obj(self, node: yaml.Node, where: str, cls: type) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            node = yaml.MappingNode("tag:yaml.org,2002:map", [])
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, f"expected a mapping, got a {node_kind(node)}")
        spec = {f.name: f for f in fields(cls) if f.metadata.get("kind") != "internal"}
        values: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = f"{where}.{key}" if where else key
            if key not in spec:
                raise self.fail(key_node, sub, "unknown key" + did_you_mean(key, spec))
            values[key] = self.build(value_node, sub, spec[key].metadata["kind"])
        for name, f in spec.items():
            if f.default is MISSING and f.default_factory is MISSING and name not in values:
                raise self.fail(node, f"{where}.{name}" if where else name, "required key missing")
        if "lines" in {f.name for f in fields(cls)}:
            values["lines"] = {k.value: k.start_mark.line + 1 for k, _ in node.value}
        return cls(**values)


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_DOCKER_SCHEMES = ("unix", "tcp", "ssh", "http", "https", "npipe")
# Environment variable names are identifiers; typical ones are UPPER_SNAKE.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def url_problem(value: str, *, docker: bool = False) -> str:
    """Why ``value`` is not a usable URL, or ''. Never repeats a password: a URL with user
    info is described, not shown."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        if _has_userinfo(value):
            return "a user or password in the URL is not supported (not shown); remove it"
        return f"not a valid URL ({e})"
    scheme = parts.scheme.lower()
    if parts.password is not None or (parts.username is not None and scheme != "ssh"):
        # httpx would send it as Basic auth instead of the token, and every error would
        # print it.
        return "a user or password in the URL is not supported (not shown); remove it"
    if docker:
        if scheme not in _DOCKER_SCHEMES:
            return f'expected unix://, tcp:// or ssh://user@host, got "{value}"'
        if scheme != "unix" and scheme != "npipe" and not parts.hostname:
            return f'no host in "{value}"'
        return ""
    if scheme not in ("http", "https"):
        return f'expected an http(s):// URL, got "{value}"'
    if not parts.hostname:
        return f'no host in "{value}"'
    if port == 0:
        return f'port 0 in "{value}"'
    return ""


def _has_userinfo(value: str) -> bool:
    rest = value.split("://", 1)[-1]
    return "@" in rest.split("/", 1)[0]


def looks_like_token(value: str) -> bool:
    """A value that is no environment variable's name but could be an API token pasted into
    the name field (authentik's are 60+ random letters and digits)."""
    if not _ENV_NAME.fullmatch(value):
        return len(value) >= 16
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return len(value) >= 32 and "_" not in value and mixed and any(c.isdigit() for c in value)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_warnings(ctx: ContextConfig, name: str, source: str = "") -> list[str]:
    """One line per way the token could be read on the wire: plain http:// to a host that
    is not this machine, or TLS whose certificate is not checked."""
    where = f"{source}: contexts.{name}" if source else f"contexts.{name}"
    try:
        parts: SplitResult = urlsplit(ctx.url)
    except ValueError:
        return []
    host = parts.hostname or ""
    if parts.scheme.lower() == "http" and host and not is_loopback(host):
        return [
            f"{where}.url: the API token goes to {host} over plain http://, readable by "
            "anyone on the path; use https://"
        ]
    if parts.scheme.lower() == "https" and not ctx.verify_tls and not ctx.ca_file:
        return [
            f"{where}.verify_tls: false: the API token goes to {host} over TLS whose "
            "certificate is not checked (anyone in the middle can read it); set ca_file instead"
        ]
    return []


def parse_config(text: str, path: Path) -> Config:
    loader = _Loader(path)
    root = compose_yaml(text, path)
    if root is None:
        root = yaml.MappingNode("tag:yaml.org,2002:map", [])
    if not isinstance(root, yaml.MappingNode):
        raise loader.fail(
            root,
            "",
            f"the config must be a mapping (contexts:, web_servers:, ...), got a {node_kind(root)}",
        )
    config: Config = loader.obj(root, "", Config)
    logs = config.logs or LogsConfig()
    object.__setattr__(config, "logs", logs)
    object.__setattr__(config, "source", str(path))
    _check_references(config, root, loader)
    return config


def _check_references(config: Config, root: yaml.Node, loader: _Loader) -> None:
    """Names that must exist elsewhere in the file; an error points at the line naming it."""
    for name, ctx in config.contexts.items():
        for i, host in enumerate(ctx.docker_hosts):
            if host not in config.docker_hosts:
                where = f"contexts.{name}.docker_hosts[{i}]"
                raise loader.fail(
                    loader.nodes.get(where, root),
                    where,
                    f"unknown docker host {host!r}" + did_you_mean(host, config.docker_hosts),
                )
    for name, mapping in config.outposts.items():
        if mapping.docker_host and mapping.docker_host not in config.docker_hosts:
            where = f"outposts.{name}.docker_host"
            raise loader.fail(
                loader.nodes.get(where, root),
                where,
                f"unknown docker host {mapping.docker_host!r}"
                + did_you_mean(mapping.docker_host, config.docker_hosts),
            )


def load_config(explicit: str | None = None, *, required: bool = True) -> Config:
    path = config_file(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required or explicit:
            raise ConfigError(
                f"{path}: config file not found",
                "run `aktui init` to write a commented starter there, or `aktui --demo`",
            ) from None
        return Config(logs=LogsConfig())
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x})"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    return parse_config(text, path)


def resolve_token(ctx: ContextConfig, context_name: str, source: str) -> Secret:
    """Token from ``token``, ``token_file``, ``token_env``, else ``AUTHENTIK_TOKEN``. Every
    problem is one line naming the file, line and key; the token itself is never shown."""

    def where(key: str = "") -> str:
        line = ctx.lines.get(key) if key else None
        at = f"{source}:{line}" if line else source
        return f"{at}: contexts.{context_name}" + (f".{key}" if key else "")

    if ctx.token:
        return _checked(ctx.token.reveal(), where("token"))
    if ctx.token_file:
        return _checked(
            _read_token_file(Path(ctx.token_file), where("token_file")), where("token_file")
        )
    if ctx.token_env:
        value = os.environ.get(ctx.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"{where('token_env')}: environment variable {ctx.token_env} is unset"
            )
        return _checked(value, where("token_env"))
    value = os.environ.get("AUTHENTIK_TOKEN", "").strip()
    if not value:
        raise ConfigError(
            f"{where()}: no API token (set token_file or token_env, or export AUTHENTIK_TOKEN)"
        )
    return _checked(value, f"{where()}: $AUTHENTIK_TOKEN")


def _read_token_file(path: Path, where: str) -> str:
    try:
        info = path.stat()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: {path} is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{where}: {path} can be read by group or others; run: chmod 600 {path}")
    if info.st_size > _TOKEN_FILE_MAX:
        raise ConfigError(f"{where}: {path} is {info.st_size} bytes, too big for a token")
    try:
        value = path.read_bytes().decode("utf-8").strip()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path} is not UTF-8 text (a token is plain text)") from None
    if not value:
        raise ConfigError(f"{where}: {path} is empty")
    return value


_TOKEN_FILE_MAX = 64 * 1024


def _checked(value: str, where: str) -> Secret:
    """The token as an HTTP header can carry it: printable ASCII, no spaces. Anything else
    would be a traceback deep in httpx, or a header injection."""
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(
            f"{where}: the token holds spaces, line breaks or non-ASCII characters "
            "(not shown); it must be one line of the token alone"
        )
    return Secret(value)
