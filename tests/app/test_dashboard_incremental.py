"""The dashboard's incremental render (TreeMemo, sync_tree's skip of items it synced) shows
exactly what a render from scratch shows, through changes of every input the tree reads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Tree
from textual.widgets.tree import TreeNode

from aktui.authentik.model import Finding, Snapshot
from aktui.authentik.parse import build_snapshot
from aktui.outposts.staleness import STALE
from aktui.outposts.verdicts import AppData, Verdict
from aktui.screens._rows import TreeMemo, domain_tree, finding_rows
from aktui.screens.widgets.sync import TreeItem
from tests.fixtures.app import NOW, STALE_PK, FakeBackend, make_app, recorded_raw, settle


def _changes(snap: Snapshot) -> list[Snapshot]:
    """A run of snapshots, each changing one thing the tree shows."""
    p0, p1 = snap.providers[0], snap.providers[1]
    renamed = replace(snap, providers=(replace(p0, name="renamed-provider"), *snap.providers[1:]))
    flagged = replace(
        renamed,
        findings=(
            *renamed.findings,
            Finding("x", "error", "new error", (f"provider:{p1.pk}",), "ev", "fix"),
        ),
    )
    app = snap.application_for(p1.pk)
    assert app is not None
    rebound = replace(
        flagged,
        applications=tuple(
            replace(a, bindings=()) if a is app else a for a in flagged.applications
        ),
    )
    no_app = replace(rebound, applications=tuple(a for a in rebound.applications if a is not app))
    moved = replace(no_app, outposts=tuple(replace(o, name=o.name + "-x") for o in no_app.outposts))
    fresh = build_snapshot(recorded_raw(), now=NOW)  # equal values, new objects
    return [renamed, flagged, rebound, no_app, moved, fresh, fresh]


def test_memo_tree_equals_tree_built_anew() -> None:
    snap = build_snapshot(recorded_raw(), now=NOW)
    memo = TreeMemo()
    assert domain_tree(AppData(snapshot=snap), memo) == domain_tree(AppData(snapshot=snap))
    # One input changes at a time: the snapshot's, then only the verdicts.
    for verdicts in ({}, {STALE_PK: _stale()}, {}):
        for changed in [snap, *_changes(snap)]:
            data = AppData(snapshot=changed, verdicts=verdicts)
            assert domain_tree(data, memo) == domain_tree(data)
    # The same snapshot object twice, only an outpost turning stale in between.
    for verdicts in ({}, {STALE_PK: _stale()}, {}):
        data = AppData(snapshot=snap, verdicts=verdicts)
        assert domain_tree(data, memo) == domain_tree(data)
    data = AppData(snapshot=snap)
    first = domain_tree(data, memo)
    again = domain_tree(data, memo)
    assert all(a is b for a, b in zip(first, again, strict=True))  # reused, not rebuilt


def _stale() -> Verdict:
    return Verdict(STALE, "changed after load")


def _shown(node: TreeNode[object]) -> list[tuple[Any, ...]]:
    shown = []
    for child in node.children:
        label = child.label
        assert isinstance(label, Text)
        shown.append((label.plain, label.spans, child.data, child.allow_expand, _shown(child)))
    return shown


def _expected(items: tuple[TreeItem, ...] | list[TreeItem]) -> list[tuple[Any, ...]]:
    return [
        (i.label.plain, i.label.spans, (i.key, i.data), bool(i.children), _expected(i.children))
        for i in items
    ]


async def test_widgets_match_a_render_from_scratch_after_each_refresh() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        tree = app.screen.query_one("#domains", Tree)
        findings = app.screen.query_one("#findings", DataTable)
        for changed in _changes(backend.snapshot):
            backend.snapshot = changed
            app.action_refresh_now()
            await settle(app, pilot)
            assert _shown(tree.root) == _expected(domain_tree(app.data))
            rows = finding_rows(app.data.snapshot)
            assert [r.key.value for r in findings.ordered_rows] == list(rows)
            assert findings.border_title == f"Findings ({len(changed.findings)})"
