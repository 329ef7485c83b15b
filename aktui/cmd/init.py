"""`aktui init`: write a commented starter config (mode 0600) and print where it went.

The starter is ``config.example.yaml``, shipped inside the package (the top-level file of the
repository, linked into ``aktui/``: one copy), so an installed aktui can always write it. An
existing config is never overwritten: it may hold a token.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from aktui.errors import ConfigError
from aktui.userdirs import config_file

EXAMPLE = "config.example.yaml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", metavar="URL", help="your authentik's base URL (written into the starter)"
    )
    parser.add_argument(
        "--print", action="store_true", dest="print_only", help="print the starter, write nothing"
    )


def example_text() -> str:
    return resources.files("aktui").joinpath(EXAMPLE).read_text(encoding="utf-8")


def starter(url: str | None) -> str:
    text = example_text()
    if url:
        text = text.replace("https://auth.example.com", url.rstrip("/"), 1)
    return text


def write_starter(path: Path, text: str) -> None:
    """Create ``path`` (0600, its directory 0700) or refuse when it exists."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: never replace a config (and its token) that appeared meanwhile.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path}: a config is already there; not overwritten",
            "edit it, or pass --config NEW_PATH to write the starter elsewhere",
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot create the config: {e.strerror or e}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def run(args: argparse.Namespace) -> int:
    text = starter(getattr(args, "url", None))
    if getattr(args, "print_only", False):
        sys.stdout.write(text)
        return 0
    path = config_file(getattr(args, "config", None))
    write_starter(path, text)
    print(f"wrote a starter config to {path} (mode 0600)")
    print(
        "next: set contexts.*.url and the token source (token_env or token_file), "
        "docker_hosts and web_servers, then run `aktui`"
    )
    return 0
