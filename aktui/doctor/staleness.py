"""Doctor's staleness check: one result per outpost container, from the pure verdicts.

The verdict is ``aktui.outposts.staleness.assess``; the evidence is read here in threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aktui.authentik.model import Outpost, Snapshot
from aktui.doctor.checks import CheckResult
from aktui.outposts.evidence import collect_evidence
from aktui.outposts.staleness import STALE, UNKNOWN, assess
from aktui.runtime import ContainerInfo, OutpostRuntime


async def doctor_checks(
    backend: Any, snapshot: Snapshot, containers: Sequence[ContainerInfo]
) -> list[Any]:
    """``aktui doctor``'s staleness check: one result per outpost that has a container.

    The verdicts above are pure; the evidence (logs, metric) is read by
    ``aktui.outposts.evidence.collect_evidence`` in threads, one per container.
    """
    runtime: OutpostRuntime | None = getattr(backend, "runtime", None)
    pairs: list[tuple[Outpost, ContainerInfo]] = []
    for outpost in snapshot.outposts:
        container = next((c for c in containers if outpost.name in (c.outpost_name, c.name)), None)
        if container is not None and runtime is not None:
            pairs.append((outpost, container))
    if not pairs or runtime is None:
        return [CheckResult("outpost-stale", "skipped", "no outpost container to check")]
    evidence = await asyncio.gather(
        *(asyncio.to_thread(collect_evidence, runtime, c) for _, c in pairs)
    )
    results = []
    for (outpost, container), found in zip(pairs, evidence, strict=True):
        verdict = assess(snapshot, outpost, found)
        subject = f"outpost:{outpost.pk}"
        if verdict.stale == STALE:
            status, title = (
                ("error" if verdict.confidence == "high" else "warn"),
                "serves stale config",
            )
            fix = (
                "Reload it (SIGUSR1 keeps sessions): aktui's reload key, or "
                f"docker kill --signal=USR1 {container.name}; restart if that does not clear it."
            )
            action = "reload"
        elif verdict.stale == UNKNOWN:
            failing = "fetch failing" in verdict.reason
            status, title, action = (
                ("warn" if failing else "skipped"),
                "config freshness unknown",
                "",
            )
            fix = "Check its token and AUTHENTIK_HOST (see its log)." if failing else ""
        else:
            status, title, fix, action = "ok", "config is current", "", ""
        results.append(
            CheckResult(
                "outpost-stale",
                status,
                f"{outpost.name}: {title}",
                "; ".join((verdict.reason, *verdict.notes)),
                fix,
                subject,
                action,
            )
        )
    return results
