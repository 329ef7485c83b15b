"""The embedded lab: an authentik 2023.10.7 API simulator plus fake proxy outposts as real local
processes, so aktui (``--demo``, ``aktui lab``, tests, benchmarks) runs with no setup.

    with Lab() as lab:                      # simulator on a free port, outposts on 9001...
        lab.url, lab.token, lab.runtime     # what a config context and the TUI need
        lab.state.update_provider(3, skip_path_regex="^/health$")   # outpost-example-dev: stale

Only 127.0.0.1 is used. ``stop()`` (also on errors, and from ``__exit__``) ends every process the
lab started and removes its work directory.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Lab", "LabHost", "free_port", "port_free"]


def __getattr__(name: str) -> Any:
    # Every fake outpost process imports aktui.lab.fake_outpost, which runs this package's
    # __init__ first: keeping it light spares each of them the simulator, chaos and runtime
    # imports (~90 ms per process at demo start).
    if name == "LabHost":
        from aktui.lab.host import LabHost

        return LabHost
    if name in __all__:
        from aktui.lab import lab

        return getattr(lab, name)
    raise AttributeError(f"module 'aktui.lab' has no attribute {name!r}")
