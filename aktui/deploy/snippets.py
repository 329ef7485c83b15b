"""The set of NGINX forward-auth snippets for the live model (field guide Parts 2d, 2e, 3e, 4).

``build_snippets`` puts it together: the forward-auth file, one file per outpost that can get
one (``aktui.deploy.upstreams`` finds its address), and server-block examples per site and shape
(``aktui.nginx.templates``). Pure functions, no I/O; every value that lands in NGINX config is
checked by ``aktui.nginx.values`` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aktui.authentik.model import Outpost, Snapshot
from aktui.config import Config
from aktui.deploy.upstreams import SiteChoice, outpost_for_site, resolve_target
from aktui.errors import UnsafeValue
from aktui.nginx.templates import (
    DEFAULT_INCLUDE_DIR,
    DEFAULT_PROTECTED_PATH,
    DEFAULT_UPSTREAM,
    FORWARD_AUTH_FILE,
    SHAPES,
    render_example,
    render_forward_auth,
    render_outpost,
)
from aktui.nginx.values import OutpostTarget
from aktui.runtime import ContainerInfo


@dataclass(frozen=True, slots=True)
class SnippetSet:
    files: dict[str, str]  # file name -> text: the forward-auth file and one per outpost
    examples: dict[str, str]  # "examples/<site>/<shape>.conf" -> text
    targets: tuple[OutpostTarget, ...]
    sites: tuple[SiteChoice, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (outpost name, why)

    def files_for_sites(self, snapshot: Snapshot, sites: Iterable[str]) -> dict[str, str]:
        """The files a web server serving ``sites`` needs (all of them when it lists none)."""
        wanted = [outpost_for_site(snapshot, s).outpost for s in sites]
        if not wanted:
            return dict(self.files)
        names = {t.file_name for t in self.targets if t.name in wanted}
        return {k: v for k, v in self.files.items() if k == FORWARD_AUTH_FILE or k in names}


def _forward_outposts(snapshot: Snapshot) -> list[tuple[Outpost, str]]:
    """Every outpost with the reason it is skipped ('' when it should get a snippet)."""
    out = []
    for o in snapshot.outposts:
        providers = [snapshot.provider(pk) for pk in o.provider_pks]
        if o.embedded:
            why = "embedded outpost: its /auth/nginx answers 404, deploy a standalone outpost"
        elif not any(p and p.forward for p in providers):
            why = "serves no forward-auth provider"
        else:
            why = ""
        out.append((o, why))
    return out


def build_snippets(
    snapshot: Snapshot,
    config: Config,
    containers: Iterable[ContainerInfo] = (),
    *,
    outpost: str | None = None,
    site: str | None = None,
    include_dir: str = DEFAULT_INCLUDE_DIR,
    path: str = DEFAULT_PROTECTED_PATH,
    upstream: str = DEFAULT_UPSTREAM,
) -> SnippetSet:
    """All snippets for the model, or for one ``outpost`` / the outpost serving ``site``.

    Outposts that cannot get a snippet are listed in ``skipped`` when not asked for by name;
    asking for one by name (or through ``site``) raises UnsafeValue with the reason instead.
    """
    containers = tuple(containers)
    wanted: str | None = outpost
    choice: SiteChoice | None = None
    if site is not None:
        choice = outpost_for_site(snapshot, site)
        if not choice.outpost:
            raise UnsafeValue(
                f"site {choice.site!r}: provider {choice.provider!r} is on no outpost",
                "add its application to an outpost in authentik",
            )
        found = snapshot.outpost(outpost) if outpost else None
        if outpost and (found is None or found.name != choice.outpost):
            raise UnsafeValue(
                f"site {choice.site!r} is served by outpost {choice.outpost!r}, not {outpost!r}"
            )
        wanted = choice.outpost
    targets: list[OutpostTarget] = []
    skipped: list[tuple[str, str]] = []
    for o, why in _forward_outposts(snapshot):
        if wanted and wanted not in (o.name, o.pk):
            continue
        if not why:
            try:
                target = resolve_target(o, config, containers)
                target.file_name  # noqa: B018 - a name like "Outpost (EU)" skips this one only
                targets.append(target)
                continue
            except UnsafeValue as e:
                why = str(e)
        if wanted:
            raise UnsafeValue(f"outpost {o.name!r}: {why}")
        skipped.append((o.name, why))
    if wanted and not targets:
        known = ", ".join(o.name for o in snapshot.outposts) or "none"
        raise UnsafeValue(f"no outpost named {wanted!r} (known: {known})")
    files = {FORWARD_AUTH_FILE: render_forward_auth()}
    for t in targets:
        if t.file_name in files:
            raise UnsafeValue(f"outposts {t.name!r} and another both map to file {t.file_name}")
        files[t.file_name] = render_outpost(t)
    sites = [choice] if choice else _sites_of(snapshot, targets)
    by_name = {t.name: t for t in targets}
    examples = {}
    for c in sites:
        if c.outpost not in by_name:
            continue
        for shape in SHAPES:
            examples[f"examples/{c.site}/{shape}.conf"] = render_example(
                shape,
                c.site,
                by_name[c.outpost],
                include_dir=include_dir,
                path=path,
                upstream=upstream,
            )
    return SnippetSet(
        files=dict(sorted(files.items())),
        examples=dict(sorted(examples.items())),
        targets=tuple(targets),
        sites=tuple(sites),
        skipped=tuple(skipped),
    )


def _sites_of(snapshot: Snapshot, targets: Iterable[OutpostTarget]) -> list[SiteChoice]:
    names = {t.name for t in targets}
    out: dict[str, SiteChoice] = {}
    for p in snapshot.providers:
        if not p.forward or not p.hostname:
            continue
        try:
            c = outpost_for_site(snapshot, p.hostname)
        except UnsafeValue:
            continue  # a provider with an unusable external host gets no example
        if c.outpost in names:
            out.setdefault(c.site, c)
    return [out[k] for k in sorted(out)]


def describe(snippets: SnippetSet) -> Mapping[str, str]:
    """One line per outpost for the CLI: where each snippet points and why."""
    lines = {t.file_name: f"{t.upstream} (from {t.source})" for t in snippets.targets}
    for name, why in snippets.skipped:
        lines[f"skipped {name}"] = why
    return lines
