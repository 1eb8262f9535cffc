# shellcheck shell=bash
# Shared by scripts/lab and its helpers: paths, logging and stage timing.

LVSLAB_ROOT=${LVSLAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LVSLAB_CACHE=${LVSLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lvs-dr-lab}
# Lab files that must outlive a clone: state, keys, the image link.
LVSLAB_HOME=${LVSLAB_HOME:-/var/lib/lvs-dr-lab}
export LVSLAB_ROOT LVSLAB_CACHE LVSLAB_HOME

say() {
    printf '\033[1m==> %s\033[0m\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# stage NAME CMD...: runs CMD and prints how long it took.
stage() {
    local name=$1 started status=0
    shift
    started=$(date +%s.%N)
    say "$name"
    "$@" || status=$?
    awk -v name="$name" -v s="$started" -v e="$(date +%s.%N)" -v status="$status" \
        'BEGIN { printf "    %s: %.1f s%s\n", name, e - s, (status == 0 ? "" : " (FAILED, exit " status ")") }' >&2
    return "$status"
}

# The CLI refuses a file:// backend whose directory does not exist, and a
# fresh host has none: make it.
ensure_backend_dir() {
    local dir
    case "${PULUMI_BACKEND_URL:-}" in
        file://*)
            dir=${PULUMI_BACKEND_URL#file://}
            dir=${dir%%\?*}
            case "$dir" in "~"/*) dir="$HOME/${dir#"~"/}" ;; esac
            mkdir -p "$dir" || die "cannot create the state directory $dir (PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL)"
            ;;
    esac
}

# new_run_dir NAME: a directory of its own for one run (e2e, bench, drills,
# CI) under $LVSLAB_HOME/runs, holding the stack state and the root of a lab
# host made for the run; exports PULUMI_BACKEND_URL, LVSLAB_LABHOST and
# LVSLAB_LABHOST_ROOT for everything the run starts, and sets RUN_DIR. Its
# pid file tells a later run (labhost/isolated.sh) whether to sweep it.
new_run_dir() {
    local name=$1
    mkdir -p "$LVSLAB_HOME/runs"
    RUN_DIR=$(mktemp -d "$LVSLAB_HOME/runs/$name.XXXXXX")
    # qemu runs as libvirt-qemu and must reach the pool below it.
    chmod 0711 "$RUN_DIR"
    echo $$ >"$RUN_DIR/pid"
    # The lab host's name is its network namespace's: short and unique.
    export LVSLAB_LABHOST="lvs$name-${RUN_DIR##*.}"
    echo "$LVSLAB_LABHOST" >"$RUN_DIR/labhost-name"
    export LVSLAB_LABHOST_ROOT="$RUN_DIR/labhost"
    export PULUMI_BACKEND_URL="file://$RUN_DIR/state"
}
