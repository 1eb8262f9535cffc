# shellcheck shell=bash
# Real server in DR mode: the VIP on the loopback as a /32 so the server
# accepts packets addressed to it, with ARP suppressed so that only the
# director answers for the VIP on the wire. Parameters: VIP PUBLIC_IP

SYSCTL_FILE=/etc/sysctl.d/60-lvslab-arp.conf
UNIT=lvslab-vip.service
UNIT_FILE=/etc/systemd/system/$UNIT

apply() {
    local public_nic
    public_nic=$(interface_with "$PUBLIC_IP")
    [ -n "$public_nic" ] || { log "no interface carries $PUBLIC_IP"; exit 1; }
    {
        for scope in all default lo "$public_nic"; do
            printf 'net.ipv4.conf.%s.arp_ignore = 1\nnet.ipv4.conf.%s.arp_announce = 2\n' "$scope" "$scope"
        done
    } | write_file "$SYSCTL_FILE" 0644
    # ARP settings first: the VIP must never be announced from here.
    sysctl -q -p "$SYSCTL_FILE"
    write_file "$UNIT_FILE" 0644 <<UNIT
[Unit]
Description=lvs-dr-lab: VIP $VIP on the loopback (LVS-DR real server)
After=systemd-sysctl.service
Before=network-pre.target apache2.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip addr replace $VIP/32 dev lo
ExecStop=/sbin/ip addr del $VIP/32 dev lo

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable "$UNIT" >&2
    systemctl restart "$UNIT"
    ip -o addr show dev lo | grep -q " $VIP/32 " || { log "VIP $VIP is not on lo"; exit 1; }
    log "VIP $VIP on lo, ARP suppressed on all, default, lo, $public_nic"
}

remove() {
    if [ -f "$UNIT_FILE" ]; then
        systemctl disable --now "$UNIT" >&2 || true
    fi
    remove_file "$UNIT_FILE"
    systemctl daemon-reload
    ip addr del "$VIP/32" dev lo 2>/dev/null || true
    remove_file "$SYSCTL_FILE"
    local scope
    for scope in all default lo; do
        sysctl -q -w "net.ipv4.conf.$scope.arp_ignore=0" "net.ipv4.conf.$scope.arp_announce=0"
    done
}
