"""Checks about the locations authentik protects: the signin error_page and redirect, the
session cookie, the auth variables, and paths that should stay public or stay protected."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

from aktui.nginx.config import Directive
from aktui.nginx.facts import (
    AUTH_URI,
    START_URI,
    Env,
    anchor,
    authentik_auth,
    dropped,
    error_codes,
    finding,
    has_hole,
    is_outpost,
    label,
    protected,
    signin_pages,
)
from aktui.nginx.locations import Level, Location, Server
from aktui.nginx.report import LintFinding

SIGNIN = "error_page 401 403 = @goauthentik_proxy_signin;"
RETURN = "return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;"
COOKIE = "auth_request_set $auth_cookie $upstream_http_set_cookie;"
ACME = "/.well-known/acme-challenge/"
_PUBLIC_WORDS = re.compile(r"webhook|hooks?\b|status|health|ping\b", re.IGNORECASE)
_ACME_CERT = re.compile(r"letsencrypt|certbot|acme|dehydrated", re.IGNORECASE)
# What a request under a protected prefix may look like; a regex location taking one of them
# takes it away from the prefix location and from its auth_request.
_PROBE_SUFFIXES = ("index.php", "wp-login.php", "app.js", "style.css", "logo.png", "data.json")
# Static assets: a regex location serving only these without login is the usual deliberate
# choice (the field guide's own asset block; apps load theme CSS on their login page).
_STATIC_SUFFIXES = frozenset({"app.js", "style.css", "logo.png"})


def _uses(value: str, var: str) -> bool:
    return re.search(re.escape(var) + r"(?![A-Za-z0-9_])", value) is not None


def _auth(level: Level) -> Directive:
    d = authentik_auth(level)
    assert d is not None  # protected() only returns levels where it is set
    return d


def _with_403(error_page: Directive) -> str:
    """The operator's own error_page line with 403 added after its codes: the fix keeps the
    signin location the config names (NPM guides call it @authentik_auth_signin)."""
    args = list(error_page.args)
    last_code = max(i for i, a in enumerate(args[:-1]) if a.isdigit())
    args.insert(last_code + 1, "403")
    return replace(error_page, args=tuple(args)).text()


def error_page(server: Server, env: Env) -> Iterator[LintFinding]:
    """error-page-401-only, and error-page-missing where auth runs without a signin page."""
    for level in protected(server):
        pages = level.effective("error_page")[0]
        c401 = [d for d in pages if "401" in error_codes(d)]
        if c401:
            if not any("403" in error_codes(d) for d in pages):
                for d in c401:
                    # A warning, not an error: authentik's /auth/nginx answers an anonymous
                    # visitor with 401 and never 403 (proxyv2 forwardHandleNginx), so the
                    # reference config's `error_page 401 = ...` logs in. A 403 comes from
                    # something else on the auth path (a WAF, Cloudflare Access, a deny rule);
                    # the field guide catches both, and a raw 403 page is its cheat-sheet row.
                    yield finding(
                        server,
                        "error-page-401-only",
                        "warning",
                        d,
                        f"`{d.text()}` catches 401 but not 403: authentik's outpost answers "
                        "401 here, so login works; a 403 from anything else on the auth path "
                        "(a WAF, an access policy in front of the outpost, a deny rule) shows "
                        "a raw NGINX 403 page instead of the login",
                        f"Change it to `{_with_403(d)}`",
                    )
            continue
        hidden = dropped(level, "error_page", lambda d: "401" in error_codes(d))
        if hidden is not None:
            hiding, lost = hidden
            own = hiding.own("error_page")[0]
            yield finding(
                server,
                "error-page-missing",
                "warning",
                own,
                f"{label(hiding)} has its own `{own.text()}`, which replaces `{lost.text()}` "
                f"({lost.where()}): where auth fails here, visitors get a bare 401 instead of "
                "the login",
                f"Repeat `{SIGNIN}` in this location: error_page is not merged, a location "
                "with its own error_page inherits none.",
            )
        elif not server.incomplete:
            d = _auth(level)
            yield finding(
                server,
                "error-page-missing",
                "warning",
                d,
                f"`{d.text()}` applies in {label(level)} but no error_page sends 401/403 to "
                "the signin location: visitors get a bare 401 instead of the login",
                f"Add `{SIGNIN}` next to it (authentik-forward-auth.conf).",
            )


def _redirect(ret: Directive) -> tuple[int | None, str]:
    """(status, url) of a `return` directive; `return URL;` means 302."""
    if len(ret.args) >= 2:
        return (int(ret.args[0]) if ret.args[0].isdigit() else None), ret.args[1]
    if ret.args and ret.args[0].startswith(("http://", "https://", "$scheme")):
        return 302, ret.args[0]
    return (int(ret.args[0]) if ret.args and ret.args[0].isdigit() else None), ""


# The site's own host in a redirect target: a relative rd= is then still on the site.
_SITE_HOST = ("$host", "$http_host", "$server_name", "${host}", "${http_host}")


def _redirect_problem(
    code: int | None, url: str, site_names: tuple[str, ...] = ()
) -> tuple[str, str]:
    """(problem, severity) of a sign-in redirect to ``url``, or ("", "")."""
    path, host = url, ""
    if url.startswith(("http://", "https://", "$scheme://")):
        # Absolute, e.g. to auth.example.dev in domain-level mode: the path must be /start.
        host, _, rest = url.split("://", 1)[1].partition("/")
        path = "/" + rest
    if code not in (302, 303, 307):
        if code in (301, 308):
            return f"status {code} is permanent and browsers cache it", "error"
        return f"status {code} is not a temporary redirect", "error"
    if not path.startswith(START_URI):
        return f"it redirects to {url or 'nothing'}, not to {START_URI}", "error"
    query = urlsplit(path).query
    rd = next((v for k, _, v in (p.partition("=") for p in query.split("&")) if k == "rd"), None)
    if rd is None:
        return "without ?rd=, visitors land on the site's root after login", "warning"
    if "$request_uri" not in rd and "$target_url" not in rd:
        return "rd= lacks $request_uri, so visitors lose the page they asked for", "warning"
    # A path-only rd= is fine on the site's own host; on another one (the auth host of a
    # domain-level provider) the visitor lands on that path there. Only when the site's names
    # are known: a pasted fragment may well be that host.
    other_host = bool(site_names) and host.split(":")[0].lower() not in site_names
    if (
        host
        and host not in _SITE_HOST
        and other_host
        and not rd.startswith(("$scheme://", "http", "$target"))
    ):
        return (
            f"it sends the browser to {host} with a path-only rd= ({rd}): after login the "
            f"outpost redirects to that path on {host}, not back to this site (domain-level "
            "providers need rd=$scheme://$http_host$request_uri)",
            "error",
        )
    return "", ""


def _names(server: Server) -> tuple[str, ...]:
    return tuple(n.lower() for n in server.names if n not in ("_", "") and "*" not in n)


def _signin_targets(server: Server) -> list[Directive]:
    """The error_pages where auth applies, plus a pseudo one for each named location meant
    for authentik's sign-in that nothing visible points at (a snippet linted on its own)."""
    pages = signin_pages(server)
    used = {ep.args[-1] for ep in pages if ep.args}
    for name, loc in server.named.items():
        if "authentik" in name.lower() and name not in used and loc.directive is not None:
            pages.append(Directive("error_page", ("401", name), loc.directive.file, 0))
    return pages


def _from_location_header(server: Server, var: str) -> Directive | None:
    """The `auth_request_set VAR $upstream_http_location;` defining ``var``, if any."""
    levels: list[Level] = [*server.chain(), *server.all_locations()]
    for level in levels:
        for d in level.own("auth_request_set"):
            if (
                len(d.args) == 2
                and d.args[0] == var
                and _uses(d.args[1], "$upstream_http_location")
            ):
                return d
    return None


def signin_redirect(server: Server, env: Env) -> Iterator[LintFinding]:
    for ep in _signin_targets(server):
        target = ep.args[-1]
        source = _from_location_header(server, target) if target.startswith("$") else None
        if source is not None:
            # Authelia's protocol: its auth endpoint answers 401 with the login URL in
            # Location. authentik's /auth/nginx answers 401 with a text body and no Location
            # (proxyv2 forwardHandleNginx), so the variable is empty.
            yield finding(
                server,
                "signin-redirect-wrong",
                "error",
                ep,
                f"`{ep.text()}` redirects to the auth response's Location header "
                f"(`{source.text()}`, {source.where()}), but authentik's {AUTH_URI} answers "
                "401 without one: visitors get an empty redirect, not the "
                "login",
                f"Use `{SIGNIN}` with `location @goauthentik_proxy_signin {{ internal; "
                f"{RETURN} }}`",
            )
            continue
        if target.startswith(("/", "http://", "https://", "$scheme")):
            # `error_page 401 =302 https://auth.example.com/outpost.goauthentik.io/start?...`:
            # the redirect is the error_page itself (302 unless `=CODE` says otherwise).
            eq = next((a for a in ep.args[:-1] if a.startswith("=")), "")
            code = int(eq[1:]) if eq[1:].isdigit() else 302
            problem, severity = _redirect_problem(code, target, _names(server))
            if problem:
                yield finding(
                    server,
                    "signin-redirect-wrong",
                    severity,
                    ep,
                    f"`{ep.text()}`: {problem}",
                    f"Use `{SIGNIN}` with `location @goauthentik_proxy_signin {{ internal; "
                    f"{RETURN} }}`",
                )
            continue
        loc = server.named.get(target)
        if loc is None or loc.directive is None:
            continue  # a missing one is missing-outpost-locations
        rets = loc.own("return")
        if not rets and has_hole(loc):
            continue  # the return may be in the include we could not read, or the elided lines
        if not rets:
            yield finding(
                server,
                "signin-redirect-wrong",
                "error",
                loc.directive,
                f"{loc.label()} (the target of `{ep.text()}`) does not redirect to the outpost",
                f"End it with `{RETURN}`",
            )
            continue
        ret = rets[0]
        problem, severity = _redirect_problem(*_redirect(ret), _names(server))
        if problem:
            yield finding(
                server,
                "signin-redirect-wrong",
                severity,
                ret,
                f"`{ret.text()}` in {loc.label()}: {problem}",
                f"Use `{RETURN}`",
            )


# Request headers for the outpost or the app; `add_header` puts them on the response to the
# browser instead. And the one response header, Set-Cookie, set on the request.
_REQUEST_HEADERS = frozenset(
    {
        "x-original-url",
        "x-original-uri",
        "x-original-method",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-for",
        "x-real-ip",
        "host",
        "content-length",
    }
)


def header_directive_mixup(server: Server, env: Env) -> Iterator[LintFinding]:
    """`add_header X-Original-URL ...` where `proxy_set_header` was meant (and look-alikes):
    the directive is valid, so nginx -t passes, but the header goes the wrong way."""
    levels: list[Level] = [server, *server.all_locations()]
    for level in levels:
        for d in level.own("add_header"):
            name = d.args[0].lower() if d.args else ""
            auth_header = name.startswith("x-authentik-") and not is_outpost_level(level)
            if name not in _REQUEST_HEADERS and not auth_header:
                continue
            yield finding(
                server,
                "header-directive-mixup",
                "warning",
                d,
                f"`{d.text()}` in {label(level)} sets a response header for the browser; the "
                + (
                    "app never sees it"
                    if auth_header
                    else "outpost (or app) never receives it as a request header"
                ),
                f"Use `proxy_set_header {d.args[0]} {' '.join(d.args[1:2])};`.",
            )
        for d in level.own("proxy_set_header"):
            if d.args and d.args[0].lower() == "set-cookie":
                yield finding(
                    server,
                    "header-directive-mixup",
                    "warning",
                    d,
                    f"`{d.text()}` in {label(level)} sends Set-Cookie to the upstream; the "
                    "browser never gets the outpost's session cookie",
                    f"Use `add_header Set-Cookie {' '.join(d.args[1:2])};`.",
                )


def is_outpost_level(level: Level) -> bool:
    return isinstance(level, Location) and is_outpost(level)


def _is_cookie_set(d: Directive) -> bool:
    return len(d.args) >= 2 and "$upstream_http_set_cookie" in d.args[1]


def cookie_not_passed(server: Server, env: Env) -> Iterator[LintFinding]:
    """auth_request_set $auth_cookie / add_header Set-Cookie, as inheritance really applies."""
    for level in protected(server):
        sets = level.effective("auth_request_set")[0]
        cookie_vars = [d.args[0] for d in sets if _is_cookie_set(d)]
        if not cookie_vars:
            hidden = dropped(level, "auth_request_set", _is_cookie_set)
            if hidden is not None:
                hiding, lost = hidden
                own = hiding.own("auth_request_set")[0]
                yield finding(
                    server,
                    "cookie-not-passed",
                    "warning",
                    own,
                    f"{label(hiding)} has its own auth_request_set, which replaces `{lost.text()}`"
                    f" ({lost.where()}): {lost.args[0]} is empty here, so the outpost's "
                    "Set-Cookie (session refresh) never reaches the browser",
                    f"Repeat `{COOKIE}` in this location: a location with its own "
                    "auth_request_set inherits none from the server.",
                )
            elif not server.incomplete:
                d = _auth(level)
                yield finding(
                    server,
                    "cookie-not-passed",
                    "warning",
                    d,
                    f"`{d.text()}` applies in {label(level)} without `{COOKIE}`: the outpost's "
                    "Set-Cookie from the auth subrequest is dropped",
                    f"Add `{COOKIE}` and `add_header Set-Cookie $auth_cookie;` after auth_request "
                    "(authentik-forward-auth.conf).",
                )
            continue

        def sends(d: Directive, names: list[str] = cookie_vars) -> bool:
            return (
                len(d.args) >= 2
                and d.args[0].lower() == "set-cookie"
                and any(_uses(d.args[1], v) for v in names)
            )

        def sends_more(d: Directive, names: list[str] = cookie_vars) -> bool:
            # headers-more (Nginx Proxy Manager, OpenResty): more_set_headers 'Set-Cookie: $v'
            return any(
                a.lower().startswith("set-cookie:") and any(_uses(a, v) for v in names)
                for a in d.args
            )

        if any(sends(d) for d in level.effective("add_header")[0]) or any(
            sends_more(d) for d in level.effective("more_set_headers")[0]
        ):
            continue
        hidden = dropped(level, "add_header", sends)
        if hidden is not None:
            hiding, lost = hidden
            own = hiding.own("add_header")[0]
            yield finding(
                server,
                "cookie-not-passed",
                "warning",
                own,
                f"{label(hiding)} has its own `{own.text()}`, which drops the inherited "
                f"`{lost.text()}` ({lost.where()}): the session cookie is not sent from here",
                "Repeat `add_header Set-Cookie $auth_cookie;` in this location: a location "
                "with any add_header of its own inherits none from the server.",
            )
        elif not server.incomplete:
            d = _auth(level)
            yield finding(
                server,
                "cookie-not-passed",
                "warning",
                d,
                f"{cookie_vars[0]} captures the outpost's cookie in {label(level)} but no "
                f"`add_header Set-Cookie {cookie_vars[0]};` sends it to the browser",
                f"Add `add_header Set-Cookie {cookie_vars[0]};` after the auth_request_set "
                "(authentik-forward-auth.conf).",
            )


# The outpost's response header read straight in the app request, not via auth_request_set.
_UPSTREAM_AUTH_VAR = re.compile(r"\$\{?upstream_http_x_authentik_\w+\}?")
_APP_PARAMS = ("fastcgi_param", "proxy_set_header", "uwsgi_param")


def _upstream_vars_direct(server: Server) -> Iterator[LintFinding]:
    """`fastcgi_param HTTP_X_AUTHENTIK_USERNAME $upstream_http_x_authentik_username;`: in the
    request to the app, $upstream_http_* names that request's own upstream, whose response has
    not come yet, so the app gets it empty. Only auth_request_set reads the auth subrequest's
    answer (nginx auth_request docs); a published PHP app's README does it this way."""
    seen: set[Directive] = set()
    for level in protected(server):
        for name in _APP_PARAMS:
            for d in level.effective(name)[0]:
                m = _UPSTREAM_AUTH_VAR.search(d.args[1]) if len(d.args) >= 2 else None
                if m is None or d in seen:
                    continue
                seen.add(d)
                var = m.group(0).strip("${}")
                field = var.removeprefix("upstream_http_x_")
                yield finding(
                    server,
                    "auth-header-var-unset",
                    "warning",
                    d,
                    f"`{d.text()}` in {label(level)} reads ${var} in the request to the app, "
                    "where it names the app's own response (not there yet), not the auth "
                    "subrequest's: the app gets it empty",
                    f"Capture it after the auth check: `auth_request_set ${field} ${var};` and "
                    f"use ${field} here (authentik-forward-auth.conf).",
                )


def auth_vars_unset(server: Server, env: Env) -> Iterator[LintFinding]:
    """auth-header-var-unset: fastcgi_param/proxy_set_header using an X-authentik-* variable
    where the auth_request_set that fills it is not in force (PHP-FPM params, field guide 2e),
    or reading the outpost's $upstream_http_x_authentik_* without auth_request_set."""
    yield from _upstream_vars_direct(server)
    setters: dict[str, Directive] = {}
    for level in [server, *server.all_locations()]:
        for d in level.own("auth_request_set"):
            if len(d.args) >= 2 and not _is_cookie_set(d):
                setters.setdefault(d.args[0], d)
    if not setters:
        return
    for level in protected(server):
        in_force = {d.args[0] for d in level.effective("auth_request_set")[0] if d.args}
        for name in ("fastcgi_param", "proxy_set_header", "uwsgi_param"):
            for d in level.effective(name)[0]:
                if len(d.args) < 2:
                    continue
                for var, setter in setters.items():
                    if _uses(d.args[1], var) and var not in in_force:
                        yield finding(
                            server,
                            "auth-header-var-unset",
                            "warning",
                            d,
                            f"`{d.text()}` in {label(level)} uses {var}, but `{setter.text()}` "
                            f"({setter.where()}) is not in force there: the app gets it empty",
                            "Put the auth_request_set lines in the same location as the "
                            "fastcgi_param lines (field guide 2e: inside `location ~ \\.php$`).",
                        )
                        break


# Request headers an app behind forward auth takes as the logged-in user.
_IDENTITY_HEADER = re.compile(
    r"x-authentik-[a-z-]+|x-forwarded-(?:user|email|preferred-username|groups)"
    r"|x-remote-user|remote-(?:user|email|name|groups)|x-webauth-user"
    r"|x-auth-request-(?:user|email|preferred-username|groups)"
)
_CLIENT_HEADER_VAR = re.compile(r"\$\{?http_\w+\}?")


def identity_header_from_client(server: Server, env: Env) -> Iterator[LintFinding]:
    """identity-header-from-client: `proxy_set_header X-Forwarded-Email $http_x_forwarded_email;`
    where authentik's auth applies. $http_* is the browser's own request header: auth_request
    does not strip it, and in forward auth the outpost puts the identity on its response to
    the subrequest (read with auth_request_set), never on the request. So every visitor who
    gets past the login, or sends the header, names any user (a published NPM guide did this
    and then added a second line from $authentik_*: the app gets both values)."""
    seen: set[Directive] = set()
    for level in protected(server):
        for d in level.effective("proxy_set_header")[0]:
            if d in seen or len(d.args) < 2:
                continue
            seen.add(d)
            header = d.args[0].lower()
            client = _CLIENT_HEADER_VAR.search(d.args[1])
            if client is None or not _IDENTITY_HEADER.fullmatch(header):
                continue
            field = next((f for f in ("email", "groups", "name") if header.endswith(f)), "username")
            yield finding(
                server,
                "identity-header-from-client",
                "error",
                d,
                f"`{d.text()}` where authentik's auth applies ({label(level)}) passes the "
                f"browser's own {client.group(0)}: the outpost sends the identity only in its "
                "answer to the auth subrequest, so any visitor can claim any user",
                f"Take it from the auth response: `auth_request_set $authentik_{field} "
                f"$upstream_http_x_authentik_{field};` and "
                f"`proxy_set_header {d.args[0]} $authentik_{field};` "
                "(authentik-forward-auth.conf).",
            )


def public_path_protected(server: Server, env: Env) -> Iterator[LintFinding]:
    """Webhooks, status pages and ACME challenges behind forward auth (info)."""
    guarded = {id(level) for level in protected(server)}
    if not guarded:
        return
    for loc in server.all_locations():
        if id(loc) in guarded and loc.directive and _PUBLIC_WORDS.search(loc.pattern):
            yield finding(
                server,
                "public-path-protected",
                "info",
                loc.directive,
                f"{loc.label()} is behind auth_request: webhook senders and status checkers "
                "cannot log in",
                "If it should stay public, add `auth_request off;` in that location.",
            )
    acme = any(_ACME_CERT.search(" ".join(d.args)) for d in _cert_lines(server))
    acme = acme or any(not loc.is_named and ACME in loc.pattern for loc in server.all_locations())
    if acme and (80 in server.listen_ports or not server.listen_known):
        winner = server.match(ACME + "probe")
        level: Level = winner or server
        if id(level) in guarded:
            yield finding(
                server,
                "public-path-protected",
                "info",
                anchor(level, _auth(level)),
                f"{ACME} is answered by {label(level)}, behind auth_request: ACME HTTP-01 "
                "validation is sent to the login page and certificate renewal fails",
                f"Add `location ^~ {ACME} {{ auth_request off; root /var/www/html; }}`.",
            )


def _cert_lines(server: Server) -> list[Directive]:
    return [d for level in server.chain() for d in level.own("ssl_certificate")]


def auth_bypassed_by_regex(server: Server, env: Env) -> Iterator[LintFinding]:
    """Subdirectory-only auth (field guide part 4) undone by a regex location: `location
    /admin { auth_request ...; }` does not protect /admin/index.php if `location ~ \\.php$`
    (which has no auth_request) answers it. A regex taking only static assets (css, js,
    images) is reported as info: public assets are usually meant (goauthentik users' NPM
    configs keep theme CSS/JS public on purpose)."""
    if authentik_auth(server) is not None:
        return  # server-wide auth: regex locations inherit it unless they turn it off
    for loc in server.all_locations():
        if loc.modifier != "" or is_outpost(loc) or loc.directive is None:
            continue
        if authentik_auth(loc) is None:
            continue
        base = loc.pattern if loc.pattern.endswith("/") else loc.pattern + "/"
        inside = {id(x) for x in loc.walk()}
        bypass: list[tuple[str, str, Location]] = []
        for suffix in _PROBE_SUFFIXES:
            uri = base + suffix
            winner = server.match(uri)
            if winner is None or id(winner) in inside or not winner.is_regex:
                continue
            if _deliberately_open(winner) or has_hole(winner):
                continue  # open on purpose, or an include not given may hold its auth_request
            bypass.append((suffix, uri, winner))
        if not bypass:
            continue
        content = [b for b in bypass if b[0] not in _STATIC_SUFFIXES]
        _, uri, winner = (content or bypass)[0]
        if content:
            yield finding(
                server,
                "auth-bypassed-by-regex",
                "error",
                loc.directive,
                f"{uri} is answered by {label(winner)}, which has no auth_request: a regex "
                f"location wins over the plain prefix {loc.label()}, so its auth is bypassed",
                f"Use `location ^~ {loc.pattern} {{ auth_request ...; location ~ \\.php$ "
                "{ ... } }` (nest the regex location inside), or add the auth_request lines "
                "to the regex location too.",
            )
        else:
            yield finding(
                server,
                "auth-bypassed-by-regex",
                "info",
                loc.directive,
                f"static files under {loc.pattern} ({uri}) are answered by {label(winner)}, "
                f"which has no auth_request: they are public although {loc.label()} needs a "
                "login (fine for theme assets, not for private files)",
                "If they should stay public, say so with `auth_request off;` in that regex "
                "location; otherwise add the auth_request lines to it.",
            )


def _deliberately_open(loc: Location) -> bool:
    """Explicit `auth_request off` (static assets), or nothing served (deny/return)."""
    return bool(loc.own("auth_request") or loc.own("deny") or loc.own("return")) or (
        authentik_auth(loc) is not None
    )
