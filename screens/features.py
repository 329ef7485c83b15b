"""Snippets, push and doctor screens: opened when their core modules are present."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aktui.screens.app import AktuiApp

SCREENS = {
    "snippets": ("aktui.screens.snippets", "SnippetsScreen"),
    "push": ("aktui.screens.push", "PushScreen"),
    "doctor": ("aktui.screens.doctor", "DoctorScreen"),
}


def open_feature(app: AktuiApp, name: str) -> None:
    module_name, class_name = SCREENS[name]
    try:
        screen_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        app.notify(
            f"the {name} screen is not in this build yet; use `aktui {name}` on the command line",
            title=name,
            severity="warning",
            markup=False,
        )
        return
    app.push_screen(screen_class())
