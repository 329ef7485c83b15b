"""Guards: the core never imports Textual, and secrets never leak through reprs or JSON."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import aktui
from aktui.errors import Secret
from aktui.jsonable import to_jsonable

CORE_DIR = Path(aktui.__file__).parent


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(CORE_DIR)], prefix="aktui."):
        if info.name.startswith(("aktui.screens", "aktui.styles")):
            continue
        names.append(info.name)
    return names


def test_core_modules_do_not_import_textual():
    # A static import check misses imports done by dependencies or at call time; importing each
    # module in a fresh interpreter and looking at sys.modules does not (harlequin's reasoning).
    modules = core_modules()
    assert "aktui.model" in modules and "aktui.authentik" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_secret_never_shows():
    s = Secret("hunter2-token")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"t": s})):
        assert "hunter2" not in text
    assert to_jsonable({"token": s}) == {"token": None}
    assert s.reveal() == "hunter2-token"
