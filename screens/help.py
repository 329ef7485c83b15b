"""``?``: every key of the screen underneath, then the global ones, from the registry.

Generated like k9s's help (``internal/view/help.go``): the current view's keys plus the
general ones, so it cannot drift from the real bindings (config overrides included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from aktui.screens._keys import GuardedScreen, bindings, screen_commands
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aktui.actions import Command

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

SCOPE_TITLES = {
    "dashboard": "Dashboard",
    "providers": "Providers",
    "applications": "Applications",
    "logs": "Logs",
    "detail": "Details",
    "history": "Action history",
    "global": "Everywhere",
}


def help_rows(app: AktuiApp, screen: Screen[Any]) -> list[tuple[str, Command | None]]:
    """(section title, None) headers followed by their commands."""
    rows: list[tuple[str, Command | None]] = []
    last = None
    for c in screen_commands(app, screen):
        if c.scope != last:
            rows.append((SCOPE_TITLES.get(c.scope, c.scope), None))
            last = c.scope
        rows.append(("", c))
    return rows


class HelpScreen(GuardedScreen):
    SCOPE = "help"
    CSS_PATH = "../styles/help.tcss"
    BINDINGS: ClassVar[list[Binding]] = bindings("help")  # type: ignore[assignment]
    AUTO_FOCUS = "#keys"

    app: AktuiApp

    def __init__(self, target: Screen[Any]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = SCOPE_TITLES.get(getattr(self.target, "SCOPE", "global"), "")
        yield Static(Text(f"Keys: {title}   (esc or q closes)", style="bold"), id="help-title")
        table: DataTable[object] = DataTable(id="keys", cursor_type="row", show_header=True)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_column("Key", key="key")
        table.add_column("Command", key="label")
        table.add_column("What it does", key="description")
        for n, (section, c) in enumerate(help_rows(self.app, self.target)):
            if c is None:
                table.add_row(Text(section, style="bold underline"), "", "", key=f"section:{n}")
                continue
            off = c.mutates and self.app.read_only
            style = "dim strike" if off else ""
            description = c.description + (" — disabled: read-only" if off else "")
            table.add_row(
                Text(c.key_display, style="bold" if not off else style),
                Text(c.label, style=style),
                Text(description, style="dim" if off else ""),
                key=f"{c.scope}:{c.id}",
            )
