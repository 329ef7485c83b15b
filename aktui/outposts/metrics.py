"""The outpost's Prometheus metrics (``:9300/metrics``): when it last refreshed its config.

``authentik_outpost_last_update`` is the unix time of the last *successful* refresh (a failed
refresh keeps the old config and the old time): the most direct load evidence there is, when
the port is published and reachable. Manual deployments often do not publish 9300, so every
failure here just means "no evidence".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

LAST_UPDATE = "authentik_outpost_last_update"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_last_update(text: str, outpost_name: str | None = None) -> datetime | None:
    """Newest ``authentik_outpost_last_update`` sample (of that outpost, when named)."""
    newest: float | None = None
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or m["name"] != LAST_UPDATE:
            continue
        labels = dict(_LABEL.findall(m["labels"] or ""))
        if outpost_name and labels.get("outpost_name", outpost_name) != outpost_name:
            continue
        try:
            value = float(m["value"])
        except ValueError:
            continue
        if value > 0 and (newest is None or value > newest):
            newest = value
    return datetime.fromtimestamp(newest, UTC) if newest is not None else None


def last_update(url: str | None, timeout: float = 3.0) -> datetime | None:
    """The metric from a live outpost; None when unreachable or absent."""
    if not url:
        return None
    import httpx  # here: the TUI's first frame does not wait for its import

    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_last_update(response.text)


def metric_probe(
    url_for: Callable[[str], str | None], timeout: float = 2.0
) -> Callable[[str], object]:
    """A probe for ``OutpostActions``: the outpost's last refresh time, by container name."""

    def probe(name: str) -> object:
        return last_update(url_for(name), timeout)

    return probe
