"""Values aktui writes into NGINX config (hostnames, addresses, ports, paths, file names).

NGINX has no escaping that a generator could rely on, so anything that could end a directive or
open a block (``;``, braces, quotes, ``$``, whitespace, ``#``, backslash, control characters)
is refused with ``UnsafeValue`` rather than quoted. Each ``check_*`` returns the value in the
form the config uses, or raises naming the config field it came from. Pure functions.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from aktui.errors import UnsafeValue

_UNSAFE = set(";{}'\"`$#\\")
_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$", re.IGNORECASE)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/%+@:,=-]*$")


def _refuse_injection(value: object, field_name: str) -> str:
    if not isinstance(value, str):
        raise UnsafeValue(f"{field_name}: expected text, got {value!r}")
    if not value:
        raise UnsafeValue(f"{field_name}: empty value")
    for ch in value:
        if ch in _UNSAFE or ch.isspace() or not ch.isprintable():
            raise UnsafeValue(
                f"{field_name}: {value!r} contains {ch!r}, which could inject NGINX directives",
                "use a plain hostname, address, port or path",
            )
    return value


def check_hostname(value: object, field_name: str = "hostname") -> str:
    """A DNS name as NGINX's server_name and the outpost compare it (lowercased, no port)."""
    text = _refuse_injection(value, field_name)
    if not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
        raise UnsafeValue(f"{field_name}: {text!r} is not a valid hostname")
    return text.lower().rstrip(".")


def check_address(value: object, field_name: str = "address") -> str:
    """A hostname or an IP; IPv6 comes back bracketed, ready for ``http://ADDR:PORT``."""
    text = _refuse_injection(value, field_name)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return check_hostname(text, field_name)
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


def check_port(value: object, field_name: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise UnsafeValue(f"{field_name}: {value!r} is not a port 1-65535")
    return value


def check_path(value: object, field_name: str = "path") -> str:
    """An absolute URL or file path made of plain characters (no regex, no variables)."""
    text = _refuse_injection(value, field_name)
    if not _PATH.match(text) or "/../" in text + "/":
        raise UnsafeValue(f"{field_name}: {text!r} is not a plain absolute path")
    return text


def check_include_dir(value: object, field_name: str = "snippet directory") -> str:
    """Where the server block includes the snippets from: absolute, or relative to NGINX's
    conf dir as in the field guide (``snippets``)."""
    text = _refuse_injection(value, field_name)
    check_path(text if text.startswith("/") else "/" + text, field_name)
    return text.rstrip("/") or "/"


def check_upstream(value: object, field_name: str = "upstream") -> str:
    """``http(s)://host[:port][/path]`` for the reverse-proxy example."""
    text = _refuse_injection(value, field_name)
    m = re.match(r"^(https?)://(\[[0-9a-fA-F:.]+\]|[^/:\[\]]+)(?::(\d{1,5}))?(/.*)?$", text)
    if not m:
        raise UnsafeValue(f"{field_name}: {text!r} is not an http(s):// URL")
    scheme, host, port, path = m.groups()
    out = f"{scheme}://{check_address(host, field_name)}"
    if port:
        out += f":{check_port(int(port), field_name)}"
    if path:
        out += check_path(path, field_name)
    return out


def outpost_slug(name: object) -> str:
    """File-name part for an outpost: ``outpost-single`` -> ``single`` (so the file is
    ``authentik-outpost-single.conf`` as in the field guide); spaces become dashes."""
    if not isinstance(name, str):
        raise UnsafeValue(f"outpost name: expected text, got {name!r}")
    spaced = name.strip().lower()
    # Plain spaces are common in authentik names ("Outpost Single Apps"); anything else is not.
    slug = re.sub(r" +", "-", spaced)
    _refuse_injection(slug, f"outpost name {name!r}")
    slug = re.sub(r"^outpost-", "", slug) or slug
    if not _SLUG.match(slug):
        raise UnsafeValue(
            f"outpost name: {name!r} cannot be used in a file name",
            "use letters, digits, '.', '_' and '-'",
        )
    return slug


def outpost_file_name(name: str) -> str:
    return f"authentik-outpost-{outpost_slug(name)}.conf"


@dataclass(frozen=True, slots=True)
class OutpostTarget:
    """Where web servers reach one outpost's :9000, and how aktui learned it."""

    name: str  # authentik outpost name
    address: str
    port: int
    source: str = "config"  # "config", "container <name> on <host>", or a mix

    @property
    def slug(self) -> str:
        return outpost_slug(self.name)

    @property
    def file_name(self) -> str:
        return outpost_file_name(self.name)

    @property
    def upstream(self) -> str:
        address = check_address(self.address, f"outposts.{self.name}.address")
        port = check_port(self.port, f"outposts.{self.name}.port")
        return f"http://{address}:{port}"
