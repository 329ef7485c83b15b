"""LineBlocks: whole lines out, a line over the cap keeps its head and is marked cut, and the
unfinished line it holds never grows past the cap (flat memory, each byte searched a bounded
number of times: no re-scan of an ever-growing buffer)."""

from __future__ import annotations

import random

import pytest

from aktui.logs.lines import LineBlocks, _utf8_head, cut_mark


def _run(data: bytes, cap: int, piece: int) -> tuple[bytes, int]:
    blocks = LineBlocks(cap)
    out, held = [], 0
    for at in range(0, len(data), piece):
        block = blocks.feed(data[at : at + piece])
        assert block == b"" or block.endswith(b"\n")
        out.append(block)
        held = max(held, len(blocks._head))
    out.append(blocks.end())
    return b"".join(out), held


def _reference(data: bytes, cap: int) -> bytes:
    """What the stream must come out as, line by line (quadratic, fine for tests)."""
    if not data:
        return b""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    out = []
    for line in lines:
        if len(line) > cap:
            head = _utf8_head(line[:cap])
            line = head + cut_mark(len(line) - len(head))
        out.append(line + b"\n")
    return b"".join(out)


def test_short_lines_pass_unchanged_in_any_pieces() -> None:
    data = b"one\ntwo\r\n\nthree"
    for piece in (1, 2, 3, 5, 100):
        out, _ = _run(data, 64, piece)
        assert out == b"one\ntwo\r\n\nthree\n"


def test_endless_line_is_cut_and_memory_stays_at_the_cap() -> None:
    cap = 1024
    data = b"x" * 5_000_000 + b"\nnext\n"  # 5 MB without a line break
    out, held = _run(data, cap, 4096)
    assert held <= cap  # the old buffer held all 5 MB and searched it again per read
    first, second, _ = out.split(b"\n")
    assert first == b"x" * cap + "…[line cut: 4998976 more bytes]".encode()
    assert second == b"next"


def test_stream_ending_inside_a_long_line() -> None:
    blocks = LineBlocks(16)
    assert blocks.feed(b"a" * 40) == b""
    assert blocks.end() == b"a" * 16 + cut_mark(24) + b"\n"
    assert blocks.end() == b""


def test_long_lines_inside_one_block_are_cut_too() -> None:
    data = b"short\n" + b"y" * 100 + b"\nok\n" + b"z" * 17 + b"\n"
    out, _ = _run(data, 16, len(data))
    assert out == _reference(data, 16)
    assert out.split(b"\n")[1] == b"y" * 16 + cut_mark(84)


def test_a_character_is_never_cut_in_half() -> None:
    data = ("é" * 20 + "\n").encode()  # 40 bytes; a cap of 17 falls inside the 9th é
    out, _ = _run(data, 17, 7)
    assert out.decode("utf-8") == "é" * 8 + "…[line cut: 24 more bytes]\n"


@pytest.mark.parametrize("seed", range(8))
def test_random_streams_match_the_line_by_line_reference(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(200):
        size = rng.choice([0, 1, 5, 15, 16, 17, 40, 300])
        parts.append(bytes(rng.choice(b"ab\xc3\xa9\r") for _ in range(size)))
    data = b"\n".join(parts) + rng.choice([b"", b"\n"])
    cap = rng.choice([16, 17, 32])
    out, held = _run(data, cap, rng.choice([1, 3, 16, 64, 1000, 100_000]))
    assert out == _reference(data, cap)
    assert held <= cap
