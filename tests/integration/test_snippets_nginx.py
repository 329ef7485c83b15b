"""Every generated snippet and example passes a real ``nginx -t`` where it is meant to go."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aktui.authentik.model import Outpost, ProxyProvider, Snapshot
from aktui.config import Config, OutpostMapping
from aktui.deploy.snippets import SnippetSet, build_snippets
from aktui.nginx.templates import FORWARD_AUTH_FILE
from tests.fixtures.webhost import nginx_check, nginx_main_conf

pytestmark = pytest.mark.integration

# Nginx Proxy Manager declares these in every proxy host's server block before the Advanced text.
NPM_SERVER = """\
server {{
    listen 80;
    server_name {site};
    set $forward_scheme http;
    set $server "127.0.0.1";
    set $port 8080;
{body}
}}
"""

# Debian ships fastcgi_params next to nginx.conf; the php-fpm example includes it by that name.
FASTCGI_PARAMS = Path("/etc/nginx/fastcgi_params")


def snapshot() -> Snapshot:
    providers = (
        ProxyProvider(1, "app", "forward_single", "https://app.example.com"),
        ProxyProvider(3, "dev", "forward_domain", "https://example.dev", "", "example.dev"),
    )
    outposts = (
        Outpost("s", "outpost-single", "proxy", (1,)),
        Outpost("d", "Outpost Example Dev", "proxy", (3,)),
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Snapshot(at, "https://auth.example.com", "2026.2.0", outposts, providers, (), ())


CONFIG = Config(
    outposts={
        "outpost-single": OutpostMapping(address="100.64.0.5", port=9001),
        "Outpost Example Dev": OutpostMapping(address="fd7a:115c::5", port=9002),
    }
)


@pytest.fixture(scope="module")
def snippets() -> SnippetSet:
    return build_snippets(snapshot(), CONFIG, upstream="http://10.1.1.1:3000")


def check(tmp_path: Path, snippets: SnippetSet, http_body: str) -> None:
    (tmp_path / "snippets").mkdir(parents=True, exist_ok=True)
    for name, text in snippets.files.items():
        (tmp_path / "snippets" / name).write_text(text)
    if FASTCGI_PARAMS.exists():
        (tmp_path / "fastcgi_params").write_bytes(FASTCGI_PARAMS.read_bytes())
    else:
        (tmp_path / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_main_conf(tmp_path, http_body))
    done = nginx_check(conf)
    assert done.returncode == 0, f"nginx -t failed:\n{done.stderr}\n--- config:\n{http_body}"


def test_every_example_passes_nginx_t(nginx_binary, snippets, tmp_path):
    assert len(snippets.examples) == 12  # 2 sites x 6 shapes
    for i, (name, text) in enumerate(snippets.examples.items()):
        site = name.split("/")[1]
        body = (
            NPM_SERVER.format(site=site, body=text) if name.endswith("npm-advanced.conf") else text
        )
        check(tmp_path / str(i), snippets, body)


@pytest.mark.parametrize(
    "outpost_file", ["authentik-outpost-single.conf", "authentik-outpost-example-dev.conf"]
)
def test_outpost_file_in_a_server_block(nginx_binary, snippets, tmp_path, outpost_file):
    assert outpost_file in snippets.files
    body = f"""\
server {{
    listen 80;
    server_name app.example.com;
    root /var/www/html;
    include snippets/{FORWARD_AUTH_FILE};
    include snippets/{outpost_file};
}}
"""
    check(tmp_path, snippets, body)


def test_forward_auth_file_inside_one_location(nginx_binary, snippets, tmp_path):
    body = f"""\
server {{
    listen 80;
    server_name app.example.com;
    include snippets/authentik-outpost-single.conf;
    location /admin {{
        include snippets/{FORWARD_AUTH_FILE};
        root /var/www/html;
    }}
}}
"""
    check(tmp_path, snippets, body)


def test_a_broken_snippet_is_caught(nginx_binary, snippets, tmp_path):
    """The check above is not vacuous: nginx -t does reject a bad include."""
    broken = SnippetSet(
        files={**snippets.files, FORWARD_AUTH_FILE: "auth_request /x\n"},
        examples={},
        targets=(),
        sites=(),
    )
    with pytest.raises(AssertionError, match="nginx -t failed"):
        check(tmp_path, broken, snippets.examples["examples/app.example.com/whole-site.conf"])
