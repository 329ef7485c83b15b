"""aktui.cmd.tui hands the demo's first snapshot to the app with its first container listing
(both from the lab's process), not a frame ahead of it; bounded when the listing never comes."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from aktui.cmd import tui


def lab(runtime: object) -> SimpleNamespace:
    return SimpleNamespace(first_snapshot=lambda timeout: ("snapshot", timeout), runtime=runtime)


def test_the_snapshot_waits_for_the_first_listing() -> None:
    listed = threading.Event()
    timer = threading.Timer(0.1, listed.set)
    timer.start()
    try:
        found = tui._with_first_listing(lab(SimpleNamespace(first_listing=listed)), 7.0)
    finally:
        timer.cancel()
    assert found == ("snapshot", 7.0)
    assert listed.is_set()  # it returned once the listing was in, not before


def test_a_listing_that_never_comes_holds_it_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tui, "LISTING_WAIT", 0.05)
    never = threading.Event()
    assert tui._with_first_listing(lab(SimpleNamespace(first_listing=never)), 7.0) == (
        "snapshot",
        7.0,
    )


def test_without_a_hosted_runtime_it_is_handed_over_at_once() -> None:
    assert tui._with_first_listing(lab(None), 3.0) == ("snapshot", 3.0)
