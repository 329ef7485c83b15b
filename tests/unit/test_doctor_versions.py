"""Doctor's version overview and mismatch results on real authentik 2025.12.4 answers."""

from __future__ import annotations

from pathlib import Path

from aktui.authentik.parse import build_snapshot
from aktui.doctor.checks import DoctorInput, exit_code, run_doctor
from tests.unit.test_model_2025 import raw_bundle, rec  # noqa: F401  (fixture)


async def test_server_version_and_outposts_that_differ(rec: Path) -> None:  # noqa: F811
    snap = build_snapshot(raw_bundle(rec, "connected"))
    results = await run_doctor(DoctorInput(snapshot=snap), only=("versions",))
    overview = results[0]
    assert (overview.status, overview.title) == ("ok", "authentik server 2025.12.4")
    assert overview.evidence == (
        "connected outposts: outpost-example-dev 2025.10.1 (differs); outpost-single 2025.12.4"
    )
    mismatch = [r for r in results if r.status == "warn"]
    assert len(mismatch) == 1 and mismatch[0].subject.startswith("outpost:")
    assert "2025.10.1" in mismatch[0].title and "ghcr.io/goauthentik/proxy:2025.12.4" in (
        mismatch[0].fix
    )
    assert exit_code(results) == 1


async def test_closed_connections_are_no_running_versions(rec: Path) -> None:  # noqa: F811
    snap = build_snapshot(raw_bundle(rec, "after-disconnect"))
    results = await run_doctor(DoctorInput(snapshot=snap), only=("versions", "websocket"))
    versions = [r for r in results if r.check == "versions"]
    assert [(r.status, r.evidence) for r in versions] == [("ok", "connected outposts: none")]
    websocket = [r for r in results if r.check == "websocket"]
    assert {r.status for r in websocket} == {"warn"} and len(websocket) == 2


async def test_version_outdated_flag_alone_counts() -> None:
    """authentik's own version_outdated is enough, even when the versions read equal (a build
    of the same tag with another hash compares the other way round)."""
    raw = {
        "version": {"version_current": "2025.12.4"},
        "outposts": [{"pk": "p1", "name": "o", "providers": []}],
        "health": {
            "p1": [
                {
                    "uid": "u",
                    "last_seen": "2026-12-03T08:00:00Z",
                    "version": "2025.12.4",
                    "version_should": "2025.12.4",
                    "version_outdated": True,
                }
            ]
        },
    }
    snap = build_snapshot(raw)
    assert any(f.code == "outpost-version-mismatch" for f in snap.findings)
