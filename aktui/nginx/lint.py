"""The NGINX forward-auth linter: load a config, resolve each server as nginx would, run the
checks. Pure apart from reading the given files; never executes anything from the config.

    report = lint_paths(["/etc/nginx"])          # or lint_text(dump), lint(...)
    for f in report.findings: f.check_id, f.severity, f.file, f.line, f.evidence, f.fix
    report.exit_code                              # 0 clean, 1 warnings, 2 errors
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

from aktui.nginx.checks import auth as checks_auth
from aktui.nginx.checks import outpost as checks_outpost
from aktui.nginx.checks import refused as checks_refused
from aktui.nginx.checks import target as checks_target
from aktui.nginx.config import Config, load_paths, load_text
from aktui.nginx.facts import Env
from aktui.nginx.locations import REGEX_BUDGET, Server, servers
from aktui.nginx.report import LintFinding, LintReport, sort_findings

__all__ = [
    "RULES",
    "Env",
    "LintFinding",
    "LintReport",
    "lint",
    "lint_configs",
    "lint_paths",
    "lint_text",
]

Check = Callable[[Server, Env], Iterator[LintFinding]]

CHECKS: tuple[Check, ...] = (
    checks_outpost.outpost_location,
    checks_outpost.missing_outpost_locations,
    checks_outpost.auth_subrequest,
    checks_outpost.host_vs_http_host,
    checks_outpost.outpost_host_fixed,
    checks_outpost.header_set_twice,
    checks_outpost.auth_endpoint,
    checks_outpost.outpost_path_rewritten,
    checks_outpost.legacy_outpost_path,
    checks_target.embedded_outpost_target,
    checks_target.auth_path_via_proxy,
    checks_target.outpost_scheme_port,
    checks_target.outpost_path_loops,
    checks_outpost.auth_on_outpost_paths,
    checks_auth.error_page,
    checks_auth.signin_redirect,
    checks_auth.cookie_not_passed,
    checks_auth.auth_vars_unset,
    checks_auth.identity_header_from_client,
    checks_auth.auth_bypassed_by_regex,
    checks_auth.public_path_protected,
    checks_auth.header_directive_mixup,
    checks_refused.duplicate_location,
    checks_refused.directive_twice,
    checks_refused.proxy_pass_invalid,
    checks_refused.variable_undefined,
)

# Stable ids (scripts, CI and SARIF rules refer to them) and what each one means.
RULES: dict[str, str] = {
    "outpost-location-shadowed": "a regex location wins over the outpost location",
    "outpost-location-no-caret": "the outpost location is a plain prefix without ^~",
    "error-page-401-only": "the signin error_page catches 401 but not 403 (works with authentik)",
    "error-page-missing": "auth_request applies without an error_page to the signin location",
    "cookie-not-passed": "the outpost's Set-Cookie is not passed back where auth applies",
    "x-original-url-missing": "the auth subrequest lacks the X-Original-URL header",
    "host-vs-http-host": "$host (no port) where the site's URL has a port or a proxy in front",
    "outpost-host-fixed": "the outpost locations send a fixed Host (or none), not the site's",
    "auth-endpoint-wrong": "auth_request asks an endpoint not for NGINX (/auth/traefik, /auth)",
    "outpost-path-rewritten": "proxy_pass with a URI part strips /outpost.goauthentik.io",
    "legacy-outpost-path": "/akprox, the outposts' path before authentik 2022",
    "auth-body-passed": "the auth subrequest passes the request body",
    "embedded-outpost-target": "the outpost locations proxy to the authentik server itself",
    "auth-path-via-proxy": "the auth subrequest goes through a CDN/proxy that routes by Host",
    "outpost-path-loops": "the outpost location proxies back to a host this NGINX serves",
    "outpost-scheme-port": "http:// to the outpost's TLS port 9443, or https:// to its 9000",
    "signin-redirect-wrong": "the signin location does not 302 to /outpost.goauthentik.io/start",
    "auth-on-outpost-paths": "auth_request applies to the outpost's own locations",
    "missing-outpost-locations": "no location serves the outpost paths auth_request relies on",
    "auth-subrequest-to-app": "the auth subrequest goes to the app's location, not an outpost",
    "auth-header-var-unset": "an X-authentik-* variable is used where it is not set",
    "identity-header-from-client": "an identity header (X-Forwarded-User, ...) passed from $http_*",
    "auth-bypassed-by-regex": "a regex location takes requests away from a protected prefix",
    "public-path-protected": "a webhook, status or ACME path is behind forward auth",
    "header-directive-mixup": "add_header where proxy_set_header was meant, or the reverse",
    "duplicate-location": "one block defines the same location twice (nginx refuses it)",
    "directive-twice": "a once-per-block directive set twice in one block (nginx refuses it)",
    "proxy-pass-invalid": "proxy_pass without a scheme or with a placeholder host (refused)",
    "header-set-twice": "a request header set twice for the outpost (two Host: Go answers 400)",
    "variable-undefined": "$auth_cookie or an $authentik_* variable nothing declares (refused)",
    "config-unparseable": "a file could not be parsed (nginx -t would fail too)",
    "config-refused": "a file was not read: too large, binary, or nested too deep",
    "include-unresolved": "an include names a file that was not given",
    "include-outside-roots": "an include points outside the given paths",
    "config-unreadable": "a file or directory could not be read (permissions, not a file)",
    "lint-bounded": "a server too large to check fully within the work bound",
}

_PROBLEM_SEVERITY = {
    "config-unreadable": "error",
    "config-unparseable": "error",
    "config-refused": "error",
    "include-unresolved": "warning",
    "include-outside-roots": "warning",
}
_PROBLEM_FIX = {
    "config-unreadable": "Check the path; run the lint as a user that can read it (nginx's "
    "master runs as root), or lint an `nginx -T` dump: `sudo nginx -T | aktui lint-nginx -`.",
    "config-unparseable": "Fix the file at this line; `nginx -t` reports the same error.",
    "config-refused": "Lint the real config files; aktui does not read inputs like this one.",
    "include-unresolved": "Lint the whole config (its directory, nginx.conf or an `nginx -T` "
    "dump) so the include can be read; checks for missing lines skip servers using it.",
    "include-outside-roots": "Add its directory with --root DIR (or --follow-includes) to "
    "let aktui read it.",
}


def make_env(authentik_urls: Iterable[str] = (), outpost_addresses: Iterable[str] = ()) -> Env:
    """Addresses known from an aktui context (authentik URL) or discovered outposts."""
    hosts = set()
    for url in authentik_urls:
        host = urlsplit(url if "://" in url else f"//{url}").hostname
        if host:
            hosts.add(host.lower())
    return Env(frozenset(hosts), frozenset(a.lower() for a in outpost_addresses if a))


def lint_configs(configs: Sequence[Config], env: Env | None = None) -> LintReport:
    env = env or Env()
    findings: list[LintFinding] = []
    files: list[str] = []
    count = 0
    for config in configs:
        files.extend(config.files or (config.name,))
        for p in config.problems:
            findings.append(
                LintFinding(
                    p.kind,
                    _PROBLEM_SEVERITY.get(p.kind, "error"),
                    p.file,
                    p.line,
                    p.message,
                    _PROBLEM_FIX.get(p.kind, ""),
                )
            )
        for server in servers(config):
            count += 1
            for check in CHECKS:
                findings.extend(check(server, env))
            if server.budget_exhausted:
                at = server.directive
                findings.append(
                    LintFinding(
                        "lint-bounded",
                        "info",
                        at.file if at else config.name,
                        at.line if at else 0,
                        f"{server.display_name}: more regex-location work than the bound "
                        f"({REGEX_BUDGET} evaluations); checks that needed more were cut short",
                        "Nothing to fix in nginx; split the check by linting the site files "
                        "separately if you need every check here.",
                        server.display_name,
                    )
                )
    return LintReport(sort_findings(findings), tuple(dict.fromkeys(files)), count, dict(RULES))


def lint_paths(
    paths: list[str],
    *,
    roots: Iterable[str] = (),
    prefix: str | None = None,
    follow_any_include: bool = False,
    env: Env | None = None,
) -> LintReport:
    """Lint files and directories. Includes are read only under the given paths (a site file's
    conf prefix counts: /etc/nginx for /etc/nginx/sites-enabled/app) and ``roots``."""
    configs = load_paths(paths, roots=roots, prefix=prefix, follow_any_include=follow_any_include)
    return lint_configs(configs, env)


def lint_text(
    text: str,
    name: str = "<stdin>",
    *,
    roots: Iterable[str] = (),
    prefix: str | None = None,
    env: Env | None = None,
) -> LintReport:
    """Lint an `nginx -T` dump (findings name its original files) or one pasted config or
    fragment (a lone server block, NPM advanced-tab locations)."""
    return lint_configs(load_text(text, name, roots=roots, prefix=prefix), env)


def lint(paths_or_text: str | Sequence[str], env: Env | None = None) -> LintReport:
    """Convenience: a list of paths, or one string that is either config text or a path."""
    if isinstance(paths_or_text, str):
        if "\n" in paths_or_text or "{" in paths_or_text or ";" in paths_or_text:
            return lint_text(paths_or_text, env=env)
        return lint_paths([paths_or_text], env=env)
    return lint_paths(list(paths_or_text), env=env)
