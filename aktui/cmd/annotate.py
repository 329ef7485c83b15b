"""`aktui annotate [FILE ...]`: each log line back, with the cheat sheet's cause and fix under it.

Reads the files (``-`` or none: stdin) line by line, so memory stays flat however long the log,
and ``tail -f ... | aktui annotate`` works. Plain output writes every line unchanged and adds
``  ↳ [severity] title — cause: ... fix: ... [rule-id]`` under matched ones. ``--json`` writes
exactly one object per input line, in input order. Exit 0 even when failures were found (the
job is to explain them); ``--fail-on SEVERITY`` exits 1 when a line at or above it was seen.

On a terminal, control characters are shown escaped (``\\x1b``) so that a hostile log line
cannot move the cursor, retitle the window or hide text; pipes and files get the bytes as read.

Cookie values, Authorization credentials, bearer tokens and JWTs (trace-level outpost logs dump
request headers) are written as ``<redacted>`` (``aktui.logs.redact``); ``--show-secrets`` writes
them as read. Rules still see the whole line.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring as _encode  # type: ignore[attr-defined]
from typing import IO, TextIO

from aktui.errors import AktuiError
from aktui.logs.annotate import SEVERITIES, Annotation, BlockFilter, RuleSet, load_rules
from aktui.logs.redact import redact
from aktui.terminal import escape

_JSON_KEYS = ("rule", "title", "severity", "cause", "fix")
_CHUNK = 1 << 20
# The JSON object of an unmatched line, around its encoded text.
_HEAD = '{"line": "'
_TAIL = '", "rule": null, "title": null, "severity": null, "cause": null, "fix": null}\n'


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
    # file the built-in rules are enough, so a missing one is not an error.
    from aktui.config import load_config

    return load_config(getattr(args, "config", None), required=False).logs.rules_file or None


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
    block = None if tty else rules.block_filter()
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
    out.flush()
    if failed_input:
        return 2
    return 1 if threshold is not None and worst >= threshold else 0


def _annotate_stream(
    stream: IO[str], out: TextIO, rules: RuleSet, args: argparse.Namespace, tty: bool
) -> int:
    """Annotate one stream; returns the worst severity index seen (-1: none)."""
    as_json = bool(getattr(args, "json", False))
    only = bool(getattr(args, "only_annotated", False))
    annotate, write, rank = rules.annotate, out.write, SEVERITIES.index
    clean = _cleaner(args)
    worst = -1
    for line in stream:
        found = annotate(line)  # probe/parse ignore the line's own "\n" / "\r\n"
        if found is None:
            if only:
                continue
            line = clean(line)
            if as_json:
                write(_json_line(_strip_eol(line), None, tty))
            elif tty:
                write(escape(_strip_eol(line)) + "\n")
            else:  # the hot path: an unmatched line goes out as it came in (secrets aside)
                write(line if line.endswith("\n") else line + "\n")
            continue
        worst = max(worst, rank(found.severity))
        text = clean(_strip_eol(line))
        if as_json:
            write(_json_line(text, found, tty))
        else:
            note = format_annotation(found)
            write(f"{escape(text)}\n{escape(note)}\n" if tty else f"{text}\n{note}\n")
    return worst


def _annotate_blocks(
    stream: IO[str], out: TextIO, rules: RuleSet, block: BlockFilter, args: argparse.Namespace
) -> int:
    """``_annotate_stream`` for pipes and files, a chunk at a time: the block filter finds the
    few lines a rule could match, and each run of other lines is written in one piece."""
    as_json = bool(getattr(args, "json", False))
    only = bool(getattr(args, "only_annotated", False))
    annotate, write, rank = rules.annotate, out.write, SEVERITIES.index
    clean = _cleaner(args)
    worst = -1
    carry = ""
    for piece in _chunks(stream):
        chunk = carry + piece if carry else piece
        if piece:
            cut = chunk.rfind("\n") + 1
            chunk, carry = chunk[:cut], chunk[cut:]
            if not chunk:
                continue
        elif not chunk:
            break
        pos = 0
        for start in block.starts(chunk):
            if start > pos and not only:
                run = clean(chunk[pos:start])
                write(_healthy_json(run) if as_json else run)
            end = chunk.find("\n", start) + 1 or len(chunk)
            line = chunk[start:end]
            pos = end
            found = annotate(line)
            if found is None:
                if not only:
                    # Not _healthy_json: a candidate line may hold a backslash.
                    line = clean(line)
                    write(_json_line(_strip_eol(line), None, False) if as_json else _with_eol(line))
                continue
            worst = max(worst, rank(found.severity))
            text = clean(_strip_eol(line))
            write(
                _json_line(text, found, False)
                if as_json
                else f"{text}\n{format_annotation(found)}\n"
            )
        if pos < len(chunk) and not only:
            rest = clean(chunk[pos:])
            write(_healthy_json(rest) if as_json else _with_eol(rest))
        if not piece:
            break
    return worst


def _chunks(stream: IO[str]) -> Iterator[str]:
    """Pieces of the stream as they arrive, then "" once at the end: ``tail -f`` lines go
    out without waiting for a full chunk (read1 returns what the pipe has)."""
    buffer = getattr(stream, "buffer", None)
    read1 = getattr(buffer, "read1", None)
    if read1 is not None and isinstance(stream, io.TextIOWrapper) and not stream.closed:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while data := read1(_CHUNK):
            text = decoder.decode(data)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
    else:
        while text := stream.read(_CHUNK):
            yield text
    yield ""


def _with_eol(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _healthy_json(run: str) -> str:
    """The JSON lines of a run of unmatched lines, encoded in one call. The block filter
    sends every line with a backslash to annotate, so the encoder's only "\\n" here is a
    line break, and a "\\r" right before it is that line's CRLF."""
    body = _encode(_strip_eol(run))[1:-1]
    return _HEAD + body.replace("\\r\\n", "\\n").replace("\\n", _TAIL + _HEAD) + _TAIL


def _strip_eol(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line


def _json_line(text: str, found: Annotation | None, tty: bool) -> str:
    record: dict[str, str | None] = {"line": text}
    for key in _JSON_KEYS:
        record[key] = getattr(found, key) if found is not None else None
    # json.dumps escapes C0 controls; on a terminal also escape DEL, C1 and non-ASCII.
    encoded = json.dumps(record, ensure_ascii=tty)
    return (encoded.replace("\x7f", "\\u007f") if tty else encoded) + "\n"


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
