"""The trusted-proxy check: authentik 2026.8+ ignores forwarded headers from sources outside
AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS, and the field guide's web servers reach the outposts
over Tailscale (100.64.0.0/10), which the default list does not hold."""

from __future__ import annotations

import pytest

from aktui.authentik.model import Snapshot
from aktui.authentik.parse import build_snapshot
from aktui.doctor.checks import OutpostEndpoint
from aktui.doctor.proxies import trusted_proxy_results


def _setup(version: str, *addresses: str) -> tuple[Snapshot, list[OutpostEndpoint]]:
    raw = {
        "version": {"version_current": version},
        "outposts": [
            {"pk": f"p{i}", "name": f"outpost-{i}", "providers": []} for i in range(len(addresses))
        ],
    }
    snap = build_snapshot(raw)
    return snap, [OutpostEndpoint(o, a) for o, a in zip(snap.outposts, addresses, strict=True)]


@pytest.mark.parametrize("version", ["2026.8.0", "2026.11.1", "2027.2.0"])
def test_tailnet_address_on_2026_8_or_later_warns_with_the_cidr(version: str) -> None:
    snap, endpoints = _setup(version, "http://100.64.0.10:9001", "http://10.0.0.5:9002")
    (result,) = trusted_proxy_results(snap, endpoints)
    assert (result.check, result.status) == ("trusted-proxy", "warn")
    assert "outpost-0 at 100.64.0.10 (Tailscale/CGNAT space (100.64.0.0/10))" in result.evidence
    assert "outpost-1" not in result.evidence  # 10/8 is trusted by default
    # The variable replaces the list: the suggestion keeps the defaults and adds the tailnet.
    assert (
        "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS=127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,"
        "192.168.0.0/16,fe80::/10,::1/128,100.64.0.0/10 " in result.fix
    )
    assert "WEB_SERVER_IP" not in result.fix


def test_public_address_asks_for_the_web_servers_own_address() -> None:
    snap, endpoints = _setup("2026.8.2", "http://203.0.113.9:9001")
    (result,) = trusted_proxy_results(snap, endpoints)
    assert result.status == "warn" and "a public address" in result.evidence
    assert ",WEB_SERVER_IP/32 " in result.fix and "100.64.0.0/10" not in result.fix


def test_ts_net_name_counts_as_the_tailnet() -> None:
    snap, endpoints = _setup("2026.8.2", "http://outposts.tail1234.ts.net:9001")
    (result,) = trusted_proxy_results(snap, endpoints)
    assert result.status == "warn" and "100.64.0.0/10" in result.fix


@pytest.mark.parametrize(
    ("version", "address"),
    [
        ("2026.8.0", "http://192.168.1.20:9001"),  # inside the defaults
        ("2026.8.0", "http://127.0.0.1:9001"),  # a discovered container, published locally
        ("2026.8.0", "http://outpost-1:9000"),  # a name: where it resolves is unknown
    ],
)
def test_trusted_or_unknown_addresses_are_ok(version: str, address: str) -> None:
    snap, endpoints = _setup(version, address)
    assert [r.status for r in trusted_proxy_results(snap, endpoints)] == ["ok"]


@pytest.mark.parametrize("version", ["2026.5.6", "2025.12.4", "2023.10.7", ""])
def test_before_2026_8_or_unknown_version_says_nothing(version: str) -> None:
    snap, endpoints = _setup(version, "http://100.64.0.10:9001")
    assert trusted_proxy_results(snap, endpoints) == []
