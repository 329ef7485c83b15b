"""``s``: the NGINX snippets aktui would write for this setup, file by file.

Built by ``aktui.deploy.snippets.build_snippets`` from the current snapshot and containers (the same
files ``aktui snippets`` prints and ``p`` pushes). Outposts that get no snippet say why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from aktui.outposts.verdicts import AppData
from aktui.screens._keys import GuardedScreen, bindings
from aktui.screens.widgets.statusbar import StatusBar
from aktui.screens.widgets.text import literal

if TYPE_CHECKING:
    from aktui.deploy.snippets import SnippetSet
    from aktui.screens.app import AktuiApp


def build(app: AktuiApp, data: AppData) -> SnippetSet | str:
    """The snippet set, or one line saying why there is none."""
    from aktui.deploy.snippets import build_snippets
    from aktui.errors import AktuiError

    if data.snapshot is None:
        return "no data from authentik yet"
    try:
        return build_snippets(data.snapshot, app.backend.config, data.containers)
    except AktuiError as e:
        return str(e)


class SnippetsScreen(GuardedScreen):
    SCOPE = "snippets"
    CSS_PATH = "../styles/snippets.tcss"
    BINDINGS = bindings("snippets")
    AUTO_FOCUS = "#files"

    app: AktuiApp

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal():
            files = OptionList(id="files")
            files.border_title = "Files"
            yield files
            with VerticalScroll(id="file-view") as view:
                view.border_title = "NGINX"
                yield Static(id="file-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._render_data)

    def _render_data(self, data: AppData) -> None:
        built = build(self.app, data)
        if isinstance(built, str):
            texts = {"(none)": built}
        else:
            texts = {**built.files, **built.examples}
            for name, why in built.skipped:
                texts[f"skipped: {name}"] = why
        if texts == self.texts:
            return  # a refresh that changed nothing keeps the list and the scroll as they are
        files = self.query_one("#files", OptionList)
        keep = files.highlighted
        self.texts = texts
        files.clear_options()
        files.add_options([Option(literal(name), id=name) for name in texts])
        files.highlighted = keep if keep is not None and keep < len(texts) else 0
        self._show_highlighted()

    def _show_highlighted(self) -> None:
        files = self.query_one("#files", OptionList)
        if files.highlighted is None:
            return
        option = files.get_option_at_index(files.highlighted)
        name = str(option.id)
        self.query_one("#file-view").border_title = name
        text = literal(self.texts.get(name, ""), limit=200_000, newlines=True)
        self.query_one("#file-text", Static).update(text)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_highlighted()
