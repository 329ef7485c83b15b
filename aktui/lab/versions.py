"""The authentik versions the lab can answer as: each one's version strings and API shape.

Two lines, each recorded from a real server (tests/data/recorded/): 2023.10 (2023.10.7) and the
current 2025.12 (2025.12.4; its README lists every shape difference). The simulator renders
one shape per run (``ApiVersion.modern``); the differences are spelt out where they are
rendered (render.py), so this module only names and resolves the versions.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CURRENT", "LINES", "ApiVersion", "api_version"]


@dataclass(frozen=True, slots=True)
class ApiVersion:
    line: str  # "2025.12"
    version: str  # what admin/version and version_should say: "2025.12.4"
    previous: str  # an older outpost release of the same era (the version-mismatch pitfall)
    modern: bool  # the 2024.10+ shape (autocomplete, refresh_interval_s, redirect_uris list...)
    build_hash: str = ""  # a source install has no GIT_BUILD_HASH (both recordings)


LINES: dict[str, ApiVersion] = {
    "2023.10": ApiVersion("2023.10", "2023.10.7", "2023.8.3", modern=False),
    # the recording's outdated outpost reported 2025.10.1
    "2025.12": ApiVersion("2025.12", "2025.12.4", "2025.10.1", modern=True),
}
CURRENT = "2025.12"  # the line authentik operators run today: the demo and `aktui lab` default


def api_version(name: str | ApiVersion) -> ApiVersion:
    """``2025.12``, ``2025.12.4`` or an ApiVersion; ValueError names the known lines."""
    if isinstance(name, ApiVersion):
        return name
    text = str(name).strip().removeprefix("v")
    line = ".".join(text.split(".")[:2])
    found = LINES.get(line)
    if found is None or (text != line and text != found.version):
        known = ", ".join(f"{v.line} ({v.version})" for v in LINES.values())
        raise ValueError(f"unknown authentik version {name!r}: the lab answers as {known}")
    return found
