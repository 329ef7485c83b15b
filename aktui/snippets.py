"""NGINX forward-auth snippets rendered from the live model (field guide Parts 2d, 2e, 3e, 4).

Pure functions, no I/O. Every value that lands in NGINX config is checked first by the
``check_*`` helpers: NGINX has no escaping that a generator could rely on, so anything that
could end a directive or open a block (``;``, braces, quotes, ``$``, whitespace, ``#``,
backslash, control characters) is refused with ``UnsafeValue`` rather than quoted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aktui.config import Config
from aktui.errors import UnsafeValue
from aktui.model import Outpost, ProxyProvider, Snapshot, host_in_domain
from aktui.runtime import ContainerInfo

FORWARD_AUTH_FILE = "authentik-forward-auth.conf"
DEFAULT_INCLUDE_DIR = "snippets"
DEFAULT_UPSTREAM = "http://127.0.0.1:8080"
DEFAULT_PROTECTED_PATH = "/admin"
SHAPES = ("whole-site", "subdirectory", "php-fpm", "static-bypass", "reverse-proxy", "npm-advanced")

# --- validation -----------------------------------------------------------------------------

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


# --- the two snippet files ------------------------------------------------------------------

FORWARD_AUTH_TEXT = """\
# Generated by aktui. Include in a server block (whole site) or copy into one location.
auth_request /outpost.goauthentik.io/auth/nginx;
# Catch 403 as well as 401, or some users see NGINX's bare 403 instead of the login.
error_page 401 403 = @goauthentik_proxy_signin;
# The outpost stores the redirect target in a cookie while answering 401: pass it on.
auth_request_set $auth_cookie $upstream_http_set_cookie;
add_header Set-Cookie $auth_cookie;
proxy_buffers 8 16k;
proxy_buffer_size 32k;
"""

_OUTPOST_TEMPLATE = """\
# Generated by aktui for outpost @SLUG@ (@UPSTREAM@).
# Auth subrequest — used by auth_request internally
location = /outpost.goauthentik.io/auth/nginx {
    proxy_pass @UPSTREAM@;
    proxy_set_header Host $host;
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}

# Browser-facing outpost paths — /start, /callback, etc.
# ^~ so that regex locations (e.g. a dotfile deny rule) never shadow it.
location ^~ /outpost.goauthentik.io {
    proxy_pass @UPSTREAM@;
    proxy_set_header Host $host;
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Host $host;
}

location @goauthentik_proxy_signin {
    internal;
    add_header Set-Cookie $auth_cookie;
    return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
}
"""


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


def render_forward_auth() -> str:
    return FORWARD_AUTH_TEXT


def render_outpost(target: OutpostTarget) -> str:
    upstream = target.upstream
    return _OUTPOST_TEMPLATE.replace("@SLUG@", target.slug).replace("@UPSTREAM@", upstream)


# --- which outpost serves a site ------------------------------------------------------------


def provider_for_host(snapshot: Snapshot, hostname: str) -> ProxyProvider | None:
    """The provider the outpost would pick (FACTS.md c, lookupApp): exact external host first,
    else the forward_domain provider with the longest cookie domain covering the host."""
    host = check_hostname(hostname, "site")
    exact = sorted((p for p in snapshot.providers if p.hostname == host), key=lambda p: p.pk)
    if exact:
        return next((p for p in exact if p.forward), exact[0])
    covering = [
        p
        for p in snapshot.providers
        if p.mode == "forward_domain" and p.cookie_domain and host_in_domain(host, p.cookie_domain)
    ]
    if not covering:
        return None
    return max(covering, key=lambda p: (len(p.cookie_domain.lstrip(".")), -p.pk))


@dataclass(frozen=True, slots=True)
class SiteChoice:
    site: str
    provider: str
    outpost: str  # '' when no outpost serves the provider
    others: tuple[str, ...] = ()  # further outposts serving it (a warning: pick one)


def outpost_for_site(snapshot: Snapshot, hostname: str) -> SiteChoice:
    host = check_hostname(hostname, "site")
    provider = provider_for_host(snapshot, host)
    if provider is None:
        raise UnsafeValue(
            f"site {host!r}: no proxy provider's external host or cookie domain covers it",
            "create a forward-auth provider for it in authentik first",
        )
    serving = sorted(snapshot.outposts_serving(provider.pk), key=lambda o: (o.embedded, o.name))
    names = tuple(o.name for o in serving)
    return SiteChoice(host, provider.name, names[0] if names else "", names[1:])


# --- address and port of each outpost -------------------------------------------------------


def _docker_host_address(config: Config, container: ContainerInfo) -> str:
    if container.host == "lab":
        return "127.0.0.1"
    docker = config.docker_hosts.get(container.host)
    url = docker.url if docker else ""
    m = re.match(r"^(?:tcp|ssh|http|https)://(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)", url)
    # unix:// or $DOCKER_HOST: the docker host's own address as the web server sees it is unknown.
    return m.group(1) if m else ""


def resolve_target(
    outpost: Outpost, config: Config, containers: Iterable[ContainerInfo] = ()
) -> OutpostTarget:
    """Address and port from ``config.outposts[name]``, else from the discovered container.
    Raises UnsafeValue when either is unknown or unsafe."""
    mapping = config.outposts.get(outpost.name)
    address = mapping.address if mapping else ""
    port = mapping.port if mapping else 0
    sources = ["config"] if address or port else []
    found = next(
        (
            c
            for c in sorted(containers, key=lambda c: (c.host, c.name))
            if (mapping and mapping.container and c.name == mapping.container)
            or c.outpost_name == outpost.name
        ),
        None,
    )
    if found and (not address or not port):
        if not port and found.ports:
            port = found.ports[0]
        if not address:
            address = _docker_host_address(config, found)
        sources.append(f"container {found.name} on {found.host}")
    where = f"outposts.{outpost.name}"
    if not address:
        raise UnsafeValue(
            f"{where}.address: unknown",
            "set it in the config: the address web servers use to reach the outpost",
        )
    if not port:
        raise UnsafeValue(
            f"{where}.port: unknown", "set it in the config: the host port published for :9000"
        )
    target = OutpostTarget(outpost.name, address, port, " + ".join(sources))
    target.upstream  # noqa: B018 - validates address and port now, naming the config key
    return target


# --- server-block examples ------------------------------------------------------------------

_HEADERS = ("username", "groups", "entitlements", "email", "name", "uid")

_EXAMPLES = {
    "whole-site": """\
# Whole site behind authentik (field guide Part 2d).
server {
    listen 80;
    server_name @SITE@;
    root /var/www/@SITE@;

    include @DIR@/authentik-forward-auth.conf;
    include @DIR@/@OUTPOST_FILE@;

    location / {
        try_files $uri $uri/ /index.php?$args;
    }
}
""",
    "subdirectory": """\
# Only @PATH@ behind authentik (field guide Part 4): no server-level auth_request.
server {
    listen 80;
    server_name @SITE@;
    root /var/www/@SITE@;

    # Outpost locations — always included
    include @DIR@/@OUTPOST_FILE@;

    # Public — no auth
    location / {
        try_files $uri $uri/ /index.php?$args;
    }

    # Protected subdirectory
    location @PATH@ {
        auth_request /outpost.goauthentik.io/auth/nginx;
        error_page 401 403 = @goauthentik_proxy_signin;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;
        try_files $uri $uri/ /index.php?$args;
    }
}
""",
    "php-fpm": """\
# WordPress / PHP-FPM: the user's identity as HTTP_X_AUTHENTIK_* (field guide Part 2e).
server {
    listen 80;
    server_name @SITE@;
    root /var/www/@SITE@;
    index index.php;

    include @DIR@/authentik-forward-auth.conf;
    include @DIR@/@OUTPOST_FILE@;

    location / {
        try_files $uri $uri/ /index.php?$args;
    }

    location ~ \\.php$ {
        # A location with its own auth_request_set inherits none from the server: repeat the
        # cookie one, or the sign-in redirect loses the outpost's cookie.
        auth_request_set $auth_cookie $upstream_http_set_cookie;
@PHP_HEADERS@
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:/run/php/php-fpm.sock;
    }
}
""",
    "static-bypass": """\
# Whole site behind authentik, static assets served without the auth round trip (Part 2d).
server {
    listen 80;
    server_name @SITE@;
    root /var/www/@SITE@;

    include @DIR@/authentik-forward-auth.conf;
    include @DIR@/@OUTPOST_FILE@;

    location / {
        try_files $uri $uri/ /index.php?$args;
    }

    # Static assets — skip auth to avoid latency
    location ~* ^.+\\.(ogg|ogv|svg|svgz|eot|otf|woff|woff2|mp4|ttf|ttc|rss|atom|jpg|jpeg|gif\
|png|ico|webp|zip|tgz|gz|rar|bz2|doc|xls|exe|ppt|tar|mid|midi|wav|bmp|rtf|css|js)$ {
        auth_request off;
        access_log off;
        log_not_found off;
        expires max;
        add_header Cache-Control "public";
    }
}
""",
    "reverse-proxy": """\
# An upstream app behind NGINX, told who the user is by X-authentik-* headers.
server {
    listen 80;
    server_name @SITE@;

    include @DIR@/authentik-forward-auth.conf;
    include @DIR@/@OUTPOST_FILE@;

    location / {
        proxy_pass @APP@;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

        # Translate the outpost's answer headers for the upstream. auth_request_set is not
        # inherited once a location sets its own: repeat the cookie one.
        auth_request_set $auth_cookie $upstream_http_set_cookie;
@PROXY_HEADERS@
    }
}
""",
    "npm-advanced": """\
# Nginx Proxy Manager: paste into the proxy host's Advanced tab (homelab notes).
# NPM leaves out its own `location /` when this text has one, and sets $forward_scheme,
# $server and $port from the proxy host's Details tab.
# The auth subrequest gets its own exact location, so it never carries the request body.
location = /outpost.goauthentik.io/auth/nginx {
    proxy_pass @UPSTREAM@;
    proxy_set_header Host $http_host;
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
}

location ^~ /outpost.goauthentik.io {
    proxy_pass @UPSTREAM@/outpost.goauthentik.io;
    # $http_host keeps the port: with $host the redirect after login can loop.
    proxy_set_header Host $http_host;
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
}

location / {
    auth_request /outpost.goauthentik.io/auth/nginx;
    error_page 401 403 = @goauthentik_proxy_signin;
    auth_request_set $auth_cookie $upstream_http_set_cookie;
    add_header Set-Cookie $auth_cookie;

    # Forward to your actual service
    proxy_pass $forward_scheme://$server:$port;
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
}

location @goauthentik_proxy_signin {
    internal;
    add_header Set-Cookie $auth_cookie;
    return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
}
""",
}


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
        "@SITE@": check_hostname(site, "site"),
        "@DIR@": check_include_dir(include_dir),
        "@OUTPOST_FILE@": target.file_name,
        "@UPSTREAM@": target.upstream,
        "@PATH@": check_path(path, "protected path"),
        "@APP@": check_upstream(upstream),
        "@PHP_HEADERS@": _header_lines("fastcgi"),
        "@PROXY_HEADERS@": _header_lines("proxy"),
    }
    text = _EXAMPLES[shape]
    for token, value in values.items():
        text = text.replace(token, value)
    return text


# --- the whole set --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnippetSet:
    files: dict[str, str]  # file name -> text: the forward-auth file and one per outpost
    examples: dict[str, str]  # "examples/<site>/<shape>.conf" -> text
    targets: tuple[OutpostTarget, ...]
    sites: tuple[SiteChoice, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (outpost name, why)

    def files_for_sites(self, snapshot: Snapshot, sites: Iterable[str]) -> dict[str, str]:
        """The files a web server serving ``sites`` needs (all of them when it lists none)."""
        wanted = [outpost_for_site(snapshot, s).outpost for s in sites]
        if not wanted:
            return dict(self.files)
        names = {t.file_name for t in self.targets if t.name in wanted}
        return {k: v for k, v in self.files.items() if k == FORWARD_AUTH_FILE or k in names}


def _forward_outposts(snapshot: Snapshot) -> list[tuple[Outpost, str]]:
    """Every outpost with the reason it is skipped ('' when it should get a snippet)."""
    out = []
    for o in snapshot.outposts:
        providers = [snapshot.provider(pk) for pk in o.provider_pks]
        if o.embedded:
            why = "embedded outpost: its /auth/nginx answers 404, deploy a standalone outpost"
        elif not any(p and p.forward for p in providers):
            why = "serves no forward-auth provider"
        else:
            why = ""
        out.append((o, why))
    return out


def build_snippets(
    snapshot: Snapshot,
    config: Config,
    containers: Iterable[ContainerInfo] = (),
    *,
    outpost: str | None = None,
    site: str | None = None,
    include_dir: str = DEFAULT_INCLUDE_DIR,
    path: str = DEFAULT_PROTECTED_PATH,
    upstream: str = DEFAULT_UPSTREAM,
) -> SnippetSet:
    """All snippets for the model, or for one ``outpost`` / the outpost serving ``site``.

    Outposts that cannot get a snippet are listed in ``skipped`` when not asked for by name;
    asking for one by name (or through ``site``) raises UnsafeValue with the reason instead.
    """
    containers = tuple(containers)
    wanted: str | None = outpost
    choice: SiteChoice | None = None
    if site is not None:
        choice = outpost_for_site(snapshot, site)
        if not choice.outpost:
            raise UnsafeValue(
                f"site {choice.site!r}: provider {choice.provider!r} is on no outpost",
                "add its application to an outpost in authentik",
            )
        found = snapshot.outpost(outpost) if outpost else None
        if outpost and (found is None or found.name != choice.outpost):
            raise UnsafeValue(
                f"site {choice.site!r} is served by outpost {choice.outpost!r}, not {outpost!r}"
            )
        wanted = choice.outpost
    targets: list[OutpostTarget] = []
    skipped: list[tuple[str, str]] = []
    for o, why in _forward_outposts(snapshot):
        if wanted and wanted not in (o.name, o.pk):
            continue
        if not why:
            try:
                targets.append(resolve_target(o, config, containers))
                continue
            except UnsafeValue as e:
                why = str(e)
        if wanted:
            raise UnsafeValue(f"outpost {o.name!r}: {why}")
        skipped.append((o.name, why))
    if wanted and not targets:
        known = ", ".join(o.name for o in snapshot.outposts) or "none"
        raise UnsafeValue(f"no outpost named {wanted!r} (known: {known})")
    files = {FORWARD_AUTH_FILE: render_forward_auth()}
    for t in targets:
        if t.file_name in files:
            raise UnsafeValue(f"outposts {t.name!r} and another both map to file {t.file_name}")
        files[t.file_name] = render_outpost(t)
    sites = [choice] if choice else _sites_of(snapshot, targets)
    by_name = {t.name: t for t in targets}
    examples = {}
    for c in sites:
        if c.outpost not in by_name:
            continue
        for shape in SHAPES:
            examples[f"examples/{c.site}/{shape}.conf"] = render_example(
                shape,
                c.site,
                by_name[c.outpost],
                include_dir=include_dir,
                path=path,
                upstream=upstream,
            )
    return SnippetSet(
        files=dict(sorted(files.items())),
        examples=dict(sorted(examples.items())),
        targets=tuple(targets),
        sites=tuple(sites),
        skipped=tuple(skipped),
    )


def _sites_of(snapshot: Snapshot, targets: Iterable[OutpostTarget]) -> list[SiteChoice]:
    names = {t.name for t in targets}
    out: dict[str, SiteChoice] = {}
    for p in snapshot.providers:
        if not p.forward or not p.hostname:
            continue
        try:
            c = outpost_for_site(snapshot, p.hostname)
        except UnsafeValue:
            continue  # a provider with an unusable external host gets no example
        if c.outpost in names:
            out.setdefault(c.site, c)
    return [out[k] for k in sorted(out)]


def describe(snippets: SnippetSet) -> Mapping[str, str]:
    """One line per outpost for the CLI: where each snippet points and why."""
    lines = {t.file_name: f"{t.upstream} (from {t.source})" for t in snippets.targets}
    for name, why in snippets.skipped:
        lines[f"skipped {name}"] = why
    return lines
