"""Plain-JSON views of model records, for ``--json`` outputs (secrets never included)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from aktui.secret import Secret


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Secret):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Private fields (a snapshot's lookup index) are caches, not part of the value.
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value
