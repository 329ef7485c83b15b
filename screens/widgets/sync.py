"""In-place refresh of DataTable and Tree: change what changed, never clear and rebuild.

Clearing a table on every refresh throws away the cursor, the scroll position and the
operator's place in the middle of an incident; diffing by row key keeps all three.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable, Tree
from textual.widgets.tree import TreeNode


def sync_table(
    table: DataTable[object],
    rows: Mapping[str, Sequence[object]],
    columns: Sequence[str],
) -> bool:
    """Make ``table`` show ``rows`` (key -> cells) in the mapping's order. True when rows were
    added, removed or reordered.

    Cells change in place; only when the order differs (a new row that does not belong at the
    end, a filter cleared) are the rows laid out again, with the cursor kept on its row key and
    the scroll position kept: a new error lands above the info rows, not under them."""
    structural = False
    for gone in [k for k in table.rows if k.value not in rows]:
        table.remove_row(gone)
        structural = True
    widest: dict[str, tuple[int, str, object]] = {}  # column -> its widest changed cell
    for key, cells in rows.items():
        if key not in table.rows:
            table.add_row(*cells, key=key)
            structural = True
            continue
        for col, value in zip(columns, cells, strict=False):
            if table.get_cell(key, col) != value:
                width = _line_width(value)
                if width is None:  # not one line of Text: the table measures it
                    table.update_cell(key, col, value, update_width=True)
                    continue
                table.update_cell(key, col, value)
                if col not in widest or width > widest[col][0]:
                    widest[col] = (width, key, value)
    # The table re-measures a whole column for each changed cell narrower than the column:
    # with every "Seen" age changing, that was rows x rows measures a refresh. Handed only the
    # widest changed cell, it widens to it or, when the column shrank, measures it once.
    for col, (_, key, value) in widest.items():
        table.update_cell(key, col, value, update_width=True)
    if [r.key.value for r in table.ordered_rows] != list(rows):
        _relayout(table, rows)
        structural = True
    return structural


def _line_width(value: object) -> int | None:
    """Cells one line of ``value`` takes (None: not a one-line Text)."""
    if isinstance(value, Text) and "\n" not in value.plain:
        return cell_len(value.plain)
    return None


def _relayout(table: DataTable[object], rows: Mapping[str, Sequence[object]]) -> None:
    keep = selected_key(table)
    scroll = table.scroll_y
    table.clear()
    for key, cells in rows.items():
        table.add_row(*cells, key=key)
    move_to_key(table, keep)
    table.scroll_to(y=scroll, animate=False, immediate=True)


def selected_key(table: DataTable[object]) -> str | None:
    if not table.row_count:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:  # cursor outside the table while it is being filled
        return None
    return str(key.value) if key.value is not None else None


def move_to_key(table: DataTable[object], key: str | None) -> None:
    if key is not None and key in table.rows:
        table.move_cursor(row=table.get_row_index(key))


@dataclass(frozen=True, slots=True)
class TreeItem:
    key: str
    label: Text
    children: tuple[TreeItem, ...] = ()
    expand: bool = True
    data: object = None


# The item each node was last synced to. Items are immutable, so a node handed the very same
# item again already shows it, children included: a refresh that rebuilt only what changed
# (screens._rows.TreeMemo) touches only those nodes. Weak: removed nodes drop out.
_SYNCED: weakref.WeakKeyDictionary[TreeNode[object], TreeItem] = weakref.WeakKeyDictionary()


def sync_tree(tree: Tree[object], items: Sequence[TreeItem]) -> None:
    """Make ``tree``'s root children match ``items``, keeping nodes (and so the cursor and
    expansion state) of keys that stay."""
    _sync_children(tree.root, items)


def _sync_children(node: TreeNode[object], items: Sequence[TreeItem]) -> None:
    wanted = {item.key for item in items}
    existing: dict[str, TreeNode[object]] = {}
    for old in list(node.children):
        key = _key_of(old)
        if key in wanted and key not in existing:
            existing[key] = old
        else:
            old.remove()
    order_ok = [_key_of(c) for c in node.children] == [i.key for i in items if i.key in existing]
    if not order_ok:
        # Order changed (rare: a rename): rebuild this level only.
        for old in list(node.children):
            old.remove()
        existing = {}
    for index, item in enumerate(items):
        child = existing.get(item.key)
        if child is not None and _SYNCED.get(child) is item:
            continue  # shows this item already
        if child is None:
            before = index if index < len(node.children) else None
            if item.children:
                child = node.add(
                    item.label, data=(item.key, item.data), before=before, expand=item.expand
                )
            else:
                child = node.add_leaf(item.label, data=(item.key, item.data), before=before)
        else:
            if child.label != item.label:
                child.set_label(item.label)
            if child.data != (item.key, item.data):
                child.data = (item.key, item.data)
        _sync_children(child, item.children)
        if child.allow_expand != bool(item.children):
            child.allow_expand = bool(item.children)
        _SYNCED[child] = item


def _key_of(node: TreeNode[object]) -> str:
    data = node.data
    return str(data[0]) if isinstance(data, tuple) and data else ""


def tree_data(node: TreeNode[object] | None) -> object:
    if node is None or not isinstance(node.data, tuple) or len(node.data) < 2:
        return None
    return node.data[1]
