"""Lint results and how they are printed: a readable report, JSON, and SARIF 2.1.0.

No Textual or rich here: the CLI prints these strings, the doctor screen reads the dataclasses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEVERITIES = ("error", "warning", "info")
_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One problem: a stable ``check_id``, where it is (``file``:``line``, line 0 when the
    whole file is concerned), what was seen (``evidence``) and the field guide's fix."""

    check_id: str
    severity: str  # "error" | "warning" | "info"
    file: str
    line: int
    evidence: str
    fix: str
    server_name: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["id"] = data.pop("check_id")
        return data


@dataclass(frozen=True, slots=True)
class LintReport:
    findings: tuple[LintFinding, ...]
    files: tuple[str, ...] = ()
    servers: int = 0
    # check id -> one-line description, for SARIF rules and `--list-checks`.
    rules: dict[str, str] = field(default_factory=dict)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        """As `aktui doctor`: 0 clean (info only), 1 warnings, 2 errors."""
        if self.count("error"):
            return 2
        return 1 if self.count("warning") else 0

    def by_id(self, check_id: str) -> list[LintFinding]:
        return [f for f in self.findings if f.check_id == check_id]


def sort_findings(findings: Iterable[LintFinding]) -> tuple[LintFinding, ...]:
    unique = dict.fromkeys(findings)  # the same finding reached via two servers counts once
    return tuple(
        sorted(unique, key=lambda f: (f.file, f.line, _ORDER.get(f.severity, 9), f.check_id))
    )


def summary(report: LintReport) -> str:
    n = {s: report.count(s) for s in SEVERITIES}
    return (
        f"{n['error']} error(s), {n['warning']} warning(s), {n['info']} info in "
        f"{len(report.files)} file(s), {report.servers} server block(s)"
    )


def format_text(report: LintReport) -> str:
    """Grouped by file, then server; each finding is `file:line: severity [id] evidence` so
    editors and terminals can jump to it, with the fix on the next line."""
    lines: list[str] = []
    current_file = current_server = None
    for f in sorted(report.findings, key=lambda f: (f.file, f.server_name, f.line)):
        if f.file != current_file:
            current_file, current_server = f.file, None
            lines.append(f"== {f.file}")
        if f.server_name != current_server:
            current_server = f.server_name
            if f.server_name:
                lines.append(f"-- server {f.server_name}")
        lines.append(f"{f.where()}: {f.severity} [{f.check_id}] {f.evidence}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    lines.append(summary(report) if report.findings else f"clean: {summary(report)}")
    return "\n".join(lines)


def format_json(report: LintReport) -> str:
    return json.dumps(
        {
            "findings": [f.to_dict() for f in report.findings],
            "files": list(report.files),
            "servers": report.servers,
            "summary": {s: report.count(s) for s in SEVERITIES},
            "exit_code": report.exit_code,
        },
        indent=2,
    )


def _artifact_uri(path: str) -> str:
    """Relative to the working directory when inside it (what CI code scanning expects, the
    checkout being the working directory), else an absolute file URI."""
    if path.startswith("<"):
        return path.strip("<>")
    absolute = os.path.abspath(path)
    try:
        return Path(absolute).relative_to(os.getcwd()).as_posix()
    except ValueError:
        return Path(absolute).as_uri()


def format_sarif(report: LintReport, version: str = "") -> str:
    used = sorted({f.check_id for f in report.findings} | set(report.rules))
    rules = [
        {"id": rule, "name": rule, "shortDescription": {"text": report.rules.get(rule, rule)}}
        for rule in used
    ]
    results = []
    for f in report.findings:
        location: dict[str, object] = {"artifactLocation": {"uri": _artifact_uri(f.file)}}
        if f.line > 0:
            location["region"] = {"startLine": f.line}
        results.append(
            {
                "ruleId": f.check_id,
                "ruleIndex": used.index(f.check_id),
                "level": _SARIF_LEVEL.get(f.severity, "note"),
                "message": {"text": f"{f.evidence}. Fix: {f.fix}" if f.fix else f.evidence},
                "locations": [{"physicalLocation": location}],
                "properties": {"server_name": f.server_name},
            }
        )
    driver: dict[str, object] = {"name": "aktui lint-nginx", "rules": rules}
    if version:
        driver["version"] = version
    return json.dumps(
        {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "results": results}],
        },
        indent=2,
    )
