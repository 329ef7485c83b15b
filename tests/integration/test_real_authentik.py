"""aktui against live authentik servers, 2023.10.7 and 2025.12.4 (tests/fixtures/realak.py).

The CLI and the client read the lab make_lab.py created; the tests change the server through its
own REST API and check that the next refresh shows the change (findings, staleness evidence),
then undo it. Nothing here is simulated except the outpost processes (fake_outposts.py speaks the
real outpost websocket).
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aktui.authentik.client import AuthentikClient
from aktui.authentik.model import Outpost, Snapshot
from aktui.errors import AuthentikUnreachable
from aktui.outposts import staleness
from aktui.outposts.staleness import PUSH_GRACE, LoadEvidence, relevant_changes
from tests.fixtures.realak import TEST_PREFIX, RealAuthentik, connected

pytestmark = pytest.mark.integration

AKTUI = Path(sys.executable).with_name("aktui")
EMBEDDED = "goauthentik.io/outposts/embedded"
SCALE = 300
# An outpost version older than the server's, by server version (what an un-upgraded one reports).
OLDER = {"2023.10.7": "2023.8.3", "2025.12.4": "2025.10.1"}


def write_config(tmp_path: Path, url: str, token_file: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"contexts:\n  real:\n    url: {url}\n    token_file: {token_file}\n")
    config.chmod(0o600)
    return config


def aktui(ak: RealAuthentik, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(AKTUI), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    # whatever happened, the token never shows
    assert ak.token.reveal() not in done.stdout + done.stderr
    return done


def codes(snap: Snapshot) -> set[str]:
    return {f.code for f in snap.findings}


def patch(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.patch(path, json=body)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def auth_flow(api: httpx.Client) -> str:
    slug = "default-provider-authorization-implicit-consent"
    return api.get("/flows/instances/", params={"slug": slug}).json()["results"][0]["pk"]


def new_provider(api: httpx.Client, **fields: str) -> dict[str, Any]:
    """POST a proxy provider with the flows this server requires: 2024.10+ also needs an
    ``invalidation_flow`` (2023.10 has no such flow and no such field)."""
    body = {"authorization_flow": auth_flow(api), **fields}
    slug = "default-provider-invalidation-flow"
    flows = api.get("/flows/instances/", params={"slug": slug}).json()["results"]
    if flows:
        body["invalidation_flow"] = flows[0]["pk"]
    created = api.post("/providers/proxy/", json=body)
    assert created.status_code == 201, created.text
    return created.json()


# --- the lab as aktui status --json shows it ----------------------------------------------------


def test_status_json_lists_the_lab(real_authentik: RealAuthentik, tmp_path: Path) -> None:
    ak = real_authentik
    done = aktui(ak, write_config(tmp_path, ak.url, ak.token_file), "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["server_version"] == ak.version
    assert status["context"] == "real"

    outposts = {o["name"]: o for o in status["outposts"]}
    assert set(outposts) == {"authentik Embedded Outpost", "outpost-single", "outpost-example-dev"}
    assert outposts["authentik Embedded Outpost"]["managed"] == EMBEDDED
    assert outposts["authentik Embedded Outpost"]["provider_pks"] == []
    pks = ak.lab["providers"]
    for name, members in {
        "outpost-single": ("app.example.com", "blog.example.org"),
        "outpost-example-dev": ("example.dev", "beta.example.dev"),
    }.items():
        assert outposts[name]["pk"] == ak.lab["outposts"][name]
        assert outposts[name]["type"] == "proxy"
        assert outposts[name]["managed"] is None
        assert sorted(outposts[name]["provider_pks"]) == sorted(pks[m] for m in members)

    providers = {p["name"]: p for p in status["providers"]}
    assert {
        name: (p["pk"], p["mode"], p["external_host"], p["cookie_domain"], p["outpost_names"])
        for name, p in providers.items()
    } == {
        "app.example.com": (
            pks["app.example.com"],
            "forward_single",
            "https://app.example.com",
            "",
            ["outpost-single"],
        ),
        "blog.example.org": (
            pks["blog.example.org"],
            "forward_single",
            "https://blog.example.org",
            "",
            ["outpost-single"],
        ),
        "example.dev": (
            pks["example.dev"],
            "forward_domain",
            "https://example.dev",
            "example.dev",
            ["outpost-example-dev"],
        ),
        "beta.example.dev": (
            pks["beta.example.dev"],
            "forward_domain",
            "https://beta.example.dev",
            "example.dev",
            ["outpost-example-dev"],
        ),
    }

    apps = {a["slug"]: a for a in status["applications"]}
    assert {slug: (a["provider_pk"], a["launch_url"]) for slug, a in apps.items()} == {
        "app-example-com": (pks["app.example.com"], "https://app.example.com"),
        "blog-example-org": (pks["blog.example.org"], "https://blog.example.org"),
        "alpha-example-dev": (pks["example.dev"], "https://alpha.example.dev"),
        "beta-example-dev": (pks["beta.example.dev"], "https://beta.example.dev"),
    }
    # bindings: only client-alpha reaches alpha; the others are open to every user
    reach = {
        slug: [b["group_name"] for b in a["bindings"] if b["enabled"]] for slug, a in apps.items()
    }
    assert reach == {
        "alpha-example-dev": ["client-alpha"],
        "app-example-com": [],
        "blog-example-org": [],
        "beta-example-dev": [],
    }
    assert apps["alpha-example-dev"]["bindings"][0]["pk"] == ak.lab["binding"]

    groups = {g["key"]: g for g in status["groups"]}
    assert set(groups) == {"app.example.com", "blog.example.org", "example.dev"}
    assert groups["example.dev"]["kind"] == "domain"
    assert sorted(groups["example.dev"]["provider_pks"]) == sorted(
        [pks["example.dev"], pks["beta.example.dev"]]
    )
    assert sorted(groups["example.dev"]["application_slugs"]) == [
        "alpha-example-dev",
        "beta-example-dev",
    ]
    assert groups["example.dev"]["outpost_names"] == ["outpost-example-dev"]
    for key in ("app.example.com", "blog.example.org"):
        assert groups[key]["kind"] == "single"
        assert groups[key]["outpost_names"] == ["outpost-single"]

    found = {(f["code"], tuple(f["subjects"])) for f in status["findings"]}
    for app in ("app-example-com", "blog-example-org", "beta-example-dev"):
        assert ("application-unrestricted", (f"app:{app}",)) in found
    # the clean lab has none of the configuration errors
    assert not [f for f in status["findings"] if f["severity"] == "error"]


# --- findings appear after a live change and clear after its undo -------------------------------


@contextmanager
def single_app_on_domain_outpost(ak: RealAuthentik, api: httpx.Client) -> Iterator[Any]:
    pk, lab = ak.lab["outposts"]["outpost-example-dev"], ak.lab["providers"]
    domain = [lab["example.dev"], lab["beta.example.dev"]]
    patch(api, f"/outposts/instances/{pk}/", {"providers": [*domain, lab["app.example.com"]]})
    try:
        yield "single-and-domain-mixed", {f"outpost:{pk}", f"provider:{lab['app.example.com']}"}
    finally:
        patch(api, f"/outposts/instances/{pk}/", {"providers": domain})


@contextmanager
def second_cookie_domain_on_outpost(ak: RealAuthentik, api: httpx.Client) -> Iterator[Any]:
    pk, lab = ak.lab["outposts"]["outpost-example-dev"], ak.lab["providers"]
    other = new_provider(
        api,
        name=f"{TEST_PREFIX}example-org",
        mode="forward_domain",
        external_host="https://auth.example.org",
        cookie_domain="example.org",
    )["pk"]
    domain = [lab["example.dev"], lab["beta.example.dev"]]
    try:
        patch(api, f"/outposts/instances/{pk}/", {"providers": [*domain, other]})
        try:
            yield "mixed-cookie-domains", {f"outpost:{pk}", f"provider:{other}"}
        finally:
            patch(api, f"/outposts/instances/{pk}/", {"providers": domain})
    finally:
        api.delete(f"/providers/proxy/{other}/")


@contextmanager
def forward_auth_on_embedded(ak: RealAuthentik, api: httpx.Client) -> Iterator[Any]:
    outposts = api.get("/outposts/instances/", params={"managed__iexact": EMBEDDED}).json()
    pk = outposts["results"][0]["pk"]
    provider = ak.lab["providers"]["app.example.com"]
    patch(api, f"/outposts/instances/{pk}/", {"providers": [provider]})
    try:
        yield "embedded-forward-auth", {f"outpost:{pk}", f"provider:{provider}"}
    finally:
        patch(api, f"/outposts/instances/{pk}/", {"providers": []})


@contextmanager
def auth_url_leaves_cookie_domain(ak: RealAuthentik, api: httpx.Client) -> Iterator[Any]:
    pk = ak.lab["providers"]["beta.example.dev"]
    # authentik 2023.10 validates a PATCH as if mode were "proxy" unless mode is sent too
    body = {"mode": "forward_domain", "cookie_domain": "example.dev"}
    patch(api, f"/providers/proxy/{pk}/", {**body, "external_host": "https://auth.example.net"})
    try:
        yield "auth-url-outside-cookie-domain", {f"provider:{pk}"}
    finally:
        patch(api, f"/providers/proxy/{pk}/", {**body, "external_host": "https://beta.example.dev"})


@pytest.mark.parametrize(
    "change",
    [
        single_app_on_domain_outpost,
        second_cookie_domain_on_outpost,
        forward_auth_on_embedded,
        auth_url_leaves_cookie_domain,
    ],
    ids=lambda f: f.__name__,
)
async def test_finding_appears_and_clears_live(real_authentik: RealAuthentik, change: Any) -> None:
    ak = real_authentik
    # one client for all three refreshes, as the dashboard keeps one
    async with AuthentikClient(ak.url, ak.token) as client:
        before = await client.snapshot()
        with ak.api() as api, change(ak, api) as (code, subjects):
            assert code not in codes(before)
            during = await client.snapshot()
            hits = [f for f in during.findings if f.code == code]
            assert len(hits) == 1, [f.code for f in during.findings]
            assert subjects <= set(hits[0].subjects)
            assert hits[0].severity == "error"
        after = await client.snapshot()
    assert code not in codes(after)


# --- staleness evidence with connected outpost instances ----------------------------------------


async def test_staleness_evidence_version_and_connection(real_authentik: RealAuthentik) -> None:
    ak = real_authentik
    lab = ak.lab
    dev_pk, single_pk = lab["outposts"]["outpost-example-dev"], lab["outposts"]["outpost-single"]
    provider = lab["providers"]["example.dev"]
    old = OLDER[ak.version]
    with ak.api() as api:
        # an outpost nothing connects to (it needs a provider), beside the two that get instances
        idle_provider = new_provider(
            api,
            name=f"{TEST_PREFIX}idle",
            mode="forward_single",
            external_host="https://idle.example.net",
        )
        config = api.get("/outposts/instances/default_settings/").json()["config"]
        idle = api.post(
            "/outposts/instances/",
            json={
                "name": f"{TEST_PREFIX}idle",
                "type": "proxy",
                "providers": [idle_provider["pk"]],
                "config": config,
            },
        )
        assert idle.status_code == 201, idle.text
        idle_pk = idle.json()["pk"]
        fake = ak.fake_outposts(
            60, f"outpost-example-dev:{ak.version}:host-a", f"outpost-single:{old}:old-host"
        )
        try:
            ak.wait_connected(dev_pk, 1)
            ak.wait_connected(single_pk, 1)
            connected_at = datetime.fromtimestamp(fake.started_at, UTC)
            async with AuthentikClient(ak.url, ak.token) as client:
                before = await client.snapshot()
                # a real model_updated event, after the instance loaded its configuration
                body = {"mode": "forward_domain", "skip_path_regex": "^/aktui-it$"}
                patch(api, f"/providers/proxy/{provider}/", body)
                try:
                    after = await client.snapshot()
                finally:
                    patch(api, f"/providers/proxy/{provider}/", {**body, "skip_path_regex": ""})
        finally:
            fake.stop()
            api.delete(f"/outposts/instances/{idle_pk}/")
            api.delete(f"/providers/proxy/{idle_provider['pk']}/")

    def newer(snap: Snapshot) -> list[Any]:
        return [
            c
            for c in snap.changes
            if c.model == "proxyprovider" and c.pk == str(provider) and c.at > connected_at
        ]

    assert not newer(before)
    changes = newer(after)
    assert changes, after.changes
    assert changes[-1].name == "example.dev"
    assert changes[-1].action == "model_updated"
    assert after.fetched_at >= changes[-1].at
    serving = after.outposts_serving(provider)
    assert [o.name for o in serving] == ["outpost-example-dev"]
    dev = serving[0]
    assert dev.connected
    assert [(i.hostname, i.version, i.outdated) for i in dev.instances] == [
        ("host-a", ak.version, False)
    ]
    assert dev.last_seen is not None and dev.last_seen >= connected_at
    _staleness_verdict(after, dev, connected_at)

    single = after.outpost("outpost-single")
    assert single is not None
    assert [(i.hostname, i.version, i.version_should) for i in single.instances] == [
        ("old-host", old, ak.version)
    ]
    mismatch = [f for f in after.findings if f.code == "outpost-version-mismatch"]
    assert [f.subjects for f in mismatch] == [(f"outpost:{single_pk}",)]
    assert old in mismatch[0].evidence and ak.version in mismatch[0].evidence

    not_connected = {
        s for f in after.findings if f.code == "outpost-not-connected" for s in f.subjects
    }
    assert f"outpost:{idle_pk}" in not_connected
    assert f"outpost:{dev_pk}" not in not_connected
    assert f"outpost:{single_pk}" not in not_connected


class HealthRecorder(httpx.AsyncBaseTransport):
    """Keeps the last /health/ answer the client under test got, per outpost pk."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.health: dict[str, list[dict[str, Any]]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        parts = request.url.path.rstrip("/").split("/")
        if parts[-1] == "health" and response.status_code == 200:
            await response.aread()
            self.health[parts[-2]] = json.loads(response.content)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_instance_that_disconnects_is_not_connected(real_authentik: RealAuthentik) -> None:
    """2023.10 drops a closed websocket's /health/ entry at once; 2025.12 keeps it a while,
    then lists it with ``last_seen``/``version`` null and ``hostname`` "" until it is purged.
    Every refresh until then: an outpost whose entries are all closed is not connected."""
    ak = real_authentik
    pk = ak.lab["outposts"]["outpost-single"]
    ak.wait_disconnected(pk)  # an earlier test's instances are gone from /health/ first
    fake = ak.fake_outposts(60, f"outpost-single:{ak.version}:host-going")
    recorder = HealthRecorder()
    seen: list[str] = []  # what each refresh after the disconnect read: live/closed/none
    try:
        ak.wait_connected(pk, 1, hostname="host-going")
        async with AuthentikClient(ak.url, ak.token, transport=recorder) as client:
            up = await client.snapshot()
            fake.stop()
            for _ in range(200):  # bounded: ~15 s on 2025.12 until the entry goes
                snap = await client.snapshot()
                entries = recorder.health[pk]
                if any(connected(e) for e in entries):
                    seen.append("live")
                    await asyncio.sleep(0.2)
                    continue
                seen.append("closed" if entries else "none")
                single = snap.outpost("outpost-single")
                assert single is not None
                assert not single.connected, entries
                assert single.last_seen is None
                not_connected = {
                    s
                    for f in snap.findings
                    if f.code == "outpost-not-connected"
                    for s in f.subjects
                }
                assert f"outpost:{pk}" in not_connected
                if not entries:
                    break
    finally:
        fake.stop()
    single = up.outpost("outpost-single")
    assert single is not None and single.connected
    assert "host-going" in [i.hostname for i in single.instances]
    assert seen[-1] == "none", seen  # the entry went in the end
    # 2025.12 lists the closed connection with nulls for only ~3 s before the entry goes, so a
    # refresh may miss that window; whenever one read it, the loop above judged it. The
    # recorded after-disconnect answer is judged in tests/unit/test_model_2025.py every run.


def _staleness_verdict(snap: Snapshot, outpost: Outpost, connected_at: datetime) -> None:
    """aktui.outposts.staleness turns that evidence into a verdict naming the provider and times.

    The fake instance loaded its config when it connected (as a real outpost logs "Loaded
    application" at start). The server runs no worker, so no push ever reaches it: at the
    fetch the verdict waits for the push; once the push grace is over it is stale."""
    loaded = LoadEvidence(last_loaded_log=connected_at)
    change = relevant_changes(snap, outpost)[-1]
    assert (change.model, change.name) == ("proxyprovider", "example.dev")
    waiting = staleness.assess(snap, outpost, loaded)
    assert waiting.stale == staleness.UNKNOWN
    assert "provider example.dev changed" in waiting.reason
    late = staleness.assess(
        snap, outpost, loaded, now=change.at + PUSH_GRACE + timedelta(seconds=1)
    )
    assert late.is_stale and late.confidence == "high"
    assert late.changed_at == change.at and late.loaded_at == connected_at
    for when in (change.at, connected_at):
        assert f"{when:%H:%M}" in late.reason
    assert "provider example.dev changed" in late.reason and "outpost loaded" in late.reason


# --- pagination and scale -----------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests and the most in flight at once (concurrency, not timing)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.paths: list[tuple[str, str]] = []
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append((request.url.path, request.url.params.get("page", "")))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _each(calls: list[Any], limit: int = 4) -> list[httpx.Response]:
    # 4 at once was the fastest on 2 cores: the server's 2 workers are CPU-bound
    gate = asyncio.Semaphore(limit)

    async def one(call: Any) -> httpx.Response:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def test_300_applications_all_read(real_authentik: RealAuthentik) -> None:
    ak = real_authentik
    slugs = [f"{TEST_PREFIX}scale-{i:03d}" for i in range(SCALE)]
    # Made in the server's own Django: through the API, 300 creations and deletions take
    # minutes on 2025.12 (~0.4 s and ~2 s each). aktui reads them through the API as always.
    ak.django(
        "from django.db import transaction\n"
        "from authentik.core.models import Application\n"
        "with transaction.atomic():\n"
        f"    for slug in {slugs!r}:\n"
        "        Application.objects.create(name=slug, slug=slug)\n"
    )
    try:
        transport = CountingTransport()
        async with AuthentikClient(ak.url, ak.token, transport=transport) as client:
            snap = await client.snapshot()
    finally:
        ak.delete_test_applications()

    read = [a.slug for a in snap.applications]
    assert len(read) == len(set(read)) == SCALE + 4
    assert set(slugs) <= set(read)
    pages = sorted(
        int(page) for path, page in transport.paths if path == "/api/v3/core/applications/"
    )
    assert pages == list(range(1, math.ceil((SCALE + 4) / 100) + 1))
    assert transport.peak > 1  # independent pages and endpoints were in flight together


# --- faults -------------------------------------------------------------------------------------


def test_wrong_token_is_one_clear_line(real_authentik: RealAuthentik, tmp_path: Path) -> None:
    ak = real_authentik
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    wrong.chmod(0o600)
    done = aktui(ak, write_config(tmp_path, ak.url, wrong), "status", "--json")
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"token rejected by {ak.url}" in lines[0]


async def test_server_down_then_back(real_authentik: RealAuthentik, tmp_path: Path) -> None:
    ak = real_authentik
    config = write_config(tmp_path, ak.url, ak.token_file)
    async with AuthentikClient(ak.url, ak.token, timeout=5) as client:
        good = await client.snapshot()
        ak.stop_server()
        try:
            done = aktui(ak, config, "status")
            assert done.returncode != 0
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert ak.url in lines[0] and "cannot connect" in lines[0]
            with pytest.raises(AuthentikUnreachable, match="cannot connect"):
                await client.snapshot()
        finally:
            ak.start_server()
        # the same client (as the running dashboard keeps it) recovers without a restart
        back = await client.snapshot()
    assert [o.pk for o in back.outposts] == [o.pk for o in good.outposts]
    assert aktui(ak, config, "status").returncode == 0
