# shellcheck shell=bash
# Helpers shared by every guest step. components/guestConfig.ts puts this file
# between a step's parameters and its body, so each step runs as one script.

# write_file sits at the end of pipelines; lastpipe keeps its CHANGED flag.
shopt -s lastpipe

log() {
    printf '[%s %s] %s\n' "$(hostname)" "$STEP" "$*" >&2
}

# Package steps must not race cloud-init's own first-boot work.
wait_for_cloud_init() {
    if command -v cloud-init >/dev/null 2>&1; then
        timeout 900 cloud-init status --wait >/dev/null 2>&1 || true
    fi
}

# The lab's own image carries every package; a stock cloud image with
# Internet access gets the missing ones installed.
ensure_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# write_file PATH MODE: replaces PATH with standard input only when the
# content differs, so a second run changes nothing. Sets CHANGED=1 if it wrote.
CHANGED=0
write_file() {
    local target=$1 mode=$2 staged
    staged=$(mktemp)
    cat >"$staged"
    if [ -f "$target" ] && cmp -s "$staged" "$target"; then
        rm -f "$staged"
        return 0
    fi
    mkdir -p "$(dirname "$target")"
    install -m "$mode" "$staged" "$target"
    rm -f "$staged"
    CHANGED=1
    log "wrote $target"
}

# changed: true when this run wrote or removed a file (a service needs a restart).
changed() {
    [ "$CHANGED" = 1 ]
}

remove_file() {
    if [ -e "$1" ]; then
        rm -f "$1"
        CHANGED=1
        log "removed $1"
    fi
}

# install_unit NAME FILE: installs the systemd unit text on standard input as
# FILE, enabled and started. A unit whose text changed is stopped first, so
# its old ExecStop undoes the old state before the new ExecStart runs.
install_unit() {
    local name=$1 file=$2 text
    text=$(cat)
    if [ -f "$file" ] && ! printf '%s\n' "$text" | cmp -s - "$file"; then
        systemctl stop "$name"
    fi
    printf '%s\n' "$text" | write_file "$file" 0644
    systemctl daemon-reload
    systemctl enable "$name" >&2
    systemctl start "$name"
}

# remove_unit NAME FILE: stops and disables the unit (its ExecStop undoes what
# it did) and removes its file.
remove_unit() {
    local name=$1 file=$2
    if [ -f "$file" ]; then
        systemctl disable --now "$name" >&2 || true
        remove_file "$file"
        systemctl daemon-reload
    fi
}

# retry TRIES PAUSE CMD...: runs CMD until it succeeds, at most TRIES times.
retry() {
    local tries=$1 pause=$2 attempt
    shift 2
    for ((attempt = 1; attempt <= tries; attempt++)); do
        if "$@"; then
            return 0
        fi
        sleep "$pause"
    done
    log "gave up after $tries tries: $*"
    return 1
}

# The NIC that carries an address, found by address so that interface names
# (eth0 on the lab image, ens3 on a stock one) don't matter.
interface_with() {
    ip -o -4 addr show | awk -v want="$1" '{ split($4, a, "/"); if (a[1] == want) { print $2; exit } }'
}

run_step() {
    case "${1:-}" in
        apply) wait_for_cloud_init; apply ;;
        remove) remove ;;
        *) echo "usage: $STEP apply|remove" >&2; exit 64 ;;
    esac
}
