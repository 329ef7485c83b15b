"""The one-line status bar: context, server, counts, data age, and the last refresh error.

When authentik cannot be reached the last good data stays on screen; this bar is where the
operator sees that it is stale and for how long (flipped by the ``-stale`` class).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from aktui.outposts.verdicts import SEVERITY_ICON, AppData, age
from aktui.screens.widgets.text import literal

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    StatusBar.-stale { background: $error 40%; height: auto; max-height: 3; }
    StatusBar.-loading { color: $text-muted; }
    """

    app: AktuiApp

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._update)
        self.watch(self.app, "progress", lambda _: self._update(self.app.data), init=False)
        # Ages move with the clock even when no refresh lands (the API may be down).
        self.set_interval(1.0, lambda: self._update(self.app.data))

    def _update(self, data: AppData) -> None:
        self.set_class(data.stale_data, "-stale")
        self.set_class(data.snapshot is None and not data.error, "-loading")
        self.update(render_status(self.app, data))


def render_status(app: AktuiApp, data: AppData) -> Text:
    now = app.clock()
    snap = data.snapshot
    text = Text()
    if data.error and snap is not None:
        # First, so 80 columns never cut it off: the data below is old.
        text.append(f"⚠ STALE DATA, {age(data.last_ok, now)} old: ", "bold")
        text.append_text(literal(data.error))
        text.append("\n")
    running = list(getattr(app, "running", {}).values())
    if running:
        # First on the line: a fix under way is what the operator is waiting for.
        text.append_text(running_text(running))
        text.append(" · ")
    text.append_text(Text.assemble(("aktui", "bold"), " · ", literal(app.context_name)))
    if app.read_only:
        text.append(" · read-only", "bold")
    if snap is None:
        if data.error:
            text.append(" · no data: ")
            text.append_text(literal(data.error))
        else:
            text.append(" · loading…")
            since = getattr(app, "loading_since", None)
            if since is not None:
                # A server that accepts and never answers: the operator sees time pass.
                text.append(f" {int(time.monotonic() - since)}s")
                tries = getattr(getattr(app, "_api", None), "tries", 0)
                if isinstance(tries, int) and tries > 1:
                    text.append(f", try {tries}")
        return text
    text.append(" · authentik ")
    text.append_text(literal(snap.server_version or "?"))
    stale = data.verdicts and sum(1 for v in data.verdicts.values() if v.stale)
    text.append(f" · {len(snap.outposts)} outposts")
    if stale:
        text.append(f" · ⟳ {stale} stale", "bold")
    counts = {s: sum(1 for f in snap.findings if f.severity == s) for s in SEVERITY_ICON}
    shown = " ".join(f"{SEVERITY_ICON[s]}{n}" for s, n in counts.items() if n)
    if shown:
        text.append(f" · {shown}")
    if not data.error:
        text.append(f" · updated {age(data.last_ok, now)} ago")
    if data.containers_error:
        text.append(" · docker: ")
        text.append_text(literal(data.containers_error))
    return text


def running_text(running: list[Any]) -> Text:
    """``⟳ restarting outpost-x 12s``, or the count and the slowest one when several run."""
    first = min(running, key=lambda p: p.started)  # the one running longest
    seconds = first.label().rsplit(" ", 1)[-1]
    text = Text.assemble(
        (f"⟳ {first.phase} ", "bold"), literal(first.plan.outpost_name, "bold"), f" {seconds}"
    )
    if len(running) > 1:
        text.append(f" (+{len(running) - 1} more)", "bold")
    return text
