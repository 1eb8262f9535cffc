#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs the benchmark or the fault drills (bin/scripts/bench.js, drills.js) on
# a fresh stack inside the lab host's namespace, the way scripts/e2e.sh runs
# the end-to-end test: whatever happens, the stack is destroyed, anything
# left with the stack's prefix is swept, and the lab host this script started
# is stopped again. The whole run is bounded by `timeout`.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$(readlink -f "$0")")/lib/common.sh"

usage() {
    cat <<USAGE
usage: scripts/lab bench     the benchmark, stack "bench", at most \${LVSLAB_BENCH_TIMEOUT:-3600} s
       scripts/lab drills    the fault drills, stack "drills", at most \${LVSLAB_DRILLS_TIMEOUT:-3600} s
Results: bench/results/bench.json, bench/results/drills.json.
USAGE
}

mode=${1:-}
case "$mode" in
    bench) STACK=${LVSLAB_BENCH_STACK:-bench}; BOUND=${LVSLAB_BENCH_TIMEOUT:-3600} ;;
    drills) STACK=${LVSLAB_DRILLS_STACK:-drills}; BOUND=${LVSLAB_DRILLS_TIMEOUT:-3600} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 64 ;;
esac
export LVSLAB_BENCH_STACK=$STACK LVSLAB_DRILLS_STACK=$STACK

LABHOST="$LVSLAB_ROOT/scripts/labhost.sh"
STACK_FILE="$LVSLAB_ROOT/Pulumi.$STACK.yaml"
AUTOMATION="$LVSLAB_ROOT/bin/scripts/automation.js"

started_host=0
if ! "$LABHOST" status >/dev/null 2>&1; then
    "$LABHOST" start
    started_host=1
fi

cleanup() {
    local status=$?
    # Anything a killed floor left (named lvsfloor-*), in the stack's pool.
    local pool
    pool=$(awk '$1 == "lvs-dr-lab:storagePool:" { print $2 }' "$STACK_FILE" 2>/dev/null || true)
    timeout 300 "$LABHOST" exec node "$LVSLAB_ROOT/bin/scripts/bench.js" sweep lvsfloor- "${pool:-default}" >/dev/null 2>&1 || true
    # A run killed midway may leave the stack locked (file backend): clear
    # the lock the way the CLI tells a user to (pulumi cancel), then destroy.
    timeout 120 node -e '
        const { openStack } = require(process.argv[1]);
        openStack(process.argv[2]).then((s) => s.cancel()).catch(() => undefined);
    ' "$LVSLAB_ROOT/bin/scripts/automation.js" "$STACK" >/dev/null 2>&1 || true
    if timeout 1800 "$LABHOST" exec node "$AUTOMATION" destroy --stack "$STACK" >/dev/null &&
        node "$AUTOMATION" remove --stack "$STACK"; then
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

if node "$AUTOMATION" outputs --stack dev 2>/dev/null | grep -q '"vipUrl"'; then
    die "the dev lab is up and uses the same addresses; bring it down first (scripts/lab destroy)"
fi

{
    grep '^encryptionsalt:' "$STACK_FILE" 2>/dev/null || true
    grep -v '^encryptionsalt:' "$LVSLAB_ROOT/Pulumi.dev.yaml"
} >"$STACK_FILE.new"
mv "$STACK_FILE.new" "$STACK_FILE"
say "$mode: at most $BOUND s (stack $STACK)"
timeout --kill-after=30 "$BOUND" "$LABHOST" exec node "$LVSLAB_ROOT/bin/scripts/$mode.js"
