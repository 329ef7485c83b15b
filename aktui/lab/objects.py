"""The lab's authentik objects as plain dataclasses, and the seeded identifiers they carry.

Mutable on purpose: ``LabState`` (state.py) owns them and changes them under its lock.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SERVER_VERSION = "2023.10.7"  # the 2023.10 line's; a lab's own is LabState.api.version
SERVER_BUILD_HASH = ""  # a source install has no GIT_BUILD_HASH (recorded admin/version)
PREVIOUS = "previous"  # Deployment.version: the lab line's older outpost release
EMBEDDED_MANAGED = "goauthentik.io/outposts/embedded"
EMBEDDED_NAME = "authentik Embedded Outpost"
HELLO_TTL_S = 15.0  # OUTPOST_HELLO_INTERVAL (10 s) * 1.5: the server's state cache timeout
HELLO_INTERVAL_S = 10.0
# 2025.x: how long an expired state stays listed before the worker's cache cleanup removes it
# (a scheduled task; the exact period is not recorded, so the lab picks 5 minutes)
GHOST_PURGE_S = 300.0
EVENT_RETENTION = timedelta(days=365)  # tenant default "days=365"
ADMIN_PK = 5  # what the recorded lab's akadmin got (pks 1-4 are authentik's own users)
_ALNUM = string.ascii_letters + string.digits


def seeded_uuid(seed: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def seeded_secret(seed: str, length: int, *parts: object) -> str:
    """Alphanumeric like authentik's generate_id(); stable for a given seed and name."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256("|".join(map(str, (seed, counter, *parts))).encode()).digest()
        out.extend(_ALNUM[b % len(_ALNUM)] for b in digest)
        counter += 1
    return "".join(out[:length])


def random_token() -> str:
    """authentik API token keys are 60 random alphanumerics (generate_key)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(60))


def jsonb_order(data: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL jsonb returns object keys sorted by length, then bytes; the API shows JSON
    fields (outpost config, event context) in that order, so the lab does too."""
    return {k: data[k] for k in sorted(data, key=lambda k: (len(k.encode()), k.encode()))}


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@dataclass
class User:
    pk: int
    username: str
    name: str
    email: str = ""
    is_superuser: bool = False
    path: str = "users"
    type: str = "internal"
    uuid: str = ""
    uid: str = ""  # sha256 hex, as the API shows


@dataclass
class Group:
    pk: str
    num_pk: int
    name: str
    is_superuser: bool = False
    users: list[int] = field(default_factory=list)


@dataclass
class Policy:
    pk: str
    name: str
    expression: str = ""  # kind "expression"
    action: str | None = None  # kind "event_matcher"
    kind: str = "expression"


@dataclass
class Binding:
    pk: str
    target: str  # application pk (or a flow's pbm uuid for authentik's own bindings)
    order: int = 0
    group: str | None = None
    user: int | None = None
    policy: str | None = None
    enabled: bool = True
    negate: bool = False
    timeout: int = 30
    failure_result: bool = False


@dataclass
class Provider:
    pk: int
    name: str
    mode: str  # proxy, forward_single, forward_domain
    external_host: str
    cookie_domain: str = ""
    internal_host: str = ""
    skip_path_regex: str = ""
    client_id: str = ""
    client_secret: str = ""
    cookie_secret: str = ""
    internal_host_ssl_validation: bool = True
    basic_auth_enabled: bool = False
    basic_auth_password_attribute: str = ""
    basic_auth_user_attribute: str = ""
    intercept_header_auth: bool = True
    access_token_validity: str = "hours=24"
    refresh_token_validity: str = "days=30"


@dataclass
class Application:
    pk: str
    name: str
    slug: str
    provider: int | None
    meta_launch_url: str = ""
    meta_description: str = ""
    meta_publisher: str = ""
    policy_engine_mode: str = "any"
    group: str = ""
    open_in_new_tab: bool = False


@dataclass
class Outpost:
    pk: str
    name: str
    providers: list[int]
    config: dict[str, Any]
    managed: str | None = None
    type: str = "proxy"
    service_connection: str | None = None

    @property
    def token_identifier(self) -> str:
        return f"ak-outpost-{self.pk}-api"


@dataclass
class Deployment:
    """How the lab runs an outpost (not part of authentik's data): the 'container'."""

    outpost: str  # outpost name
    # what its process reports in HELLO: "" = the server's version, PREVIOUS = an older release
    version: str = ""
    process: bool = True  # spawn a fake outpost process; False = simulated instance
    token_ok: bool = True  # False: its process holds a revoked token (403 at every fetch)
    browser_url: str = ""  # AUTHENTIK_HOST_BROWSER equivalent; "" = the API URL


@dataclass
class Token:
    pk: str
    identifier: str
    user: int
    key: str
    description: str = ""
    managed: str | None = None
    intent: str = "api"
    expires: float = 0.0
    expiring: bool = False


@dataclass
class Instance:
    uid: str
    last_seen: float
    version: str
    build_hash: str
    hostname: str
    golang_version: str = ""  # 2025.x HELLO sends it (the Go outposts)
    # authentik 2025.x keeps a closed websocket's state (shown with nulls) until its worker
    # purges expired cache rows; 2023.10 drops it.
    gone: bool = False


@dataclass
class Event:
    pk: str
    action: str
    app: str
    context: dict[str, Any]
    user: dict[str, Any]
    client_ip: str | None
    created: float


@dataclass(frozen=True)
class RequestInfo:
    """Where a change came from; becomes the event's context.http_request."""

    path: str
    method: str = "PATCH"
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64; aktui-lab) Firefox/120.0"
    client_ip: str = "127.0.0.1"
    args: dict[str, str] = field(default_factory=dict)


def iso(ts: float) -> str:
    """DRF's rendering of an aware UTC datetime: microseconds and 'Z'."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
