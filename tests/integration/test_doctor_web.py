"""The doctor's web-server checks against real sshd + nginx (tests/fixtures/webhost.py) and the
demo lab (its outposts are real processes answering like authentik's proxy outpost).

Each pitfall is a real nginx config on the fixture host, read back by the doctor over SSH with
`nginx -T`; the field-guide-correct config is the pass case of every check. The model side is
the lab's: app.example.com is served by outpost-single, docs.example.net by
outpost-example-net.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from aktui.authentik.client import AuthentikClient
from aktui.authentik.model import Snapshot
from aktui.config import Config, ContextConfig, LogsConfig, OutpostMapping
from aktui.deploy.snippets import build_snippets
from aktui.doctor.checks import CheckResult
from aktui.doctor.web import PITFALLS, dump_results, web_checks
from aktui.lab import Lab
from aktui.nginx.lint import make_env
from aktui.nginx.templates import FORWARD_AUTH_FILE
from aktui.secret import Secret
from tests.fixtures.procs import free_base_port, free_port
from tests.fixtures.webhost import WebHost

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
APP, DOCS = "app.example.com", "docs.example.net"
SITES = {APP: "authentik-outpost-single.conf", DOCS: "authentik-outpost-example-net.conf"}
# The field guide's WordPress dotfile rule does not match /outpost.goauthentik.io (no `/`
# before the dot: tests/data/nginx/nearmiss/wordpress_dotfile.conf); a broader rule denying
# dotted directory names (.git/, backup.old/) does, and shadows a plain prefix location.
DOTFILE_DENY = """\
    location ~* /\\.(?!well-known\\/) {
        deny all;
    }
    location ~* \\.[a-z0-9]+/ {
        deny all;
    }
"""

SITE_BLOCK = """\
server {{
    listen 127.0.0.1:{port};
    server_name {site};
    root {www};
    include {snippets}/{forward};
    include {snippets}/{outpost};
{extra}
    location / {{
        try_files $uri $uri/ =404;
    }}
}}
"""

WEB_IDS = ["web-ssh", "nginx-config", *PITFALLS, "snippet-drift", "site-outpost", "site-redirect"]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(base_port=free_base_port()) as lab:
        yield lab


async def _snapshot(lab: Lab) -> Snapshot:
    async with AuthentikClient(lab.url, Secret(lab.token)) as client:
        return await client.snapshot()


@pytest.fixture(scope="module")
def snapshot(lab: Lab) -> Snapshot:
    return asyncio.run(_snapshot(lab))


@pytest.fixture
def host(webhost: WebHost) -> Iterator[WebHost]:
    webhost.reset()
    yield webhost
    webhost.reset()  # others expect the default site


def lab_config(lab: Lab, **web_servers: object) -> Config:
    return Config(
        contexts={"lab": ContextConfig(url=lab.url, token=Secret(lab.token))},
        outposts={n: OutpostMapping(address="127.0.0.1", port=p) for n, p in lab.ports.items()},
        web_servers=web_servers,  # type: ignore[arg-type]
        logs=LogsConfig(),
    )


def generated(lab: Lab, snapshot: Snapshot) -> dict[str, str]:
    return build_snippets(snapshot, lab_config(lab)).files_for_sites(snapshot, list(SITES))


def install(
    host: WebHost,
    files: dict[str, str],
    *,
    outposts: dict[str, str] | None = None,
    extra: str = DOTFILE_DENY,
) -> None:
    """Snippets into the snippet dir, one server block per site, nginx -t, reload."""
    for name, text in files.items():
        (host.snippet_dir / name).write_text(text)
    blocks = [
        SITE_BLOCK.format(
            port=host.http_port,
            site=site,
            www=host.www,
            snippets=host.snippet_dir,
            forward=FORWARD_AUTH_FILE,
            outpost=outpost,
            extra=extra,
        )
        for site, outpost in (outposts or SITES).items()
    ]
    (host.conf_dir / "site.conf").write_text("\n".join(blocks))
    test = host.nginx("-t")
    assert test.returncode == 0, test.stderr
    host.reload()


def doctor(lab: Lab, snapshot: Snapshot, **web_servers: object) -> list[CheckResult]:
    backend = SimpleNamespace(config=lab_config(lab, **web_servers), runtime=None)
    checks = web_checks(backend, snapshot)

    async def run() -> list[CheckResult]:
        return [r for check in checks for r in await check()]

    return asyncio.run(run())


def web1(host: WebHost, **overrides: object) -> object:
    return host.web_server_config(sites=list(SITES), **overrides)


def only(results: list[CheckResult], check: str, site: str = "") -> CheckResult:
    found = [r for r in results if r.check == check and site in r.title]
    assert len(found) == 1, (check, site, found)
    return found[0]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- the field guide's config: every check passes -------------------------------------------


def test_field_guide_config_passes(lab, snapshot, host):
    install(host, generated(lab, snapshot))
    results = doctor(lab, snapshot, web1=web1(host))
    assert {r.subject for r in results} == {"host:web1"}
    assert sorted({r.check for r in results}) == sorted(set(WEB_IDS))
    # The fixture's nginx listens on a random port, where $host drops the port: the generated
    # snippets' `Host $host` is flagged there (it would not be on 80/443).
    failing = [r for r in results if r.status != "ok" and r.check != "host-vs-http-host"]
    assert failing == []
    assert only(results, "snippet-drift").title == "web1: installed snippets match the model"
    outpost_file = host.snippet_dir / SITES[APP]
    assert only(results, "site-outpost", APP).evidence.startswith(
        f"{outpost_file}:{line_of(outpost_file, 'proxy_pass')}: proxy_pass http://127.0.0.1:"
        f"{lab.ports['outpost-single']};"
    )
    assert "outpost-example-net" in only(results, "site-outpost", DOCS).title
    redirect = only(results, "site-redirect", APP)
    assert f"--resolve {APP}:{host.http_port}:127.0.0.1" in redirect.evidence
    assert "→ 302 http://app.example.com" in redirect.evidence
    assert "/outpost.goauthentik.io/start?rd=" in redirect.evidence
    assert "/application/o/authorize/" in redirect.evidence  # /start reached the outpost


def test_host_vs_http_host(lab, snapshot, host):
    files = generated(lab, snapshot)
    install(host, files)
    flagged = [r for r in doctor(lab, snapshot, web1=web1(host)) if r.check == "host-vs-http-host"]
    assert flagged and all(r.status == "warn" for r in flagged)
    outpost_file = host.snippet_dir / SITES[APP]
    assert any(r.evidence.startswith(f"{outpost_file}:") for r in flagged)
    assert "$http_host" in flagged[0].fix

    fixed = {k: v.replace("$host;", "$http_host;") for k, v in files.items()}
    install(host, fixed)
    results = doctor(lab, snapshot, web1=web1(host))
    assert only(results, "host-vs-http-host").status == "ok"


# --- one pitfall each -----------------------------------------------------------------------


def test_dotfile_deny_shadows_outpost_location_without_caret(lab, snapshot, host):
    files = generated(lab, snapshot)
    files[SITES[APP]] = files[SITES[APP]].replace("location ^~ /outpost", "location /outpost")
    install(host, files)
    results = doctor(lab, snapshot, web1=web1(host))
    path = host.snippet_dir / SITES[APP]
    shadowed = only(results, "outpost-location-shadowed", APP)
    assert shadowed.status == "error"
    assert shadowed.evidence.startswith(f"{path}:{line_of(path, 'location /outpost')}: ")
    assert "^~" in shadowed.fix
    # End to end the first 302 still happens; the browser's /start then meets the deny rule,
    # whose 403 `error_page 401 403` turns into the signin redirect again: a loop.
    redirect = only(results, "site-redirect", APP)
    assert redirect.status == "error"
    assert (
        redirect.title == f"web1: {APP}: /start answered a redirect back to /start (loop), "
        "not the outpost"
    )
    assert "access forbidden by rule" in redirect.evidence  # nginx's error log, read over SSH
    assert "location ^~ /outpost.goauthentik.io" in redirect.fix
    assert only(results, "site-redirect", DOCS).status == "ok"


def test_error_page_401_only(lab, snapshot, host):
    files = generated(lab, snapshot)
    files[FORWARD_AUTH_FILE] = files[FORWARD_AUTH_FILE].replace("401 403", "401")
    install(host, files)
    results = doctor(lab, snapshot, web1=web1(host))
    path = host.snippet_dir / FORWARD_AUTH_FILE
    found = [r for r in results if r.check == "error-page-401-only"]
    # a warning (the outpost answers 401, never 403; a 403 from a WAF would not log in)
    assert found and all(r.status == "warn" for r in found)
    assert found[0].evidence.startswith(f"{path}:{line_of(path, 'error_page 401 =')}: ")
    assert "error_page 401 403 = @goauthentik_proxy_signin" in found[0].fix


def test_missing_cookie_auth_request_set(lab, snapshot, host):
    files = generated(lab, snapshot)
    for name in (FORWARD_AUTH_FILE, SITES[APP], SITES[DOCS]):  # nginx needs all or none
        lines = files[name].splitlines(keepends=True)
        files[name] = "".join(line for line in lines if "auth_cookie" not in line)
    install(host, files)
    results = doctor(lab, snapshot, web1=web1(host))
    path = host.snippet_dir / FORWARD_AUTH_FILE
    found = [r for r in results if r.check == "cookie-not-passed"]
    assert found and all(r.status == "warn" for r in found)
    assert found[0].evidence.startswith(f"{path}:{line_of(path, 'auth_request /outpost')}: ")
    assert "auth_request_set $auth_cookie $upstream_http_set_cookie" in found[0].fix
    # Seen end to end too: the outpost's Set-Cookie never reaches the browser.
    redirect = only(results, "site-redirect", APP)
    assert redirect.status == "warn" and "no Set-Cookie" in redirect.title


def test_drifted_snippet(lab, snapshot, host):
    files = generated(lab, snapshot)
    files[FORWARD_AUTH_FILE] = files[FORWARD_AUTH_FILE].replace(
        "proxy_buffers 8 16k;", "proxy_buffers 16 16k;"
    )
    install(host, files)
    results = doctor(lab, snapshot, web1=web1(host))
    drift = only(results, "snippet-drift")
    assert drift.status == "warn" and drift.action == "push"
    path = host.snippet_dir / FORWARD_AUTH_FILE
    assert f"--- web1:{path}\n+++ web1:{path} (new)" in drift.evidence
    assert "-proxy_buffers 16 16k;\n+proxy_buffers 8 16k;" in drift.evidence
    assert "aktui push --host web1" in drift.fix
    assert only(results, "site-redirect", APP).status == "ok"  # the change is harmless


def test_site_routed_to_the_wrong_outpost(lab, snapshot, host):
    install(host, generated(lab, snapshot), outposts={APP: SITES[DOCS], DOCS: SITES[DOCS]})
    results = doctor(lab, snapshot, web1=web1(host))
    wrong = only(results, "site-outpost", APP)
    assert wrong.status == "error"
    assert wrong.title == f"web1: {APP} → outpost-example-net instead of outpost-single"
    path = host.snippet_dir / SITES[DOCS]
    assert wrong.evidence.startswith(f"{path}:{line_of(path, 'proxy_pass')}: ")
    assert "Include authentik-outpost-single.conf" in wrong.fix
    # The wrong outpost has no app for the host (400), which nginx turns into a 500.
    redirect = only(results, "site-redirect", APP)
    assert redirect.status == "error" and "answered 500" in redirect.title
    assert "auth request unexpected status: 400" in redirect.evidence
    assert only(results, "site-outpost", DOCS).status == "ok"


def test_nginx_t_fails(lab, snapshot, host):
    install(host, generated(lab, snapshot))
    broken = host.root / "broken.conf"
    broken.write_text(host.nginx_conf.read_text() + "bogus_directive on;\n")
    results = doctor(lab, snapshot, web1=web1(host, nginx_conf=str(broken)))
    failed = only(results, "nginx-config")
    assert failed.status == "error" and failed.title == "web1: nginx -T failed"
    line = len(broken.read_text().splitlines())
    assert f'unknown directive "bogus_directive" in {broken}:{line}' in failed.evidence
    cannot = [r for r in results if r.check in PITFALLS or r.check == "site-redirect"]
    assert cannot and {r.status for r in cannot} == {"skipped"}  # never ok without nginx -T
    assert only(results, "snippet-drift").status == "ok"  # read over SFTP all the same


def test_unreachable_host_others_still_checked(lab, snapshot, host):
    install(host, generated(lab, snapshot))
    down = host.web_server_config(port=free_port(), sites=list(SITES))
    results = doctor(lab, snapshot, web1=web1(host), down=down)
    gone = [r for r in results if r.subject == "host:down"]
    assert [r.status for r in gone].count("error") == 1
    error = only(gone, "web-ssh")
    assert error.status == "error" and error.title.startswith("down: unreachable over SSH")
    assert "cannot connect" in error.evidence
    assert {r.status for r in gone if r is not error} == {"skipped"}  # never ok
    assert {r.check for r in gone} == set(WEB_IDS)
    assert [r for r in results if r.subject == "host:web1" and r.status == "error"] == []


def test_unknown_host_key_refused_with_fingerprint(lab, snapshot, host, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    results = doctor(lab, snapshot, web1=web1(host, known_hosts=str(known)))
    error = only(results, "web-ssh")
    assert error.status == "error" and "host key unknown" in error.title
    assert host.host_key_fingerprint() in error.evidence
    assert known.read_text() == ""
    assert all(r.status == "skipped" for r in results if r is not error)


def test_auth_path_via_proxy_in_a_real_dump(lab, snapshot, host):
    """No name resolves here, and nginx -T refuses a proxy_pass host it cannot resolve: the
    failing case edits the real dump of the field-guide config (the passing case is above)."""
    install(host, generated(lab, snapshot))
    done = host.nginx("-T")
    assert done.returncode == 0, done.stderr
    upstream = f"proxy_pass http://127.0.0.1:{lab.ports['outpost-single']};"
    dump = done.stdout.replace(upstream, "proxy_pass https://auth-gw.example.net;", 1)
    results, _ = dump_results("web1", dump, make_env([snapshot.server_url]))
    found = only(results, "auth-path-via-proxy", APP)
    assert found.status == "warn"
    path = host.snippet_dir / SITES[APP]
    assert found.evidence.startswith(f"{path}:{line_of(path, 'proxy_pass')}: ")
    assert "TAILSCALE_IP" in found.fix


# --- `aktui doctor --json` end to end -------------------------------------------------------


def write_config(tmp_path: Path, lab: Lab, host: WebHost) -> Path:
    web = {
        "host": "127.0.0.1",
        "port": host.ssh_port,
        "user": host.user,
        "key_file": str(host.client_key),
        "known_hosts": str(host.known_hosts),
        "snippet_dir": str(host.snippet_dir),
        "nginx_conf": str(host.nginx_conf),
        "error_log": str(host.error_log),
        "sites": list(SITES),
    }
    config = {
        "default_context": "lab",
        "contexts": {"lab": {"url": lab.url, "token_file": str(lab.token_file)}},
        "outposts": {n: {"address": "127.0.0.1", "port": p} for n, p in lab.ports.items()},
        "web_servers": {"web1": web},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_doctor(config: Path, *checks: str) -> tuple[int, list[dict]]:
    argv = [sys.executable, "-m", "aktui.cli", "--config", str(config), "doctor", "--json"]
    done = subprocess.run(
        [*argv, *(["--check", *checks] if checks else [])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.stdout, done.stderr
    data = json.loads(done.stdout)
    assert data["exit"] == done.returncode, done.stderr
    return done.returncode, data["results"]


def _not_ok(results: list[dict]) -> str:
    """The failing results in full (a list of dicts would be cut short by pytest's repr)."""
    return "\n".join(json.dumps(r) for r in results if r["status"] != "ok")


def test_cli_doctor_json_exit_codes(lab, snapshot, host, tmp_path):
    config = write_config(tmp_path, lab, host)
    checks = [c for c in WEB_IDS if c != "host-vs-http-host"]  # see test_host_vs_http_host
    files = generated(lab, snapshot)
    install(host, files)
    code, results = run_doctor(config, *checks)
    assert code == 0, _not_ok(results)
    assert {r["check"] for r in results} == set(checks)
    assert {r["subject"] for r in results} == {"host:web1"}

    drifted = {**files, FORWARD_AUTH_FILE: files[FORWARD_AUTH_FILE] + "# edited by hand\n"}
    install(host, drifted)
    code, results = run_doctor(config, *checks)
    assert code == 1
    assert [(r["check"], r["status"], r["action"]) for r in results if r["status"] != "ok"] == [
        ("snippet-drift", "warn", "push")
    ]

    install(host, files, outposts={APP: SITES[DOCS], DOCS: SITES[DOCS]})
    code, results = run_doctor(config)  # everything: the lab's own mistakes are errors too
    assert code == 2
    wrong = [r for r in results if r["check"] == "site-outpost" and r["status"] == "error"]
    assert [r["subject"] for r in wrong] == ["host:web1"]
    assert "outpost-example-net instead of outpost-single" in wrong[0]["title"]
    assert any(r["subject"].startswith("outpost:") for r in results)  # the model side ran too
