"""Time and peak memory of `aktui lint-nginx` against crossplane's bare parse of the same config.

    .venv/bin/python bench/bench_lint.py [--servers 500] [--repeat 3]

Generates a config tree (nginx.conf, the two field-guide snippets, one site file per server
block, every third site with a pitfall) and the `nginx -T` dump of it (same `# configuration
file PATH:` format nginx prints), then runs each of these in its own process, best of
``--repeat``, timing only the work (imports excluded):

- ``crossplane.parse(nginx.conf)``: the bare parse, following the includes (the baseline);
- ``lint_text(dump)``: the linter on the dump (parse, resolve, all checks);
- ``lint_paths([nginx.conf])``: the linter on the tree;
- ``aktui lint-nginx -`` end to end (interpreter start and imports included).

Goal (issue 10): lint at most 3x the bare parse. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aktui.nginx.templates import render_forward_auth, render_outpost
from aktui.nginx.values import OutpostTarget

REPO = Path(__file__).resolve().parent.parent

# The snippets aktui itself renders (the field guide's two files), not a hand-kept copy.
FORWARD = render_forward_auth()
OUTPOST = render_outpost(OutpostTarget("outpost-single", "100.64.0.10", 9001))
SITE = """\
server {
    listen 80;
    server_name site%N%.example.com;
    root /var/www/site%N%;
    include snippets/authentik-forward-auth.conf;
    include snippets/authentik-outpost-single.conf;
    location / {
        try_files $uri $uri/ /index.php?$args;%EXTRA%
    }
    location ~ \\.php$ {
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }
    location ~* ^.+\\.(css|js|png|jpg|gif|ico|woff2)$ {
        auth_request off;
        expires max;
        add_header Cache-Control "public";
    }
    location ~* /\\.(?!well-known\\/) {
        deny all;
    }
}
"""


def generate(root: Path, servers: int) -> str:
    """Write the tree under root; return the equivalent `nginx -T` dump."""
    files = {
        root / "nginx.conf": "events {}\n\nhttp {\n    include sites-enabled/*.conf;\n}\n",
        root / "snippets" / "authentik-forward-auth.conf": FORWARD,
        root / "snippets" / "authentik-outpost-single.conf": OUTPOST,
    }
    for n in range(servers):
        extra = "\n        add_header X-Frame-Options DENY;" if n % 3 == 0 else ""
        files[root / "sites-enabled" / f"site{n:04}.conf"] = SITE.replace("%N%", str(n)).replace(
            "%EXTRA%", extra
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # nginx -T order: main file, then each file the first time it is included.
    order = [root / "nginx.conf"]
    for n in range(servers):
        order.append(root / "sites-enabled" / f"site{n:04}.conf")
        if n == 0:
            order += [root / "snippets" / "authentik-forward-auth.conf"]
            order += [root / "snippets" / "authentik-outpost-single.conf"]
    return "".join(f"# configuration file {p}:\n{files[p]}\n" for p in order)


CHILD = """\
import json, resource, sys, time
sys.path.insert(0, {repo!r})
kind, arg = sys.argv[1], sys.argv[2]
if kind == "crossplane":
    import crossplane
    start = time.perf_counter()
    payload = crossplane.parse(arg)
    n = sum(len(c["parsed"]) for c in payload["config"])
elif kind == "dump":
    from aktui.nginx.lint import lint_text
    text = open(arg).read()
    start = time.perf_counter()
    n = len(lint_text(text).findings)
else:
    from aktui.nginx.lint import lint_paths
    start = time.perf_counter()
    n = len(lint_paths([arg]).findings)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "rss": rss, "n": n}}))
"""


def child(kind: str, arg: str) -> dict[str, float]:
    code = CHILD.format(repo=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", code, kind, arg], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def end_to_end(dump: Path) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "aktui.cli", "lint-nginx", "-"]
    with dump.open("rb") as stdin, open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=devnull, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1, 2):
        raise SystemExit(f"{cmd} failed")
    return seconds, usage.ru_maxrss / 1024


def best(kind: str, arg: str, repeat: int) -> dict[str, float]:
    runs = [child(kind, arg) for _ in range(repeat)]
    top = min(runs, key=lambda r: r["seconds"])
    return {**top, "rss": max(r["rss"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "etc-nginx"
        dump = Path(tmp) / "nginx-T.txt"
        dump.write_text(generate(root, opts.servers))
        main_conf = str(root / "nginx.conf")
        base = best("crossplane", main_conf, opts.repeat)
        rows = [
            ("crossplane.parse (tree)", base),
            ("lint_text (dump)", best("dump", str(dump), opts.repeat)),
            ("lint_paths (tree)", best("tree", main_conf, opts.repeat)),
        ]
        e2e = min(end_to_end(dump) for _ in range(opts.repeat))
        size = dump.stat().st_size
    print(
        f"{opts.servers} server blocks, dump {size / 1024:.0f} KiB, best of {opts.repeat}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'run':28} {'seconds':>8} {'x parse':>8} {'peak MB':>8} {'items':>7}")
    for name, r in rows:
        print(
            f"{name:28} {r['seconds']:8.3f} {r['seconds'] / base['seconds']:8.2f} "
            f"{r['rss']:8.1f} {int(r['n']):7}"
        )
    print(f"{'aktui lint-nginx - (e2e)':28} {e2e[0]:8.3f} {'':8} {e2e[1]:8.1f}")
    ratio = rows[1][1]["seconds"] / base["seconds"]
    print(f"goal: lint <= 3x bare parse -> {'met' if ratio <= 3 else 'NOT met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
