"""One provider inside a fake proxy outpost: forward-auth endpoints with the Go outpost's
statuses, headers and log lines (authentik's internal/outpost/proxyv2/application/*.go).

Sessions live in the process's memory, as the real standalone outpost keeps them in /dev/shm:
a restart logs everybody out of it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any

from aktui.lab.wire import (
    JWTError,
    Logger,
    Reply,
    Req,
    Sessions,
    cookie_name,
    jwt_decode,
    jwt_encode,
    jwt_peek,
)

APP_LOGGER = "authentik.outpost.proxyv2.application"
PREFIX = "/outpost.goauthentik.io"


class ProxyApp:
    def __init__(self, cfg: dict[str, Any], outpost: OutpostInfo, log: Logger) -> None:
        self.cfg = cfg
        self.name: str = cfg["name"]
        self.mode: str = cfg["mode"]
        self.external_host: str = cfg["external_host"].rstrip("/")
        parts = urllib.parse.urlsplit(cfg["external_host"])
        self.host = parts.netloc.lower()
        self.secure = parts.scheme == "https"
        self.cookie_domain: str = (cfg.get("cookie_domain") or "").lstrip(".").lower()
        self.cookie = cookie_name(cfg["client_id"])
        self.lifetime = float(cfg.get("access_token_validity") or 86400)
        self.skip = [re.compile(rx) for rx in (cfg.get("skip_path_regex") or "").splitlines() if rx]
        self.outpost = outpost
        self.oidc: dict[str, Any] = cfg["oidc_configuration"]
        self._log = log

    @property
    def callback_url(self) -> str:
        return f"{self.external_host}{PREFIX}/callback?X-authentik-auth-callback=true"

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        self._log(event, level, logger=APP_LOGGER, name=self.name, **fields)

    # --- session cookie ---------------------------------------------------------------------

    def _sid(self, req: Req) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(req.headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no session, as in Go
            return None
        morsel = jar.get(self.cookie)
        return morsel.value if morsel else None

    def _set_cookie(self, sid: str, max_age: float) -> tuple[str, str]:
        # net/http Cookie.String() order: name=value; Path; Domain; Expires; Max-Age; flags
        parts = [f"{self.cookie}={sid}", "Path=/"]
        if self.cookie_domain:
            parts.append(f"Domain={self.cookie_domain}")
        parts.append("Expires=" + formatdate(time.time() + max_age, usegmt=True))
        parts.append(f"Max-Age={int(max_age)}")
        parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        parts.append("SameSite=Lax")
        return "Set-Cookie", "; ".join(parts)

    def claims(self, req: Req) -> dict[str, Any] | None:
        session = self.outpost.sessions.get(self._sid(req))
        return session.get("claims") if session else None

    # --- endpoints -------------------------------------------------------------------------

    def handle(self, req: Req) -> Reply:
        if req.path == f"{PREFIX}/auth/nginx":
            return self.auth_nginx(req)
        if req.path == f"{PREFIX}/start":
            return self.start(req)
        if req.path == f"{PREFIX}/callback" or req.arg("X-authentik-auth-callback") == "true":
            return self.callback(req)
        if req.path == f"{PREFIX}/sign_out":
            return self.sign_out(req)
        return Reply.text(404, "404 page not found")  # gorilla mux, no such route

    def auth_nginx(self, req: Req) -> Reply:
        original_uri = req.headers.get("x-original-uri", "")
        original_url = req.headers.get("x-original-url", "")
        if original_uri:
            fwd = urllib.parse.urlsplit(original_uri)
            self.log("building forward URL from X-Original-URI", url=original_uri)
        elif original_url:
            fwd = urllib.parse.urlsplit(original_url)
        else:
            message = (
                f"Outpost {self.outpost.name} (Provider {self.name}) failed to detect a "
                "forward URL from nginx"
            )
            headers = {k.title(): [v] for k, v in req.headers.items() if k != "authorization"}
            self.log(
                "Reporting configuration error",
                "error",
                message=message,
                provider=self.name,
                outpost=self.outpost.name,
                url=req.uri,
                headers=headers,
            )
            self.outpost.report(message, provider=self.name, url=req.uri)
            return Reply.text(500, "configuration error")
        claims = self.claims(req)
        if claims:
            return Reply(200, b"", self._identity(claims, req))
        target = fwd.path if self.mode == "forward_single" else urllib.parse.urlunsplit(fwd)
        if any(rx.search(target) for rx in self.skip):
            return Reply(200)
        if fwd.path.startswith(PREFIX):
            return Reply(200)
        reply = Reply.text(401, "unauthorized request")
        sid = self._sid(req)
        session = self.outpost.sessions.get(sid)
        if session is None:
            sid, session = self.outpost.sessions.new(self.lifetime + 1)
        if "redirect" not in session:  # only the first unauthenticated hit stores it
            session["redirect"] = urllib.parse.urlunsplit(fwd)
            reply.headers.append(self._set_cookie(sid or "", self.lifetime + 1))
        return reply

    def _identity(self, claims: dict[str, Any], req: Req) -> list[tuple[str, str]]:
        # getHeaders() in mode_common.go; Go canonicalises the names
        return [
            ("X-Authentik-Username", str(claims.get("preferred_username", ""))),
            ("X-Authentik-Groups", "|".join(claims.get("groups", []))),
            ("X-Authentik-Email", str(claims.get("email", ""))),
            ("X-Authentik-Name", str(claims.get("name", ""))),
            ("X-Authentik-Uid", str(claims.get("sub", ""))),
            ("X-Authentik-Jwt", str(claims.get("raw", ""))),
            ("X-Authentik-Meta-Jwks", str(self.oidc.get("jwks_uri", ""))),
            ("X-Authentik-Meta-Outpost", self.outpost.name),
            ("X-Authentik-Meta-Provider", self.name),
            ("X-Authentik-Meta-App", str(self.cfg.get("assigned_application_slug", ""))),
            ("X-Authentik-Meta-Version", f"goauthentik.io/outpost/{self.outpost.version}"),
            ("User-Agent", req.headers.get("user-agent", "")),
            ("Content-Length", "0"),
        ]

    def _checked_redirect(self, rd: str) -> str:
        if not rd:
            return self.external_host
        parts = urllib.parse.urlsplit(rd)
        if not parts.netloc:
            return rd  # a bare path stays on this host
        host = (parts.hostname or "").lower()
        if self.mode == "forward_domain":
            if self.cookie_domain and host.endswith(self.cookie_domain):
                return rd
            self.log("redirect URI Hostname was not included in cookie domain", "warning", url=rd)
        elif parts.netloc.lower() == self.host:
            return rd
        else:
            self.log("redirect URI did not contain external host", "warning", url=rd)
        return self.external_host

    def start(self, req: Req) -> Reply:
        redirect = self._checked_redirect(req.arg("rd"))
        sid = self._sid(req)
        session = self.outpost.sessions.get(sid)
        headers = []
        if session is None:
            sid, session = self.outpost.sessions.new(self.lifetime + 1)
            headers.append(self._set_cookie(sid or "", self.lifetime + 1))
        state = jwt_encode(
            {
                "iss": f"goauthentik.io/outpost/{self.cfg['client_id']}",
                "sid": sid,
                "state": secrets.token_urlsafe(24),
                "redirect": redirect,
            },
            self.cfg["cookie_secret"],
        )
        query = urllib.parse.urlencode(
            {
                "client_id": self.cfg["client_id"],
                "redirect_uri": self.callback_url,
                "response_type": "code",
                "scope": " ".join(self.cfg.get("scopes_to_request") or ["openid"]),
                "state": state,
            }
        )
        reply = Reply.redirect(
            self.outpost.browser(self.oidc["authorization_endpoint"]) + "?" + query
        )
        reply.headers.extend(headers)
        return reply

    def _state(self, req: Req) -> dict[str, Any] | None:
        """oauth_state.go: verify the state JWT and that it belongs to this browser's session."""
        raw = req.arg("state")
        try:
            claims = jwt_decode(raw, self.cfg["cookie_secret"])
        except JWTError as exc:
            self.log("failed to parse state jwt", "warning", error=str(exc))
            return None
        issuer = claims.get("iss")
        if not issuer:
            self.log("state jwt without issuer", "warning")
            return None
        if issuer != f"goauthentik.io/outpost/{self.cfg['client_id']}":
            self.log("invalid state jwt issuer", "warning", issuer=issuer)
            return None
        sid = self._sid(req) if self.outpost.sessions.get(self._sid(req)) else None
        if claims.get("sid") != sid:
            self.log(
                "mismatched session ID",
                "warning",
                **{"is": claims.get("sid", ""), "should": sid or ""},
            )
            return None
        return claims

    def callback(self, req: Req) -> Reply:
        state = self._state(req)
        if state is None:
            self.log("invalid state", "warning")
            # redirect() parses the state once more and logs the same warnings again
            if self._state(req) is None:
                self.log("invalid state", "warning")
            return Reply(400)
        redirect = state.get("redirect") or self.external_host
        try:
            claims = self.outpost.redeem(self, req.arg("code"))
        except ValueError as exc:
            self.log("failed to redeem code", "warning", error=str(exc))
            return Reply.redirect(redirect)
        session = self.outpost.sessions.get(self._sid(req))
        assert session is not None  # _state() checked it
        max_age = max(1.0, float(claims.get("exp", time.time() + self.lifetime)) - time.time())
        session["claims"] = claims
        session["expires"] = time.time() + max_age
        reply = Reply.redirect(redirect)
        reply.headers.append(self._set_cookie(self._sid(req) or "", max_age))
        return reply

    def sign_out(self, req: Req) -> Reply:
        session = self.outpost.sessions.get(self._sid(req))
        if not session or not session.get("claims"):
            rd = urllib.parse.quote(self.external_host, safe="")
            return Reply.redirect(f"{self.external_host}{PREFIX}/start?rd={rd}")
        raw = session["claims"].get("raw", "")
        session.clear()
        end = self.outpost.browser(self.oidc["end_session_endpoint"])
        return Reply.redirect(f"{end}?id_token_hint={raw}")


class OutpostInfo:
    """What a ProxyApp needs from its outpost process (set by fake_outpost)."""

    name = ""
    version = ""
    sessions: Sessions
    api = ""
    browser_url = ""

    def browser(self, url: str) -> str:
        """AUTHENTIK_HOST_BROWSER replaces scheme and host of browser-facing URLs."""
        if not self.browser_url:
            return url
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlsplit(self.browser_url)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, *parts[2:]))

    def report(self, message: str, **context: str) -> None: ...

    def serve(self, req: Req) -> tuple[Reply, ProxyApp | None]:
        raise NotImplementedError

    def redeem(self, app: ProxyApp, code: str) -> dict[str, Any]:
        """Exchange the code at the token endpoint (server side: the API URL) and verify it."""
        form = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": app.callback_url,
                "client_id": app.cfg["client_id"],
                "client_secret": app.cfg["client_secret"],
            }
        ).encode()
        url = app.oidc["token_endpoint"]
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=form), timeout=5) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", "")
            raise ValueError(
                f"oauth2: cannot fetch token: {exc.code} {exc.reason}\nResponse: {detail}"
            ) from None
        except (OSError, ValueError) as exc:
            raise ValueError(f'Post "{url}": {exc}') from None
        raw = str(answer.get("id_token", ""))
        expected = app.oidc["issuer"]
        got = jwt_peek(raw).get("iss", "")
        if got != expected:
            raise ValueError(
                f'oidc: id token issued by a different provider, expected "{expected}" got "{got}"'
            )
        try:
            claims = jwt_decode(raw, app.cfg["client_secret"])
        except JWTError as exc:
            raise ValueError(f"failed to verify signature: {exc}") from None
        return {**claims, "raw": str(answer.get("access_token", raw))}


def http_handler(outpost: OutpostInfo) -> type[BaseHTTPRequestHandler]:
    """The outpost's net/http server: ``outpost.serve(req)`` answers; app requests are logged."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # two writes per answer: no 40 ms Nagle stalls
        server_version = ""
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the outpost's own request log lines are written below

        def version_string(self) -> str:
            return ""  # Go's net/http sends no Server header

        def send_header(self, keyword: str, value: str) -> None:
            if keyword != "Server":
                super().send_header(keyword, value)

        def do_GET(self) -> None:
            self._serve()

        do_HEAD = do_POST = do_GET

        def _serve(self) -> None:
            begin = time.perf_counter()
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("x-forwarded-host") or headers.get("host", "")
            remote = f"{self.client_address[0]}:{self.client_address[1]}"
            req = Req(self.command, path, query, headers, remote, host.lower())
            if int(headers.get("content-length") or 0):
                self.rfile.read(int(headers["content-length"]))
            reply, app = outpost.serve(req)
            self.send_response(reply.status)
            if not any(k == "Content-Length" for k, _ in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers:
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            if app is not None:  # utils/web/middleware.go request log, per application
                claims = app.claims(req)
                extra = {"user": claims.get("preferred_username", "")} if claims else {}
                app.log(
                    req.uri,
                    host=host,
                    method=self.command,
                    remote=remote,
                    runtime=f"{(time.perf_counter() - begin) * 1000:.3f}",
                    scheme="http",
                    size=len(reply.body),
                    status=reply.status,
                    user_agent=headers.get("user-agent", ""),
                    **extra,
                )

    return Handler
