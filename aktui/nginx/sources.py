"""Where config text comes from: the file system (within the given roots), a `nginx -T` dump
split back into its files, or pasted text. Nothing here parses nginx syntax."""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable
from fnmatch import fnmatchcase

# A real `nginx -T` of 500 sites is about 1 MB; these refuse accidents and hostile input.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MAX_LISTED_FILES = 2000

_DUMP_MARKER = re.compile(r"^# configuration file (.+):\r?$", re.MULTILINE)

# Directories whose files nginx includes from the level above (the conf prefix), e.g.
# /etc/nginx/sites-enabled/app including `snippets/x.conf` means /etc/nginx/snippets/x.conf.
INCLUDE_DIRS = frozenset(
    {"sites-enabled", "sites-available", "conf.d", "snippets", "vhosts", "http.d", "servers"}
)
_SKIP_SUFFIXES = (
    "~",
    ".bak",
    ".swp",
    ".orig",
    ".old",
    ".dpkg-old",
    ".dpkg-dist",
    ".dpkg-new",
    ".rpmsave",
    ".rpmnew",
)


class Unreadable(Exception):
    """A file that exists (or was named) but cannot be read as config: the message says why."""


class Source:
    """Where file text and include globs come from: the file system or a dump."""

    def read(self, path: str) -> bytes | None:
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        raise NotImplementedError

    def allowed(self, path: str) -> bool:
        return True

    def exists(self, path: str) -> bool:
        raise NotImplementedError


class FileSource(Source):
    def __init__(self, roots: Iterable[str], follow_any: bool = False) -> None:
        self.roots = tuple(os.path.realpath(r) for r in roots)
        self.follow_any = follow_any

    def read(self, path: str) -> bytes | None:
        """The file's bytes; None if it does not exist. Raises ``Unreadable`` for a file that
        exists but cannot be read, or is not a regular file: a FIFO would block forever and a
        device never ends, so only regular files are read (checked on the open descriptor)."""
        try:
            fd = os.open(
                path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            )
        except FileNotFoundError:
            return None
        except OSError as e:
            raise Unreadable(e.strerror or str(e)) from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise Unreadable("is a directory")
            if not stat.S_ISREG(mode):
                raise Unreadable("not a regular file (FIFO, socket or device), not read")
            try:
                # One byte past the limit: an oversize file is detected without loading it all.
                return f.read(MAX_FILE_BYTES + 1)
            except OSError as e:
                raise Unreadable(e.strerror or str(e)) from None

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def allowed(self, path: str) -> bool:
        if self.follow_any:
            return True
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots)


class DumpSource(Source):
    """The files of a `nginx -T` dump (or one pasted text), by absolute path."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, path: str) -> bytes | None:
        text = self.files.get(os.path.normpath(path))
        return None if text is None else text.encode("utf-8", "surrogateescape")

    def glob(self, pattern: str) -> list[str]:
        # glob(3) semantics: `*` does not cross `/`, so match component by component.
        want = os.path.normpath(pattern).split("/")
        hits = []
        for name in self.files:
            parts = name.split("/")
            if len(parts) == len(want) and all(
                fnmatchcase(p, w) for p, w in zip(parts, want, strict=True)
            ):
                hits.append(name)
        return sorted(hits)

    def exists(self, path: str) -> bool:
        return os.path.normpath(path) in self.files


class Overlay(Source):
    """Pasted text as one virtual file, its includes from the file system within roots."""

    def __init__(self, name: str, text: str, disk: FileSource) -> None:
        self.name, self.text, self.disk = name, text, disk

    def read(self, path: str) -> bytes | None:
        return self.text.encode() if path == self.name else self.disk.read(path)

    def glob(self, pattern: str) -> list[str]:
        return self.disk.glob(pattern)

    def exists(self, path: str) -> bool:
        return path == self.name or self.disk.exists(path)

    def allowed(self, path: str) -> bool:
        return path == self.name or self.disk.allowed(path)


def split_dump(text: str) -> dict[str, str] | None:
    """The files of a `nginx -T` dump by path, or None if ``text`` is not a dump.

    nginx prints each file after a `# configuration file PATH:` line, in the order it read
    them, main file first; anything before the first marker (the `syntax is ok` lines when
    stderr was merged) is dropped. Line 1 of a file is the line after its marker.
    """
    marks = list(_DUMP_MARKER.finditer(text))
    if not marks:
        return None
    files: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[m.end() + 1 : end]
        files.setdefault(os.path.normpath(m.group(1).strip()), body)
    return files


def candidate_files(directory: str, errors: list[tuple[str, str]] | None = None) -> list[str]:
    """Files of a directory worth linting: no hidden files, editor or package backups. A
    subdirectory holding an nginx.conf is one config: only that file is listed for it.
    Directories that cannot be listed go to ``errors`` as (path, reason)."""
    found: list[str] = []

    def unreadable(e: OSError) -> None:
        if errors is not None:
            errors.append((e.filename or directory, e.strerror or str(e)))

    for base, dirs, names in os.walk(directory, onerror=unreadable):
        if base != directory and "nginx.conf" in names:
            found.append(os.path.join(base, "nginx.conf"))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if n.startswith(".") or n.endswith(_SKIP_SUFFIXES):
                continue
            found.append(os.path.join(base, n))
            if len(found) >= MAX_LISTED_FILES:
                return found
    return found


def root_of(path: str) -> str:
    """The directory a file's includes may read from: its own, or the conf prefix above a
    sites-enabled/conf.d style directory."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.basename(parent) in INCLUDE_DIRS:
        return os.path.dirname(parent)
    return parent


def prefixes_for(main: str, root: str, explicit: str | None) -> tuple[str, ...]:
    if explicit:
        return (os.path.abspath(explicit),)
    out = []
    here = os.path.dirname(os.path.abspath(main))
    while True:
        out.append(here)
        if here == root or len(here) <= len(root) or here == os.path.dirname(here):
            break
        here = os.path.dirname(here)
    return tuple(out)
