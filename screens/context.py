"""``c``: pick another authentik context from the config."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aktui.screens.widgets.text import literal


class ContextScreen(ModalScreen[str | None]):
    CSS_PATH = "../styles/modal.tcss"
    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, names: Sequence[str], current: str) -> None:
        super().__init__()
        self.names = list(names)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Switch context", style="bold"), id="dialog-title")
            yield OptionList(
                *(
                    Option(literal(n + ("  (current)" if n == self.current else "")), id=n)
                    for n in self.names
                ),
                id="contexts",
            )
            yield Static(Text("enter: switch    esc: cancel", style="bold"), id="dialog-keys")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
