# shellcheck shell=bash
# Director: the VIP as a secondary address on the public NIC (the seed's
# eth0:0), ICMP redirects off (the real servers share the VIP, so a redirect
# would send clients around the director), and the packet filter open for the
# virtual service. Parameters: VIP PREFIX_LENGTH PUBLIC_IP PORT

SYSCTL_FILE=/etc/sysctl.d/60-lvslab-director.conf
UNIT=lvslab-vip.service
UNIT_FILE=/etc/systemd/system/$UNIT

apply() {
    local public_nic
    public_nic=$(interface_with "$PUBLIC_IP")
    [ -n "$public_nic" ] || { log "no interface carries $PUBLIC_IP"; exit 1; }
    {
        for scope in all default "$public_nic"; do
            printf 'net.ipv4.conf.%s.send_redirects = 0\n' "$scope"
        done
    } | write_file "$SYSCTL_FILE" 0644
    sysctl -q -p "$SYSCTL_FILE"
    local accept="-d $VIP/32 -p tcp --dport $PORT -j ACCEPT"
    write_file "$UNIT_FILE" 0644 <<UNIT
[Unit]
Description=lvs-dr-lab: VIP $VIP on $public_nic (LVS director)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip addr replace $VIP/$PREFIX_LENGTH dev $public_nic
ExecStart=/bin/sh -c 'iptables -C INPUT $accept 2>/dev/null || iptables -I INPUT $accept'
ExecStop=/bin/sh -c 'iptables -D INPUT $accept 2>/dev/null || true'
ExecStop=/sbin/ip addr del $VIP/$PREFIX_LENGTH dev $public_nic

[Install]
WantedBy=multi-user.target
UNIT
    ensure_packages iptables
    systemctl daemon-reload
    systemctl enable "$UNIT" >&2
    systemctl restart "$UNIT"
    ip -o addr show dev "$public_nic" | grep -q " $VIP/$PREFIX_LENGTH " || { log "VIP $VIP is not on $public_nic"; exit 1; }
    log "VIP $VIP/$PREFIX_LENGTH on $public_nic, redirects off"
}

remove() {
    if [ -f "$UNIT_FILE" ]; then
        systemctl disable --now "$UNIT" >&2 || true
    fi
    remove_file "$UNIT_FILE"
    systemctl daemon-reload
    remove_file "$SYSCTL_FILE"
    local scope
    for scope in all default; do
        sysctl -q -w "net.ipv4.conf.$scope.send_redirects=1"
    done
}
