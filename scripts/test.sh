#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what it needs (apt packages, venv),
# then runs ruff and every test tier. Needs root (or sudo) for apt and for the daemon fixtures.
# Extra arguments go to pytest (e.g. `-m "not integration"` for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Real daemons for the integration tier (REAL-DAEMONS.md): dockerd, sshd, nginx, network namespaces.
packages=(python3 python3-venv python3-dev gcc docker.io nginx openssh-server openssh-client iproute2 git curl tmux)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The distro enables these on install; the tests start their own private instances instead.
for svc in nginx ssh docker; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    python3 -m venv .venv
fi
echo "==> pip install -e .[test]"
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

echo "==> ruff"
.venv/bin/ruff check .

echo "==> pytest"
# pytest exits 5 when nothing was collected: that is a failure here, not a pass.
.venv/bin/pytest -p no:cacheprovider "$@"
