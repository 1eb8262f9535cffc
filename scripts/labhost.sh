#!/usr/bin/env bash
# labhost.sh: the libvirt host of the LVS-DR lab.
#
# There is no systemd here, so libvirtd and virtlogd are started by hand, inside
# a network namespace of our own: the bridges, dnsmasq and the guests' traffic
# then stay inside it and never touch the machine's own networks.
# See components/libvirt/README.md for the whole story.
set -euo pipefail

NS="${LVSLAB_NETNS:-lvslab}"
RUN_DIR="${LVSLAB_RUN_DIR:-/run/lvs-dr-lab}"
POOL="${LVSLAB_POOL:-lvslab}"
POOL_DIR="${LVSLAB_POOL_DIR:-/var/lib/lvs-dr-lab/pool}"
START_TIMEOUT="${LVSLAB_START_TIMEOUT:-60}"
URI="qemu:///system"

LOG="$RUN_DIR/labhost.log"
LIBVIRTD_LOG="$RUN_DIR/libvirtd.log"
VIRTLOGD_LOG="$RUN_DIR/virtlogd.log"
LIBVIRTD_PID="$RUN_DIR/libvirtd.pid"
VIRTLOGD_PID="$RUN_DIR/virtlogd.pid"
# "netns" (we run the daemons) or "system" (someone else's libvirtd answered).
MODE_FILE="$RUN_DIR/mode"
# The namespace that exec uses; written only for a namespace we created, or
# (system mode) the one the foreign libvirtd was found in.
NETNS_FILE="$RUN_DIR/netns"
# Written when this script defined the pool.
POOL_FILE="$RUN_DIR/pool-created"

usage() {
    cat <<EOF
Usage: $(basename "$0") start|stop [--purge]|status|exec CMD...|--help

Runs the libvirt host of the LVS-DR lab: libvirtd and virtlogd inside the
network namespace "$NS", with the storage pool "$POOL" ($POOL_DIR).

  start         start virtlogd + libvirtd in the namespace and make sure the
                pool exists and is active (idempotent). If a libvirtd that we
                did not start already answers on $URI, use it instead
                ("system" mode: no daemon or namespace of ours).
  stop          destroy every running domain and active network of our
                libvirtd, stop libvirtd and virtlogd, remove the namespace.
                The pool directory stays unless --purge is given.
                In system mode the foreign libvirtd is left alone.
  status        print mode, pids, namespace, pool; exit 0 if up, 3 if not.
  exec CMD...   run CMD inside the namespace (directly in system mode).

Environment (defaults):
  LVSLAB_NETNS=$NS  LVSLAB_RUN_DIR=$RUN_DIR
  LVSLAB_POOL=$POOL  LVSLAB_POOL_DIR=$POOL_DIR
  LVSLAB_START_TIMEOUT=$START_TIMEOUT (seconds to wait for libvirtd)
Logs: $LOG, $LIBVIRTD_LOG, $VIRTLOGD_LOG
EOF
}

log() {
    local line
    line="$(date '+%F %T') $*"
    echo "labhost: $*" >&2
    if [ -d "$RUN_DIR" ]; then
        echo "$line" >>"$LOG"
    fi
}

die() {
    log "FAILED: $*"
    echo "labhost: see $LOG (daemon logs: $LIBVIRTD_LOG, $VIRTLOGD_LOG)" >&2
    exit 1
}

# Runs a command with its output appended to our log; bounded by `timeout`.
run_logged() {
    local secs="$1"
    shift
    echo "$(date '+%F %T') + $*" >>"$LOG"
    timeout --kill-after=5 "$secs" "$@" </dev/null >>"$LOG" 2>&1
}

virsh_q() {
    timeout --kill-after=5 30 virsh -q -c "$URI" "$@" </dev/null
}

# A libvirtd (ours or not) answers on the system URI.
libvirt_answers() {
    [ -S /run/libvirt/libvirt-sock ] || [ -S /run/libvirt/virtqemud-sock ] || return 1
    timeout --kill-after=2 10 virsh -c "$URI" version </dev/null >/dev/null 2>&1
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
    local target info
    if ! virsh_q pool-info "$POOL" >/dev/null 2>&1; then
        log "defining storage pool $POOL at $POOL_DIR"
        run_logged 30 virsh -c "$URI" pool-define-as "$POOL" dir --target "$POOL_DIR" ||
            die "virsh pool-define-as $POOL dir --target $POOL_DIR"
        # So that stop --purge in system mode removes only a pool we made.
        echo "$POOL" >"$POOL_FILE"
    fi
    target="$(virsh_q pool-dumpxml "$POOL" 2>/dev/null | sed -n 's:.*<path>\(.*\)</path>.*:\1:p')"
    target="${target%%$'\n'*}"
    if [ -n "$target" ] && [ "$target" != "$POOL_DIR" ]; then
        log "note: pool $POOL already exists with target $target (not $POOL_DIR); using it"
    fi
    if [ ! -d "${target:-$POOL_DIR}" ]; then
        run_logged 30 virsh -c "$URI" pool-build "$POOL" || die "virsh pool-build $POOL"
    fi
    # Captured first: grep -q closing the pipe early would fail it (pipefail).
    info="$(virsh_q pool-info "$POOL" 2>/dev/null || true)"
    if ! grep -Eq '^State:[[:space:]]+running' <<<"$info"; then
        run_logged 30 virsh -c "$URI" pool-start "$POOL" || die "virsh pool-start $POOL"
    fi
    if ! grep -Eq '^Autostart:[[:space:]]+yes' <<<"$info"; then
        run_logged 30 virsh -c "$URI" pool-autostart "$POOL" || die "virsh pool-autostart $POOL"
    fi
}

# Prints the network namespace (if named) of a running libvirtd/virtqemud
# that is not ours. ss cannot tell: unix sockets are listed per namespace.
foreign_netns() {
    local d comm
    for d in /proc/[0-9]*; do
        comm="$(cat "$d/comm" 2>/dev/null || true)"
        case "$comm" in
        libvirtd | virtqemud)
            alive "${d#/proc/}" || continue
            ip netns identify "${d#/proc/}" 2>/dev/null || true
            return 0
            ;;
        esac
    done
}

is_up() {
    local mode
    mode="$(cat "$MODE_FILE" 2>/dev/null || true)"
    case "$mode" in
    netns) pid_of "$LIBVIRTD_PID" libvirtd >/dev/null && libvirt_answers ;;
    system) libvirt_answers ;;
    *) return 1 ;;
    esac
}

# start_daemon NAME PIDFILE DAEMON_LOG: starts a libvirt daemon inside the
# namespace and waits for its pid. LIBVIRT_LOG_OUTPUTS sends the daemon's own
# log to the state dir; its fds go to the log too, so no caller's pipe is
# held open by the daemon.
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

start_daemon() {
    local name=$1 pidfile=$2 daemon_log=$3
    log "starting $name in $NS"
    ip netns exec "$NS" env LIBVIRT_LOG_OUTPUTS="3:file:$daemon_log" \
        "$name" -d --pid-file "$pidfile" </dev/null >>"$LOG" 2>&1 ||
        die "$name -d (in netns $NS) exited with an error"
    wait_pidfile "$pidfile" "$name" 10 ||
        die "$name did not come up (no live pid in $pidfile after 10 s)"
}

cmd_start() {
    mkdir -p "$RUN_DIR"
    local mode
    mode="$(cat "$MODE_FILE" 2>/dev/null || true)"
    if [ "$mode" = netns ] && pid_of "$LIBVIRTD_PID" libvirtd >/dev/null && libvirt_answers; then
        ensure_pool
        log "already running: libvirtd pid $(pid_of "$LIBVIRTD_PID" libvirtd) in netns $(recorded_netns)"
        return 0
    fi
    if ! pid_of "$LIBVIRTD_PID" libvirtd >/dev/null && libvirt_answers; then
        local other
        other="$(foreign_netns)"
        echo system >"$MODE_FILE"
        if [ -n "$other" ]; then
            echo "$other" >"$NETNS_FILE"
        else
            rm -f "$NETNS_FILE"
        fi
        log "a libvirtd we did not start answers on $URI: using it (system mode${other:+, its netns: $other})"
        ensure_pool
        return 0
    fi

    # Leftovers of a half-finished start or of a libvirtd that died: clear them.
    if [ -n "$mode" ] || [ -f "$LIBVIRTD_PID" ] || [ -f "$VIRTLOGD_PID" ] || [ -f "$NETNS_FILE" ]; then
        log "clearing the state of an earlier run"
        do_stop no
    fi
    if netns_exists "$NS"; then
        die "network namespace $NS exists but labhost did not create it (no record in $RUN_DIR); delete it (ip netns del $NS) or set LVSLAB_NETNS"
    fi

    local c
    for c in ip virsh libvirtd virtlogd qemu-system-x86_64 timeout; do
        command -v "$c" >/dev/null || die "command $c not found (install iproute2, coreutils, libvirt-daemon-system, libvirt-clients, qemu-system-x86)"
    done
    getent passwd libvirt-qemu >/dev/null ||
        die "user libvirt-qemu missing: libvirtd refuses to start without it (apt-get install libvirt-daemon-system)"
    fix_dev_kvm

    log "creating network namespace $NS"
    run_logged 10 ip netns add "$NS" || die "ip netns add $NS"
    echo "$NS" >"$NETNS_FILE"
    echo netns >"$MODE_FILE"
    run_logged 10 ip netns exec "$NS" ip link set lo up || die "bringing lo up in netns $NS"
    keep_bridges_out_of_iptables

    start_daemon virtlogd "$VIRTLOGD_PID" "$VIRTLOGD_LOG"
    start_daemon libvirtd "$LIBVIRTD_PID" "$LIBVIRTD_LOG"

    local deadline=$((SECONDS + START_TIMEOUT))
    until libvirt_answers; do
        pid_of "$LIBVIRTD_PID" libvirtd >/dev/null || die "libvirtd exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] ||
            die "libvirtd did not answer 'virsh -c $URI version' within $START_TIMEOUT s"
        sleep 0.5
    done
    ensure_pool
    log "up: libvirtd pid $(pid_of "$LIBVIRTD_PID" libvirtd), virtlogd pid $(pid_of "$VIRTLOGD_PID" virtlogd), netns $NS, pool $POOL ($POOL_DIR); logs in $RUN_DIR"
}

# do_stop PURGE(yes|no): everything of ours goes, whatever state start left.
do_stop() {
    local purge="$1" ns dom net pid
    ns="$(recorded_netns)"
    if [ "$(cat "$MODE_FILE" 2>/dev/null || true)" = system ]; then
        # That namespace and its daemon belong to someone else: touch nothing.
        ns=""
    fi
    if pid_of "$LIBVIRTD_PID" libvirtd >/dev/null && libvirt_answers; then
        for dom in $(virsh_q list --name 2>/dev/null || true); do
            log "destroying domain $dom"
            run_logged 60 virsh -c "$URI" destroy "$dom" || log "warning: virsh destroy $dom failed (see $LOG)"
        done
        for net in $(virsh_q net-list --name 2>/dev/null || true); do
            log "destroying network $net"
            run_logged 30 virsh -c "$URI" net-destroy "$net" || log "warning: virsh net-destroy $net failed (see $LOG)"
        done
        if [ "$purge" = yes ] && virsh_q pool-info "$POOL" >/dev/null 2>&1; then
            run_logged 30 virsh -c "$URI" pool-destroy "$POOL" || true
            run_logged 30 virsh -c "$URI" pool-undefine "$POOL" || true
        fi
    fi
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
    rm -f "$MODE_FILE" "$NETNS_FILE"
    if [ "$purge" = yes ]; then
        rm -f "$POOL_FILE"
        remove_pool_dir
    fi
}

remove_pool_dir() {
    case "$POOL_DIR" in
    "" | / | /var | /var/lib | /root | /home | /tmp) die "refusing to remove pool dir '$POOL_DIR'" ;;
    esac
    log "removing pool directory $POOL_DIR"
    rm -rf -- "$POOL_DIR"
}

cmd_stop() {
    local purge=no
    if [ "${1:-}" = --purge ]; then
        purge=yes
    elif [ -n "${1:-}" ]; then
        usage >&2
        exit 2
    fi
    mkdir -p "$RUN_DIR"
    if [ "$(cat "$MODE_FILE" 2>/dev/null || true)" = system ]; then
        log "system mode: leaving the libvirtd we did not start alone"
        if [ "$purge" = yes ] && [ "$(cat "$POOL_FILE" 2>/dev/null || true)" = "$POOL" ]; then
            log "purge: removing the pool $POOL that labhost defined, and $POOL_DIR"
            run_logged 30 virsh -c "$URI" pool-destroy "$POOL" || true
            run_logged 30 virsh -c "$URI" pool-undefine "$POOL" || true
            remove_pool_dir
        fi
        rm -f "$MODE_FILE" "$NETNS_FILE" "$POOL_FILE"
        return 0
    fi
    do_stop "$purge"
    log "stopped"
}

cmd_status() {
    local mode ns pid_l pid_v pool_state up=3
    mode="$(cat "$MODE_FILE" 2>/dev/null || true)"
    ns="$(recorded_netns)"
    pid_l="$(pid_of "$LIBVIRTD_PID" libvirtd || true)"
    pid_v="$(pid_of "$VIRTLOGD_PID" virtlogd || true)"
    if is_up; then up=0; fi
    pool_state="unknown"
    if [ "$up" -eq 0 ]; then
        pool_state="$(virsh_q pool-info "$POOL" 2>/dev/null | sed -n 's/^State:[[:space:]]*//p')"
        pool_state="${pool_state:-missing}"
    fi
    echo "mode:     ${mode:-none}"
    echo "up:       $([ "$up" -eq 0 ] && echo yes || echo no)"
    echo "libvirtd: ${pid_l:-not running (ours)}"
    echo "virtlogd: ${pid_v:-not running (ours)}"
    echo "netns:    ${ns:-none}$([ -n "$ns" ] && ! netns_exists "$ns" && echo ' (missing)')"
    echo "pool:     $POOL ($POOL_DIR): $pool_state"
    echo "uri:      $URI"
    echo "logs:     $RUN_DIR"
    return "$up"
}

cmd_exec() {
    [ "$#" -gt 0 ] || die "exec needs a command"
    local mode ns
    mode="$(cat "$MODE_FILE" 2>/dev/null || true)"
    ns="$(recorded_netns)"
    case "$mode" in
    netns | system)
        if [ -n "$ns" ]; then
            exec ip netns exec "$ns" "$@"
        fi
        exec "$@"
        ;;
    *) die "the lab host is not started (run: $0 start)" ;;
    esac
}

main() {
    local cmd="${1:-}"
    [ "$#" -gt 0 ] && shift
    case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    exec) cmd_exec "$@" ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
