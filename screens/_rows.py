"""Row builders: AppData in, table cells and tree items out (rich Text, no widgets).

Every string that came from authentik or docker goes through ``literal``. Findings show as
icon + word + colour, never colour alone, so they survive monochrome terminals and screenshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text

from aktui.authentik.model import (
    MODE_LABELS,
    Application,
    Finding,
    Outpost,
    ProxyProvider,
    Snapshot,
)
from aktui.outposts.targets import EMBEDDED_NO_FIX, finding_key, fix_blocker
from aktui.outposts.verdicts import SEVERITY_ICON, SEVERITY_ORDER, AppData, age, worst
from aktui.screens.widgets.sync import TreeItem
from aktui.screens.widgets.text import literal

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
OK_STYLE = "green"
STALE_STYLE = "bold yellow"

OUTPOST_COLUMNS = (
    ("flag", "!"),
    ("name", "Outpost"),
    ("stale", "Config"),
    ("container", "Container"),
    ("inst", "Conn"),
    ("port", "Port"),  # before the wide columns: NGINX configs need it
    ("version", "Version"),
    ("seen", "Seen"),
    ("domains", "Cookie domain(s)"),
    ("type", "Type"),
)
# Which columns stay when the terminal is narrow: lower number = kept longer. Version
# (`2023.8.3 ≠ 2023.10.7`) and Seen (`never`) answer "is it connected and current?", so they
# stay at 80 columns; Container and Conn come back from 100 columns, and the detail screen
# (enter) always has them.
OUTPOST_PRIORITY = {
    "flag": 0,
    "name": 0,
    "stale": 0,
    "version": 1,
    "seen": 1,
    "port": 2,
    "inst": 3,
    "container": 4,
    "type": 5,
    "domains": 6,
}
CONFIG_WIDTH = len("? unsure")
NAME_WIDTH = 20  # longer outpost names are cut with "…" (the summary line has the full name)
DOMAINS_WIDTH = 48  # a single-app outpost lists many hosts; details show them all
FINDING_COLUMNS = (("sev", "Sev"), ("title", "Finding"))
SEVERITY_SHORT = {"error": "err", "warning": "warn", "info": "info"}


def severity_cell(findings: tuple[Finding, ...], *, doubt: Text | None = None) -> Text:
    """Worst finding and count; with no finding, ``doubt`` (why "ok" would be a lie) when
    given, else ``✔ ok``."""
    top = worst(findings)
    if top is None:
        return doubt if doubt is not None else Text("✔ ok", OK_STYLE)
    return Text(f"{SEVERITY_ICON.get(top, '?')} {len(findings)}", SEVERITY_STYLE.get(top, ""))


def cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def outpost_doubt(data: AppData, o: Outpost) -> Text | None:
    """Why an outpost without findings is still not "✔ ok" (None: it is)."""
    verdict = data.verdicts.get(o.pk)
    if verdict is not None and verdict.stale:
        return Text("⟳ stale", STALE_STYLE)
    if o.embedded:
        return Text("– embd", "dim")  # runs inside the server: aktui cannot check its config
    if verdict is not None and verdict.unknown:
        return Text("? unsure", "yellow")
    return None


def app_doubt(snap: Snapshot, provider_pk: int | None) -> Text | None:
    """Why an application/provider without findings is still not "✔ ok"."""
    outposts = snap.outposts_serving(provider_pk) if provider_pk is not None else ()
    if not outposts:
        return Text("✖ no outpost", "bold red")
    if all(o.embedded for o in outposts):
        return Text("– embedded", "dim")
    return None


def outpost_domains(snap: Snapshot, o: Outpost) -> str:
    keys: list[str] = []
    for pk in o.provider_pks:
        p = snap.provider(pk)
        if p is None:
            continue
        key = p.group_key if p.mode == "forward_domain" else f"{p.host or p.name} (single)"
        if key not in keys:
            keys.append(key)
    return ", ".join(keys) or "—"


def outpost_row(
    data: AppData, o: Outpost, now: datetime, running: Mapping[str, str] | None = None
) -> list[object]:
    """The cells of one outpost; ``running`` maps outpost pk -> progress (``⟳ reloading 3s``)
    of an action under way, shown in place of the staleness."""
    snap = data.snapshot
    assert snap is not None
    findings = snap.findings_for(f"outpost:{o.pk}")
    verdict = data.verdicts.get(o.pk)
    if running and o.pk in running:
        stale = Text(running[o.pk], "bold")
    elif verdict is None:
        stale = Text("—", "dim")
    elif verdict.stale:
        # The reason is long; it is shown under the table for the selected row.
        stale = Text("⟳ STALE", STALE_STYLE)
    elif verdict.unknown:
        stale = Text("? unsure", "yellow")
    else:
        stale = Text("✔ fresh", OK_STYLE)
    # Always as wide as its widest word: a verdict moves between "? unsure" and "⟳ STALE" as
    # evidence arrives, and the column must not keep (or lose) a cell depending on timing.
    stale.pad_right(max(0, CONFIG_WIDTH - stale.cell_len))
    container = data.container_for(o)
    if container is None:
        cont = Text("not found" if data.container_missing(o) else "—", "dim")
        port = "—"
    else:
        cont = container_cell(container.state, container.health)
        port = ",".join(str(p) for p in container.ports) or "—"
    if not o.health_known:
        inst = Text("?", "dim")
    elif o.instances:
        inst = Text(f"✔ {len(o.instances)}", OK_STYLE)
    else:
        inst = Text("✖ 0", "bold red" if o.provider_pks else "dim")
    versions = ", ".join(o.versions) or "—"
    should = next((i.version_should for i in o.instances if i.version_should), "")
    if any(i.outdated for i in o.instances):
        version = Text.assemble(literal(versions, "yellow"), (f" ≠ {should}", "yellow"))
    else:
        version = literal(versions)
    return [
        severity_cell(findings, doubt=outpost_doubt(data, o)),
        literal(cut(o.name, NAME_WIDTH), "bold"),
        stale,
        cont,
        inst,
        Text(port),
        version,
        Text(age(o.last_seen, now)),
        literal(cut(outpost_domains(snap, o), DOMAINS_WIDTH)),
        Text("embedded" if o.embedded else o.type),
    ]


def container_cell(state: str, health: str | None) -> Text:
    """One word for a container: its state, or for a running one with a failing or pending
    healthcheck that health instead (the detail screen shows both). One word keeps the
    column narrow enough to stay at 100 columns, where ``running (healthy)`` made it drop."""
    if state == "running" and health == "unhealthy":
        return Text("unhealthy", "bold red")
    if state == "running" and health == "starting":
        return Text("starting", "yellow")  # not "running": its healthcheck has not passed
    return literal(state, OK_STYLE if state == "running" else "bold red")


def outpost_rows(
    data: AppData, now: datetime, needle: str = "", running: Mapping[str, str] | None = None
) -> dict[str, list[object]]:
    """Rows in name order (the snapshot's), whatever arrived or was filtered meanwhile."""
    if data.snapshot is None:
        return {}
    outposts = sorted(data.snapshot.outposts, key=lambda o: o.name.lower())
    rows = {o.pk: outpost_row(data, o, now, running) for o in outposts}
    return filter_rows(rows, needle)


def column_widths(
    rows: Mapping[str, Sequence[object]], columns: Sequence[tuple[str, str]]
) -> dict[str, int]:
    """Cells each column needs: its widest cell or its label."""
    need: dict[str, int] = {}
    for i, (key, label) in enumerate(columns):
        cells = [c[i] for c in rows.values() if i < len(c)]
        widest = max(
            (cell_len(c.plain if isinstance(c, Text) else str(c)) for c in cells), default=0
        )
        need[key] = max(widest, cell_len(label))
    return need


def fitting_columns(
    rows: Mapping[str, Sequence[object]],
    columns: Sequence[tuple[str, str]],
    priority: Mapping[str, int],
    width: int,
) -> list[str]:
    """The column keys that fit ``width`` cells, most important first, shown in table order.

    Each column costs its widest cell (or label) plus DataTable's two cells of padding."""
    need = {key: cells + 2 for key, cells in column_widths(rows, columns).items()}
    chosen: set[str] = set()
    used = 0
    for key, _ in sorted(columns, key=lambda c: priority.get(c[0], 9)):
        if priority.get(key, 9) == 0 or used + need[key] <= width:
            chosen.add(key)
            used += need[key]
    return [k for k, _ in columns if k in chosen]


def filter_rows(rows: dict[str, list[object]], needle: str) -> dict[str, list[object]]:
    needle = needle.strip().lower()
    if not needle:
        return rows
    return {
        k: cells
        for k, cells in rows.items()
        if any(needle in (c.plain if isinstance(c, Text) else str(c)).lower() for c in cells)
    }


def outpost_summary(data: AppData, pk: str | None) -> Text:
    """One line under the outposts table: what is wrong with the selected outpost, and the fix."""
    snap = data.snapshot
    o = snap.outpost(pk) if snap and pk else None
    if o is None or snap is None:
        return Text("")
    text = Text.assemble(literal(o.name, "bold"), ": ")
    verdict = data.verdicts.get(o.pk)
    if o.embedded:
        text.append("embedded outpost — ", "dim")
        text.append_text(literal(EMBEDDED_NO_FIX))
    elif fix_blocker(o, data.evidence.get(o.name)):
        # First on the line (it is cut at the width): the fix is the token, not r.
        text.append("config fetch failing → fix its token; reload/restart cannot help", "bold")
        if verdict is not None:
            text.append(" — ")
            text.append_text(literal(verdict.reason))
    elif verdict is not None and verdict.stale:
        text.append("⟳ stale — ", STALE_STYLE)
        text.append_text(literal(verdict.reason))
        if verdict.action == "restart":
            text.append(" → r restarts it (users are logged out)", "bold")
        else:
            text.append(" → r reloads it", "bold")
    elif verdict is not None and verdict.unknown:
        text.append("? staleness unsure — ", "yellow")
        text.append_text(literal(verdict.reason))
    elif verdict is not None:
        text.append("✔ config fresh — ", OK_STYLE)
        text.append_text(literal(verdict.reason))
    else:
        text.append("no container evidence for staleness", "dim")
    return text


def finding_rows(snap: Snapshot | None) -> dict[str, list[object]]:
    """Errors before warnings before info, then by title: a new error lands on top."""
    if snap is None:
        return {}
    ranked = sorted(snap.findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.title))
    return {
        finding_key(f): [
            Text(
                f"{SEVERITY_ICON.get(f.severity, '?')} "
                f"{SEVERITY_SHORT.get(f.severity, f.severity)}",
                SEVERITY_STYLE.get(f.severity, ""),
            ),
            literal(f.title),
        ]
        for f in ranked
    }


def finding_line(f: Finding) -> Text:
    """The one-line detail under the findings at 24 rows: the full title, then the fix."""
    return Text.assemble(
        (f"{SEVERITY_ICON.get(f.severity, '?')} ", SEVERITY_STYLE.get(f.severity, "")),
        literal(f.title, "bold"),
        (" — fix: ", "bold"),
        literal(f.fix),
        no_wrap=True,
        overflow="ellipsis",
    )


def finding_text(f: Finding) -> Text:
    return Text.assemble(
        (
            f"{SEVERITY_ICON.get(f.severity, '?')} {f.severity}: ",
            SEVERITY_STYLE.get(f.severity, ""),
        ),
        literal(f.title, "bold"),
        "\n",
        literal(f.evidence, newlines=True),
        "\n",
        ("fix: ", "bold"),
        literal(f.fix, newlines=True),
    )


def _flag(findings: tuple[Finding, ...]) -> Text:
    top = worst(findings)
    if top is None:
        return Text("")
    return Text(f" {SEVERITY_ICON.get(top, '?')} {top}", SEVERITY_STYLE.get(top, ""))


class TreeMemo:
    """The tree items of the last render, by what each was drawn from.

    A refresh usually changes a handful of providers out of thousands: the others keep their
    item (the same object), so building is a comparison per provider instead of new Text,
    and ``sync_tree`` skips every item it synced last time."""

    def __init__(self) -> None:
        self.providers: dict[int, tuple[tuple[object, ...], TreeItem]] = {}
        self.groups: dict[str, tuple[tuple[object, ...], TreeItem]] = {}
        # The snapshot and stale outposts of the last call, and its items: containers and
        # evidence arriving re-render with both unchanged, and get the items as they were.
        self.last: tuple[Snapshot, frozenset[str], list[TreeItem]] | None = None


def domain_tree(data: AppData, memo: TreeMemo | None = None) -> list[TreeItem]:
    """cookie domain -> provider (mode, external host) -> application -> outpost.

    With ``memo``, items whose inputs are unchanged since the last call are reused as they
    were (equal to what would be built anew: tests pin it)."""
    snap = data.snapshot
    if snap is None:
        return []
    stale = frozenset(pk for pk, v in data.verdicts.items() if v.stale)
    if memo is not None and memo.last is not None:
        last_snap, last_stale, last_items = memo.last
        if last_snap is snap and last_stale == stale:
            return last_items
    items = []
    seen_providers: dict[int, tuple[tuple[object, ...], TreeItem]] = {}
    seen_groups: dict[str, tuple[tuple[object, ...], TreeItem]] = {}
    for g in snap.groups:
        providers = []
        for pk in g.provider_pks:
            p = snap.provider(pk)
            if p is None:
                continue
            outposts = snap.outposts_serving(p.pk)
            app = snap.application_for(p.pk)
            # Everything the provider's item shows, nothing else.
            inputs: tuple[object, ...] = (
                p,
                tuple(
                    (o.pk, o.name, bool((v := data.verdicts.get(o.pk)) and v.stale))
                    for o in outposts
                ),
                app,
                snap.findings_for(f"provider:{p.pk}"),
                snap.findings_for(f"app:{app.slug}") if app is not None else (),
            )
            cached = memo.providers.get(p.pk) if memo is not None else None
            if cached is not None and cached[0] == inputs:
                item = cached[1]
            else:
                item = _provider_item(*inputs)  # type: ignore[arg-type]
            seen_providers[p.pk] = (inputs, item)
            providers.append(item)
        group_inputs: tuple[object, ...] = (g.kind, *providers)
        cached_group = memo.groups.get(g.key) if memo is not None else None
        if cached_group is not None and _same(cached_group[0], group_inputs):
            group = cached_group[1]
        else:
            label = Text.assemble(
                ("◆ " if g.kind == "domain" else "◇ ", "bold"),
                literal(g.key, "bold"),
                (f"  {g.kind}", "dim"),
            )
            group = TreeItem(f"g:{g.key}", label, tuple(providers), data=("group", g.key))
        seen_groups[g.key] = (group_inputs, group)
        items.append(group)
    if memo is not None:  # only what this snapshot has: gone providers are forgotten
        memo.providers = seen_providers
        memo.groups = seen_groups
        memo.last = (snap, stale, items)
    return items


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Same kind and the very same provider items (identity: an item is rebuilt on change)."""
    return (
        len(a) == len(b) and a[0] == b[0] and all(x is y for x, y in zip(a[1:], b[1:], strict=True))
    )


def _provider_item(
    p: ProxyProvider,
    outposts: tuple[tuple[str, str, bool], ...],
    app: Application | None,
    provider_findings: tuple[Finding, ...],
    app_findings: tuple[Finding, ...],
) -> TreeItem:
    outpost_items = tuple(
        TreeItem(
            f"o:{pk}",
            Text.assemble("outpost ", literal(name), (" ⟳ stale", STALE_STYLE) if stale else ""),
            data=("outpost", pk),
        )
        for pk, name, stale in outposts
    ) or (TreeItem(f"none:{p.pk}", Text("no outpost", "bold red")),)
    if app is not None:
        app_item = TreeItem(
            f"a:{app.slug}",
            Text.assemble(
                "app ",
                literal(app.slug),
                (" · " + app.reach, "dim"),
                _flag(app_findings),
            ),
            outpost_items,
            data=("application", app.slug),
        )
        children: tuple[TreeItem, ...] = (app_item,)
    else:
        children = (TreeItem(f"noapp:{p.pk}", Text("no application", "yellow")),)
    return TreeItem(
        f"p:{p.pk}",
        Text.assemble(
            literal(p.name, "bold"),
            (f"  {MODE_LABELS.get(p.mode, p.mode)} ", "dim"),
            literal(p.external_host),
            _flag(provider_findings),
        ),
        children,
        data=("provider", p.pk),
    )
