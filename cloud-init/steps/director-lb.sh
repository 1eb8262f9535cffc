# shellcheck shell=bash
# Director: the kernel settings of its forwarding mode, the addresses it holds
# itself (one director; two leave them to VRRP), an optional sorry page, and
# the IPVS table, kept either by ipvsadm (the seed) or by keepalived (VRRP,
# health checks). One step, so switching between them is one in-place update
# that hands the table over in order. Prints `ipvsadm -Ln` when done.
# Parameters:
#   VIP PORTS SCHEDULER PERSISTENCE MODE (dr|nat|tun)
#   REAL_SERVERS      space-separated "address:weight" pairs
#   NICS              the director's NICs (ICMP redirects go off on each)
#   FORWARD_IP        1 in NAT mode (replies come back through the director)
#   STATIC_ADDRESSES  "address/prefix=nic ..." this step holds; empty with VRRP
#   SORRY_PAGE        text of the page served when no real server is left; empty for none
#   KEEPALIVED_CONF   keepalived.conf; empty: ipvsadm keeps the table
# Standard input: the VRRP password, when KEEPALIVED_CONF names it by
# VRRP_PASSWORD_PLACEHOLDER (below).

SYSCTL_FILE=/etc/sysctl.d/60-lvslab-director.conf
MODULES_FILE=/etc/modules-load.d/lvslab-ipvs.conf
# Where the kernel shows IPVS's own settings: present only while ip_vs is loaded.
IPVS_SYSCTL_DIR=/proc/sys/net/ipv4/vs
ADDRESS_UNIT=lvslab-vip.service
ADDRESS_UNIT_FILE=/etc/systemd/system/$ADDRESS_UNIT
RULES_FILE=/etc/lvslab/ipvsadm.rules
IPVS_UNIT=lvslab-ipvs.service
IPVS_UNIT_FILE=/etc/systemd/system/$IPVS_UNIT
KEEPALIVED_FILE=/etc/keepalived/keepalived.conf
KEEPALIVED_MARK="# lvs-dr-lab:"
# The mode keepalived last ran with: a reload keeps existing real servers as
# they are, so a different forwarding mode needs a restart.
KEEPALIVED_MODE_FILE=/etc/lvslab/keepalived-mode
# How long a restarted keepalived gets to play its VRRP part (below).
VRRP_SETTLE_SECONDS=30
SORRY_DIR=/var/lib/lvslab/sorry
SORRY_SITE=/etc/apache2/sites-available/lvslab-sorry.conf
SORRY_PORTS_FILE=/etc/apache2/ports.conf
# Where the rendered keepalived.conf names the VRRP password (the same string
# as components/keepalived.ts): a step's text is no place for a secret, as a
# failing step's command is printed in full. The password comes on standard
# input, kept on fd 3 for keepalived_conf; every other command reads
# /dev/null, so none can swallow it.
VRRP_PASSWORD_PLACEHOLDER=@LVSLAB_VRRP_PASSWORD@
exec 3<&0 </dev/null

forwarding_flag() {
    case "$MODE" in
        dr) echo g ;;
        nat) echo m ;;
        tun) echo i ;;
        *) log "unknown MODE $MODE"; exit 1 ;;
    esac
}

# IPVS's handling of a new connection (a SYN) that meets an entry left by an
# earlier one from the same client address and port (kernel
# Documentation/networking/ipvs-sysctl.rst, net/netfilter/ipvs/ip_vs_core.c):
#   conn_reuse_mode = 3      reschedule it, instead of sending it where the old
#                            entry points, when that entry is in TIME_WAIT or
#                            CLOSE (1) and also in FIN_WAIT (2): the last state a
#                            DR or TUN director sees, as it never sees the real
#                            server's side. The kernel's default 1 lets a reused
#                            port follow a FIN_WAIT entry for its 2 minutes.
#   expire_nodest_conn = 1   when the old entry's real server has weight 0
#                            (drained) or was removed, expire the entry and
#                            schedule the SYN afresh, instead of following it
#                            (weight 0) or dropping it (removed).
# Established connections send no SYN, so they keep flowing to a drained
# server; a removed server's connections end at their next packet instead
# of hanging until their entry times out.
IPVS_SYSCTLS=(
    "net.ipv4.vs.conn_reuse_mode = 3"
    "net.ipv4.vs.expire_nodest_conn = 1"
)
# The kernel's defaults, put back by remove().
IPVS_SYSCTL_DEFAULTS=(
    "net.ipv4.vs.conn_reuse_mode=1"
    "net.ipv4.vs.expire_nodest_conn=0"
)

configure_kernel() {
    # ip_vs first: its net.ipv4.vs.* settings exist only once it is loaded.
    # At boot the same order holds: systemd-modules-load loads the modules
    # file before systemd-sysctl (After=systemd-modules-load.service) reads
    # the sysctl file.
    printf 'ip_vs\nip_vs_%s\n' "$SCHEDULER" | write_file "$MODULES_FILE" 0644
    modprobe ip_vs
    modprobe "ip_vs_$SCHEDULER"
    {
        local scope
        for scope in all default $NICS; do
            printf 'net.ipv4.conf.%s.send_redirects = 0\n' "$scope"
        done
        printf 'net.ipv4.ip_forward = %s\n' "$FORWARD_IP"
        printf '%s\n' "${IPVS_SYSCTLS[@]}"
    } | write_file "$SYSCTL_FILE" 0644
    sysctl -q -p "$SYSCTL_FILE"
}

address_unit() {
    local entry
    print_stdin <<UNIT
[Unit]
Description=lvs-dr-lab: the director's service addresses ($STATIC_ADDRESSES)
After=network-online.target
Wants=network-online.target
Before=keepalived.service $IPVS_UNIT

[Service]
Type=oneshot
RemainAfterExit=yes
UNIT
    for entry in $STATIC_ADDRESSES; do
        printf 'ExecStart=/sbin/ip addr replace %s dev %s\n' "${entry%%=*}" "${entry##*=}"
    done
    for entry in $STATIC_ADDRESSES; do
        printf 'ExecStop=-/sbin/ip addr del %s dev %s\n' "${entry%%=*}" "${entry##*=}"
    done
    printf '\n[Install]\nWantedBy=multi-user.target\n'
}

hold_static_addresses() {
    if [ -z "$STATIC_ADDRESSES" ]; then
        # Stopping runs the unit's own ExecStop: its addresses go with it.
        remove_unit "$ADDRESS_UNIT" "$ADDRESS_UNIT_FILE"
        return
    fi
    local entry
    address_unit | install_unit "$ADDRESS_UNIT" "$ADDRESS_UNIT_FILE"
    for entry in $STATIC_ADDRESSES; do
        address_on "${entry##*=}" "${entry%%=*}" || { log "${entry%%=*} is not on ${entry##*=}"; exit 1; }
    done
    log "holding $STATIC_ADDRESSES"
}

configure_sorry_page() {
    if [ -z "$SORRY_PAGE" ]; then
        remove_sorry_page
        return
    fi
    ensure_packages apache2
    printf '%s\n' "$SORRY_PAGE" | write_file "$SORRY_DIR/index.html" 0644
    local port
    for port in $PORTS; do
        printf 'Listen %s\n' "$port"
    done | write_file "$SORRY_PORTS_FILE" 0644
    write_file "$SORRY_SITE" 0644 <<SITE
# lvs-dr-lab: answers for the VIP when health checks have taken out every real server.
<VirtualHost *:*>
    DocumentRoot $SORRY_DIR
    Header always set X-Real-Server "sorry-$HOST_NAME"
    <Directory $SORRY_DIR>
        Require all granted
    </Directory>
</VirtualHost>
SITE
    apache_enable mods headers
    apache_disable sites 000-default
    apache_enable sites lvslab-sorry
    enable_service apache2
    if changed || ! systemctl is-active -q apache2; then
        restart_apache
    fi
}

remove_sorry_page() {
    if [ -f "$SORRY_SITE" ]; then
        apache_disable sites lvslab-sorry
        remove_file "$SORRY_SITE"
        disable_service apache2
    fi
    remove_file "$SORRY_DIR/index.html"
}

# The virtual services on the VIP as ipvsadm lists them, "VIP:port" a line.
present_services() {
    ipvsadm -Ln | awk -v vip="$VIP" '$1 == "TCP" && index($2, vip ":") == 1 { print $2 }'
}

delete_services() {
    local service
    for service in $(present_services); do
        ipvsadm -D -t "$service"
        log "deleted virtual service $service"
    done
}

# One virtual service brought to the wanted state in place: entries added,
# edited or deleted one by one, never a flush, so live connections survive.
reconcile_service() {
    local port=$1 service="$VIP:$1" options=(-s "$SCHEDULER") flag
    flag=$(forwarding_flag)
    if [ "$PERSISTENCE" -gt 0 ]; then
        options+=(-p "$PERSISTENCE")
    fi
    if ipvsadm -Ln -t "$service" >/dev/null 2>&1; then
        ipvsadm -E -t "$service" "${options[@]}"
    else
        ipvsadm -A -t "$service" "${options[@]}"
    fi
    local present wanted=() entry address weight
    present=$(ipvsadm -Ln -t "$service" | awk '$1 == "->" && $2 ~ /^[0-9]/ { print $2 }')
    for entry in $REAL_SERVERS; do
        address=${entry%%:*}
        weight=${entry##*:}
        wanted+=("$address:$port")
        if [[ $'\n'"$present"$'\n' == *$'\n'"$address:$port"$'\n'* ]]; then
            ipvsadm -e -t "$service" -r "$address:$port" "-$flag" -w "$weight"
        else
            ipvsadm -a -t "$service" -r "$address:$port" "-$flag" -w "$weight"
            log "added real server $address:$port weight $weight"
        fi
    done
    for entry in $present; do
        if [[ " ${wanted[*]} " != *" $entry "* ]]; then
            ipvsadm -d -t "$service" -r "$entry"
            log "deleted real server $entry"
        fi
    done
}

stop_keepalived() {
    if grep -qsF "$KEEPALIVED_MARK" "$KEEPALIVED_FILE"; then
        # keepalived takes its virtual services with it when it stops.
        disable_service keepalived
        remove_file "$KEEPALIVED_FILE"
        remove_file "$KEEPALIVED_MODE_FILE"
    fi
}

table_by_ipvsadm() {
    ensure_packages ipvsadm
    stop_keepalived
    local port service
    for port in $PORTS; do
        reconcile_service "$port"
    done
    for service in $(present_services); do
        if [[ " $PORTS " != *" ${service##*:} "* ]]; then
            ipvsadm -D -t "$service"
            log "deleted virtual service $service"
        fi
    done
    ipvsadm -Sn | write_file "$RULES_FILE" 0644
    write_unit "$IPVS_UNIT_FILE" <<UNIT
[Unit]
Description=lvs-dr-lab: restore the IPVS table
After=network-online.target $ADDRESS_UNIT
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '/sbin/ipvsadm -C && /sbin/ipvsadm -R < $RULES_FILE'

[Install]
WantedBy=multi-user.target
UNIT
    enable_service "$IPVS_UNIT" "$IPVS_UNIT_FILE"
}

# holds_vip: whether the VIP is on one of this director's NICs.
holds_vip() {
    local shown
    shown=$(ip -o -4 addr show) || true
    [[ "$shown" == *" $VIP/"* ]]
}

# settle_vrrp: after keepalived restarted on both directors (a mode switch,
# the first up), the VIP moves while VRRP elects again: the MASTER drops it,
# the BACKUP takes it, the MASTER takes it back. A client connection caught
# in a move is reset, so the step waits (bounded) until this director plays
# the part its configuration gives it: the MASTER holding the VIP two checks
# running, the BACKUP not holding it. `up` then ends with the VIP at rest.
# Past the bound it says so and goes on: the other director may be down.
settle_vrrp() {
    local master=0 attempt steady=0
    [[ "$KEEPALIVED_CONF" =~ state[[:space:]]+MASTER ]] && master=1
    for ((attempt = 1; attempt <= VRRP_SETTLE_SECONDS; attempt++)); do
        if [ "$master" = 1 ] && holds_vip; then
            steady=$((steady + 1))
            [ "$steady" -ge 2 ] && return 0
        elif [ "$master" = 0 ] && ! holds_vip; then
            return 0
        else
            steady=0
        fi
        sleep 1
    done
    if [ "$master" = 1 ]; then
        log "VRRP: the MASTER does not hold $VIP after $VRRP_SETTLE_SECONDS s (see journalctl -u keepalived)"
    else
        log "VRRP: the BACKUP still holds $VIP after $VRRP_SETTLE_SECONDS s: is the MASTER down?"
    fi
}

# KEEPALIVED_CONF as keepalived reads it: the password from fd 3 in place of
# its placeholder.
keepalived_conf() {
    if [[ "$KEEPALIVED_CONF" != *"$VRRP_PASSWORD_PLACEHOLDER"* ]]; then
        printf '%s\n' "$KEEPALIVED_CONF"
        return
    fi
    local password=""
    IFS= read -r password <&3 || true
    if [[ ! "$password" =~ ^[A-Za-z0-9]{1,8}$ ]]; then
        log "the VRRP password (1-8 letters or digits) did not come on standard input"
        return 1
    fi
    printf '%s\n' "${KEEPALIVED_CONF//"$VRRP_PASSWORD_PLACEHOLDER"/$password}"
}

table_by_keepalived() {
    ensure_packages ipvsadm keepalived
    if [ -f "$IPVS_UNIT_FILE" ]; then
        # From here keepalived owns the table: ipvsadm's copy goes first.
        remove_unit "$IPVS_UNIT" "$IPVS_UNIT_FILE"
        remove_file "$RULES_FILE"
        delete_services
    fi
    local staged reload=0 restart=0
    if [ "$(cat "$KEEPALIVED_MODE_FILE" 2>/dev/null || true)" != "$MODE" ]; then
        restart=1
    fi
    staged=$(mktemp)
    if ! keepalived_conf >"$staged"; then
        rm -f "$staged"
        exit 1
    fi
    if ! keepalived --config-test -f "$staged" >&2; then
        rm -f "$staged"
        log "keepalived refused the rendered configuration (see above)"
        exit 1
    fi
    if ! cmp -s "$staged" "$KEEPALIVED_FILE"; then
        reload=1
    fi
    write_file "$KEEPALIVED_FILE" 0600 <"$staged"
    rm -f "$staged"
    printf '%s\n' "$MODE" | write_file "$KEEPALIVED_MODE_FILE" 0644
    enable_service keepalived
    if [ "$restart" = 1 ] || ! systemctl is-active -q keepalived; then
        systemctl restart keepalived
    elif [ "$reload" = 1 ]; then
        # A reload keeps the VRRP state and edits the table in place.
        systemctl reload keepalived
    fi
    # keepalived builds the table asynchronously: wait (bounded) for every service.
    local port attempt
    for port in $PORTS; do
        for ((attempt = 1; attempt <= 30; attempt++)); do
            ipvsadm -Ln -t "$VIP:$port" >/dev/null 2>&1 && break
            sleep 1
        done
        ipvsadm -Ln -t "$VIP:$port" >/dev/null 2>&1 || { log "keepalived did not set up $VIP:$port within 30 s"; exit 1; }
    done
    if [ "$restart" = 1 ]; then
        settle_vrrp
    fi
}

apply() {
    configure_kernel
    hold_static_addresses
    configure_sorry_page
    if [ -n "$KEEPALIVED_CONF" ]; then
        table_by_keepalived
    else
        table_by_ipvsadm
    fi
    ipvsadm -Ln
}

remove() {
    stop_keepalived
    # The restore unit has no ExecStop: stopping it leaves the table to the next lines.
    remove_unit "$IPVS_UNIT" "$IPVS_UNIT_FILE"
    remove_file "$RULES_FILE"
    if command -v ipvsadm >/dev/null 2>&1; then
        delete_services
    fi
    remove_unit "$ADDRESS_UNIT" "$ADDRESS_UNIT_FILE"
    remove_sorry_page
    systemctl daemon-reload
    remove_file "$SYSCTL_FILE"
    remove_file "$MODULES_FILE"
    local scope
    for scope in all default; do
        sysctl -q -w "net.ipv4.conf.$scope.send_redirects=1"
    done
    sysctl -q -w net.ipv4.ip_forward=0
    # Unloading ip_vs would take its settings with it, but it may be in use.
    if [ -d "$IPVS_SYSCTL_DIR" ]; then
        local setting
        for setting in "${IPVS_SYSCTL_DEFAULTS[@]}"; do
            sysctl -q -w "$setting"
        done
    fi
}
