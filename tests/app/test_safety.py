"""Safe at 3 a.m. (issue 18): keys act on what is highlighted, the confirmation fits 80x24 and
only `y` confirms, long fixes show progress and cannot be started twice, fixes that cannot help
are refused up front, and no flag says "ok" when it does not know."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.widgets import DataTable

from aktui.runtime import LogLine
from aktui.screens.capture import screen_text
from aktui.screens.confirm import ConfirmScreen
from tests.fixtures.app import (
    EMBEDDED_PK,
    SINGLE_PK,
    STALE_PK,
    STARTED,
    FakeBackend,
    focus_tree_node,
    make_app,
    settle,
)
from tests.fixtures.incident import GatedRuntime, five_stale


def _notes(app: Any) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def _cursor_on(app: Any, table_id: str, key: str) -> None:
    table = app.screen.query_one(table_id, DataTable)
    table.move_cursor(row=table.get_row_index(key))


async def test_fix_acts_on_the_tree_node_not_the_hidden_table_row() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", STALE_PK)  # the table highlights outpost-example-dev...
        focus_tree_node(app, "outpost", SINGLE_PK)  # ...the focused tree outpost-single
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Reload outpost-single?" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert "Restart outpost-single?" in screen_text(app)


async def test_fix_on_a_provider_node_or_a_finding_resolves_to_its_outpost() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", SINGLE_PK)
        focus_tree_node(app, "provider", "4")  # beta.example.dev, served by outpost-example-dev
        await pilot.press("r")
        await pilot.pause()
        assert "Reload outpost-example-dev?" in screen_text(app)
        await pilot.press("escape")
        findings = app.screen.query_one("#findings", DataTable)
        findings.focus()
        # The version finding is about outpost-example-dev (the only warning: first row).
        findings.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert "Reload outpost-example-dev?" in screen_text(app)


async def test_fix_refuses_when_the_highlight_has_no_outpost() -> None:
    backend = FakeBackend()
    snap = backend.snapshot
    # outpost-single stops serving blog.example.org: its app's finding involves no outpost.
    single = snap.outpost(SINGLE_PK)
    others = tuple(o for o in snap.outposts if o.pk != SINGLE_PK)
    backend.snapshot = replace(snap, outposts=(*others, replace(single, provider_pks=(1,))))
    app = make_app(backend)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(app, pilot)
        findings = app.screen.query_one("#findings", DataTable)
        findings.focus()
        key = next(r.key.value for r in findings.ordered_rows if "blog-example-org" in r.key.value)
        findings.move_cursor(row=findings.get_row_index(key))
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "select an outpost: this finding involves no outpost" in _notes(app)
        assert [c for c in backend.runtime.calls if c[0] != "logs"] == []


async def test_fix_all_dialog_fits_80x24_and_enter_never_confirms() -> None:
    backend = FakeBackend()
    five_stale(backend)
    app = make_app(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert len(app.data.stale_outposts()) == 6
        await pilot.press("R")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        text = screen_text(app)
        assert "Fix 6 outposts?" in text
        keys = screen.query_one("#dialog-keys")
        assert keys.region.bottom <= 24 and keys.region.height >= 1
        assert "y: do it" in text and "n / esc: cancel" in text
        body = screen.body_text
        one_line = list(screen.query("#dialog-body .-one-line"))
        assert len(one_line) == 6 and all(w.size.height == 1 for w in one_line)
        # One line per outpost, one shared explanation (not one per outpost).
        assert sum(1 for line in body.splitlines() if line.startswith("reload  outpost")) == 6
        assert body.count("SIGUSR1") == 1
        # The body scrolls to its end, and the key line stays where it was.
        scroll = screen.query_one("#dialog-body")
        scroll.scroll_end(animate=False)
        await pilot.pause()
        assert "y: do it" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # Enter did nothing
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert [c for c in backend.runtime.calls if c[0] in ("reload", "restart")] == []


async def test_long_fix_shows_progress_refuses_a_second_start_and_reports_each() -> None:
    backend = FakeBackend(runtime=GatedRuntime())
    five_stale(backend)
    runtime: GatedRuntime = backend.runtime
    app = make_app(backend)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", STALE_PK)
        await pilot.press("r", "y")
        await pilot.pause(0.2)
        # At once: the row, the status bar and a running history row.
        assert STALE_PK in app.running
        cell = app.screen.outpost_cell(STALE_PK, "stale").plain
        assert cell.startswith("⟳ reload ")
        text = screen_text(app)
        assert "⟳ reloading outpost-example-dev" in text
        assert app.history[-1].running and app.history[-1].target == "outpost-example-dev"
        # A second start on the same outpost is refused, with the reason.
        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "already" in _notes(app)
        # R offers the other stale outposts only.
        await pilot.press("R")
        await pilot.pause()
        assert "Fix 5 outposts?" in screen_text(app)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert len(app.running) == 6
        # One of them finishes: reported at once while the others still run.
        runtime.gate("outpost-domain-2-with-a-long-name").set()
        for _ in range(100):
            await pilot.pause(0.05)
            if "pk-2" not in app.running:
                break
        done = [h for h in app.history if h.target == "outpost-domain-2-with-a-long-name"]
        assert done and not done[0].running and done[0].ok, done
        assert STALE_PK in app.running and len(app.running) == 5
        for name in runtime.items:
            runtime.gate(name).set()
        for _ in range(200):
            await pilot.pause(0.05)
            if not app.running:
                break
        await settle(app, pilot)
        assert not app.running
        assert not any(h.running for h in app.history)
        assert "⟳ reloading" not in screen_text(app)


async def test_embedded_outpost_fix_is_refused_up_front() -> None:
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", EMBEDDED_PK)
        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "no outpost container to reload or restart" in _notes(app)
        assert "embedded" in screen_text(app)  # the summary says so before any key
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert [c for c in backend.runtime.calls if c[0] in ("reload", "restart")] == []


async def test_failing_config_fetch_says_fix_the_token_never_restarts() -> None:
    backend = FakeBackend()
    failed = (
        '{"event":"Failed to fetch outpost configuration","level":"error",'
        '"error":"403 Forbidden","timestamp":"2026-11-24T06:30:00Z"}'
    )
    backend.runtime.log_lines["outpost-example-dev"].append(
        LogLine("outpost-example-dev", STARTED.replace(minute=30), failed)
    )
    app = make_app(backend)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", STALE_PK)
        await pilot.pause()
        assert "fix its token" in screen_text(app)  # the summary line names the real fix
        for key in ("r", "ctrl+x"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
        assert "Fix its token" in _notes(app)
        assert [c for c in backend.runtime.calls if c[0] in ("reload", "restart")] == []


async def test_no_ok_flag_on_stale_embedded_or_unserved() -> None:
    backend = FakeBackend()
    snap = backend.snapshot
    # No findings at all: the flags must still not say ok where staleness or serving says no.
    outposts = []
    for o in snap.outposts:
        if o.pk == SINGLE_PK:
            o = replace(o, provider_pks=())  # nobody serves app-example-com / blog any more
        if o.pk == EMBEDDED_PK:
            o = replace(o, provider_pks=(1,))  # app-example-com: the embedded outpost only
        outposts.append(o)
    backend.snapshot = replace(snap, findings=(), outposts=tuple(outposts))
    app = make_app(backend)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.outpost_cell(STALE_PK, "flag").plain == "⟳ stale"
        assert "ok" not in screen.outpost_cell(EMBEDDED_PK, "flag").plain
        await pilot.press("3")
        await pilot.pause()
        table = app.screen.query_one("#rows", DataTable)
        assert table.get_cell("app-example-com", "flag").plain == "– embedded"
        assert table.get_cell("blog-example-org", "flag").plain == "✖ no outpost"
        assert table.get_cell("beta-example-dev", "flag").plain == "✔ ok"


async def test_without_docker_evidence_staleness_is_unsure_not_fresh() -> None:
    app = make_app(FakeBackend(runtime=None))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        cell = app.screen.outpost_cell(SINGLE_PK, "stale").plain.rstrip()
        assert cell == "? unsure"
        assert "✔ fresh" not in screen_text(app)


class _Broken(BaseException):
    """Escapes the per-outpost `except Exception`: a bug, not an operator-facing error."""


async def test_an_interrupted_fix_never_stays_running(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(self, name):  # type: ignore[no-untyped-def]
        raise _Broken("bug")

    monkeypatch.setattr("aktui.outposts.fixes.OutpostActions.fix", broken)
    backend = FakeBackend()
    app = make_app(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        _cursor_on(app, "#outposts", STALE_PK)
        await pilot.press("r", "y")
        for _ in range(100):
            await pilot.pause(0.05)
            if not app.running:
                break
        assert not app.running
        record = app.history[-1]
        assert not record.running and not record.ok
        assert "interrupted" in record.message
