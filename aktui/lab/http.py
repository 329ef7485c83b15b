"""The lab API's HTTP vocabulary: answers, authentik's error bodies, DRF paging, the caller.

Shared by the simulator (which serves) and its routes and validation (which answer), so none of
them imports back from the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aktui.lab.objects import Outpost, User

NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
BAD_TOKEN = {"detail": "Token invalid/expired"}
UUID_RE = r"[0-9a-fA-F-]{32,36}"


class HTTPAnswer(Exception):
    """Raised by a route to answer with a status and a JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def paginate(items: list[Any], query: dict[str, str]) -> tuple[list[Any], dict[str, int]]:
    """authentik's Pagination over DRF's PageNumberPagination (api/pagination.py)."""
    try:
        size = int(query.get("page_size", "20"))
        size = min(size, 100) if size > 0 else 20  # over the max is clamped
    except ValueError:
        size = 20  # an invalid page_size falls back to the default
    count = len(items)
    pages = max(1, -(-count // size))  # an empty list still has page 1
    raw = query.get("page", "1")
    try:
        page = pages if raw == "last" else int(raw)
    except ValueError:
        raise HTTPAnswer(404, {"detail": "Invalid page."}) from None
    if page < 1 or page > pages:
        raise HTTPAnswer(404, {"detail": "Invalid page."})
    start = (page - 1) * size
    chunk = items[start : start + size]
    return chunk, {
        "next": page + 1 if page < pages else 0,
        "previous": page - 1 if page > 1 else 0,
        "count": count,
        "current": page,
        "total_pages": pages,
        "start_index": start + 1 if count else 0,
        "end_index": start + len(chunk),
    }


def paged(items: list[Any], query: dict[str, str], dump: Callable[[Any], Any]) -> dict[str, Any]:
    chunk, pagination = paginate(items, query)
    return {"pagination": pagination, "results": [dump(x) for x in chunk]}


class Caller:
    def __init__(self, user: User | None, outpost: Outpost | None) -> None:
        self.user = user
        self.outpost = outpost  # set when an outpost's own token is used

    @property
    def superuser(self) -> bool:
        return bool(self.user and self.user.is_superuser)
