"""Running one of aktui's own modules in a child interpreter: this aktui, found without site
and whatever the current directory holds (the TUI's prefetch helper, the lab's host, zygote and
fake outposts)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["PACKAGE_ROOT", "own_env", "own_module"]

# The directory holding this aktui package (a checkout, or site-packages).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def own_module(module: str, *args: str, site: bool = True) -> list[str]:
    """The command running ``python -m module args``. With -P: ``-m`` would put the current
    directory first on sys.path, where another checkout's aktui would run instead of this
    one. ``site=False`` (-S) for a child needing only the standard library and aktui: site's
    work (.pth files, an editable install's finder) is ~12 ms of CPU per process."""
    return [sys.executable, *(() if site else ("-S",)), "-P", "-m", module, *args]


def own_env() -> dict[str, str]:
    """This process's environment with this aktui first on PYTHONPATH (found without site)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return env
