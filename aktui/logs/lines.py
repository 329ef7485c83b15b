"""Cut a byte stream into blocks of whole lines, no line longer than a cap.

A log source is not trusted to end its lines: a stream without ``\\n`` (a binary blob, a
minified page, a hostile container) would otherwise grow one line without limit, and keeping
``buffer += piece`` then searching the whole buffer again costs time quadratic in its length.
``LineBlocks`` keeps at most ``cap`` bytes of an unfinished line (its head), counts the rest,
and ends a cut line with ``…[line cut: N more bytes]``: memory stays flat and every byte is
looked at a bounded number of times.
"""

from __future__ import annotations

__all__ = ["LineBlocks", "cut_mark"]


def cut_mark(dropped: int) -> bytes:
    """What replaces the tail of a line longer than the cap (UTF-8)."""
    return f"…[line cut: {dropped} more bytes]".encode()


class LineBlocks:
    """``feed(data)`` returns the complete lines seen so far (a block ending in ``\\n``, or
    b""); ``end()`` returns the unfinished last line, if any, with a ``\\n`` added."""

    def __init__(self, cap: int) -> None:
        if cap < 16:
            raise ValueError("cap must be at least 16 bytes")
        self.cap = cap
        self._head = bytearray()  # the unfinished line, at most cap bytes
        self._dropped = 0  # bytes of the unfinished line beyond the cap

    def feed(self, data: bytes) -> bytes:
        last = data.rfind(b"\n")
        if last < 0:
            self._grow(data)
            return b""
        if self._head or self._dropped:
            first = data.find(b"\n")
            self._grow(data[:first])
            opening = self._finish()
            if first == last:
                block = opening
            else:  # one copy: bytes + memoryview concatenates without slicing first
                block = opening + memoryview(data)[first + 1 : last + 1]
                if last - first > self.cap:
                    block = opening + self._cap_block(data[first + 1 : last + 1])
        else:
            block = data if last + 1 == len(data) else data[: last + 1]
            if len(block) > self.cap:
                block = self._cap_block(block)
        if last + 1 < len(data):
            self._grow(data[last + 1 :])
        return block

    def end(self) -> bytes:
        """The last line when the stream did not end with ``\\n`` (b"" otherwise)."""
        if not self._head and not self._dropped:
            return b""
        return self._finish()

    def _grow(self, piece: bytes) -> None:
        room = self.cap - len(self._head)
        if len(piece) <= room:
            self._head += piece
        else:
            self._head += piece[:room]
            self._dropped += len(piece) - room

    def _finish(self) -> bytes:
        head, dropped = bytes(self._head), self._dropped
        self._head.clear()
        self._dropped = 0
        if not dropped:
            return head + b"\n"
        return _utf8_head(head) + cut_mark(dropped + len(head) - len(_utf8_head(head))) + b"\n"

    def _cap_block(self, block: bytes) -> bytes:
        """``block`` (whole lines) with each line over the cap cut. Windows of cap+1 bytes:
        one that holds a ``\\n`` has only short lines before it, so each byte is searched a
        bounded number of times (linear), and short lines are never split one by one."""
        cap, size = self.cap, len(block)
        pieces: list[bytes] = []
        pos = done = 0
        while size - pos > cap:
            last = block.rfind(b"\n", pos, pos + cap + 1)
            if last >= 0:
                pos = last + 1
                continue
            end = block.find(b"\n", pos)  # the block ends with one, so never -1
            head = _utf8_head(block[pos : pos + cap])
            pieces += [block[done:pos], head, cut_mark(end - pos - len(head)), b"\n"]
            pos = done = end + 1
        if not pieces:
            return block
        pieces.append(block[done:])
        return b"".join(pieces)


def _utf8_head(head: bytes) -> bytes:
    """``head`` without a multi-byte character cut in half at its end."""
    end = len(head)
    for back in range(1, min(4, end) + 1):
        byte = head[end - back]
        if byte < 0x80:
            return head
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return head if back >= need else head[: end - back]
    return head
