"""Just enough of authentik's OAuth2 provider for the outpost login flow to complete in the lab,
and what outposts load about it (``/outposts/proxy/``: ProxyOutpostConfigSerializer).

``/application/o/authorize/`` logs the browser in as akadmin at once (no login page) and
redirects to the outpost's callback with a code; ``/application/o/token/`` redeems it for HS256
tokens signed with the client secret (proxy providers have no signing key). Redirect URIs are
checked against the provider's regexes, as the real server does.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from aktui.lab import render
from aktui.lab.objects import ADMIN_PK, Provider
from aktui.lab.state import LabState
from aktui.lab.wire import jwt_encode

if TYPE_CHECKING:
    from aktui.lab.simulator import Simulator

Answer = tuple[int, str, bytes, dict[str, str]]


class CodeStore:
    """Authorization codes: single use, 60 s, like authentik's AuthorizationCode."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[int, int, float]] = {}
        self._lock = threading.Lock()

    def issue(self, provider_pk: int, user_pk: int) -> str:
        code = secrets.token_hex(32)
        with self._lock:
            self._codes[code] = (provider_pk, user_pk, time.time() + 60)
        return code

    def redeem(self, code: str) -> tuple[int, int] | None:
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found[2] < time.time():
            return None
        return found[0], found[1]


def _text(status: int, text: str) -> Answer:
    return status, "text/plain; charset=utf-8", text.encode(), {}


def _json(status: int, payload: dict[str, Any]) -> Answer:
    return status, "application/json", json.dumps(payload).encode(), {}


def _provider_by_client(sim: Simulator, client_id: str) -> Provider | None:
    return next((p for p in sim.state.providers.values() if p.client_id == client_id), None)


def handle(
    sim: Simulator, method: str, path: str, query: dict[str, str], raw: bytes, headers: Message
) -> Answer:
    if path == "/application/o/authorize/" and method == "GET":
        return _authorize(sim, query)
    if path == "/application/o/token/" and method == "POST":
        form = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        return _token(sim, form, headers.get("Authorization", ""))
    return _text(404, "Not Found")


def _authorize(sim: Simulator, q: dict[str, str]) -> Answer:
    provider = _provider_by_client(sim, q.get("client_id", ""))
    if provider is None:
        return _text(400, "Invalid client identifier: " + q.get("client_id", ""))
    redirect = q.get("redirect_uri", "")
    allowed = render.redirect_regexes(provider.external_host).split("\n")
    if not any(re.fullmatch(rx, redirect) for rx in allowed):
        # authentik shows "Redirect URI Error" and logs the mismatch
        return _text(400, f"Redirect URI Error: {redirect!r} does not match the provider")
    if q.get("response_type", "code") != "code":
        return _text(400, "Unsupported response_type")
    code = sim.codes.issue(provider.pk, ADMIN_PK)
    sep = "&" if "?" in redirect else "?"
    location = redirect + sep + urlencode({"code": code, "state": q.get("state", "")})
    return 302, "text/html; charset=utf-8", b"", {"Location": location}


def _token(sim: Simulator, form: dict[str, str], auth: str) -> Answer:
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return _json(400, {"error": "invalid_client"})
    provider = _provider_by_client(sim, client_id)
    if provider is None or not secrets.compare_digest(provider.client_secret, secret):
        return _json(
            400, {"error": "invalid_client", "error_description": "Client authentication failed"}
        )
    if form.get("grant_type") != "authorization_code":
        return _json(400, {"error": "unsupported_grant_type"})
    found = sim.codes.redeem(form.get("code", ""))
    if found is None or found[0] != provider.pk:
        return _json(
            400,
            {
                "error": "invalid_grant",
                "error_description": "The provided "
                "authorization grant or refresh token is invalid, expired, revoked, "
                "does not match the redirection URI used in the authorization "
                "request, or was issued to another client",
            },
        )
    st = sim.state
    with st.lock:
        user = st.users[found[1]]
        app = st.application_for(provider.pk)
        groups = [g.name for g in st.groups.values() if user.pk in g.users]
    now = int(time.time())
    lifetime = int(validity_seconds(provider.access_token_validity)) or 86400
    claims = {
        "iss": f"{sim.url}/application/o/{app.slug if app else ''}/",
        "sub": user.uid,
        "aud": provider.client_id,
        "exp": now + lifetime,
        "iat": now,
        "auth_time": now,
        "acr": "goauthentik.io/providers/oauth2/default",
        "sid": secrets.token_hex(32),
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "given_name": user.name,
        "preferred_username": user.username,
        "nickname": user.username,
        "groups": groups,
        "ak_proxy": {"user_attributes": {}, "is_superuser": user.is_superuser},
    }
    token = jwt_encode(claims, provider.client_secret)
    return _json(
        200,
        {
            "access_token": token,
            "token_type": "Bearer",
            "scope": "openid email profile ak_proxy",
            "expires_in": lifetime,
            "id_token": token,
        },
    )


def oidc_configuration(base: str, slug: str) -> dict[str, Any]:
    """ProviderInfoView.get_info(): endpoints on the host the outpost asked (its API URL)."""
    o = f"{base}/application/o"
    return {
        "issuer": f"{o}/{slug}/",
        "authorization_endpoint": f"{o}/authorize/",
        "token_endpoint": f"{o}/token/",
        "userinfo_endpoint": f"{o}/userinfo/",
        "end_session_endpoint": f"{o}/{slug}/end-session/",
        "introspection_endpoint": f"{o}/introspect/",
        "revocation_endpoint": f"{o}/revoke/",
        "device_authorization_endpoint": f"{o}/device/",
        "response_types_supported": [
            "code",
            "id_token",
            "id_token token",
            "code token",
            "code id_token",
            "code id_token token",
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "jwks_uri": f"{o}/{slug}/jwks/",
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "implicit",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "id_token_signing_alg_values_supported": ["HS256"],  # no signing key: client secret
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "acr_values_supported": ["goauthentik.io/providers/oauth2/default"],
        "scopes_supported": ["openid", "email", "profile", "ak_proxy"],
        "request_parameter_supported": False,
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "email",
            "email_verified",
            "name",
            "given_name",
            "preferred_username",
            "nickname",
            "groups",
            "ak_proxy",
        ],
        "claims_parameter_supported": False,
        "code_challenge_methods_supported": ["plain", "S256"],
    }


def proxy_outpost_config(state: LabState, p: Provider, base: str) -> dict[str, Any]:
    """ProxyOutpostConfigSerializer: what outposts load (secrets included)."""
    app = state.application_for(p.pk)
    assert app is not None  # the view lists only providers with an application
    seconds = validity_seconds(p.access_token_validity)
    return {
        "pk": p.pk,
        "name": p.name,
        "internal_host": p.internal_host,
        "external_host": p.external_host,
        "internal_host_ssl_validation": p.internal_host_ssl_validation,
        "client_id": p.client_id,
        "client_secret": p.client_secret,
        "oidc_configuration": oidc_configuration(base, app.slug),
        "cookie_secret": p.cookie_secret,
        **render.proxy_behaviour(p),
        "cookie_domain": p.cookie_domain,
        "access_token_validity": seconds,
        "intercept_header_auth": p.intercept_header_auth,
        "scopes_to_request": ["openid", "email", "profile", "ak_proxy"],
        "assigned_application_slug": app.slug,
        "assigned_application_name": app.name,
    }


def validity_seconds(text: str) -> float:
    """authentik's timedelta_from_string: 'hours=24;minutes=5' -> seconds."""
    units = {
        "weeks": 604800,
        "days": 86400,
        "hours": 3600,
        "minutes": 60,
        "seconds": 1,
        "microseconds": 1e-6,
        "milliseconds": 1e-3,
    }
    total = 0.0
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip() in units and value.strip():
            total += float(value) * units[key.strip()]
    return total
