"""Real log lines from public sources (tests/data/wild/): each failure line gets the rule that
names its cause, each healthy line stays silent, whatever the format or prefix it came in.

Every row cites where it was found (an issue, a PR, a forum post, or for "from-source" rows the
authentik source file whose message it carries). bench/bench_corpus.py prints the same accuracy
as a table; here every line must hold, so a rule change that loses one fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aktui.logs.annotate import default_rules
from aktui.logs.format import parse_line

WILD = Path(__file__).resolve().parent.parent / "data" / "wild"


def _rows(name: str) -> list[dict[str, str]]:
    text = (WILD / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


FAILING = _rows("failing.jsonl")
BENIGN = _rows("benign.jsonl")


def _id(row: dict[str, str]) -> str:
    return f"{row['class']}:{row['rule']}" if "rule" in row else row["line"][:40]


def test_corpus_is_cited_and_large_enough() -> None:
    assert len(FAILING) >= 100 and len(BENIGN) >= 50
    for row in FAILING + BENIGN:
        assert row["source"] and row["line"], row
        assert row["kind"] in ("verbatim", "abridged", "from-source"), row
    # Lines carried over from authentik's source (not seen in a log) stay a small minority.
    assert sum(r["kind"] == "from-source" for r in FAILING) <= len(FAILING) // 10


@pytest.mark.parametrize("row", FAILING, ids=[_id(r) for r in FAILING])
def test_failure_line_gets_its_cause(row: dict[str, str]) -> None:
    got = default_rules().annotate(row["line"])
    assert got is not None, f"no rule for {row['line'][:120]!r} ({row['source']})"
    assert got.rule == row["rule"], f"{got.rule} for {row['line'][:120]!r} ({row['source']})"
    # The full parse agrees with the pre-filtered path.
    assert default_rules().annotate(parse_line(row["line"])) == got


@pytest.mark.parametrize("row", BENIGN, ids=[_id(r) for r in BENIGN])
def test_benign_line_stays_silent(row: dict[str, str]) -> None:
    assert default_rules().annotate(row["line"]) is None
    assert default_rules().annotate(parse_line(row["line"])) is None


def test_accuracy_report(capsys: pytest.CaptureFixture[str]) -> None:
    rules = default_rules()
    right = sum(
        (a := rules.annotate(r["line"])) is not None and a.rule == r["rule"] for r in FAILING
    )
    flagged = sum(rules.annotate(r["line"]) is not None for r in BENIGN)
    with capsys.disabled():
        print(
            f"\nwild corpus: {right}/{len(FAILING)} failure lines right "
            f"({100 * right / len(FAILING):.1f}%, goal >= 90%), "
            f"{flagged}/{len(BENIGN)} benign lines flagged (goal 0)"
        )
    assert right * 10 >= len(FAILING) * 9 and flagged == 0
