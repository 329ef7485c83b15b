"""What a key acts on: selections resolved to outposts, and fixes that cannot help."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aktui.outposts.staleness import LoadEvidence
from aktui.outposts.targets import (
    EMBEDDED_NO_FIX,
    FETCH_FAILS_FIX,
    Selection,
    finding_key,
    fix_blocker,
    outposts_for,
    subject_name,
)
from tests.fixtures.app import EMBEDDED_PK, SINGLE_PK, STALE_PK, recorded_snapshot

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def snap():  # type: ignore[no-untyped-def]
    return recorded_snapshot()


def names(outposts) -> list[str]:  # type: ignore[no-untyped-def]
    return [o.name for o in outposts]


@pytest.mark.parametrize(
    ("kind", "key", "expected"),
    [
        ("outpost", SINGLE_PK, ["outpost-single"]),
        ("provider", "4", ["outpost-example-dev"]),  # beta.example.dev
        ("application", "app-example-com", ["outpost-single"]),
        ("group", "example.dev", ["outpost-example-dev"]),
        ("group", "app.example.com", ["outpost-single"]),
        ("outpost", "no-such-pk", []),
        ("provider", "not-a-number", []),
        ("application", "gone", []),
        ("nonsense", "x", []),
    ],
)
def test_selection_resolves_to_its_outposts(snap, kind, key, expected) -> None:  # type: ignore[no-untyped-def]
    assert names(outposts_for(snap, Selection(kind, key))) == expected


def test_finding_resolves_through_its_subjects(snap) -> None:  # type: ignore[no-untyped-def]
    version = next(f for f in snap.findings if f.code == "outpost-version-mismatch")
    assert names(outposts_for(snap, Selection("finding", finding_key(version)))) == [
        "outpost-example-dev"
    ]
    reach = next(f for f in snap.findings if f.subjects == ("app:blog-example-org",))
    assert names(outposts_for(snap, Selection("finding", finding_key(reach)))) == ["outpost-single"]
    assert outposts_for(snap, Selection("finding", "resolved|x")) == ()
    assert outposts_for(snap, None) == ()


def test_subjects_read_as_names(snap) -> None:  # type: ignore[no-untyped-def]
    assert subject_name(snap, f"outpost:{STALE_PK}") == "outpost outpost-example-dev"
    assert subject_name(snap, "provider:4") == "provider beta.example.dev"
    assert subject_name(snap, "app:app-example-com").startswith("application ")
    assert subject_name(snap, "provider:99") == "provider:99"  # gone: the raw id, not a crash
    assert subject_name(snap, "weird") == "weird"


def test_embedded_outpost_has_nothing_to_reload(snap) -> None:  # type: ignore[no-untyped-def]
    embedded = snap.outpost(EMBEDDED_PK)
    assert fix_blocker(embedded, None) == EMBEDDED_NO_FIX
    assert fix_blocker(snap.outpost(SINGLE_PK), None) == ""


def test_failing_config_fetch_needs_the_token_not_a_restart(snap) -> None:  # type: ignore[no-untyped-def]
    o = snap.outpost(STALE_PK)
    failing = LoadEvidence(last_loaded_log=T0, fetch_failures=(T0.replace(minute=5),))
    assert fix_blocker(o, failing) == FETCH_FAILS_FIX
    assert "token" in FETCH_FAILS_FIX
    # A load after the failure: the fetch works again, a reload can help.
    recovered = replace(failing, last_loaded_log=T0.replace(minute=9))
    assert fix_blocker(o, recovered) == ""
