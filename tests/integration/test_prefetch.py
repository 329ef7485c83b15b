"""The TUI's first snapshot from its helper process: the same snapshot and the same one-line
error as the TUI's own fetch (the fast path pinned to the slow one), and the helper always ends."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aktui.backend import open_backend
from aktui.cmd._prefetch import Prefetch
from aktui.errors import describe_error
from aktui.lab.scenario import build_lab
from aktui.lab.simulator import Simulator


def _config(tmp_path: Path, url: str, token: str) -> Path:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_context: lab\ncontexts:\n  lab:\n    url: {url}\n"
        f"    token_file: {token_file}\n    timeout: 3\n"
    )
    config.chmod(0o600)
    return config


@pytest.fixture
def lab_config(tmp_path: Path) -> Iterator[Path]:
    state = build_lab("prefetch")
    sim = Simulator(state).start()
    try:
        yield _config(tmp_path, sim.url, state.admin_token)
    finally:
        sim.stop()


def test_same_snapshot_as_the_tuis_own_fetch(lab_config: Path) -> None:
    prefetch = Prefetch(str(lab_config), None)
    try:
        found = prefetch.result(60)
    finally:
        prefetch.stop()
    own = open_backend(str(lab_config), None).fetch_snapshot()
    assert not isinstance(found, str) and found is not None
    assert replace(found, fetched_at=own.fetched_at) == own
    assert found.outposts and found.findings == own.findings


def test_another_aktui_in_the_current_directory_is_not_the_one_run(
    lab_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python -m puts the current directory first on sys.path: started from a checkout of
    # another aktui, the helper ran that one's code.
    other = tmp_path / "checkout"
    (other / "aktui").mkdir(parents=True)
    (other / "aktui" / "__init__.py").write_text("raise SystemExit('not this aktui')\n")
    monkeypatch.chdir(other)
    prefetch = Prefetch(str(lab_config), None)
    try:
        found = prefetch.result(60)
    finally:
        prefetch.stop()
    assert found is not None and not isinstance(found, str)


def test_same_error_as_the_tuis_own_fetch(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _config(tmp_path, f"http://127.0.0.1:{port}", "x" * 40)
    prefetch = Prefetch(str(config), None)
    try:
        found = prefetch.result(60)
    finally:
        prefetch.stop()
    with pytest.raises(Exception) as own:
        open_backend(str(config), None).fetch_snapshot()
    assert isinstance(found, str)
    assert found == describe_error(own.value)
    assert "x" * 40 not in found  # the token never shows


def test_a_helper_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    with socket.socket() as server:  # accepts, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        config = _config(tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}", "x" * 40)
        prefetch = Prefetch(str(config), None)
        start = time.monotonic()
        assert prefetch.result(0.5) is None  # the TUI then fetches itself
        assert time.monotonic() - start < 5
        assert prefetch._proc.poll() is not None  # gone, not left behind
        prefetch.stop()  # idempotent


def test_done_says_whether_the_answer_is_there(lab_config: Path, tmp_path: Path) -> None:
    # The TUI waits a moment at mount for an answer about to arrive (done), then reads one
    # that is there at once; the helper ends as soon as it has written it.
    with socket.socket() as server:  # accepts, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        silent = tmp_path / "silent"  # lab_config is tmp_path's config.yaml
        silent.mkdir()
        config = _config(silent, f"http://127.0.0.1:{server.getsockname()[1]}", "x" * 40)
        waiting = Prefetch(str(config), None)
        try:
            assert not waiting.done(0.05)
        finally:
            waiting.stop()
        assert waiting.done(0)  # ended (stopped): nothing more to wait for
    prefetch = Prefetch(str(lab_config), None)
    try:
        assert prefetch.done(60)
        found = prefetch.result(5)
        assert found is not None and not isinstance(found, str)
        assert prefetch._proc.wait(5) == 0
    finally:
        prefetch.stop()
