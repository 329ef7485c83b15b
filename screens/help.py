"""``?``: every key of the screen underneath, then the global ones, from the registry.

Generated like k9s's help (``internal/view/help.go``): the current view's keys plus the
general ones, so it cannot drift from the real bindings (config overrides included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from aktui.actions import Command
from aktui.screens._keys import GuardedScreen, bindings, screen_commands

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

SCOPE_TITLES = {
    "dashboard": "Dashboard",
    "providers": "Providers",
    "applications": "Applications",
    "logs": "Logs",
    "detail": "Details",
    "history": "Action history",
    "snippets": "Snippets",
    "doctor": "Doctor",
    "push": "Push",
    "global": "Everywhere",
    "navigation": "Lists and tables",
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


def help_table(app: AktuiApp, screen: Screen[Any]) -> Table:
    """Key, command, what it does; descriptions wrap, so 80 columns show all of them."""
    table = Table(box=None, expand=True, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("Key", no_wrap=True, min_width=6)
    table.add_column("Command", no_wrap=True)
    table.add_column("What it does", ratio=1)
    for section, c in help_rows(app, screen):
        if c is None:
            table.add_row(Text(section, style="bold underline"), "", "")
            continue
        off = c.mutates and app.read_only
        description = c.description + (" — disabled: read-only" if off else "")
        table.add_row(
            Text(c.key_display, style="dim strike" if off else "bold"),
            Text(c.label, style="dim strike" if off else ""),
            Text(description, style="dim" if off else ""),
        )
    return table


class HelpScreen(GuardedScreen):
    SCOPE = "help"
    CSS_PATH = "../styles/help.tcss"
    BINDINGS = bindings("help")
    AUTO_FOCUS = "#keys"

    app: AktuiApp

    def __init__(self, target: Screen[Any]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = SCOPE_TITLES.get(getattr(self.target, "SCOPE", "global"), "")
        yield Static(Text(f"Keys: {title}   (esc or q closes)", style="bold"), id="help-title")
        with VerticalScroll(id="keys"):
            yield Static(help_table(self.app, self.target), id="keys-table")
        yield Footer(compact=True)
