"""An httpx MockTransport that answers from the recorded real-authentik files.

Used to prove the client parses every recorded answer (status, body, pagination) without a
network. Requests that were not recorded get a 599 so a test notices instead of guessing.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

GOOD_TOKEN = "recorded-admin-token"


def recorded_transport(directory: Path, *, connected: bool = False) -> httpx.MockTransport:
    index = json.loads((directory / "index.json").read_text())
    by_request: dict[tuple[str, str], dict] = {}
    for entry in index:
        if entry["auth"] != "admin token":
            continue
        if entry["file"].endswith(".connected.json") != connected and "health" in entry["path"]:
            continue
        by_request[(entry["path"], entry["query"])] = entry

    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        if not auth:
            body = (directory / "error_no_auth.outposts_instances.json").read_bytes()
            return httpx.Response(403, content=body, headers={"content-type": "application/json"})
        if auth != f"Bearer {GOOD_TOKEN}":
            body = (directory / "error_bad_token.outposts_instances.json").read_bytes()
            return httpx.Response(403, content=body, headers={"content-type": "application/json"})
        params = dict(request.url.params)
        # The client always asks page_size=100; the recordings used the default (20), and every
        # recorded list fits on one page, so page 1 at 100 is the same answer.
        if params.get("page_size") == "100":
            params.pop("page_size")
            if params.get("page") == "1":
                params.pop("page")
        params.pop("include_users", None)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        if request.url.path == "/api/v3/events/events/":
            # Not recorded; an empty page in the real pagination shape.
            empty = {
                "next": 0,
                "previous": 0,
                "count": 0,
                "current": 1,
                "total_pages": 1,
                "start_index": 0,
                "end_index": 0,
            }
            return httpx.Response(200, json={"pagination": empty, "results": []})
        entry = by_request.get((request.url.path, query))
        if entry is None:
            return httpx.Response(599, json={"detail": f"not recorded: {request.url}"})
        body = (directory / entry["file"]).read_bytes()
        return httpx.Response(
            entry["status"], content=body, headers={"content-type": entry["content_type"]}
        )

    return httpx.MockTransport(handler)
