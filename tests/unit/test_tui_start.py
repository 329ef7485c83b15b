"""aktui imports httpx without httpx's own command-line client."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from aktui.backend import import_httpx_without_its_cli
import_httpx_without_its_cli()
import httpx
assert "httpx._main" not in sys.modules, "httpx's CLI was imported"
assert "click" not in sys.modules and "pygments" not in sys.modules
assert httpx.AsyncClient and httpx.Timeout(1.0)  # httpx itself is whole
import click  # and click still imports for whoever needs it
print("ok")
"""


def test_httpx_without_its_cli() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_httpx_already_imported_is_left_alone() -> None:
    code = (
        "import sys, httpx\n"
        "from aktui.backend import import_httpx_without_its_cli\n"
        "import_httpx_without_its_cli()\n"
        "assert sys.modules['httpx'] is httpx\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
