"""Accuracy of `aktui annotate` and `aktui lint-nginx` on the wild corpora: real log lines and
real published nginx configs collected from public sources.

    .venv/bin/python bench/bench_corpus.py [--misses]

tests/data/wild/failing.jsonl holds failure lines (each with the rule that names its cause, and
where it was found); benign.jsonl holds healthy lines from the same sources. Goal (issue 19):
at least 90% of failure lines get the right rule, and no benign line gets any rule. Prints a
table per failure class; asserts nothing (tests/unit/test_wild_corpus.py does).
tests/data/nginx/wild/*.conf carry "# expect: check-id" marks on the lines of their pitfalls;
goal: every one found, and no error that is not marked.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

from aktui.logs.annotate import default_rules
from aktui.nginx.lint import lint_paths

WILD = Path(__file__).resolve().parent.parent / "tests" / "data" / "wild"
NGINX_WILD = Path(__file__).resolve().parent.parent / "tests" / "data" / "nginx" / "wild"
_MARK = re.compile(r"#\s*expect:\s*([a-z0-9, -]+)$")


def load(name: str) -> list[dict[str, str]]:
    with open(WILD / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print each wrong or missed line")
    args = parser.parse_args()
    rules = default_rules()
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for row in load("failing.jsonl"):
        got = rules.annotate(row["line"])
        ok = got is not None and got.rule == row["rule"]
        per_class[row["class"]][0] += ok
        per_class[row["class"]][1] += 1
        if not ok:
            misses.append((row["rule"], got.rule if got else None, row["line"]))
    flagged = []
    benign = load("benign.jsonl")
    for row in benign:
        got = rules.annotate(row["line"])
        if got is not None:
            flagged.append((got.rule, row["line"]))
    right = sum(c[0] for c in per_class.values())
    total = sum(c[1] for c in per_class.values())
    print(f"{'failure class':24} {'right':>5} {'lines':>5}")
    for name, (ok, n) in sorted(per_class.items()):
        print(f"{name:24} {ok:5} {n:5}")
    pct = 100.0 * right / total if total else 0.0
    print(f"{'failure lines':24} {right:5} {total:5}  {pct:5.1f}% right   (goal >= 90%)")
    print(f"{'benign lines flagged':24} {len(flagged):5} {len(benign):5}           (goal 0)")
    print()
    print(f"{'nginx config':40} {'found':>5} {'pitfalls':>8} {'unmarked errors':>15}")
    found_all = total_all = 0
    for path in sorted(NGINX_WILD.glob("*.conf")):
        want = set()
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = _MARK.search(text)
            if m:
                want |= {(n, cid.strip()) for cid in m.group(1).split(",")}
        report = lint_paths([str(path)])
        got = {(f.line, f.check_id) for f in report.findings}
        errors = {(f.line, f.check_id) for f in report.findings if f.severity == "error"}
        found_all += len(want & got)
        total_all += len(want)
        print(f"{path.stem:40} {len(want & got):5} {len(want):8} {len(errors - want):15}")
    print(f"{'labelled pitfalls found':40} {found_all:5} {total_all:8}   (goal: all)")
    if args.misses:
        for want, got, line in misses:
            print(f"MISS want={want} got={got}: {line[:160]}")
        for rule, line in flagged:
            print(f"FLAG {rule}: {line[:160]}")


if __name__ == "__main__":
    main()
