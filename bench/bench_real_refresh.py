"""Full refresh against a real authentik 2023.10.7 with the 300-application lab (issue 11):
aktui's concurrent refresh vs the same requests one after another, and how many requests.

    sudo .venv/bin/python bench/bench_real_refresh.py [--apps 300 --rounds 3]

Starts the server from ../shared/authentik/server (installed once into its cache dir, like the
integration tier), creates the applications, measures, deletes them and stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' fixture module runs the server

from aktui.authentik.client import AuthentikClient  # noqa: E402
from tests.fixtures import realak  # noqa: E402
from tests.integration.test_real_authentik import CountingTransport, _each  # noqa: E402

PREFIX = "aktui-bench-"


async def refresh(ak: realak.RealAuthentik, concurrency: int) -> tuple[float, int, int, int]:
    transport = CountingTransport()
    client = AuthentikClient(ak.url, ak.token, transport=transport, concurrency=concurrency)
    start = time.perf_counter()
    async with client:
        snapshot = await client.snapshot()
    return (
        time.perf_counter() - start,
        len(transport.paths),
        transport.peak,
        len(snapshot.applications),
    )


async def create_apps(ak: realak.RealAuthentik, count: int, delete: bool = False) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {ak.token.reveal()}"}
    slugs = [f"{PREFIX}{i:03d}" for i in range(count)]
    async with httpx.AsyncClient(base_url=f"{ak.url}/api/v3", headers=headers, timeout=60) as api:
        if delete:
            await _each([lambda s=s: api.delete(f"/core/applications/{s}/") for s in slugs])
        else:
            await _each(
                [
                    lambda s=s: api.post("/core/applications/", json={"name": s, "slug": s})
                    for s in slugs
                ]
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = realak.server_dir()
    if not (here / realak.TARBALL_NAME).is_file():
        print(f"real authentik kit not found at {here}: skipped")
        return 0
    root = realak._install_dir(here / realak.TARBALL_NAME)
    with realak._locked(root.with_name(root.name + ".lock")):
        session = realak._session(root)
        ak = next(session)
        try:
            asyncio.run(create_apps(ak, args.apps))
            rows = {}
            for label, concurrency in (("concurrent (8)", 8), ("sequential (1)", 1)):
                runs = [asyncio.run(refresh(ak, concurrency)) for _ in range(args.rounds)]
                rows[label] = (statistics.median(r[0] for r in runs), *runs[-1][1:])
            asyncio.run(create_apps(ak, args.apps, delete=True))
        finally:
            session.close()
    print(f"full refresh against real authentik 2023.10.7 ({args.apps} extra applications)")
    print(f"{'mode':<16} {'median s':>9} {'requests':>9} {'in flight':>10} {'apps':>6}")
    for label, (median, requests, peak, apps) in rows.items():
        print(f"{label:<16} {median:>9.3f} {requests:>9} {peak:>10} {apps:>6}")
    ratio = rows["sequential (1)"][0] / rows["concurrent (8)"][0]
    print(f"{'ratio':<16} {ratio:>9.2f}x  (sequential / concurrent)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
