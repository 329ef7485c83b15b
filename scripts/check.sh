#!/usr/bin/env bash
# The developer's fast check: no root, no daemons, well under a minute on 2 cores.
#   ruff format --check, ruff check, lint-imports and mypy (once configured in pyproject.toml),
#   then the unit and app tests (tests/unit, tests/app; not those marked slow) in parallel.
#   bash scripts/check.sh            # all of that
#   bash scripts/check.sh --lint     # only the linters (scripts/test.sh runs this first)
# The whole suite with every daemon tier: sudo bash scripts/test.sh (CI: .ci/run).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

lint_only=0
if [ "${1:-}" = "--lint" ]; then lint_only=1; shift; fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
fi

echo "==> ruff format --check, ruff check"
.venv/bin/ruff format --check --quiet .
.venv/bin/ruff check --quiet .

# Both are being added to pyproject.toml: run them as soon as their section exists.
if grep -q '^\[tool\.importlinter\]' pyproject.toml; then
    echo "==> lint-imports"
    # its banner and contract list only matter when a contract breaks
    out=$(.venv/bin/lint-imports 2>&1) || { echo "$out"; exit 1; }
    echo "$out" | tail -n 1
else
    echo "==> lint-imports: skipped ([tool.importlinter] not configured in pyproject.toml yet)"
fi
if grep -q '^\[tool\.mypy\]' pyproject.toml; then
    echo "==> mypy"
    .venv/bin/mypy
else
    echo "==> mypy: skipped ([tool.mypy] not configured in pyproject.toml yet)"
fi
[ "$lint_only" = 0 ] || exit 0

echo "==> pytest tests/unit tests/app (not integration, not slow)"
# Two workers for two cores: more did not finish sooner here and cost more CPU.
.venv/bin/pytest -q -p no:cacheprovider -m "not integration and not slow" -n 2 tests/unit tests/app "$@"
