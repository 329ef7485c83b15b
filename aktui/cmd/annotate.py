"""`aktui annotate [FILE ...]`: each log line back, with the cheat sheet's cause and fix under it.

Reads the files (``-`` or none: stdin) a block of lines at a time, so memory stays flat however
long the log, and ``tail -f ... | aktui annotate`` works. A line longer than 1 MiB keeps its
head and ends in ``…[line cut: N more bytes]`` (input without line breaks cannot grow memory
or time without limit). On pipes and files a multi-pattern scan (``aktui.logs.prefilter``)
finds the few lines a rule could match; the rest go out in bulk. Plain output writes every
line unchanged and adds ``  ↳ [severity] title — cause: ... fix: ... [rule-id]`` under
matched ones. ``--json`` writes exactly one object per input line, in input order. Exit 0
even when failures were found (the job is to explain them); ``--fail-on SEVERITY`` exits 1
when a line at or above it was seen.

On a terminal, control characters are shown escaped (``\\x1b``) so that a hostile log line
cannot move the cursor, retitle the window or hide text; pipes and files get the bytes as read.

Cookie values, Authorization credentials, bearer tokens and JWTs (trace-level outpost logs dump
request headers) are written as ``<redacted>`` (``aktui.logs.redact``); ``--show-secrets`` writes
them as read. Rules still see the whole line.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import sys
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring as _encode
from typing import IO, TextIO

from aktui.errors import AktuiError
from aktui.logs.annotate import SEVERITIES, Annotation, BlockFilter, RuleSet, load_rules
from aktui.logs.lines import LineBlocks
from aktui.logs.redact import TRIGGERS, redact
from aktui.terminal import escape
from aktui.userdirs import config_file

_JSON_KEYS = ("rule", "title", "severity", "cause", "fix")
_CHUNK = 1 << 20
# The longest line kept whole (bytes): a longer one keeps this much of its head, marked cut,
# so input without line breaks cannot grow memory or time without limit.
LINE_CAP = 1 << 20
# The JSON object of an unmatched line, around its encoded text.
_HEAD = '{"line": "'
_TAIL = '", "rule": null, "title": null, "severity": null, "cause": null, "fix": null}\n'
_HEAD_B, _TAIL_HEAD_B = _HEAD.encode(), (_TAIL + _HEAD).encode()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="log files; - or none: stdin")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per input line, in input order"
    )
    parser.add_argument(
        "--only-annotated", action="store_true", help="write only the lines a rule matched"
    )
    parser.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        metavar="SEVERITY",
        help="exit 1 if a line of this severity or worse was seen (info, warning, error)",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="extra rules (YAML), tried before the built-in ones; default: logs.rules_file",
    )
    parser.add_argument("--list-rules", action="store_true", help="print the rules in use and exit")
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="write cookie values, Authorization credentials and tokens as read "
        "(default: <redacted>)",
    )


def format_annotation(annotation: Annotation) -> str:
    a = annotation
    return f"  ↳ [{a.severity}] {a.title} — cause: {a.cause} fix: {a.fix} [{a.rule}]"


def _as_read(text: str) -> str:
    return text


def _cleaner(args: argparse.Namespace) -> Callable[[str], str]:
    return _as_read if getattr(args, "show_secrets", False) else redact


def _rules_file(args: argparse.Namespace) -> str | None:
    if getattr(args, "rules", None):
        return str(args.rules)
    # The config's logs.rules_file applies here as in the TUI's log view; without a config
    # file the built-in rules are enough, so a missing one is not an error (and its reader
    # is not even imported: ~5 ms of every start).
    explicit = getattr(args, "config", None)
    if not explicit and not config_file().exists():
        return None
    from aktui.config import load_config

    return load_config(explicit, required=False).logs.rules_file or None


def _inputs(files: list[str], stdin: IO[str] | None) -> Iterator[tuple[str, IO[str] | None]]:
    for name in files or ["-"]:
        if name == "-":
            yield "<stdin>", stdin if stdin is not None else _stdin()
            continue
        try:
            handle = open(name, "rb")  # noqa: SIM115 - closed below, after streaming
        except OSError as e:
            print(f"aktui annotate: {name}: {e.strerror or e}", file=sys.stderr)
            yield name, None
            continue
        with handle:
            yield name, _reader(handle)


def _stdin() -> IO[str]:
    # Reconfigured rather than re-wrapped: a second wrapper would close stdin when collected.
    with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace", newline="\n")  # type: ignore[union-attr]
    return sys.stdin


def _reader(binary: IO[bytes]) -> IO[str]:
    # Invalid UTF-8 is replaced, never fatal; only "\n" ends a line, so a stray "\r" inside
    # a hostile line cannot split it, and "\r\n" stays as it was read.
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")


def run(
    args: argparse.Namespace, *, stdin: IO[str] | None = None, stdout: TextIO | None = None
) -> int:
    out = stdout if stdout is not None else sys.stdout
    rules = load_rules(_rules_file(args))
    if getattr(args, "list_rules", False):
        return _list_rules(rules, out)
    threshold = SEVERITIES.index(args.fail_on) if getattr(args, "fail_on", None) else None
    tty = bool(getattr(out, "isatty", lambda: False)())
    worst = -1
    failed_input = False
    # Terminal output keeps the per-line path: its escaping is per line and speed is moot.
    # Healthy lines go out in bulk, so the filter also finds the lines redaction rewrites.
    secrets = () if getattr(args, "show_secrets", False) else TRIGGERS
    # Control characters matter only to JSON output (escaped there): plain output scans less.
    as_json = bool(getattr(args, "json", False))
    block = None if tty else rules.block_filter(also=secrets, controls=as_json)
    # What is loaded now (modules, rules, indexes, the filter) lives as long as the run: the
    # collector's passes over it while the log streams are wasted (~3% of the time on a
    # long log). Frozen for the run, given back to the collector after it.
    gc.freeze()
    try:
        for name, stream in _inputs(list(getattr(args, "files", []) or []), stdin):
            if stream is None:
                failed_input = True
                continue
            try:
                if block is not None:
                    worst = max(worst, _annotate_blocks(stream, out, rules, block, args))
                else:
                    worst = max(worst, _annotate_stream(stream, out, rules, args, tty))
            except BrokenPipeError:  # stdout closed (`| head`): not this input's fault
                raise
            except OSError as e:  # a directory, or a read error mid-file
                print(f"aktui annotate: {name}: {e.strerror or e}", file=sys.stderr)
                failed_input = True
    finally:
        gc.unfreeze()
    out.flush()
    if failed_input:
        return 2
    return 1 if threshold is not None and worst >= threshold else 0


def _annotate_stream(
    stream: IO[str], out: TextIO, rules: RuleSet, args: argparse.Namespace, tty: bool
) -> int:
    """Annotate one stream line by line; returns the worst severity index seen (-1: none)."""
    as_json = bool(getattr(args, "json", False))
    only = bool(getattr(args, "only_annotated", False))
    annotate, write, rank = rules.annotate, out.write, SEVERITIES.index
    clean = _cleaner(args)
    worst = -1
    for block, _ in _blocks(stream):
        decoded = block.decode("utf-8")
        lines = decoded.split("\n")
        lines.pop()  # the block ends with "\n"
        # Rules see the line as read, output shows it redacted: redact never adds or removes
        # a line break, so the two lists pair up, and one pass over the block is cheaper
        # than one per line.
        cleaned = clean(decoded)
        shown_lines = lines
        if cleaned is not decoded:
            shown_lines = cleaned.split("\n")
            shown_lines.pop()
        for text, shown in zip(lines, shown_lines, strict=True):
            found = annotate(text)  # probe/parse ignore a trailing "\r"
            if found is None:
                if only:
                    continue
                if as_json:
                    write(_json_line(_strip_cr(shown), None, tty))
                elif tty:
                    write(escape(_strip_cr(shown)) + "\n")
                else:
                    write(shown + "\n")  # CRLF stays CRLF: only the "\n" was split off
                continue
            worst = max(worst, rank(found.severity))
            text = _strip_cr(shown)
            if as_json:
                write(_json_line(text, found, tty))
            else:
                note = format_annotation(found)
                write(f"{escape(text)}\n{escape(note)}\n" if tty else f"{text}\n{note}\n")
    return worst


def _annotate_blocks(
    stream: IO[str], out: TextIO, rules: RuleSet, block: BlockFilter, args: argparse.Namespace
) -> int:
    """``_annotate_stream`` for pipes and files, a block of lines at a time, in bytes: the
    block filter finds the few lines a rule could match, everything between them is written
    as it was read, in one piece."""
    as_json = bool(getattr(args, "json", False))
    only = bool(getattr(args, "only_annotated", False))
    annotate, rank, candidates = rules.annotate_hinted, SEVERITIES.index, block.lines
    clean = _cleaner(args)
    write = _byte_writer(out)
    worst = -1
    notes: dict[int, tuple[int, bytes]] = {}  # id of an annotation (held by its rule)
    for data, ascii in _blocks(stream):
        view = memoryview(data)
        pieces: list[bytes | memoryview] = []  # one write per block: few, large writes
        put = pieces.append
        pos = 0  # data[pos:] is not in pieces yet
        secret: set[int] = set()  # the lines holding a word redaction looks for
        for start, hint in candidates(data, as_json, secret, ascii):
            end = data.find(b"\n", start) + 1  # every line of a block ends with one
            line = data[start:end].decode("utf-8")
            found = annotate(line, hint)
            if found is None:
                if only:
                    continue
                # A healthy line was a candidate for a rule or for a secret (the block filter
                # also finds redact's trigger words): unless redaction changes it, it goes out
                # with the run around it.
                shown = clean(line) if start in secret else line
                if shown == line and (not as_json or hint is not None):
                    # In JSON too when _healthy_json can write it with its run: a line with a
                    # hint holds no backslash and no control character (see the filter).
                    continue
                if start > pos:
                    if as_json:
                        pieces += _healthy_json(data[pos:start])
                    else:
                        put(view[pos:start])
                pos = end
                # Not _healthy_json: a candidate line may hold a backslash.
                put((_json_line(_strip_eol(shown), None, False) if as_json else shown).encode())
                continue
            known = notes.get(id(found))
            if known is None:  # per annotation: its rank and what follows the line
                follows = _json_tail(found) if as_json else f"\n{format_annotation(found)}\n"
                known = notes[id(found)] = (rank(found.severity), follows.encode())
            if known[0] > worst:
                worst = known[0]
            if start not in secret and (not as_json or hint is not None):
                # The line as read (without its line break) and what follows it, in bytes: in
                # plain output with the healthy run before it in the same piece; in JSON its
                # text is the line with its quotes escaped, as json.dumps writes it (a line
                # with a hint holds no backslash and no control character: see the filter).
                eol = end - 1
                if eol > start and data[eol - 1] == 13:  # CRLF
                    eol -= 1
                if as_json:  # the run and the line framed together, the line's tail after
                    run = data[start if only else pos : eol]
                    pieces += (_HEAD_B, _json_lines(run), known[1])
                else:
                    put(view[start if only else pos : eol])
                    put(known[1])
                pos = end
                continue
            if start > pos and not only:
                if as_json:
                    pieces += _healthy_json(data[pos:start])
                else:
                    put(view[pos:start])
            pos = end
            text = _strip_eol(line)
            if start in secret:
                text = clean(text)
            note = (
                _json_line(text, found, False)
                if as_json
                else f"{text}\n{format_annotation(found)}\n"
            )
            put(note.encode())
        if pos < len(data) and not only:
            if as_json:
                pieces += _healthy_json(data[pos:])
            else:
                put(view[pos:])
        if pieces:
            write(b"".join(pieces) if len(pieces) > 1 else pieces[0])
        # A pipe's reader (tail -f | aktui annotate | grep) sees each block as it is done.
        out.flush()
    return worst


def _byte_writer(out: TextIO) -> Callable[[bytes | memoryview], object]:
    """Write UTF-8 bytes to ``out``: straight to its byte buffer when it encodes UTF-8 (no
    decode/encode round trip for the bulk of the log), else as text."""
    buffer = getattr(out, "buffer", None)
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if isinstance(out, io.TextIOWrapper) and buffer is not None and encoding == "utf8":
        out.flush()  # whatever was written as text goes first
        return buffer.write  # type: ignore[no-any-return]
    return lambda data: out.write(str(data, "utf-8"))


def _blocks(stream: IO[str]) -> Iterator[tuple[bytes, bool]]:
    """Blocks of whole lines as valid UTF-8 (invalid bytes replaced, as a text stream would),
    each line ending in "\n" (one is added to a last line without it) and at most
    ``LINE_CAP`` bytes (a longer one keeps its head and is marked cut: see LineBlocks).
    Blocks come as the input arrives: ``tail -f`` lines go out without waiting for more."""
    lines = LineBlocks(LINE_CAP)
    for data in _raw_chunks(stream):
        block = lines.feed(data)
        if block:
            yield _checked(block)
    last = lines.end()
    if last:
        yield _checked(last)


def _checked(block: bytes) -> tuple[bytes, bool]:
    """``block`` as valid UTF-8, and whether it is all ASCII (the block filter asks too)."""
    if block.isascii():
        return block, True
    return _valid_utf8(block), False


def _valid_utf8(block: bytes) -> bytes:
    # A block ends at a line break, so no character is split between two blocks.
    return block.decode("utf-8", errors="replace").encode("utf-8")


def _raw_chunks(stream: IO[str]) -> Iterator[bytes]:
    buffer = getattr(stream, "buffer", None)
    read1 = getattr(buffer, "read1", None)
    if read1 is not None and isinstance(stream, io.TextIOWrapper) and not stream.closed:
        while data := read1(_CHUNK):  # what the pipe has, up to _CHUNK
            yield data
    else:  # a text stream given by a caller (tests, embedding)
        while text := stream.read(_CHUNK):
            yield text.encode("utf-8", errors="replace")


def _healthy_json(run: bytes) -> tuple[bytes, memoryview]:
    """The JSON lines of a run of unmatched lines, each ending in "\\n" (the last one too),
    in two pieces (one copy less): the first start, then the lines framed by _json_lines
    without the start that follows the last one (a view, not a copy)."""
    return _HEAD_B, memoryview(_json_lines(run))[: -len(_HEAD_B)]


def _json_lines(run: bytes) -> bytes:
    """The lines of ``run`` as JSON text, each line break made the end of its object and the
    start of the next, built with a few bytes.replace calls: in JSON mode the block filter
    sends every line with a backslash or a control character other than "\\n" and a CRLF's
    "\\r" to annotate, so a quote is all there is to escape (json.dumps keeps non-ASCII, DEL
    and U+2028 as they are when not asked for ASCII)."""
    if b"\r" in run:
        run = run.replace(b"\r\n", b"\n")
    return run.replace(b'"', b'\\"').replace(b"\n", _TAIL_HEAD_B)


def _strip_cr(text: str) -> str:
    return text[:-1] if text.endswith("\r") else text


def _strip_eol(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line


def _json_line(text: str, found: Annotation | None, tty: bool) -> str:
    if not tty:  # what json.dumps(record) writes, without building the record each time
        return _HEAD + _encode(text)[1:-1] + (_TAIL if found is None else _json_tail(found))
    record: dict[str, str | None] = {"line": text}
    for key in _JSON_KEYS:
        record[key] = getattr(found, key) if found is not None else None
    # json.dumps escapes C0 controls; on a terminal also escape DEL, C1 and non-ASCII.
    return json.dumps(record, ensure_ascii=True).replace("\x7f", "\\u007f") + "\n"


@functools.lru_cache(maxsize=1024)
def _json_tail(found: Annotation) -> str:
    """The part of a matched line's JSON object after the line's text (fixed per rule)."""
    fields = json.dumps({key: getattr(found, key) for key in _JSON_KEYS}, ensure_ascii=False)
    return '", ' + fields[1:] + "\n"


def _list_rules(rules: RuleSet, out: TextIO) -> int:
    listed: set[str] = set()
    for rule in rules.rules:
        if rule.id in listed:
            continue  # another shape (`also:`) of a rule already listed
        listed.add(rule.id)
        a = rule.annotation
        sources = ",".join(sorted(rule.sources))
        out.write(f"{a.rule:34} {a.severity:8} {sources:22} {a.title}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aktui annotate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH", help="config file")
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AktuiError as e:
        print(f"aktui: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
