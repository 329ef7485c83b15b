"""One Textual strip operation without its reference cycle, for views that redraw often.

Every line the compositor draws goes through ``Strip.divide`` (textual 8.2, ``strip.py``).
Cut only at its own end, it answers ``[self]`` and caches that list in the strip itself: the
strip then refers to itself, and when the frame is done with it only the cyclic garbage
collector can free it (with its seven caches and its segments). Under a log flood (20 frames
a second) that was ~1,000 strips a second, the main cause of the gen-0 collections (6 a
second) and of the older-generation ones that follow, all on the UI thread.

``install`` answers that one case with a new ``[self]`` list and caches nothing; every other
cut goes to Textual's own code. The strips drawn are the same objects as before, so nothing
on screen changes. Written against textual 8.2.8 (pyproject allows <9): tests/app/test_strips.py
compares the answers with Textual's own ``divide``, so a Textual that divides differently
fails there, not on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.strip import Strip

_original = Strip.divide


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    length = self.cell_length
    kept = [cut for cut in cuts if cut <= length]  # as Textual filters them
    if kept == [length]:
        return [self]  # Textual's answer for this case, without keeping it in self
    return _original(self, kept)


def install() -> None:
    """Idempotent; process-wide (strips are shared by every screen)."""
    Strip.divide = _divide  # type: ignore[method-assign]
