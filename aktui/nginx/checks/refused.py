"""What nginx itself refuses to load, and crossplane parses without a word: the same location
twice in one block, or a once-per-block directive set twice. Both come from pasting an
authentik snippet into a block that already had what it brings; `nginx -t` fails and a
reload keeps the old config live, so the lint must not call such a config clean. And a
proxy_pass still holding a guide's placeholder (`AUTHENTIK/...`, `http://<outpost-ip>:9000`),
or a snippet's variable that nothing declares."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aktui.nginx.facts import Env, finding
from aktui.nginx.locations import Level, Server
from aktui.nginx.report import LintFinding
from aktui.nginx.variables import used_variables, walk

# nginx answers `"X" directive is duplicate` for these (checked on nginx 1.22); the forward
# auth snippets set the first two.
ONCE_PER_BLOCK = ("auth_request", "proxy_pass", "root", "alias")


def _levels(server: Server) -> Iterator[Level]:
    yield server
    yield from server.all_locations()


def duplicate_location(server: Server, env: Env) -> Iterator[LintFinding]:
    """Two locations of one block with the same path and kind: exact (`=`) with exact, or
    prefix with prefix (`^~` counts as a prefix). nginx does not compare regex ones."""
    for level in _levels(server):
        seen: dict[tuple[bool, str], str] = {}
        for loc in level.locations:
            if loc.is_regex or loc.is_named or loc.directive is None:
                continue
            key = (loc.modifier == "=", loc.pattern)
            first = seen.get(key)
            if first is None:  # the same file:line twice is one snippet included twice
                seen[key] = loc.directive.where()
                continue
            yield finding(
                server,
                "duplicate-location",
                "error",
                loc.directive,
                f"{loc.label()} is defined a second time in this block (first at {first}): "
                f'nginx refuses the config (duplicate location "{loc.pattern}"), so '
                "`nginx -t` fails and a reload keeps the old config",
                "Keep one location for this path: move this one's lines into the first, or "
                "drop the include that brings it again (an authentik snippet with its own "
                "location / or location /outpost.goauthentik.io).",
            )


def directive_twice(server: Server, env: Env) -> Iterator[LintFinding]:
    """A once-per-block directive set twice in the same block (not inherited: that is fine)."""
    for level in _levels(server):
        for name in ONCE_PER_BLOCK:
            own = level.own(name)
            for d in own[1:]:
                yield finding(
                    server,
                    "directive-twice",
                    "error",
                    d,
                    f"`{d.text()}` repeats {name} in the block that already has "
                    f"`{own[0].text()}` ({own[0].where()}): nginx refuses the config "
                    f'("{name}" directive is duplicate), so `nginx -t` fails and a reload '
                    "keeps the old config",
                    f"Keep one {name} in this block: remove the site's own or the one the "
                    "included snippet brings.",
                )


# A placeholder where the host goes: `<authentik-outpost-url>`, `{{ host }}`; no DNS name
# has these characters, so nginx answers "host not found in upstream" at load.
_PLACEHOLDER_HOST = re.compile(r"[<>{}\s]")


def proxy_pass_invalid(server: Server, env: Env) -> Iterator[LintFinding]:
    """proxy_pass without http:// or https:// and without variables: nginx refuses it with
    "invalid URL prefix" (checked on nginx 1.22), as it refuses a placeholder host."""
    for level in _levels(server):
        for d in level.own("proxy_pass"):
            url = d.args[0] if d.args else ""
            if not url or "$" in url:
                continue  # variables: nginx evaluates them per request
            if not url.lower().startswith(("http://", "https://")):
                why = "it has no http:// or https:// in front (invalid URL prefix)"
            elif _PLACEHOLDER_HOST.search(url.split("://", 1)[1].split("/", 1)[0]):
                why = "its host is a placeholder (host not found in upstream)"
            else:
                continue
            yield finding(
                server,
                "proxy-pass-invalid",
                "error",
                d,
                f"`{d.text()}`: nginx refuses the config, {why}; `nginx -t` fails and a reload "
                "keeps the old config",
                "Put the real address there with its scheme: `proxy_pass "
                "http://OUTPOST_HOST:9000;` (the guide's placeholder is still in it).",
            )


def variable_undefined(server: Server, env: Env) -> Iterator[LintFinding]:
    """$auth_cookie or an $authentik_* variable read where nothing in the whole input declares
    it: the sign-in snippet pasted without the forward-auth one. nginx refuses the config
    (`unknown "auth_cookie" variable`, checked on nginx 1.22). An error for a whole nginx.conf;
    a warning for a file nginx.conf includes, which could declare it (it never does in the
    snippets authentik publishes)."""
    missing = server.undeclared_auth_variables
    if not missing or server.incomplete:
        return
    reported: set[str] = set()
    for d in walk(server.statements):
        for name in used_variables(d):
            if name not in missing or name in reported:
                continue
            reported.add(name)
            header = name.removeprefix("authentik_").replace("_", "-")
            source = (
                "$upstream_http_set_cookie"
                if name == "auth_cookie"
                else f"$upstream_http_x_authentik_{name.removeprefix('authentik_')}"
            )
            where = (
                "nothing in this config declares it"
                if server.whole_config
                else "nothing in the given files declares it (nor, in authentik's snippets, "
                "does nginx.conf)"
            )
            yield finding(
                server,
                "variable-undefined",
                "error" if server.whole_config else "warning",
                d,
                f"`{d.text()}` reads ${name}, but {where}: nginx refuses the config "
                f'(unknown "{name}" variable), so `nginx -t` fails and a reload keeps the old '
                "config",
                f"Declare it where auth_request applies: `auth_request_set ${name} {source};`"
                + ("" if name == "auth_cookie" else f" (the outpost's X-authentik-{header})")
                + " (authentik-forward-auth.conf), or include the forward-auth snippet.",
            )
