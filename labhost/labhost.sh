#!/usr/bin/env bash
# labhost.sh: a libvirt host of the LVS-DR lab, private to the lab.
#
# There is no systemd here, so libvirtd and virtlogd are started by hand,
# inside a network namespace of our own (bridges, dnsmasq and the guests'
# traffic stay in it) and a mount namespace of our own: /etc/libvirt,
# /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /run/libvirt are
# bind-mounted from the lab host's root directory. So a lab host starts from
# nothing the first time, never reads or writes the machine's own libvirt
# state, and several lab hosts (each its own name) run side by side without
# sharing a socket or a file. See components/libvirt/README.md.
set -euo pipefail

SELF="$(readlink -f "$0")"
NAME="${LVSLAB_LABHOST:-lvslab}"
LVSLAB_HOME="${LVSLAB_HOME:-/var/lib/lvs-dr-lab}"
ROOT="${LVSLAB_LABHOST_ROOT:-$LVSLAB_HOME/labhosts/$NAME}"
NS="${LVSLAB_NETNS:-$NAME}"
POOL="${LVSLAB_POOL:-lvslab}"
START_TIMEOUT="${LVSLAB_START_TIMEOUT:-60}"
# libvirtd's niceness, which its guests (qemu) inherit: under emulation six
# guests keep both cores busy, and the tools that drive them (the engine,
# its plugins, the SSH clients, the smoke test) would wait for a slice on
# the critical path. The guests lose nothing when those tools are idle.
GUEST_NICE="${LVSLAB_GUEST_NICE:-10}"
URI="qemu:///system"

POOL_DIR="$ROOT/pool"
RUN_DIR="$ROOT/run"
LOG="$ROOT/labhost.log"
LIBVIRTD_LOG="$ROOT/libvirtd.log"
VIRTLOGD_LOG="$ROOT/virtlogd.log"
LIBVIRTD_PID="$RUN_DIR/libvirtd.pid"
VIRTLOGD_PID="$RUN_DIR/virtlogd.pid"
# Written once the namespace is ours: stop removes only what this names.
NETNS_FILE="$RUN_DIR/netns"
# An sshd inside the lab host, so that another machine (or another lab host)
# reaches its libvirt over qemu+ssh like a remote host's: its keys and config.
SSH_DIR="$ROOT/ssh"
SSHD_PID="$RUN_DIR/sshd.pid"
SSHD_ADDRESS_FILE="$RUN_DIR/sshd-address"
SSH_PORT="${LVSLAB_SSH_PORT:-22}"
# ssh for the URI's command=: checks the host key against SSH_DIR/known_hosts.
SSH_WRAPPER="$(dirname "$SELF")/lib/labhost-ssh"
# Mount points any lab host had to create on the machine (empty directories),
# one list for all of them: deleting a directory detaches the mounts other
# mount namespaces have on it, so removing one while another lab host runs
# would pull that lab host's libvirt directories from under it. The last lab
# host to stop removes them.
MOUNTPOINTS_FILE="$LVSLAB_HOME/labhost-mountpoints"
# The machine's libvirt directories and where each comes from in the root.
PRIVATE_DIRS=(
    "/etc/libvirt=etc/libvirt"
    "/var/lib/libvirt=lib/libvirt"
    "/var/cache/libvirt=cache/libvirt"
    "/var/log/libvirt=log/libvirt"
    "/run/libvirt=run/libvirt"
)

usage() {
    cat <<EOF
Usage: $(basename "$0") start|stop [--purge|--purge-if-empty]|status|exec CMD...|uri|underlay PEER_NETNS CIDR PEER_CIDR|sshd ADDRESS|ssh-uri|--help

Runs lab host "$NAME": libvirtd and virtlogd in the network namespace "$NS"
and a private mount namespace whose libvirt directories live under
$ROOT (the root), with the storage pool "$POOL" in $POOL_DIR.

  start         create the root if it does not exist (saying so), the
                namespaces, start virtlogd + libvirtd in them, make sure the
                pool exists and is active (idempotent)
  stop          destroy every running domain and active network, stop the
                daemons, remove the namespace; the root (libvirt's
                definitions, the pool) stays for the next start
  stop --purge  the same, then remove the root too
  stop --purge-if-empty
                purge only if libvirt holds no domain, network or volume
  status        print the lab host's state; exit 0 if up, 3 if not
  exec CMD...   run CMD inside the lab host (both namespaces): qemu:///system
                there is this lab host's libvirtd
  uri           print the URI that reaches this libvirtd from outside
  underlay PEER_NETNS CIDR PEER_CIDR
                join this lab host to another one's network namespace with
                a veth pair (ul-PEER here, ul-$NAME there), addressed CIDR
                here and PEER_CIDR there: the underlay a lab spread over two
                lab hosts runs its VXLAN tunnels over (idempotent; it goes
                with either namespace)
  sshd ADDRESS  start an sshd inside the lab host on ADDRESS:$SSH_PORT (root,
                key only; keys in $SSH_DIR), so its libvirt is reached over
                qemu+ssh like a remote host's; prints that URI (idempotent)
  ssh-uri       print that qemu+ssh URI again

Environment (defaults):
  LVSLAB_LABHOST=$NAME  (the lab host's name)
  LVSLAB_HOME=$LVSLAB_HOME
  LVSLAB_LABHOST_ROOT=$ROOT
  LVSLAB_NETNS=$NS  LVSLAB_POOL=$POOL
  LVSLAB_START_TIMEOUT=$START_TIMEOUT (seconds to wait for libvirtd)
  LVSLAB_GUEST_NICE=$GUEST_NICE (libvirtd's and so the guests' niceness)
  LVSLAB_SSH_PORT=$SSH_PORT (the sshd's port)
Logs: $LOG, $LIBVIRTD_LOG, $VIRTLOGD_LOG
EOF
}

log() {
    echo "labhost $NAME: $*" >&2
    if [ -d "$ROOT" ]; then
        echo "$(date '+%F %T') $*" >>"$LOG"
    fi
}

die() {
    log "FAILED: $*"
    echo "labhost $NAME: see $LOG (daemon logs: $LIBVIRTD_LOG, $VIRTLOGD_LOG)" >&2
    exit 1
}

# Runs a command with its output appended to our log; bounded by `timeout`.
run_logged() {
    local secs="$1"
    shift
    echo "$(date '+%F %T') + $*" >>"$LOG"
    timeout --kill-after=5 "$secs" "$@" </dev/null >>"$LOG" 2>&1
}

# run_inside SECS CMD...: run_logged, inside the lab host.
run_inside() {
    local secs="$1"
    shift
    echo "$(date '+%F %T') + (inside) $*" >>"$LOG"
    in_host timeout --kill-after=5 "$secs" "$@" </dev/null >>"$LOG" 2>&1
}

# A process that exists and is not a zombie. PID 1 here does not reap
# orphans promptly, so a dead daemon can linger as a zombie for a while.
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat:0:1}" != Z ]
}

# pid_of FILE NAME: prints the pid in FILE if that process is alive and is
# NAME (guards against a recycled pid).
pid_of() {
    local file="$1" name="$2" pid comm
    [ -f "$file" ] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [ -n "$pid" ] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [ "$comm" = "$name" ] || return 1
    alive "$pid" || return 1
    echo "$pid"
}

# in_host CMD...: runs CMD in the namespaces of our libvirtd.
in_host() {
    local pid
    pid="$(pid_of "$LIBVIRTD_PID" libvirtd)" || return 1
    nsenter --target "$pid" --mount --net -- "$@"
}

virsh_q() {
    in_host timeout --kill-after=5 30 virsh -q -c "$URI" "$@" </dev/null
}

libvirt_answers() {
    in_host timeout --kill-after=2 10 virsh -c "$URI" version </dev/null >/dev/null 2>&1
}

netns_exists() {
    local names
    names="$(ip netns list 2>/dev/null | awk '{print $1}' || true)"
    grep -qxF "$1" <<<"$names"
}

recorded_netns() {
    if [ -f "$NETNS_FILE" ]; then
        cat "$NETNS_FILE"
    fi
}

# stop_pid FILE NAME: TERM, wait up to 15 s, then KILL.
stop_pid() {
    local file="$1" name="$2" pid i
    if pid="$(pid_of "$file" "$name")"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 30); do
            alive "$pid" || break
            [ "$i" -eq 30 ] && break
            sleep 0.5
        done
        if alive "$pid"; then
            log "$name (pid $pid) ignored TERM for 15 s: sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$file"
}

# wait_pidfile FILE NAME SECONDS: until FILE names a live NAME.
wait_pidfile() {
    local file="$1" name="$2" secs="$3"
    for _ in $(seq 1 $((secs * 4))); do
        if pid_of "$file" "$name" >/dev/null; then
            return 0
        fi
        sleep 0.25
    done
    return 1
}

# /dev/kvm is 0600 root here (no udev). libvirt then keeps finding that KVM
# was usable when it probed qemu but is not usable by the qemu user now, and
# re-probes qemu's capabilities on every call: each `virsh define` took 60 s.
# Giving it the group and mode udev would (root:kvm 0660) ends that.
fix_dev_kvm() {
    [ -c /dev/kvm ] || return 0
    getent group kvm >/dev/null || return 0
    if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
        log "setting /dev/kvm to root:kvm 0660 (what udev does; libvirt re-probes qemu on every call otherwise)"
        chgrp kvm /dev/kvm || die "chgrp kvm /dev/kvm"
        chmod 0660 /dev/kvm || die "chmod 0660 /dev/kvm"
    fi
}

ensure_pool() {
    local info
    if ! virsh_q pool-info "$POOL" >/dev/null 2>&1; then
        log "defining storage pool $POOL at $POOL_DIR"
        run_inside 30 virsh -c "$URI" pool-define-as "$POOL" dir --target "$POOL_DIR" ||
            die "virsh pool-define-as $POOL dir --target $POOL_DIR"
    fi
    if [ ! -d "$POOL_DIR" ]; then
        run_inside 30 virsh -c "$URI" pool-build "$POOL" || die "virsh pool-build $POOL"
    fi
    # Captured first: grep -q closing the pipe early would fail it (pipefail).
    info="$(virsh_q pool-info "$POOL" 2>/dev/null || true)"
    if ! grep -Eq '^State:[[:space:]]+running' <<<"$info"; then
        run_inside 30 virsh -c "$URI" pool-start "$POOL" || die "virsh pool-start $POOL"
    fi
    if ! grep -Eq '^Autostart:[[:space:]]+yes' <<<"$info"; then
        run_inside 30 virsh -c "$URI" pool-autostart "$POOL" || die "virsh pool-autostart $POOL"
    fi
}

is_up() {
    pid_of "$LIBVIRTD_PID" libvirtd >/dev/null && libvirt_answers
}

# With br_netfilter loaded (Docker hosts, and this machine), frames crossing a
# bridge also pass iptables, where libvirt's NAT network masquerades anything
# from the public subnet to another one: in LVS-NAT mode that rewrites the
# clients' packets on their way from the director to a real server over the
# storage bridge, and no reply ever matches. The setting is per namespace, so
# turning it off here leaves the host alone.
keep_bridges_out_of_iptables() {
    local setting
    for setting in bridge-nf-call-iptables bridge-nf-call-ip6tables bridge-nf-call-arptables; do
        if ip netns exec "$NS" test -e "/proc/sys/net/bridge/$setting"; then
            ip netns exec "$NS" sh -c "echo 0 > /proc/sys/net/bridge/$setting" || die "could not turn off net.bridge.$setting in netns $NS"
        fi
    done
}

# The root's libvirt directories; run/libvirt starts empty every time (a
# socket or pid file of a daemon that died would only mislead).
prepare_root() {
    if [ -d "$ROOT" ]; then
        log "root $ROOT exists (from an earlier start): reusing libvirt's definitions and the pool in it"
    else
        mkdir -p "$ROOT"
        chmod 0711 "$ROOT"
        log "root $ROOT did not exist: created it, so this lab host starts from nothing"
    fi
    rm -rf -- "$RUN_DIR"
    # What libvirt's packages ship empty and its daemons expect to find:
    # dnsmasq's state (for a guest on a NAT network), qemu's log directory
    # (a domain's console log), the capabilities cache.
    mkdir -p "$RUN_DIR" "$POOL_DIR" "$ROOT/lib/libvirt/dnsmasq" "$ROOT/log/libvirt/qemu" "$ROOT/cache/libvirt/qemu"
    local entry
    for entry in "${PRIVATE_DIRS[@]}"; do
        mkdir -p "$ROOT/${entry#*=}"
    done
}

# A bind mount needs its target to exist. Where the machine has no such
# directory (e.g. /run/libvirt without a packaged libvirtd running), an
# empty one is made and recorded, and stop removes it again.
ensure_mountpoints() {
    local entry target
    for entry in "${PRIVATE_DIRS[@]}"; do
        target="${entry%%=*}"
        if [ ! -d "$target" ]; then
            mkdir -p "$target" "$LVSLAB_HOME"
            echo "$target" >>"$MOUNTPOINTS_FILE"
        fi
    done
}

# Whether a libvirtd or virtlogd still runs on the machine (another lab
# host's; ours are stopped by now, at most zombies not yet reaped).
libvirt_daemons_running() {
    local comm name pid
    for comm in /proc/[0-9]*/comm; do
        read -r name <"$comm" 2>/dev/null || continue
        case "$name" in
            libvirtd | virtlogd)
                pid=${comm#/proc/}
                alive "${pid%/comm}" && return 0
                ;;
        esac
    done
    return 1
}

remove_created_mountpoints() {
    local target
    [ -f "$MOUNTPOINTS_FILE" ] || return 0
    if libvirt_daemons_running; then
        log "keeping the mount points in $MOUNTPOINTS_FILE: another lab host still uses them"
        return 0
    fi
    sort -ru "$MOUNTPOINTS_FILE" | while read -r target; do
        if [ -n "$target" ]; then rmdir "$target" 2>/dev/null || true; fi
    done
    rm -f "$MOUNTPOINTS_FILE"
}

# Daemons keep every descriptor they inherit: a lock the caller holds
# (`flock LOCK scripts/lab up`) would stay held by libvirtd and virtlogd until
# the lab host stops, long after the caller is gone (seen: two idle lab hosts
# kept the machine's lab lock). Only stdin, stdout and stderr go to them.
close_inherited_fds() {
    local entry fd
    for entry in /proc/self/fd/*; do
        fd=${entry##*/}
        if [ "$fd" -gt 2 ]; then
            exec {fd}>&-
        fi
    done
}

# Runs inside the new network namespace: `ip netns exec` gave this process a
# mount namespace of its own (with / a slave, so nothing propagates back to
# the machine). The bind mounts and the daemons started here share it; the
# namespace goes away when the last of them ends.
start_daemons_inside() {
    local entry
    close_inherited_fds
    for entry in "${PRIVATE_DIRS[@]}"; do
        mount --bind "$ROOT/${entry#*=}" "${entry%%=*}"
    done
    LIBVIRT_LOG_OUTPUTS="3:file:$VIRTLOGD_LOG" virtlogd -d --pid-file "$VIRTLOGD_PID" </dev/null
    wait_pidfile "$VIRTLOGD_PID" virtlogd 10 || { echo "virtlogd did not come up (no live pid in $VIRTLOGD_PID after 10 s)" >&2; return 1; }
    LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" nice -n "$GUEST_NICE" libvirtd -d --pid-file "$LIBVIRTD_PID" </dev/null
    wait_pidfile "$LIBVIRTD_PID" libvirtd 10 || { echo "libvirtd did not come up (no live pid in $LIBVIRTD_PID after 10 s)" >&2; return 1; }
}

cmd_start() {
    if is_up; then
        ensure_pool
        log "already running: libvirtd pid $(pid_of "$LIBVIRTD_PID" libvirtd) in netns $(recorded_netns)"
        return 0
    fi
    # Leftovers of a half-finished start or of a libvirtd that died: clear them.
    if [ -f "$LIBVIRTD_PID" ] || [ -f "$VIRTLOGD_PID" ] || [ -f "$NETNS_FILE" ]; then
        log "clearing what an earlier start left"
        do_stop no
    fi
    if netns_exists "$NS"; then
        die "network namespace $NS exists but this lab host did not create it (no record in $RUN_DIR); delete it (ip netns del $NS) or choose another name (LVSLAB_LABHOST)"
    fi

    local c
    for c in ip nsenter mount virsh libvirtd virtlogd qemu-system-x86_64 timeout; do
        command -v "$c" >/dev/null || die "command $c not found (install iproute2, util-linux, mount, libvirt-daemon-system, libvirt-clients, qemu-system-x86: scripts/lab setup does)"
    done
    getent passwd libvirt-qemu >/dev/null ||
        die "user libvirt-qemu missing: libvirtd refuses to start without it (apt-get install libvirt-daemon-system; scripts/lab setup does)"
    fix_dev_kvm
    prepare_root
    ensure_mountpoints

    log "creating network namespace $NS"
    run_logged 10 ip netns add "$NS" || die "ip netns add $NS"
    echo "$NS" >"$NETNS_FILE"
    run_logged 10 ip netns exec "$NS" ip link set lo up || die "bringing lo up in netns $NS"
    keep_bridges_out_of_iptables

    log "starting virtlogd and libvirtd in netns $NS with the libvirt directories of $ROOT"
    ip netns exec "$NS" "$SELF" _start-daemons-inside </dev/null >>"$LOG" 2>&1 ||
        die "starting the daemons inside netns $NS failed"

    local deadline=$((SECONDS + START_TIMEOUT))
    until libvirt_answers; do
        pid_of "$LIBVIRTD_PID" libvirtd >/dev/null || die "libvirtd exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] ||
            die "libvirtd did not answer 'virsh -c $URI version' within $START_TIMEOUT s"
        sleep 0.5
    done
    ensure_pool
    log "up: libvirtd pid $(pid_of "$LIBVIRTD_PID" libvirtd), virtlogd pid $(pid_of "$VIRTLOGD_PID" virtlogd), netns $NS, pool $POOL ($POOL_DIR)"
}

# Nothing of a lab in libvirt: no domain, no network, no volume in the pool.
holds_nothing() {
    [ -z "$(virsh_q list --all --name 2>/dev/null)" ] &&
        [ -z "$(virsh_q net-list --all --name 2>/dev/null)" ] &&
        [ -z "$(virsh_q vol-list "$POOL" 2>/dev/null)" ]
}

# do_stop PURGE(yes|no): everything of ours goes, whatever state start left.
do_stop() {
    local purge="$1" ns dom net pid
    ns="$(recorded_netns)"
    if is_up; then
        for dom in $(virsh_q list --name 2>/dev/null || true); do
            log "destroying domain $dom"
            run_inside 60 virsh -c "$URI" destroy "$dom" || log "warning: virsh destroy $dom failed (see $LOG)"
        done
        for net in $(virsh_q net-list --name 2>/dev/null || true); do
            log "destroying network $net"
            run_inside 30 virsh -c "$URI" net-destroy "$net" || log "warning: virsh net-destroy $net failed (see $LOG)"
        done
    fi
    stop_pid "$SSHD_PID" sshd
    rm -f "$SSHD_ADDRESS_FILE"
    stop_pid "$LIBVIRTD_PID" libvirtd
    stop_pid "$VIRTLOGD_PID" virtlogd
    # Whatever is still in our namespace was started by our daemons (qemu,
    # dnsmasq left behind by a libvirtd that died): end it by pid.
    if [ -n "$ns" ] && netns_exists "$ns"; then
        local pids
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        if [ -n "$pids" ]; then
            log "ending leftover processes in netns $ns: $(echo "$pids" | tr '\n' ' ')"
            for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
            for _ in $(seq 1 20); do
                [ -n "$(ip netns pids "$ns" 2>/dev/null || true)" ] || break
                sleep 0.5
            done
            for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
        fi
        log "removing network namespace $ns"
        run_logged 10 ip netns del "$ns" || log "warning: ip netns del $ns failed (see $LOG)"
    fi
    remove_created_mountpoints
    rm -f "$NETNS_FILE"
    if [ "$purge" = yes ]; then
        remove_root
    fi
}

remove_root() {
    case "$ROOT" in
    "" | / | /var | /var/lib | /root | /home | /tmp | /run | "$LVSLAB_HOME") die "refusing to remove the lab host root '$ROOT'" ;;
    esac
    [ -d "$ROOT" ] || return 0
    echo "labhost $NAME: removing the root $ROOT" >&2
    rm -rf -- "$ROOT"
}

cmd_stop() {
    local purge=no
    case "${1:-}" in
    "") ;;
    --purge) purge=yes ;;
    --purge-if-empty)
        if is_up; then
            if holds_nothing; then
                purge=yes
            else
                log "libvirt still holds domains, networks or volumes: keeping the root $ROOT"
            fi
        elif [ -d "$ROOT" ]; then
            log "not running, so cannot tell whether it is empty: keeping the root $ROOT"
        fi
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    do_stop "$purge"
    log "stopped"
}

cmd_status() {
    local ns pid_l pid_v pool_state up=3
    ns="$(recorded_netns)"
    pid_l="$(pid_of "$LIBVIRTD_PID" libvirtd || true)"
    pid_v="$(pid_of "$VIRTLOGD_PID" virtlogd || true)"
    if is_up; then up=0; fi
    pool_state="unknown"
    if [ "$up" -eq 0 ]; then
        pool_state="$(virsh_q pool-info "$POOL" 2>/dev/null | sed -n 's/^State:[[:space:]]*//p')"
        pool_state="${pool_state:-missing}"
    fi
    echo "labhost:  $NAME"
    echo "up:       $([ "$up" -eq 0 ] && echo yes || echo no)"
    echo "libvirtd: ${pid_l:-not running}"
    echo "virtlogd: ${pid_v:-not running}"
    echo "netns:    ${ns:-none}$([ -n "$ns" ] && ! netns_exists "$ns" && echo ' (missing)')"
    echo "root:     $ROOT$([ -d "$ROOT" ] || echo ' (none)')"
    echo "pool:     $POOL ($POOL_DIR): $pool_state"
    echo "uri:      $URI inside (scripts/lab host exec ...), $(cmd_uri) from outside"
    echo "logs:     $LOG"
    return "$up"
}

cmd_uri() {
    echo "qemu:///system?socket=$ROOT/run/libvirt/libvirt-sock"
}

# ul-NAME, cut to Linux's 15 characters.
underlay_device() {
    local name="ul-$1"
    echo "${name:0:15}"
}

cmd_underlay() {
    local peer_ns="${1:-}" cidr="${2:-}" peer_cidr="${3:-}" ns here there tmp
    if [ -z "$peer_ns" ] || [ -z "$cidr" ] || [ -z "$peer_cidr" ]; then
        die "underlay needs PEER_NETNS CIDR PEER_CIDR, e.g. underlay lvslab2 10.255.0.1/24 10.255.0.2/24"
    fi
    is_up || die "lab host $NAME is not started (run: $(basename "$0") start)"
    ns="$(recorded_netns)"
    netns_exists "$peer_ns" || die "network namespace $peer_ns does not exist; start that lab host first (LVSLAB_LABHOST=$peer_ns $(basename "$0") start)"
    [ "$peer_ns" != "$ns" ] || die "underlay joins two lab hosts; $peer_ns is this one's own namespace"
    here="$(underlay_device "$peer_ns")"
    there="$(underlay_device "$NAME")"
    if ip -n "$ns" link show dev "$here" >/dev/null 2>&1; then
        log "underlay to $peer_ns exists ($here)"
    else
        # Made in the machine's namespace under names of this process's,
        # then each end moved into its lab host and renamed there.
        tmp="lvul$$"
        log "underlay: veth $here ($cidr, netns $ns) <-> $there ($peer_cidr, netns $peer_ns)"
        run_logged 10 ip link add "${tmp}a" type veth peer name "${tmp}b" || die "ip link add ${tmp}a type veth"
        if ! { run_logged 10 ip link set "${tmp}a" netns "$ns" name "$here" &&
            run_logged 10 ip link set "${tmp}b" netns "$peer_ns" name "$there"; }; then
            ip link del "${tmp}a" 2>/dev/null || ip -n "$ns" link del "$here" 2>/dev/null || true
            die "moving the underlay's ends into $ns and $peer_ns"
        fi
    fi
    run_logged 10 ip -n "$ns" addr replace "$cidr" dev "$here" || die "ip addr replace $cidr dev $here (netns $ns)"
    run_logged 10 ip -n "$peer_ns" addr replace "$peer_cidr" dev "$there" || die "ip addr replace $peer_cidr dev $there (netns $peer_ns)"
    run_logged 10 ip -n "$ns" link set "$here" up || die "ip link set $here up (netns $ns)"
    run_logged 10 ip -n "$peer_ns" link set "$there" up || die "ip link set $there up (netns $peer_ns)"
}

cmd_ssh_uri() {
    local address port=""
    [ -f "$SSHD_ADDRESS_FILE" ] || die "no sshd in lab host $NAME (run: $(basename "$0") sshd ADDRESS)"
    address="$(cat "$SSHD_ADDRESS_FILE")"
    [ "$SSH_PORT" = 22 ] || port=":$SSH_PORT"
    echo "qemu+ssh://root@$address$port/system?keyfile=$SSH_DIR/client_ed25519&command=$SSH_WRAPPER"
}

cmd_sshd() {
    local address="${1:-}" config="$SSH_DIR/sshd_config" known="${1:-}" sshd_bin
    [ -n "$address" ] || die "sshd needs the ADDRESS to listen on (one of the lab host's own, e.g. its underlay address)"
    is_up || die "lab host $NAME is not started (run: $(basename "$0") start)"
    sshd_bin="$(command -v sshd || echo /usr/sbin/sshd)"
    [ -x "$sshd_bin" ] || die "sshd not found (apt-get install openssh-server)"
    if pid_of "$SSHD_PID" sshd >/dev/null; then
        log "sshd already running (pid $(pid_of "$SSHD_PID" sshd))"
        cmd_ssh_uri
        return 0
    fi
    mkdir -p "$SSH_DIR"
    chmod 0700 "$SSH_DIR"
    [ -f "$SSH_DIR/host_ed25519" ] || run_logged 30 ssh-keygen -q -t ed25519 -N "" -C "labhost $NAME host key" -f "$SSH_DIR/host_ed25519" || die "ssh-keygen (host key)"
    [ -f "$SSH_DIR/client_ed25519" ] || run_logged 30 ssh-keygen -q -t ed25519 -N "" -C "to labhost $NAME" -f "$SSH_DIR/client_ed25519" || die "ssh-keygen (client key)"
    cp "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/authorized_keys"
    # What the client checks the host key against (labhost-ssh points ssh at it).
    [ "$SSH_PORT" = 22 ] || known="[$address]:$SSH_PORT"
    echo "$known $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >"$SSH_DIR/known_hosts"
    printf '%s\n' \
        "# sshd of lab host $NAME (written by labhost.sh sshd)" \
        "ListenAddress $address:$SSH_PORT" \
        "HostKey $SSH_DIR/host_ed25519" \
        "PidFile $SSHD_PID" \
        "AuthorizedKeysFile $SSH_DIR/authorized_keys" \
        "AllowUsers root" \
        "PermitRootLogin prohibit-password" \
        "PasswordAuthentication no" \
        "KbdInteractiveAuthentication no" \
        "UsePAM no" \
        "X11Forwarding no" >"$config"
    # sshd insists on its privilege separation directory; one made here is
    # recorded like the mount points, and the last lab host removes it.
    if [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd "$LVSLAB_HOME"
        echo /run/sshd >>"$MOUNTPOINTS_FILE"
    fi
    log "starting sshd on $address:$SSH_PORT inside the lab host"
    run_inside 15 "$sshd_bin" -f "$config" -E "$ROOT/sshd.log" || die "sshd did not start (see $ROOT/sshd.log)"
    wait_pidfile "$SSHD_PID" sshd 10 || die "sshd did not come up (no live pid in $SSHD_PID after 10 s; see $ROOT/sshd.log)"
    echo "$address" >"$SSHD_ADDRESS_FILE"
    cmd_ssh_uri
}

cmd_exec() {
    [ "$#" -gt 0 ] || die "exec needs a command"
    local pid
    pid="$(pid_of "$LIBVIRTD_PID" libvirtd)" || die "lab host $NAME is not started (run: scripts/lab host start)"
    exec nsenter --target "$pid" --mount --net --wd="$PWD" -- "$@"
}

main() {
    local cmd="${1:-}"
    [ "$#" -gt 0 ] && shift
    case "$NAME" in
    *[!A-Za-z0-9_-]* | "") die "LVSLAB_LABHOST=\"$NAME\": a lab host's name is letters, digits, - and _ only" ;;
    esac
    if [[ ! "$GUEST_NICE" =~ ^[0-9]+$ ]] || ((10#$GUEST_NICE > 19)); then
        die "LVSLAB_GUEST_NICE=\"$GUEST_NICE\": the guests' niceness is a whole number from 0 (as the tools) to 19 (the least priority)"
    fi
    case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    exec) cmd_exec "$@" ;;
    uri) cmd_uri ;;
    underlay) cmd_underlay "$@" ;;
    sshd) cmd_sshd "$@" ;;
    ssh-uri) cmd_ssh_uri ;;
    _start-daemons-inside) start_daemons_inside ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
