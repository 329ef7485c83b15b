"""The command palette (Ctrl+P, and ``:`` as in k9s), built from the action registry.

Every command of the current screen and every global one is offered, with its key, so the
palette, the help screen and the bindings cannot disagree. Disabled (read-only) commands are
listed too and explain themselves when chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from aktui.actions import Command
from aktui.screens._keys import refusal, screen_commands

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


def palette_title(c: Command, read_only: bool) -> str:
    disabled = " (read-only: disabled)" if c.mutates and read_only else ""
    # Parentheses, not brackets: hit titles are parsed as markup.
    return f"{c.label} ({c.key_display}){disabled}"


class RegistryCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: AktuiApp = self.app  # type: ignore[assignment]
        screen = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for c in screen_commands(app, screen):
            if c.scope in ("confirm", "navigation"):  # keys of a focused widget, not commands
                continue
            title = palette_title(c, app.read_only)
            out.append((title, c.description or c.id, partial(_run, app, screen, c)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            # Match on the id too, so ":providers" or ":logs" work as k9s commands do.
            score = max(matcher.match(title), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


async def _run(app: AktuiApp, screen: Any, c: Command) -> None:
    if c.mutates and app.read_only:
        app.notify(refusal(c), title="read-only", severity="warning", markup=False)
        return
    await app.run_action(c.action, screen)
