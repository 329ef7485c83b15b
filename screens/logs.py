"""Live logs of one outpost, or of every outpost of a cookie domain merged by time.

One reader thread per container follows ``runtime.stream_logs`` (which re-attaches across
restarts and marks the gap), parses and annotates each line there, and drops entries into a
bounded inbox; a 20 Hz timer on the UI side takes it in one batch. A flood therefore costs
one render per tick, never a message per line, and memory is capped by ``logs.max_lines``.
Should the UI ever fall behind by a whole inbox, the oldest unseen lines are dropped and
counted, and the status line says so: never silently.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from aktui.authentik.model import Outpost
from aktui.logs.store import (
    WINDOWS,
    Annotator,
    Entry,
    LogStore,
    default_annotator,
    keep,
    make_entry,
)
from aktui.outposts.verdicts import runtime_name
from aktui.runtime import LogLine
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._logkeys import LogViewKeys
from aktui.screens.widgets.logpane import LogPane
from aktui.screens.widgets.text import describe, literal, plain

if TYPE_CHECKING:
    from datetime import datetime

    from aktui.screens.app import AktuiApp

DRAIN_INTERVAL = 0.05  # 20 Hz: smooth to the eye, one render per tick under a flood


@dataclass(frozen=True, slots=True)
class LogSource:
    label: str  # shown in merged views (outpost name)
    target: str  # what the runtime streams: container name, else the outpost name


def open_logs(app: AktuiApp, outposts: Sequence[Outpost], title: str) -> None:
    if not outposts:
        app.notify("select an outpost or a cookie domain first", title="logs", markup=False)
        return
    if app.backend.runtime is None:
        app.notify(
            "no container runtime: add docker_hosts to the config to read outpost logs",
            title="logs",
            severity="error",
            markup=False,
        )
        return
    sources = []
    for o in outposts:
        container = app.data.container_for(o)
        target = runtime_name(app.backend.runtime, container) if container else o.name
        sources.append(LogSource(o.name, target))
    app.push_screen(LogsScreen(sources, title))


class LogsScreen(LogViewKeys, GuardedScreen):
    SCOPE = "logs"
    CSS_PATH = "../styles/logs.tcss"
    BINDINGS = bindings("logs")
    AUTO_FOCUS = "#log"
    # Global keys that leave this view are off here: k9s and Toolong users press s, c, p, d
    # inside a log (autoscroll, copy, pretty...), not to open another screen. `:` still can.
    SHADOWED: ClassVar[frozenset[str]] = frozenset(
        {"show_snippets", "show_push", "switch_context", "show_doctor"}
    )
    HAS_ROWS = False  # j/k/g/G are this screen's own keys (logs scope)

    app: AktuiApp

    def __init__(
        self, sources: Sequence[LogSource], title: str, *, annotator: Annotator | None = None
    ) -> None:
        super().__init__()
        self.sources = list(sources)
        self.title_text = title
        self._annotator = annotator
        self._stop = threading.Event()
        self._inbox: deque[Entry] = deque()
        # Guards the inbox swap and the drop count: reader threads (one per source) and the
        # drain timer touch both.
        self._inbox_lock = threading.Lock()
        self.behind = 0  # lines dropped from the inbox because the view fell behind
        self._status: Text | None = None
        self.store: LogStore
        self.annotated_only = False
        self.window_index = 0
        self.stream_errors: dict[str, str] = {}
        self.grep = ""  # lines must contain this (lower-case); "" shows all
        self.find_hits: list[int] = []  # pane rows matching the find text
        self.find_at = -1  # index into find_hits of the match shown

    def pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def max_lines(self) -> int:
        return int(self.app.backend.config.logs.max_lines)

    def compose(self) -> ComposeResult:
        yield Static(id="log-status")
        # Merged views get a source column as wide as the longest outpost name (capped).
        multi = min(28, max(len(s.label) for s in self.sources)) if len(self.sources) > 1 else 0
        yield LogPane(multi=multi, id="log")
        yield Input(
            placeholder="find (enter: keep highlight, esc: close)", id="find", classes="-hidden"
        )
        yield Input(
            placeholder="show only lines containing… (enter: apply, esc: close)",
            id="grep",
            classes="-hidden",
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.store = LogStore(self.max_lines)
        # Bounded like the store: if the UI falls behind a flood, the oldest unseen go first.
        self._inbox = deque(maxlen=self.max_lines)
        if self._annotator is None:
            try:
                self._annotator = default_annotator(self.app.backend.config.logs.rules_file)
            except Exception as e:
                self.notify(
                    plain(str(e)), title="annotation rules", severity="warning", markup=False
                )
        # Everything alive now (the app, its screens and caches: ~70k objects) moves out of
        # the collector's reach while the view is open. A flood promotes thousands of entries
        # a second to the oldest generation, and each full collection rescanned all of it:
        # ~50 ms pauses, the tail of key latency. Frozen, a full pass scans only what the
        # view created (~18 ms). Undone on unmount, so nothing frozen is kept for good.
        self.app.hold_heap()
        for source in self.sources:
            self._stream(source)
        self.set_interval(DRAIN_INTERVAL, self._drain, name="drain")
        self._update_status()

    def on_unmount(self) -> None:
        self._stop.set()
        self.app.release_heap()

    # --- reading --------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="logs", description="log stream")
    def _stream(self, source: LogSource) -> None:
        runtime = self.app.backend.runtime
        if runtime is None:  # the screen opens only with a runtime; a context switch may drop it
            return
        logs = self.app.backend.config.logs
        worker = get_current_worker()
        since = time.time() - logs.since_minutes * 60 if logs.since_minutes else None
        try:
            stream = runtime.stream_logs(
                source.target, since=since, tail=logs.tail, stop=self._stop
            )
            for line in stream:
                if worker.is_cancelled or self._stop.is_set():
                    break
                self._put(make_entry(source.label, line, self._annotator))
        except Exception as e:
            message = describe(e)
            self.stream_errors[source.label] = message
            marker = LogLine(source.label, None, "", marker=f"stream ended: {message}")
            self._put(make_entry(source.label, marker, None))

    def _put(self, entry: Entry) -> None:
        """Called from reader threads. A full inbox means the view is a whole store behind:
        the oldest unseen line goes, and is counted for the status line."""
        with self._inbox_lock:
            if len(self._inbox) == self._inbox.maxlen:
                self.behind += 1
            self._inbox.append(entry)

    def _drain(self) -> None:
        with self._inbox_lock:
            if not self._inbox:
                batch = None
            else:
                batch, self._inbox = self._inbox, deque(maxlen=self.max_lines)
        pane = self.query_one(LogPane)
        if batch is None:
            pane.stick()
            return
        added = self.store.add(batch)
        cutoff = self._cutoff()
        annotated_only = self.annotated_only
        needle = self.grep
        first_pos = self.store.first_pos
        pane.append(
            (
                (pos, e)
                for pos, e in added
                if keep(e, annotated_only=annotated_only, cutoff=cutoff, needle=needle)
            ),
            first_pos=first_pos,
        )
        if pane.has_spare:  # the rows `a` swaps in, kept current (see action_toggle_annotated)
            pane.append_spare(
                (
                    (pos, e)
                    for pos, e in added
                    if keep(e, annotated_only=not annotated_only, cutoff=cutoff, needle=needle)
                ),
                first_pos=first_pos,
            )
        self._update_status()

    # --- view state -----------------------------------------------------------------------

    def _cutoff(self) -> datetime | None:
        from datetime import timedelta

        window = WINDOWS[self.window_index]
        return self.app.clock() - timedelta(minutes=window) if window else None

    def _rebuild(self, *, keep_spare: bool = False) -> None:
        pane = self.query_one(LogPane)
        pane.set_entries(
            self.store.visible(
                annotated_only=self.annotated_only,
                window_min=WINDOWS[self.window_index],
                now=self.app.clock(),
                needle=self.grep,
            ),
            keep_spare=keep_spare,
        )
        self._count_hits()
        self._update_status()

    def _update_status(self) -> None:
        pane = self.query_one(LogPane)
        window = WINDOWS[self.window_index]
        text = Text.assemble(("Logs ", "bold"), literal(self.title_text, "bold"))
        text.append(f" · {len(self.store)} lines")
        if self.behind:  # lines never shown: first, so a narrow terminal cannot cut it off
            text.append(f" · {self.behind} lines dropped: view fell behind", "bold red")
        text.append(f" · {self.store.notes} explained")
        if pane.following:
            text.append(" · following", "green")
        else:
            text.append(f" · PAUSED +{pane.pending} (end resumes)", "bold yellow")
        if self.annotated_only:
            text.append(" · annotated only", "bold")
        if window:
            text.append(f" · last {window} min", "bold")
        if self.store.dropped:
            text.append(f" · {self.store.dropped} oldest dropped (max {self.max_lines})", "dim")
        if self.grep:
            text.append(" · only: ")
            text.append_text(literal(self.grep, "bold"))
        if pane.find:
            text.append(" · find: ")
            text.append_text(literal(pane.find, "reverse"))
            at = f"{self.find_at + 1}" if self.find_at >= 0 else "-"
            text.append(f" {at}/{len(self.find_hits)}", "bold")
        view = pane.view
        toggles = [
            name
            for name, on_ in (
                ("wrap", view.wrap),
                ("dates", view.full_stamps),
                ("pretty", view.pretty),
                ("folded", view.fold),
            )
            if on_
        ]
        if toggles:
            text.append(" · " + " ".join(toggles), "dim")
        if text != self._status:  # a flood changes the counts, not the rest of the screen
            self._status = text
            self.query_one("#log-status", Static).update(text)

    @on(LogPane.FollowChanged)
    def _follow_changed(self) -> None:
        self._update_status()

    # --- actions --------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.query_one(LogPane).following = True

    def action_toggle_annotated(self) -> None:
        """The first toggle lays out the annotated rows (5% of a flood) and keeps the rows
        shown until then as the pane's spare, fed on every drain; later toggles swap the two
        instead of laying out the whole store again (10,000 lines: tens of ms, the slowest
        key under a flood). Not with a time window: lines age out of it between toggles, so
        the rows are taken from the store again."""
        self.annotated_only = not self.annotated_only
        pane = self.query_one(LogPane)
        timeless = WINDOWS[self.window_index] is None
        if timeless and pane.swap():
            self._count_hits()
            self._update_status()
            return
        self._rebuild(keep_spare=timeless)

    def action_cycle_window(self) -> None:
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        self._rebuild()

    def action_find(self) -> None:
        box = self.query_one("#find", Input)
        box.remove_class("-hidden")
        box.focus()

    @on(Input.Changed, "#find")
    def _find_changed(self, event: Input.Changed) -> None:
        pane = self.query_one(LogPane)
        pane.find = event.value
        self._count_hits()
        self._jump(1, from_top=True)

    @on(Input.Submitted, "#find")
    def _find_submitted(self) -> None:
        # Enter closes the box and keeps the highlight: n / N step, esc clears.
        self._close_box("#find")

    def _close_box(self, box_id: str) -> None:
        self.query_one(box_id, Input).add_class("-hidden")
        self.query_one(LogPane).focus()
        self._update_status()

    def _count_hits(self) -> None:
        pane = self.query_one(LogPane)
        self.find_hits = pane.find_matches(pane.find)
        self.find_at = -1

    def _jump(self, step: int, *, from_top: bool = False) -> None:
        pane = self.query_one(LogPane)
        if not pane.find:
            self._update_status()
            return
        if not self.find_hits or self.find_hits[-1] >= len(pane.rows):
            self._count_hits()  # new lines arrived or old ones fell off: count again
        hits = self.find_hits
        if not hits:
            self.notify("no match", markup=False, timeout=2)
            self._update_status()
            return
        if from_top or self.find_at < 0:
            self.find_at = 0 if step > 0 else len(hits) - 1
        else:
            self.find_at = (self.find_at + step) % len(hits)
        pane.show_row(hits[self.find_at])
        self._update_status()

    def action_find_next(self) -> None:
        self._jump(1)

    def action_find_prev(self) -> None:
        self._jump(-1)

    def handle_back(self) -> bool:
        """Escape undoes one thing at a time: an open box closes (its text stays), then the
        find highlight goes, then the line filter; only then does it leave the view."""
        pane = self.query_one(LogPane)
        for box_id in ("#find", "#grep"):
            if not self.query_one(box_id, Input).has_class("-hidden"):
                self._close_box(box_id)
                return True
        if pane.find:
            self.query_one("#find", Input).value = ""
            pane.find = ""
            self.find_hits, self.find_at = [], -1
            self._update_status()
            return True
        if self.grep:
            self.query_one("#grep", Input).value = ""
            self.grep = ""
            self._rebuild()
            return True
        return False

    # --- line filter ----------------------------------------------------------------------

    def action_line_filter(self) -> None:
        box = self.query_one("#grep", Input)
        box.remove_class("-hidden")
        box.focus()

    @on(Input.Changed, "#grep")
    def _grep_changed(self, event: Input.Changed) -> None:
        self.grep = event.value.lower()
        self._rebuild()

    @on(Input.Submitted, "#grep")
    def _grep_submitted(self) -> None:
        self._close_box("#grep")

    def action_fix_source(self) -> None:
        snap = self.app.data.snapshot
        outposts = [o for s in self.sources if snap and (o := snap.outpost(s.label))]
        if len(outposts) != 1:
            self.notify(
                "this log shows several outposts: fix them from the dashboard", markup=False
            )
            return
        self.app.request_fix(outposts)
