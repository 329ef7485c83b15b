"""aktui's per-user directories, where the XDG Base Directory spec puts them: config, state
(push audit log, saved logs) and cache (compiled log patterns), each ending in ``aktui``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_dir"]

# Each kind: its environment variable and the default under the home directory.
_BASES = {
    "config": ("XDG_CONFIG_HOME", (".config",)),
    "state": ("XDG_STATE_HOME", (".local", "state")),
    "cache": ("XDG_CACHE_HOME", (".cache",)),
}


def user_dir(kind: str) -> Path:
    """``$XDG_<KIND>_HOME/aktui``, else the spec's default under ``~`` (kind: config, state or
    cache). An empty variable counts as unset, as the spec says."""
    variable, default = _BASES[kind]
    base = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), *default)
    return Path(base) / "aktui"
