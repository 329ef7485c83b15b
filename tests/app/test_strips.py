"""The strip ``divide`` without its reference cycle (aktui.screens.widgets.strips): the same
strips as Textual's own, and nothing left for the cyclic collector."""

from __future__ import annotations

import gc

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from aktui.screens.widgets import strips


def _strip() -> Strip:
    return Strip([Segment("06:36:00 ", Style(dim=True)), Segment("INF Loaded application")])


def _plain(parts: object) -> list[str]:
    return [part.text for part in parts]  # type: ignore[attr-defined]


def test_divide_answers_as_textual_does() -> None:
    strips.install()
    length = _strip().cell_length
    for cuts in ([length], [5, length], [length, length + 4], [3, 9, 40], [length + 1], []):
        ours = strips._divide(_strip(), cuts)
        theirs = strips._original(_strip(), cuts)
        assert _plain(ours) == _plain(theirs), cuts
        assert [s.cell_length for s in ours] == [s.cell_length for s in theirs]
    whole = _strip()
    assert strips._divide(whole, [whole.cell_length]) == [whole]
    assert strips._divide(whole, [whole.cell_length])[0] is whole
    assert Strip.divide is strips._divide  # installed, process-wide


def test_a_strip_divided_at_its_end_is_freed_without_the_collector() -> None:
    strips.install()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            strip = _strip()
            strip.divide([strip.cell_length])  # what the compositor does with every line
            del strip
        assert gc.collect() == 0  # Textual's own divide leaves each strip in a cycle
    finally:
        gc.enable()
