#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One lab spread over two libvirt hosts, on this machine (#14): two lab hosts
# made for the run from nothing, each its own network and mount namespaces
# and libvirtd, joined by a veth pair as their underlay (10.255.0.1 and .2).
# Host a is the gateway and where the program runs; host b is reached only
# over qemu+ssh, to an sshd inside b's namespaces, like a remote host. The
# stack "spread" is the dev topology with two directors, director2, web3 and
# web4 placed on b. bin/proofs/spread.js runs the scenarios inside a.
# Whatever happens, the stack is destroyed, both lab hosts are stopped and
# purged, and the run directory goes.
# Expects the toolchain on PATH (scripts/lab sets it up).
set -euo pipefail
# shellcheck source=../labhost/lib/common.sh
source "$(dirname "$(readlink -f "$0")")/../labhost/lib/common.sh"

usage() {
    cat <<USAGE
usage: proofs/spread.sh [SECONDS]
  runs bin/proofs/spread.js on stack "spread", spread over two lab hosts made
  for the run, for at most SECONDS (default 5400); scripts/lab spread calls it
USAGE
}

[ $# -le 1 ] || { usage >&2; exit 64; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
BOUND=${1:-5400}
STACK=spread
LABHOST="$LVSLAB_ROOT/labhost/labhost.sh"
AUTOMATION="$LVSLAB_ROOT/bin/scripts/automation.js"
STACK_FILE="$LVSLAB_ROOT/Pulumi.$STACK.yaml"
# The underlay between the two lab hosts: no address of the machine's own.
ADDRESS_A=10.255.0.1
ADDRESS_B=10.255.0.2

new_run_dir spread
ensure_backend_dir
NAME_A=$LVSLAB_LABHOST
NAME_B="${LVSLAB_LABHOST}b"
ROOT_B="$RUN_DIR/labhost-b"
# So a later run can sweep host b too if this one is killed before its clean-up.
echo "$NAME_B $ROOT_B" >"$RUN_DIR/more-labhosts"
say "spread: run directory $RUN_DIR (new), lab hosts $NAME_A (a, the gateway) and $NAME_B (b), state $PULUMI_BACKEND_URL"
for path in "$LVSLAB_LABHOST_ROOT" "$ROOT_B"; do
    [ -e "$path" ] && die "the lab host root $path exists before the run"
done

host_b() {
    LVSLAB_LABHOST=$NAME_B LVSLAB_LABHOST_ROOT=$ROOT_B "$LABHOST" "$@"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" != 0 ]; then
        say "spread failed (exit $status): destroying stack $STACK so nothing is left"
    fi
    if "$LABHOST" status >/dev/null 2>&1 && host_b status >/dev/null 2>&1; then
        timeout 1800 "$LABHOST" exec node "$AUTOMATION" destroy --stack "$STACK" >/dev/null ||
            echo "warning: destroy of stack $STACK failed; stopping the lab hosts removes what is left" >&2
    fi
    "$LABHOST" stop --purge || echo "warning: stopping lab host $NAME_A failed; run: LVSLAB_LABHOST=$NAME_A LVSLAB_LABHOST_ROOT=$LVSLAB_LABHOST_ROOT labhost/labhost.sh stop --purge" >&2
    host_b stop --purge || echo "warning: stopping lab host $NAME_B failed; run: LVSLAB_LABHOST=$NAME_B LVSLAB_LABHOST_ROOT=$ROOT_B labhost/labhost.sh stop --purge" >&2
    rm -f "$STACK_FILE"
    rm -rf -- "$RUN_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$LABHOST" start
host_b start
"$LABHOST" underlay "$NAME_B" "$ADDRESS_A/24" "$ADDRESS_B/24"
URI_B=$(host_b sshd "$ADDRESS_B")
say "spread: host b is $URI_B"

# The stack's own config file: the dev topology, without dev's salt, plus
# the second director and where each machine runs.
{
    grep -v '^encryptionsalt:' "$LVSLAB_ROOT/Pulumi.dev.yaml"
    echo '  lvs-dr-lab:directors: "2"'
    printf "  lvs-dr-lab:hosts: '%s'\n" "[{\"name\": \"a\", \"uri\": \"qemu:///system\", \"vxlanAddress\": \"$ADDRESS_A\"}, {\"name\": \"b\", \"uri\": \"$URI_B\", \"vxlanAddress\": \"$ADDRESS_B\"}]"
    echo "  lvs-dr-lab:placement: '{\"director2\": \"b\", \"web3\": \"b\", \"web4\": \"b\"}'"
} >"$STACK_FILE"
LVSLAB_SPREAD_STACK=$STACK timeout --kill-after=30 "$BOUND" "$LABHOST" exec node "$LVSLAB_ROOT/bin/proofs/spread.js"
