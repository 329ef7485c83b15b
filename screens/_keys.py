"""Where Textual meets the action registry: bindings, read-only guard, palette commands.

Everything a key can do is declared once in ``aktui.actions``; this module turns a scope of it
into ``Binding``s (with the command id as binding id, so ``App.set_keymap`` remaps them) and
gives screens the read-only rule: mutating actions are greyed out (``check_action`` -> None)
and pressing their key explains why instead of silently doing nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, getters
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen

from aktui.actions import COMMANDS, Command, for_scope

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp


def bindings(scope: str) -> list[BindingType]:
    """The registry's commands of ``scope`` as Textual bindings (the type ``BINDINGS`` holds)."""
    return [
        Binding(c.keys, c.action, c.label, show=c.footer, id=c.id, tooltip=c.description)
        for c in for_scope(scope)
    ]


def action_name(command: Command) -> str:
    """The name ``check_action`` receives: no ``app.`` namespace, no parameters."""
    name = command.action.removeprefix("app.")
    return name.split("(", 1)[0]


def refusal(command: Command) -> str:
    return (
        f"{command.label}: refused, aktui runs read-only "
        "(--read-only, or read_only in the config or this context)"
    )


if TYPE_CHECKING:
    # RegistryGuard is only mixed into screens: the type checker sees the Screen it extends.
    _ScreenBase = Screen[Any]
else:
    _ScreenBase = object


class RegistryGuard(_ScreenBase):
    """Mixed into every screen: the read-only rule for the screen's scope, from the registry."""

    SCOPE: ClassVar[str] = "global"

    if TYPE_CHECKING:
        # Textual's own way to narrow MessagePump.app (textual.getters.app), for the type
        # checker only: at run time the screens keep Textual's property.
        app = getters.app(AktuiApp)

    def _scope_commands(self) -> Iterable[Command]:
        return [*for_scope(self.SCOPE, self.app.commands), *for_scope("global", self.app.commands)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        for c in for_scope(self.SCOPE, self.app.commands):
            if action_name(c) == action and c.mutates and self.app.read_only:
                return None
        return True

    def explain_refusal(self, key: str) -> bool:
        """Called for keys no binding took: a greyed-out mutating key says why it did nothing."""
        if not self.app.read_only:
            return False
        for c in self._scope_commands():
            if c.mutates and key in c.key_list:
                self.app.notify(refusal(c), title="read-only", severity="warning", markup=False)
                return True
        return False

    def on_key(self, event: events.Key) -> None:
        if self.explain_refusal(event.key):
            event.stop()


class GuardedScreen(RegistryGuard, Screen[None]):
    pass


class GuardedModal(RegistryGuard, ModalScreen[bool]):
    pass


def screen_commands(app: AktuiApp, screen: Screen[object]) -> list[Command]:
    """The commands that apply on ``screen``: its scope first, then the global ones."""
    scope = getattr(screen, "SCOPE", "global")
    own = for_scope(scope, app.commands) if scope != "global" else ()
    nav = for_scope("navigation", app.commands) if getattr(screen, "HAS_ROWS", True) else ()
    return [*own, *for_scope("global", app.commands), *nav]


__all__ = [
    "COMMANDS",
    "GuardedModal",
    "GuardedScreen",
    "RegistryGuard",
    "action_name",
    "bindings",
    "refusal",
    "screen_commands",
]
