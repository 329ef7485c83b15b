"""Doctor checks: model-derived results and the /auth/nginx + /start probes, explained."""

from __future__ import annotations

import json

import httpx
import pytest

from aktui.authentik.parse import build_snapshot
from aktui.doctor.checks import DoctorInput, OutpostEndpoint, exit_code, run_doctor
from tests.unit.test_model import raw  # noqa: F401  (fixture)


def outpost_answering(auth_status: int, start_location: str = "https://auth.example.com/x"):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/nginx"):
            if "x-original-url" not in request.headers:
                return httpx.Response(500, text="configuration error")
            if auth_status == 400:
                body = {"Message": "no app for hostname", "Host": request.headers["host"]}
                return httpx.Response(400, text=json.dumps(body, indent="\t"))
            if auth_status == 404:
                return httpx.Response(
                    404, text="<html>Not Found</html>", headers={"content-type": "text/html"}
                )
            return httpx.Response(auth_status, text="unauthorized request\n")
        if request.url.path.endswith("/start"):
            return httpx.Response(302, headers={"location": start_location})
        return httpx.Response(404)

    return httpx.MockTransport(handler)


def doctor_input(raw, transport):  # noqa: F811
    snap = build_snapshot(raw)
    single = snap.outpost("outpost-single")
    return DoctorInput(
        snapshot=snap,
        endpoints=[OutpostEndpoint(single, "http://127.0.0.1:9001")],
        transport=transport,
    )


async def test_healthy_outpost_probes_ok(raw):  # noqa: F811
    results = await run_doctor(doctor_input(raw, outpost_answering(401)))
    probes = [r for r in results if r.check == "outpost-auth-probe"]
    assert len(probes) == 2 and all(r.status == "ok" for r in probes)
    assert all(r.status == "ok" for r in results if r.check == "browser-redirect")
    assert exit_code(results) == 0


@pytest.mark.parametrize(
    ("status", "words"),
    [(404, "authentik core"), (400, "no app for hostname"), (403, "error_page")],
)
async def test_bad_auth_answers_are_explained(raw, status, words):  # noqa: F811
    results = await run_doctor(doctor_input(raw, outpost_answering(status)), ["outpost-auth-probe"])
    assert results and all(words in r.evidence or words in r.fix for r in results)
    assert exit_code(results) >= 1


async def test_internal_browser_redirect_is_an_error(raw):  # noqa: F811
    transport = outpost_answering(401, "http://server:9000/application/o/authorize/?x=1")
    results = await run_doctor(doctor_input(raw, transport), ["browser-redirect"])
    errors = [r for r in results if r.status == "error"]
    assert len(errors) == 2 and all("AUTHENTIK_HOST_BROWSER" in r.fix for r in errors)


async def test_unreachable_outpost(raw):  # noqa: F811
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    results = await run_doctor(doctor_input(raw, httpx.MockTransport(refuse)))
    probe = next(r for r in results if r.check == "outpost-auth-probe")
    assert probe.status == "error" and "unreachable" in probe.title


async def test_model_findings_become_checks(raw):  # noqa: F811
    next(o for o in raw["outposts"] if o["name"] == "authentik Embedded Outpost")["providers"] = [2]
    results = await run_doctor(doctor_input(raw, outpost_answering(401)), ["embedded-outpost"])
    assert [r.status for r in results] == ["error"]
    assert exit_code(results) == 2


async def test_no_endpoints_is_skipped(raw):  # noqa: F811
    inp = DoctorInput(snapshot=build_snapshot(raw))
    results = await run_doctor(inp, ["outpost-auth-probe"])
    assert [r.status for r in results] == ["skipped"]
