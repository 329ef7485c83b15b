"""After a push's reload: the doctor's 302 check of each listed site, through that nginx.

``aktui push`` and the TUI hand ``site_checks`` to ``apply_hosts`` as its ``checks``: it runs
over the push's own SSH session with the ``nginx -T`` dump the push tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aktui.authentik.model import Snapshot
from aktui.config import WebServerConfig
from aktui.deploy.snippets import SnippetSet
from aktui.deploy.ssh import WebServer
from aktui.doctor.sites import SiteChecks
from aktui.nginx.config import load_text
from aktui.nginx.locations import servers as server_blocks


def site_checks(
    snapshot: Snapshot, snippets: SnippetSet, servers: Mapping[str, WebServerConfig]
) -> dict[str, Callable[[WebServer, str], str]]:
    """The doctor's site-redirect check for every listed site of each host, after its reload:
    an unauthenticated GET through that nginx must answer 302 to /outpost.goauthentik.io/start
    (curl on the web server, with the site's Host and SNI; from here without curl)."""

    def make(name: str, cfg: WebServerConfig) -> Callable[[WebServer, str], str]:
        def check(server: WebServer, dump: str) -> str:
            blocks = [s for c in load_text(dump, f"{name}:nginx -T") for s in server_blocks(c)]
            checks = SiteChecks(name, cfg, server, snapshot, snippets)
            bad = [
                r
                for site in cfg.sites
                for r in checks.site(site, blocks)
                if r.check == "site-redirect" and r.status != "ok"
            ]
            return "; ".join(f"{r.title} ({r.evidence})" for r in bad)

        return check

    return {name: make(name, cfg) for name, cfg in servers.items() if cfg.sites}
