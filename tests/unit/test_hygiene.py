"""Guards: the core never imports Textual, and secrets never leak through reprs or JSON."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import aktui
from aktui.authentik.jsonable import to_jsonable
from aktui.secret import Secret

CORE_DIR = Path(aktui.__file__).parent


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(CORE_DIR)], prefix="aktui."):
        if info.name.startswith(("aktui.screens", "aktui.styles")):
            continue
        names.append(info.name)
    return names


def test_core_modules_do_not_import_textual():
    # A static import check misses imports done by dependencies or at call time; importing each
    # module in a fresh interpreter and looking at sys.modules does not (harlequin's reasoning).
    modules = core_modules()
    assert "aktui.authentik.model" in modules and "aktui.authentik.client" in modules
    code = (
        "import importlib, sys\n"
        # httpx imports its command-line helper (which imports rich) when click is installed,
        # as import-linter installs it; that is httpx's import, not aktui's.
        "sys.modules['httpx._main'] = None\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_secret_never_shows():
    s = Secret("hunter2-token")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"t": s})):
        assert "hunter2" not in text
    assert to_jsonable({"token": s}) == {"token": None}
    assert s.reveal() == "hunter2-token"


def test_no_import_cycles_between_modules():
    # import-linter's layers keep the packages in order; inside a package a cycle could still
    # hide behind a function-level import. Type-only imports name a type and are left out.
    import grimp

    graph = grimp.build_graph("aktui", exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(m: str) -> None:  # Tarjan's strongly connected components
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in edges[m]:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    # A package's __init__ importing its own submodule lazily is not a cycle of concepts.
    cycles = [c for c in cycles if not all(x.startswith(c[0]) for x in c)]
    assert cycles == []
