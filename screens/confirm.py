"""A confirmation that says exactly what will happen to which outposts or hosts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from aktui.screens._keys import GuardedModal, bindings


class ConfirmScreen(GuardedModal):
    SCOPE = "confirm"
    CSS_PATH = "../styles/modal.tcss"
    BINDINGS: ClassVar[list[Binding]] = bindings("confirm")  # type: ignore[assignment]

    def __init__(self, title: str, lines: Sequence[Text], *, danger: bool = False) -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger" if self._danger else ""):
            yield Static(Text(self._title), id="dialog-title")
            yield Static(Text("\n").join(self._lines), id="dialog-body")
            yield Static(
                Text("y / enter: do it    n / esc: cancel", style="bold"), id="dialog-keys"
            )

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
