#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what it needs (apt packages, venv,
# the real authentik servers of the integration tier), then runs the lint checks and every test
# tier. Needs root (or sudo) for apt and for the daemon fixtures.
# Extra arguments go to pytest (e.g. `-m "not integration"` for a quick run; then the authentik
# servers are not installed). For the fast check without root or daemons: scripts/check.sh.
#
# Whatever the run starts it stops: the fixtures stop their daemons by PID on success, failure,
# timeout and Ctrl-C, and the teardown below lists (and stops) any process the run left behind
# and then fails.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)

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

# --- from here on, every process the run starts is accounted for --------------------------------
# The marker is inherited by everything started below (daemons too); the run's own TMPDIR holds
# the pytest temp dirs (nginx/sshd configs, lab workdirs), so a process naming it is ours as well.
export AKTUI_TEST_RUN="$$-$T0"
RUN_TMP=$(mktemp -d /tmp/aktui-test-run.XXXXXX)
SNAPSHOT="$RUN_TMP.pids"
python3 scripts/leftovers.py snapshot "$SNAPSHOT"
export TMPDIR="$RUN_TMP"
# the authentik install dirs this run uses (their daemons are named by their data dirs)
realak_dirs() {
    if [ -n "${REALAK:-}" ]; then echo "$REALAK"; else ls -d /var/tmp/aktui-authentik-* 2>/dev/null || true; fi
}
REALAK_DIRS=$(realak_dirs)
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    # not the checkout itself: whatever else runs from it meanwhile is not the run's
    local dirs=("$RUN_TMP" ${REALAK_DIRS})
    if ! python3 scripts/leftovers.py check "$SNAPSHOT" "${dirs[@]}"; then
        [ "$rc" -ne 0 ] || rc=1
    fi
    rm -f "$SNAPSHOT"
    rm -rf --one-file-system "$RUN_TMP" 2>/dev/null || true
    echo "==> test run finished in $(( $(date +%s) - T0 )) s (exit $rc)"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

echo "==> lint"
bash scripts/check.sh --lint

# The real authentik servers of the integration tier install before pytest, outside any
# per-test timeout (cold: 2023.10.7 ~3-6 min, 2025.12.4 ~4-13 min; then cached by kit checksum).
case " $* " in
    *"not integration"*) ;;
    *) .venv/bin/python -m tests.fixtures.akinstall ;;
esac
REALAK_DIRS=$(realak_dirs)

echo "==> pytest"
# pytest exits 5 when nothing was collected: that is a failure here, not a pass.
.venv/bin/pytest -p no:cacheprovider "$@"
