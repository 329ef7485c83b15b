"""The NGINX text aktui generates: the two snippet files and server-block examples per shape
(field guide Parts 2d, 2e, 3e, 4; homelab notes for Nginx Proxy Manager).

Templates are nginx files in ``templates/`` with ``@TOKEN@`` placeholders, filled only with
values that went through ``aktui.nginx.values`` (``OutpostTarget.upstream`` and ``file_name``
check theirs).
"""

from __future__ import annotations

import re
from importlib import resources

from aktui.nginx.values import (
    OutpostTarget,
    check_hostname,
    check_include_dir,
    check_path,
    check_upstream,
)

FORWARD_AUTH_FILE = "authentik-forward-auth.conf"
DEFAULT_INCLUDE_DIR = "snippets"
DEFAULT_UPSTREAM = "http://127.0.0.1:8080"
DEFAULT_PROTECTED_PATH = "/admin"
SHAPES = ("whole-site", "subdirectory", "php-fpm", "static-bypass", "reverse-proxy", "npm-advanced")


# The text lives in templates/*.conf (nginx text as nginx files, not Python strings).
def _template(name: str) -> str:
    return resources.files("aktui.nginx").joinpath("templates", name).read_text(encoding="utf-8")


# Where the browser is sent to log in: the same in the outpost snippet and NPM's Advanced tab.
_SIGNIN_LOCATION = _template("signin.conf")
FORWARD_AUTH_TEXT = _template("forward-auth.conf")
_OUTPOST_TEMPLATE = _template("outpost.conf") + _SIGNIN_LOCATION


def render_forward_auth() -> str:
    return FORWARD_AUTH_TEXT


def render_outpost(target: OutpostTarget) -> str:
    return _fill(_OUTPOST_TEMPLATE, {"@SLUG@": target.slug, "@UPSTREAM@": target.upstream})


# --- server-block examples ------------------------------------------------------------------

_HEADERS = ("username", "groups", "entitlements", "email", "name", "uid")

_EXAMPLES = {shape: _template(f"example-{shape}.conf") for shape in SHAPES}
_EXAMPLES["npm-advanced"] += _SIGNIN_LOCATION


def _header_lines(target: str) -> str:
    sets = [f"auth_request_set $authentik_{h} $upstream_http_x_authentik_{h};" for h in _HEADERS]
    if target == "fastcgi":
        uses = [f"fastcgi_param HTTP_X_AUTHENTIK_{h.upper()} $authentik_{h};" for h in _HEADERS]
    else:
        uses = [f"proxy_set_header X-authentik-{h} $authentik_{h};" for h in _HEADERS]
    return "\n".join("        " + line for line in [*sets, *uses])


def render_example(
    shape: str,
    site: str,
    target: OutpostTarget,
    *,
    include_dir: str = DEFAULT_INCLUDE_DIR,
    path: str = DEFAULT_PROTECTED_PATH,
    upstream: str = DEFAULT_UPSTREAM,
) -> str:
    """One server block (or, for ``npm-advanced``, the Advanced-tab text) for ``site``."""
    if shape not in _EXAMPLES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    values = {
        "@FORWARD_AUTH_FILE@": FORWARD_AUTH_FILE,
        "@SITE@": check_hostname(site, "site"),
        "@DIR@": check_include_dir(include_dir),
        "@OUTPOST_FILE@": target.file_name,
        "@UPSTREAM@": target.upstream,
        "@PATH@": check_path(path, "protected path"),
        "@APP@": check_upstream(upstream),
        "@PHP_HEADERS@": _header_lines("fastcgi"),
        "@PROXY_HEADERS@": _header_lines("proxy"),
    }
    return _fill(_EXAMPLES[shape], values)


_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


def _fill(template: str, values: dict[str, str]) -> str:
    """Every placeholder replaced in one pass: a value is never searched again, so a value
    holding ``@PROXY_HEADERS@`` (``--path /@PROXY_HEADERS@``) stays text, not template."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(), m.group()), template)
