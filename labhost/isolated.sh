#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs one of the harnesses (bin/proofs/NAME.js: e2e, bench, drills) on a
# lab of its own, started from nothing: a new run directory holds the stack's
# state and the root of a lab host made for this run alone, so nothing an
# earlier run or a dev lab left can make it pass or fail, and a dev lab on the
# same machine is left alone. Whatever happens, the stack is destroyed, the
# lab host is stopped and purged, and the run directory goes. Runs that were
# killed before they could clean up are swept at the next start.
# Expects the toolchain on PATH (scripts/lab sets it up).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$(readlink -f "$0")")/lib/common.sh"

usage() {
    cat <<USAGE
usage: labhost/isolated.sh NAME STACK SECONDS
  runs bin/proofs/NAME.js on stack STACK (the dev topology from Pulumi.dev.yaml)
  in a lab host of its own, for at most SECONDS
  (scripts/lab e2e, bench and drills call it)
USAGE
}

[ $# -eq 3 ] || { usage >&2; exit 64; }
NAME=$1 STACK=$2 BOUND=$3
LABHOST="$LVSLAB_ROOT/labhost/labhost.sh"
AUTOMATION="$LVSLAB_ROOT/bin/scripts/automation.js"
STACK_FILE="$LVSLAB_ROOT/Pulumi.$STACK.yaml"
RUNS_DIR="$LVSLAB_HOME/runs"

# A run directory is swept when the process that made it is gone.
sweep_killed_runs() {
    local dir pid
    for dir in "$RUNS_DIR"/*/; do
        [ -d "$dir" ] || continue
        dir=${dir%/}
        pid=$(cat "$dir/pid" 2>/dev/null || echo "")
        if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
            continue
        fi
        say "sweeping $dir (its run was killed before it cleaned up)"
        # No name recorded: the run died before it started a lab host.
        if [ -f "$dir/labhost-name" ]; then
            LVSLAB_LABHOST=$(cat "$dir/labhost-name") LVSLAB_LABHOST_ROOT="$dir/labhost" "$LABHOST" stop --purge || true
        fi
        # A run with more lab hosts (proofs/spread.sh) lists them, NAME ROOT a line.
        if [ -f "$dir/more-labhosts" ]; then
            local more_name more_root
            while read -r more_name more_root; do
                LVSLAB_LABHOST=$more_name LVSLAB_LABHOST_ROOT=$more_root "$LABHOST" stop --purge || true
            done <"$dir/more-labhosts"
        fi
        rm -rf -- "$dir"
    done
}

sweep_killed_runs
new_run_dir "$NAME"
ensure_backend_dir
say "$NAME: run directory $RUN_DIR (new), lab host $LVSLAB_LABHOST, state $PULUMI_BACKEND_URL"
[ -e "$LVSLAB_LABHOST_ROOT" ] && die "the lab host root $LVSLAB_LABHOST_ROOT exists before the run"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" != 0 ]; then
        say "$NAME failed (exit $status): destroying stack $STACK so nothing is left"
    fi
    if "$LABHOST" status >/dev/null 2>&1; then
        timeout 1800 "$LABHOST" exec node "$AUTOMATION" destroy --stack "$STACK" >/dev/null ||
            echo "warning: destroy of stack $STACK failed; stopping the lab host removes what is left" >&2
    fi
    "$LABHOST" stop --purge || echo "warning: stopping lab host $LVSLAB_LABHOST failed; run: LVSLAB_LABHOST=$LVSLAB_LABHOST LVSLAB_LABHOST_ROOT=$LVSLAB_LABHOST_ROOT labhost/labhost.sh stop --purge" >&2
    rm -f "$STACK_FILE"
    rm -rf -- "$RUN_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The stack's own config file: the dev topology, without dev's salt.
grep -v '^encryptionsalt:' "$LVSLAB_ROOT/Pulumi.dev.yaml" >"$STACK_FILE"
"$LABHOST" start
timeout --kill-after=30 "$BOUND" "$LABHOST" exec node "$LVSLAB_ROOT/bin/proofs/$NAME.js"
