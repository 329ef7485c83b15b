"""Details of one object: its outpost(s), group bindings (who can reach it) and findings.

Re-rendered from ``app.data`` on every refresh, so a detail left open during an incident stays
current; when the object disappears the screen says so instead of closing under the cursor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from aktui.authentik.model import MODE_LABELS, Finding, Outpost, Snapshot
from aktui.outposts.targets import EMBEDDED_NO_FIX, finding_key, fix_blocker, subject_name
from aktui.outposts.verdicts import AppData, age, hhmm
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens._rows import finding_text, outpost_domains
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.text import literal

if TYPE_CHECKING:
    from datetime import datetime

    from aktui.screens.app import AktuiApp


def _h(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


LABEL_WIDTH = 16  # the longest label ("cookie domains", "browser host") plus a gap


def _kv(key: str, value: object) -> Text:
    """``label  value``: at least two spaces between them, whatever the label's length."""
    return Text.assemble((f"{key:<{LABEL_WIDTH - 2}}  ", "dim"), literal(value))


def _findings(snap: Snapshot, subject: str) -> list[Text]:
    found = snap.findings_for(subject)
    if not found:
        return [Text("✔ no findings", "green")]
    return [finding_text(f) for f in found]


def outpost_detail(data: AppData, o: Outpost, now: datetime) -> list[Text]:
    snap = data.snapshot
    assert snap is not None
    out = [Text.assemble(("Outpost ", "bold"), literal(o.name, "bold"))]
    out += [
        _kv("pk", o.pk),
        _kv("type", "embedded" if o.embedded else o.type),
        _kv("cookie domains", outpost_domains(snap, o)),
        _kv("authentik_host", o.authentik_host or "—"),
        _kv("browser host", o.authentik_host_browser or "— (not set)"),
        _kv("refresh", f"every {o.refresh_interval_s}s"),
    ]
    verdict = data.verdicts.get(o.pk)
    if verdict is not None:
        word = "⟳ STALE" if verdict.stale else ("? unsure" if verdict.unknown else "✔ fresh")
        out.append(Text.assemble(_kv("config", word), " ", literal(verdict.reason)))
        out.append(_kv("confidence", verdict.confidence or "?"))
        blocker = fix_blocker(o, data.evidence.get(o.name))
        if o.embedded or blocker:
            out.append(_kv("fix", blocker or EMBEDDED_NO_FIX))
        elif verdict.stale:
            # r is bound on the dashboard, not here: say where it works.
            out.append(_kv("fix", f"{verdict.action} (r on the dashboard or in its log view)"))
    container = data.container_for(o)
    out.append(_h("Container"))
    if container is None:
        if data.container_missing(o):
            out.append(Text("no container found for this outpost"))
        else:
            out.append(Text("not listed yet" if data.containers else "no runtime"))
    else:
        out += [
            _kv("name", container.name),
            _kv("host", container.host),
            _kv("state", container.state + (f" ({container.health})" if container.health else "")),
            _kv("started", f"{hhmm(container.started_at)} ({age(container.started_at, now)} ago)"),
            _kv("restarts", container.restart_count),
            _kv("ports", ", ".join(map(str, container.ports)) or "—"),
            _kv("image", container.image or "?"),
            _kv("HOST_BROWSER", "set" if container.host_browser_set else "not set"),
        ]
    out.append(_h(f"Connected instances ({len(o.instances)})"))
    for i in o.instances:
        out.append(
            Text.assemble(
                literal(i.hostname or i.uid),
                f"  v{i.version or '?'}",
                (f" (server {i.version_should})", "yellow") if i.outdated else "",
                f"  seen {age(i.last_seen, now)} ago",
            )
        )
    if not o.instances:
        out.append(Text("none: no websocket connected, config pushes cannot arrive", "yellow"))
    out.append(_h("Providers"))
    for pk in o.provider_pks:
        p = snap.provider(pk)
        if p is not None:
            app = snap.application_for(pk)
            reach = app.reach if app else "no application"
            out.append(
                Text.assemble(
                    literal(p.name, "bold"),
                    f"  {MODE_LABELS.get(p.mode, p.mode)}  ",
                    literal(p.external_host),
                    ("  reach: ", "dim"),
                    literal(reach),
                )
            )
    if not o.provider_pks:
        out.append(Text("none"))
    out.append(_h("Findings"))
    return out + _findings(snap, f"outpost:{o.pk}")


def provider_detail(data: AppData, pk: int) -> list[Text]:
    snap = data.snapshot
    assert snap is not None
    p = snap.provider(pk)
    if p is None:
        return [Text(f"provider {pk} no longer exists", "yellow")]
    out = [Text.assemble(("Provider ", "bold"), literal(p.name, "bold"))]
    out += [
        _kv("mode", MODE_LABELS.get(p.mode, p.mode)),
        _kv("external host", p.external_host),
        _kv("internal host", p.internal_host or "—"),
        _kv("cookie domain", p.cookie_domain or "— (host only)"),
        _kv("skip paths", p.skip_path_regex or "—"),
    ]
    out.append(_h("Outposts"))
    outposts = snap.outposts_serving(p.pk)
    out += [Text.assemble("• ", literal(o.name)) for o in outposts] or [Text("none", "yellow")]
    app = snap.application_for(p.pk)
    out.append(_h("Application and who can reach it"))
    if app is None:
        out.append(Text("no application: outposts never load this provider", "yellow"))
    else:
        out += _app_lines(app.slug, data)
    out.append(_h("Findings"))
    return out + _findings(snap, f"provider:{p.pk}")


def _app_lines(slug: str, data: AppData) -> list[Text]:
    snap = data.snapshot
    assert snap is not None
    app = next((a for a in snap.applications if a.slug == slug), None)
    if app is None:
        return [Text(f"application {slug} no longer exists", "yellow")]
    out = [_kv("application", f"{app.name} ({app.slug})"), _kv("launch URL", app.launch_url or "—")]
    if not app.bindings:
        out.append(_kv("reach", "every authenticated user (no bindings)"))
    for b in app.bindings:
        state = "" if b.enabled else " (disabled)"
        neg = "NOT " if b.negate else ""
        out.append(_kv(f"binding {b.order}", f"{neg}{b.label}{state}"))
    return out


def application_detail(data: AppData, slug: str) -> list[Text]:
    snap = data.snapshot
    assert snap is not None
    out = _app_lines(slug, data)
    app = next((a for a in snap.applications if a.slug == slug), None)
    if app is not None and app.provider_pk is not None:
        p = snap.provider(app.provider_pk)
        out.append(_h("Provider"))
        out.append(
            Text.assemble(literal(p.name), "  ", literal(p.external_host)) if p else Text("—")
        )
        out.append(_h("Outposts"))
        outposts = snap.outposts_serving(app.provider_pk)
        out += [Text.assemble("• ", literal(o.name)) for o in outposts] or [Text("none", "yellow")]
    out.append(_h("Findings"))
    return out + _findings(snap, f"app:{slug}")


def finding_detail(snap: Snapshot, key: str) -> list[Text]:
    found: Finding | None = next((f for f in snap.findings if finding_key(f) == key), None)
    if found is None:
        return [Text("this finding is resolved", "green")]
    return [
        finding_text(found),
        _h("Concerns"),
        *(literal(subject_name(snap, s)) for s in found.subjects),
    ]


class DetailScreen(GuardedScreen):
    SCOPE = "detail"
    CSS_PATH = "../styles/detail.tcss"
    BINDINGS = bindings("detail")
    AUTO_FOCUS = "#detail-scroll"

    app: AktuiApp

    def __init__(self, kind: str, key: str) -> None:
        super().__init__()
        self.kind = kind
        self.key = key

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._render_data)

    def lines(self, data: AppData) -> list[Text]:
        snap = data.snapshot
        if snap is None:
            return [Text("no data yet")]
        now = self.app.clock()
        if self.kind == "outpost":
            o = snap.outpost(self.key)
            return outpost_detail(data, o, now) if o else [Text("outpost no longer exists")]
        if self.kind == "provider":
            return provider_detail(data, int(self.key))
        if self.kind == "application":
            return application_detail(data, self.key)
        if self.kind == "finding":
            return finding_detail(snap, self.key)
        if self.kind == "group":
            group = next((g for g in snap.groups if g.key == self.key), None)
            if group is None:
                return [Text("cookie domain no longer exists")]
            out = [Text.assemble(("Cookie domain ", "bold"), literal(group.key, "bold"))]
            out.append(_kv("kind", group.kind))
            out.append(_kv("outposts", ", ".join(group.outpost_names) or "none"))
            for pk in group.provider_pks:
                out += provider_detail(data, pk)
            return out
        return [Text(f"nothing to show for {self.kind}")]

    def _render_data(self, data: AppData) -> None:
        self.query_one("#detail-body", Static).update(Text("\n").join(self.lines(data)))

    def outposts(self) -> tuple[list[Outpost], str]:
        snap = self.app.data.snapshot
        if snap is None:
            return [], ""
        if self.kind == "outpost":
            o = snap.outpost(self.key)
            return ([o], o.name) if o else ([], "")
        if self.kind == "provider":
            p = snap.provider(int(self.key))
            return list(
                snap.outposts_serving(int(self.key))
            ), f"provider {p.name if p else self.key}"
        if self.kind == "application":
            app = next((a for a in snap.applications if a.slug == self.key), None)
            if app and app.provider_pk is not None:
                return list(snap.outposts_serving(app.provider_pk)), f"app {self.key}"
        if self.kind == "group":
            group = next((g for g in snap.groups if g.key == self.key), None)
            if group:
                names = set(group.outpost_names)
                return [o for o in snap.outposts if o.name in names], f"domain {self.key}"
        return [], ""

    def action_logs_selected(self) -> None:
        from aktui.screens.logs import open_logs

        outposts, title = self.outposts()
        open_logs(self.app, outposts, title)
