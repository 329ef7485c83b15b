"""aktui's per-user directories, where the XDG Base Directory spec puts them: config, state
(push audit log, saved logs) and cache (compiled log patterns), each ending in ``aktui``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_file", "user_dir"]

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


def config_file(explicit: str | None = None) -> Path:
    """The config file to read: ``explicit`` (``--config``), else ``$AKTUI_CONFIG``, else
    ``config.yaml`` in the config directory. Here, not in aktui.config, so that a command
    can tell there is none without importing the config's reader (yaml and all)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("AKTUI_CONFIG"):
        return Path(os.environ["AKTUI_CONFIG"]).expanduser()
    return user_dir("config") / "config.yaml"
