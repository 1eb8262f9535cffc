# shellcheck shell=bash
# Director: the IPVS virtual service and one entry per real server, brought
# to the wanted state in place (entries added, edited or deleted one by one,
# never a flush, so live connections survive a change), then saved and
# restored at boot. Prints the resulting table on stdout.
# Parameters: VIP PORT SCHEDULER PERSISTENCE FORWARDING REAL_SERVERS
#   REAL_SERVERS: space-separated "address:weight" pairs.
#   FORWARDING: g (direct routing), m (NAT) or i (IPIP tunnel).
#   PERSISTENCE: seconds, 0 for none.

RULES_FILE=/etc/lvslab/ipvsadm.rules
MODULES_FILE=/etc/modules-load.d/lvslab-ipvs.conf
UNIT=lvslab-ipvs.service
UNIT_FILE=/etc/systemd/system/$UNIT

apply() {
    ensure_packages ipvsadm
    printf 'ip_vs\nip_vs_%s\n' "$SCHEDULER" | write_file "$MODULES_FILE" 0644
    modprobe ip_vs
    modprobe "ip_vs_$SCHEDULER"

    local service="$VIP:$PORT" options=(-s "$SCHEDULER")
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
        wanted+=("$address:$PORT")
        if grep -qxF "$address:$PORT" <<<"$present"; then
            ipvsadm -e -t "$service" -r "$address:$PORT" "-$FORWARDING" -w "$weight"
        else
            ipvsadm -a -t "$service" -r "$address:$PORT" "-$FORWARDING" -w "$weight"
            log "added real server $address:$PORT weight $weight"
        fi
    done
    for entry in $present; do
        if ! printf '%s\n' "${wanted[@]}" | grep -qxF "$entry"; then
            ipvsadm -d -t "$service" -r "$entry"
            log "deleted real server $entry"
        fi
    done

    ipvsadm -Sn | write_file "$RULES_FILE" 0644
    write_file "$UNIT_FILE" 0644 <<UNIT
[Unit]
Description=lvs-dr-lab: restore the IPVS table
After=network-online.target lvslab-vip.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '/sbin/ipvsadm -C && /sbin/ipvsadm -R < $RULES_FILE'

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable "$UNIT" >&2
    ipvsadm -Ln
}

remove() {
    if [ -f "$UNIT_FILE" ]; then
        systemctl disable "$UNIT" >&2 || true
    fi
    remove_file "$UNIT_FILE"
    systemctl daemon-reload
    if command -v ipvsadm >/dev/null 2>&1; then
        ipvsadm -D -t "$VIP:$PORT" 2>/dev/null || true
    fi
    remove_file "$RULES_FILE"
    remove_file "$MODULES_FILE"
}
