"""Trusted proxy networks (authentik 2026.8+): whether NGINX's forwarded headers still count.

From 2026.8 authentik accepts X-Forwarded-Host, -Proto and -For only from a source address in
AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS (default: loopback, RFC 1918, link-local); from any
other source it ignores them, so an HTTPS visit is taken for HTTP and redirects and callback
URLs come out as http:// (mixed content, "Redirect URI Error", login loops). The field guide's
web servers reach the outposts over Tailscale (100.64.0.0/10, CGNAT space), which is not in
that default list. The doctor cannot see NGINX's source address, but the address web servers
use to reach an outpost is on the network they connect from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from aktui.authentik.model import Snapshot
from aktui.doctor.checks import CheckResult, OutpostEndpoint

CHECK = "trusted-proxy"
FIRST_VERSION = (2026, 8)
DEFAULT_TRUSTED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fe80::/10",
        "::1/128",
    )
)
TAILNET = ipaddress.ip_network("100.64.0.0/10")
_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")


def _version(text: str) -> tuple[int, int] | None:
    m = _VERSION.match(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


# Where an untrusted address is: on the tailnet (its CIDR can be trusted as a whole) or public
# (only each web server's own address can).
TAILNET_KIND, PUBLIC_KIND = "tailnet", "public"


def _untrusted(host: str) -> tuple[str, str]:
    """(kind, why) when ``host`` is outside the default trusted networks, else ("", "")
    (trusted, or a name whose address is not known here)."""
    if host.endswith(".ts.net"):
        return TAILNET_KIND, "a Tailscale name (100.64.0.0/10)"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "", ""
    if any(ip in net for net in DEFAULT_TRUSTED if net.version == ip.version):
        return "", ""
    if ip in TAILNET:
        return TAILNET_KIND, "Tailscale/CGNAT space (100.64.0.0/10)"
    return PUBLIC_KIND, "a public address"


def trusted_proxy_results(
    snapshot: Snapshot, endpoints: Sequence[OutpostEndpoint]
) -> list[CheckResult]:
    version = _version(snapshot.server_version)
    if version is None or version < FIRST_VERSION:
        return []  # before 2026.8 forwarded headers were taken from any source
    outside = []
    kinds: set[str] = set()
    for endpoint in endpoints:
        host = (urlsplit(endpoint.base_url).hostname or "").lower()
        kind, why = _untrusted(host)
        if kind:
            outside.append(f"{endpoint.outpost.name} at {host} ({why})")
            kinds.add(kind)
    tailnet, public = TAILNET_KIND in kinds, PUBLIC_KIND in kinds
    if not outside:
        return [
            CheckResult(
                CHECK,
                "ok",
                "web servers reach the outposts inside authentik's default trusted networks",
            )
        ]
    # Setting the variable replaces the default list: keep the defaults in the suggestion.
    cidrs = ",".join(
        [str(n) for n in DEFAULT_TRUSTED]
        + (["100.64.0.0/10"] if tailnet else [])
        + (["WEB_SERVER_IP/32"] if public else [])
    )
    return [
        CheckResult(
            CHECK,
            "warn",
            "forwarded headers from the web servers may be ignored (authentik 2026.8+)",
            f"authentik {snapshot.server_version} accepts X-Forwarded-Host/-Proto/-For only "
            "from AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS (default: loopback, 10/8, 172.16/12, "
            f"192.168/16, link-local). Web servers reach {'; '.join(outside)}: their requests "
            "come from outside that list, so an HTTPS visit is taken for HTTP (http:// "
            "redirects, Redirect URI Error, login loops).",
            f"Set AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS={cidrs} on the server and the outpost "
            "containers"
            + (" (WEB_SERVER_IP: each web server's own public address)" if public else "")
            + ", then restart them. The variable replaces the default list.",
        )
    ]
