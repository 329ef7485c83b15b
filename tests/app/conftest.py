"""Fixtures of the app tier; the fakes and helpers they use live in tests/fixtures/app.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.app import FakeBackend, make_app


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def app(backend: FakeBackend) -> Any:
    return make_app(backend)
