"""The TUI's demo lab process (``aktui.lab.host``), which also fetches the first snapshot.

    python -m aktui.cmd._demo_lab --fd N      (started by ``LabHost(module=...)``)

``aktui --config`` gets its first snapshot from a helper process while the UI loads
(``aktui.cmd._prefetch``); the demo's lab runs in a process of its own anyway, so that process
fetches it, through the same client, from the same API the TUI then talks to, as soon as the
API answers. It lives here, not in ``aktui.lab``, because it uses the backend's client setup.
"""

from __future__ import annotations

import sys

from aktui.errors import describe_error


def fetch_snapshot(url: str, token: str) -> object:
    """The lab API's snapshot, fetched as the TUI would, or the fetch's one-line error."""
    import asyncio

    from aktui.backend import import_httpx_without_its_cli

    import_httpx_without_its_cli()
    from aktui.authentik.client import AuthentikClient
    from aktui.secret import Secret

    async def fetch() -> object:
        async with AuthentikClient(url, Secret(token)) as client:
            return await client.snapshot()

    try:
        return asyncio.run(fetch())
    except Exception as e:  # the TUI shows it as its own fetch would
        return describe_error(e)


def main(argv: list[str] | None = None) -> int:
    from aktui.lab.host import serve

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2 or args[0] != "--fd" or not args[1].isdigit():
        print("usage: python -m aktui.cmd._demo_lab --fd N", file=sys.stderr)
        return 2
    return serve(int(args[1]), prefetch=fetch_snapshot)


if __name__ == "__main__":
    sys.exit(main())
