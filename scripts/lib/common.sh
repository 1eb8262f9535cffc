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
