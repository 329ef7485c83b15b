"""A confirmation that says exactly what will happen to which outposts or hosts.

It fits 80x24 with any number of targets: the body (one line per target, then one shared
explanation) scrolls, the title and the key line never leave the screen. Only ``y`` confirms:
Enter is pressed out of habit, and a restart logs users out.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from aktui.screens._keys import GuardedModal, bindings

KEYS_LINE = "y: do it    n / esc: cancel"


class ConfirmScreen(GuardedModal):
    SCOPE = "confirm"
    CSS_PATH = "../styles/modal.tcss"
    BINDINGS = bindings("confirm")
    AUTO_FOCUS = "#dialog-body"

    def __init__(self, title: str, lines: Sequence[Text], *, danger: bool = False) -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger" if self._danger else ""):
            yield Static(Text(self._title), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                # A line built with no_wrap (one outpost or host) stays one row, cut with an
                # ellipsis; the explanation wraps.
                for line in self._lines:
                    yield Static(line, classes="-one-line" if line.no_wrap else "")
            yield Static(Text(KEYS_LINE, style="bold"), id="dialog-keys")

    @property
    def body_text(self) -> str:
        """The body as plain text, one entry per line (what the dialog says, for tests)."""
        return "\n".join(line.plain for line in self._lines)

    def on_resize(self) -> None:
        # 90% of the rows for the dialog, less its border (2), title and gap (2), keys and
        # gap (2): what is left scrolls.
        body = self.query_one("#dialog-body", VerticalScroll)
        body.styles.max_height = max(3, int(self.size.height * 0.9) - 6)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
