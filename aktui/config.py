"""Config: YAML validated once into frozen dataclasses, every error naming file, line and key.

Found at ``--config``, else ``$AKTUI_CONFIG``, else ``$XDG_CONFIG_HOME/aktui/config.yaml``
(``~/.config`` when unset). pyyaml's composed nodes carry line marks, which is why we walk nodes
instead of the plain ``safe_load`` dict.
"""

from __future__ import annotations

import os
import stat
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from aktui.errors import ConfigError
from aktui.secret import Secret
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
    token_env: str = _f("str", "", doc="environment variable holding the API token")
    token_file: str = _f("path", "", doc="file holding the API token (must be 0600)")
    verify_tls: bool = _f("bool", True, doc="verify authentik's TLS certificate")
    ca_file: str = _f("path", "", doc="CA bundle for authentik's certificate")
    timeout: float = _f("float", 10.0, doc="seconds per API request")
    read_only: bool = _f("bool", False, doc="refuse every mutating action for this context")
    docker_hosts: list[str] = _f("list[str]", [], doc="docker_hosts keys that run its outposts")


@dataclass(frozen=True, slots=True)
class DockerHostConfig:
    url: str = _f("str", "", doc="unix://, tcp:// or ssh://user@host; '' = $DOCKER_HOST")
    timeout: float = _f("float", 10.0, doc="seconds per docker API call")


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
        self.loose_file = False
        try:
            mode = path.stat().st_mode
            self.loose_file = bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
        except OSError:
            pass

    def fail(self, node: yaml.Node | None, where: str, message: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return ConfigError(f"{self.path}{line}: {where}: {message}")

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
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(node, where, f"expected a number, got {shown}")
            return float(value)
        if value is None:
            return ""
        if not isinstance(value, str):
            value = node.value
        if kind == "url" and not value.startswith(("http://", "https://")):
            raise self.fail(node, where, f"expected an http(s):// URL, got {shown}")
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
            return [self.scalar(n, f"{where}[{i}]", "str") for i, n in enumerate(node.value)]
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
        return cls(**values)


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aktui" / "config.yaml"


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("AKTUI_CONFIG"):
        return Path(os.environ["AKTUI_CONFIG"]).expanduser()
    return default_path()


def parse_config(text: str, path: Path) -> Config:
    loader = _Loader(path)
    root = compose_yaml(text, path)
    if root is None:
        root = yaml.MappingNode("tag:yaml.org,2002:map", [])
    config: Config = loader.obj(root, "", Config)
    logs = config.logs or LogsConfig()
    object.__setattr__(config, "logs", logs)
    object.__setattr__(config, "source", str(path))
    _check_references(config, root, loader)
    return config


def _check_references(config: Config, root: yaml.Node, loader: _Loader) -> None:
    for name, ctx in config.contexts.items():
        for host in ctx.docker_hosts:
            if host not in config.docker_hosts:
                raise loader.fail(
                    root,
                    f"contexts.{name}.docker_hosts",
                    f"unknown docker host {host!r}" + did_you_mean(host, config.docker_hosts),
                )
    for name, mapping in config.outposts.items():
        if mapping.docker_host and mapping.docker_host not in config.docker_hosts:
            raise loader.fail(
                root,
                f"outposts.{name}.docker_host",
                f"unknown docker host {mapping.docker_host!r}"
                + did_you_mean(mapping.docker_host, config.docker_hosts),
            )


def load_config(explicit: str | None = None, *, required: bool = True) -> Config:
    path = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required or explicit:
            raise ConfigError(
                f"{path}: config file not found",
                "run `aktui init` to write a commented starter there, or `aktui --demo`",
            ) from None
        return Config(logs=LogsConfig())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    return parse_config(text, path)


def resolve_token(ctx: ContextConfig, context_name: str, source: str) -> Secret:
    """Token from ``token``, ``token_file``, ``token_env``, else ``AUTHENTIK_TOKEN``."""
    where = f"{source}: contexts.{context_name}"
    if ctx.token:
        return ctx.token
    if ctx.token_file:
        path = Path(ctx.token_file)
        try:
            mode = path.stat().st_mode
        except OSError as e:
            raise ConfigError(f"{where}.token_file: cannot read {path}: {e.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}.token_file: {path} can be read by group or others; run: chmod 600 {path}"
            )
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigError(f"{where}.token_file: {path} is empty")
        return Secret(value)
    if ctx.token_env:
        value = os.environ.get(ctx.token_env, "").strip()
        if not value:
            raise ConfigError(f"{where}.token_env: environment variable {ctx.token_env} is unset")
        return Secret(value)
    value = os.environ.get("AUTHENTIK_TOKEN", "").strip()
    if not value:
        raise ConfigError(
            f"{where}: no API token (set token_file or token_env, or export AUTHENTIK_TOKEN)"
        )
    return Secret(value)
