"""Staleness verdicts from combined evidence (table-driven), and the evidence helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from aktui.authentik.model import Application, ModelChange, Outpost, OutpostInstance, Snapshot
from aktui.outposts.staleness import (
    FRESH,
    STALE,
    UNKNOWN,
    LoadEvidence,
    assess,
    judge,
    relevant_changes,
    scan_logs,
    uid_changed_after,
)
from aktui.runtime import LogLine

NOW = datetime(2026, 3, 29, 14, 30, tzinfo=UTC)


def at(hhmm: str, seconds: int = 0) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return NOW.replace(hour=h, minute=m, second=seconds)


def instance(uid: str = "u1") -> OutpostInstance:
    return OutpostInstance(uid=uid, last_seen=NOW, version="2024.2.2", version_should="2024.2.2")


CONNECTED = Outpost("op-1", "outpost-single", "proxy", (3,), instances=(instance(),))
WS_DOWN = replace(CONNECTED, instances=())
PROVIDER = ModelChange("proxyprovider", "3", "blog-forward-auth", at("14:02"))
APP = ModelChange("application", "app-uuid", "blog", at("14:02"))
OUTPOST_EDIT = ModelChange("outpost", "op-1", "outpost-single", at("14:02"))

CASES = [
    # id, outpost, changes, evidence, stale, confidence, reason contains
    (
        "log-before-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(last_loaded_log=at("13:40")),
        STALE,
        "high",
        "provider blog-forward-auth changed 14:02, outpost loaded 13:40",
    ),
    (
        "log-after-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(last_loaded_log=at("14:02", 7)),
        FRESH,
        "high",
        "changed 14:02:00, outpost loaded 14:02:07 (log)",
    ),
    (
        "metric-before-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(metric_last_update=at("13:00"), container_started=at("12:00")),
        STALE,
        "high",
        "outpost loaded 13:00",
    ),
    (
        "restart-after-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(container_started=at("14:10"), last_loaded_log=at("13:40")),
        FRESH,
        "high",
        "(container start)",
    ),
    (
        "new-uid-after-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(uid_changed_after=at("14:05")),
        FRESH,
        "high",
        "(new instance)",
    ),
    (
        "push-pending",
        CONNECTED,
        [replace(PROVIDER, at=NOW - timedelta(seconds=5))],
        LoadEvidence(last_loaded_log=at("13:40")),
        UNKNOWN,
        "low",
        "expected within seconds",
    ),
    (
        "no-push-when-ws-down",
        WS_DOWN,
        [replace(PROVIDER, at=NOW - timedelta(seconds=5))],
        LoadEvidence(last_loaded_log=at("13:40")),
        STALE,
        "high",
        "changed 14:29",
    ),
    (
        "only-start-ws-down",
        WS_DOWN,
        [replace(PROVIDER, at=at("14:28"))],
        LoadEvidence(container_started=at("13:40")),
        STALE,
        "medium",
        "websocket down",
    ),
    (
        "only-start-connected-provider",
        CONNECTED,
        [replace(PROVIDER, at=at("14:28"))],
        LoadEvidence(container_started=at("13:40")),
        UNKNOWN,
        "low",
        "push arrived",
    ),
    (
        "only-start-application-not-pushed",
        CONNECTED,
        [replace(APP, at=at("14:28"))],
        LoadEvidence(container_started=at("13:40")),
        STALE,
        "medium",
        "application blog changed 14:28",
    ),
    (
        "only-start-interval-passed",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(container_started=at("13:40")),
        FRESH,
        "medium",
        "it refreshes every 5 min and is connected: very likely loaded since",
    ),
    (
        "only-start-interval-passed-ws-down",
        WS_DOWN,
        [PROVIDER],
        LoadEvidence(container_started=at("13:40")),
        UNKNOWN,
        "low",
        "its own refresh (every 5 min) should have applied it",
    ),
    (
        "only-start-long-interval-not-passed",
        replace(CONNECTED, refresh_interval_s=3600),
        [replace(APP, at=at("14:02"))],
        LoadEvidence(container_started=at("13:40")),
        STALE,
        "medium",
        "application changes are not pushed",
    ),
    (
        "log-before-change-refresh-due",
        CONNECTED,
        [replace(PROVIDER, at=at("14:28"))],
        LoadEvidence(last_loaded_log=at("14:27")),
        STALE,
        "high",
        "its own refresh (every 5 min) is due by 14:32",
    ),
    (
        "log-before-change-refresh-missed",
        CONNECTED,
        [replace(PROVIDER, at=at("14:28"))],
        LoadEvidence(last_loaded_log=at("14:10")),
        STALE,
        "high",
        "no reload since, though it refreshes every 5 min",
    ),
    (
        "fetch-failing-with-change",
        CONNECTED,
        [OUTPOST_EDIT],
        LoadEvidence(
            last_loaded_log=at("13:40"), fetch_failures=(at("13:50"), at("13:55"), at("14:00"))
        ),
        STALE,
        "high",
        "config fetch failing since 13:50, old config kept",
    ),
    (
        "fetch-failing-no-change",
        CONNECTED,
        [],
        LoadEvidence(last_loaded_log=at("13:40"), fetch_failures=(at("13:50"), at("13:55"))),
        UNKNOWN,
        "medium",
        "changes will not apply",
    ),
    (
        "single-old-failure-ignored",
        CONNECTED,
        [],
        LoadEvidence(last_loaded_log=at("13:40"), fetch_failures=(at("13:00"),)),
        FRESH,
        "medium",
        "no recorded change",
    ),
    (
        "started-but-fetch-failed",
        CONNECTED,
        [],
        LoadEvidence(container_started=at("13:40"), fetch_failures=(at("13:40", 5),)),
        UNKNOWN,
        "medium",
        "config fetch failing since 13:40 (1x)",
    ),
    (
        "started-but-fetch-failed-after-change",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(container_started=at("14:10"), fetch_failures=(at("14:10", 3),)),
        UNKNOWN,
        "medium",
        "config fetch failing since 14:10 (1x): nothing loaded since it started 14:10",
    ),
    (
        "started-then-change-and-fetch-failing",
        CONNECTED,
        [replace(PROVIDER, at=at("14:12"))],
        LoadEvidence(container_started=at("14:10"), fetch_failures=(at("14:10", 3),)),
        UNKNOWN,
        "medium",
        "changes will not apply",
    ),
    (
        "no-evidence-at-all",
        CONNECTED,
        [replace(PROVIDER, at=at("14:28"))],
        LoadEvidence(),
        UNKNOWN,
        "low",
        "no load time known",
    ),
    (
        "no-evidence-connected-change-older-than-refresh",
        CONNECTED,
        [PROVIDER],
        LoadEvidence(),
        FRESH,
        "low",
        "but it is connected and refreshes every 5 min: very likely loaded",
    ),
    (
        "no-evidence-ws-down-change-older-than-refresh",
        WS_DOWN,
        [PROVIDER],
        LoadEvidence(),
        UNKNOWN,
        "low",
        "no load time known",
    ),
    (
        "several-pending",
        CONNECTED,
        [replace(APP, at=at("13:50")), PROVIDER],
        LoadEvidence(last_loaded_log=at("13:40")),
        STALE,
        "high",
        "provider blog-forward-auth changed 14:02 (+1 more change)",
    ),
]


@pytest.mark.parametrize(
    ("outpost", "changes", "evidence", "stale", "confidence", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_judge(
    outpost: Outpost,
    changes: list[ModelChange],
    evidence: LoadEvidence,
    stale: str,
    confidence: str,
    reason: str,
) -> None:
    verdict = judge(outpost, changes, evidence, now=NOW)
    assert (verdict.stale, verdict.confidence) == (stale, confidence), verdict.reason
    assert reason in verdict.reason
    assert verdict.outpost == outpost.name


def test_verdict_carries_times_and_notes() -> None:
    verdict = judge(WS_DOWN, [PROVIDER], LoadEvidence(last_loaded_log=at("13:40")), now=NOW)
    assert verdict.is_stale
    assert verdict.loaded_at == at("13:40")
    assert verdict.load_source == "log"
    assert verdict.changed_at == PROVIDER.at
    assert any("websocket down" in n for n in verdict.notes)


def test_times_shown_in_the_given_zone_and_dated_when_not_today() -> None:
    plus2 = timezone(timedelta(hours=2))
    verdict = judge(
        CONNECTED,
        [PROVIDER],
        LoadEvidence(last_loaded_log=NOW - timedelta(days=2)),
        now=NOW,
        tz=plus2,
    )
    assert "changed 16:02" in verdict.reason
    assert "loaded Mar 27 16:30" in verdict.reason


def _line(text: str, when: datetime | None, marker: str = "") -> LogLine:
    return LogLine("c", when, text, marker)


def test_scan_logs_finds_last_load_and_failures() -> None:
    lines = [
        _line('{"event":"Loaded application","name":"a"}', at("13:40")),
        _line('{"event":"Loaded application","name":"b"}', at("13:41")),
        _line(
            '{"error":"403 Forbidden","event":"Failed to fetch outpost configuration"}', at("14:00")
        ),
        _line("stream interrupted: container exited", at("14:01"), marker="interrupted"),
        _line('level=info msg="Loaded application" name=c', None),  # no time: ignored
        _line('{"event":"Failed to fetch providers","level":"error"}', at("13:59")),
    ]
    loaded, failures = scan_logs(lines)
    assert loaded == at("13:41")
    assert failures == (at("13:59"), at("14:00"))


def _snapshot(outposts: tuple[Outpost, ...], changes=(), apps=(), when=NOW) -> Snapshot:
    return Snapshot(when, "http://ak", "2024.2.2", outposts, (), apps, (), tuple(changes))


def test_relevant_changes_pick_outpost_providers_and_their_applications() -> None:
    app = Application("app-uuid", "blog", "Blog", 3)
    other_app = Application("other", "other", "Other", 9)
    changes = [
        PROVIDER,
        APP,
        OUTPOST_EDIT,
        ModelChange("proxyprovider", "9", "unrelated", at("14:03")),
        ModelChange("application", "other", "other", at("14:04")),
        ModelChange("outpost", "op-2", "another", at("14:05")),
    ]
    snap = _snapshot((CONNECTED,), changes, (app, other_app))
    assert relevant_changes(snap, CONNECTED) == (PROVIDER, APP, OUTPOST_EDIT)


def test_application_changes_match_the_event_pk_without_dashes() -> None:
    # authentik's events carry a model's UUID as hex without dashes (sanitize_item), the
    # applications API with them: an application edit was never counted before.
    pk = "9d873544-846d-4d8c-ad04-3cdea7368c36"
    app = Application(pk, "beta", "Beta", 3)
    renamed = ModelChange("application", pk.replace("-", ""), "Beta portal", at("14:03"))
    snap = _snapshot((CONNECTED,), [renamed], (app,))
    assert relevant_changes(snap, CONNECTED) == (renamed,)


def test_uid_change_between_snapshots_means_restart_after_previous_fetch() -> None:
    before = _snapshot((CONNECTED,), when=at("14:00"))
    same = _snapshot((CONNECTED,))
    new = _snapshot((replace(CONNECTED, instances=(instance("u2"),)),))
    down = _snapshot((WS_DOWN,))
    assert uid_changed_after(before, new, "op-1") == at("14:00")
    assert uid_changed_after(before, same, "op-1") is None
    assert uid_changed_after(before, down, "op-1") is None
    assert uid_changed_after(None, new, "op-1") is None
    assert uid_changed_after(_snapshot((WS_DOWN,), when=at("14:00")), new, "op-1") is None


def test_assess_uses_snapshot_changes_and_uid_evidence() -> None:
    app = Application("app-uuid", "blog", "Blog", 3)
    previous = _snapshot((CONNECTED,), [PROVIDER], (app,), when=at("14:05"))
    restarted = replace(CONNECTED, instances=(instance("u2"),))
    current = _snapshot((restarted,), [PROVIDER], (app,))
    stale = assess(previous, CONNECTED, LoadEvidence(last_loaded_log=at("13:40")), now=NOW)
    assert stale.is_stale
    fresh = assess(current, restarted, LoadEvidence(last_loaded_log=at("13:40")), previous=previous)
    assert fresh.stale == FRESH
    assert fresh.load_source == "new instance"


def test_gather_takes_container_start_logs_and_metric() -> None:
    from aktui.outposts.staleness import gather
    from aktui.runtime import ContainerInfo

    info = ContainerInfo("h", "id", "c", "outpost-single", "running", at("13:00"))
    lines = [
        _line('{"event":"Loaded application"}', at("13:40")),
        _line('{"event":"Failed to fetch outpost configuration"}', at("14:00")),
    ]
    evidence = gather(info, lines, at("13:41"))
    assert evidence == LoadEvidence(
        container_started=at("13:00"),
        last_loaded_log=at("13:40"),
        metric_last_update=at("13:41"),
        fetch_failures=(at("14:00"),),
    )
    assert gather() == LoadEvidence()


# The Rust proxy outpost (2026.8+) writes tracing JSON: flattened fields, message under "event",
# lowercase levels, a zone-less timestamp (shape of a real line; messages from its source,
# src/outpost/proxy/mod.rs and src/outpost/mod.rs).
def _rust(event: str, level: str = "info", **fields: object) -> str:
    import json

    record = {
        "filename": "src/outpost/proxy/mod.rs",
        "level": level,
        "line_number": 96,
        "pid": 8,
        "target": "authentik::outpost::proxy",
        "thread_id": "ThreadId(3)",
        "thread_name": "tokio-0",
        "timestamp": "2026-09-09T17:43:49.947993",
        **fields,
        "event": event,
    }
    return json.dumps(record, separators=(",", ":"))


def test_scan_logs_reads_the_rust_outpost() -> None:
    lines = [
        _line(
            _rust("refreshing outpost on interval", target="authentik::outpost::event"), at("13:40")
        ),
        _line(_rust("loaded application", name="a", host="a.example.com"), at("13:40", 1)),
        _line(_rust("failed to fetch providers", "error", err="403"), at("14:00")),
        _line(_rust("failed to refresh", "warn", err="403"), at("14:00")),  # same failure
        _line(
            _rust(
                "Failed to fetch outpost from API, retrying in 3 seconds",
                "warn",
                filename="src/outpost/mod.rs",
            ),
            at("14:05"),
        ),
        # the text alone is no load: a log line quoting it, an access log path
        _line('127.0.0.1 - - "GET /loaded application HTTP/1.1" 404 0', at("14:10")),
        _line(_rust("no providers assigned to this outpost", "warn"), at("14:11")),
    ]
    loaded, failures = scan_logs(lines)
    assert loaded == at("13:40", 1)
    assert failures == (at("14:00"), at("14:05"))
