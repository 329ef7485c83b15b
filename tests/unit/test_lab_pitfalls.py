"""The lab has one switch per pitfall: each switch alone produces exactly its finding."""

from __future__ import annotations

import pytest

from aktui.authentik.parse import build_snapshot
from aktui.lab.render import raw_bundle
from aktui.lab.scenario import PITFALLS, build_lab

# Without outpost processes nobody says hello, so every outpost is "not connected" here; the
# two health-based pitfalls are proven with a running lab in tests/integration.
HEALTH_BASED = {"outpost-not-connected", "outpost-version-mismatch"}


def findings(pitfalls: set[str]) -> set[str]:
    snap = build_snapshot(raw_bundle(build_lab(pitfalls=frozenset(pitfalls))))
    return {f.code for f in snap.findings} - {"outpost-not-connected"}


def test_clean_lab_has_no_findings():
    assert findings(set()) == set()


@pytest.mark.parametrize("pitfall", sorted(set(PITFALLS) - HEALTH_BASED))
def test_each_switch_gives_exactly_its_finding(pitfall):
    assert findings({pitfall}) == {pitfall}


def test_default_lab_has_every_pitfall():
    snap = build_snapshot(raw_bundle(build_lab()))
    assert {f.code for f in snap.findings} >= set(PITFALLS) - HEALTH_BASED


def test_unknown_pitfall_is_refused():
    with pytest.raises(ValueError, match="unknown lab pitfall"):
        build_lab(pitfalls=frozenset({"nope"}))
