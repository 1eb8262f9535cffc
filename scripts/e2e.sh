#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs the end-to-end test (bin/scripts/e2e.js) on a fresh stack inside the
# lab host's namespace. Whatever happens, the stack is destroyed and the lab
# host this script started is stopped again. Expects the toolchain on PATH
# (scripts/lab e2e sets it up).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$(readlink -f "$0")")/lib/common.sh"

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    echo "usage: scripts/lab e2e    (env: LVSLAB_E2E_STACK, default e2e; LVSLAB_E2E_REQUESTS, default 200)"
    exit 0
fi

LABHOST="$LVSLAB_ROOT/scripts/labhost.sh"
STACK=${LVSLAB_E2E_STACK:-e2e}
export LVSLAB_E2E_STACK=$STACK
STACK_FILE="$LVSLAB_ROOT/Pulumi.$STACK.yaml"

started_host=0
if ! "$LABHOST" status >/dev/null 2>&1; then
    "$LABHOST" start
    started_host=1
fi

cleanup() {
    local status=$?
    if [ "$status" != 0 ]; then
        say "e2e failed: destroying stack $STACK so nothing is left"
    fi
    # Destroying an already empty stack is quick; then the stack and its
    # config file go. If destroy fails, both stay so a rerun can finish it.
    if timeout 1800 "$LABHOST" exec node "$LVSLAB_ROOT/bin/scripts/automation.js" destroy --stack "$STACK" >/dev/null &&
        node "$LVSLAB_ROOT/bin/scripts/automation.js" remove --stack "$STACK"; then
        rm -f "$STACK_FILE"
    else
        echo "warning: destroy of stack $STACK failed; finish it with: scripts/lab destroy --stack $STACK" >&2
    fi
    if [ "$started_host" = 1 ]; then
        "$LABHOST" stop || echo "warning: stopping the lab host failed; run: scripts/lab host stop" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The e2e stack uses the dev topology: its addresses would clash with a
# running dev lab on the same lab host.
if node "$LVSLAB_ROOT/bin/scripts/automation.js" outputs --stack dev 2>/dev/null | grep -q '"vipUrl"'; then
    die "the dev lab is up and uses the same addresses; bring it down first (scripts/lab destroy)"
fi

# A fresh stack on the dev topology: its own config file, removed afterwards.
# A file left by an aborted run keeps its encryption salt, which that run's
# state needs.
{
    grep '^encryptionsalt:' "$STACK_FILE" 2>/dev/null || true
    grep -v '^encryptionsalt:' "$LVSLAB_ROOT/Pulumi.dev.yaml"
} >"$STACK_FILE.new"
mv "$STACK_FILE.new" "$STACK_FILE"
timeout 5400 "$LABHOST" exec node "$LVSLAB_ROOT/bin/scripts/e2e.js"
