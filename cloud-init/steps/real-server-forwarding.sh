# shellcheck shell=bash
# Real server: how forwarded connections reach it, by the director's mode.
#   dr   the VIP on the loopback as a /32, ARP for it suppressed, so only the
#        director answers for the VIP on the wire;
#   tun  the VIP on the IPIP tunnel device tunl0 (the director encapsulates),
#        ARP suppressed likewise and reverse-path filtering off for tunl0,
#        and the MSS of its SYN-ACKs clamped to what fits the tunnel;
#   nat  no VIP: replies from the storage address go back through the
#        director (NAT_GATEWAY), by a routing rule of their own, so that the
#        lab host's direct route on the public NIC can't bypass the un-NAT.
# One unit holds the mode's addresses or routes and is stopped (taking them
# away) before a different mode's unit replaces it.
# Parameters: MODE VIP PUBLIC_IP STORAGE_IP STORAGE_SUBNET NAT_GATEWAY

SYSCTL_FILE=/etc/sysctl.d/60-lvslab-real-server.conf
MODULES_FILE=/etc/modules-load.d/lvslab-ipip.conf
UNIT=lvslab-forwarding.service
UNIT_FILE=/etc/systemd/system/$UNIT
NAT_TABLE=100
NAT_RULE_PRIORITY=1000

kernel_settings() {
    local public_nic=$1 storage_nic=$2 arp_ignore=1 arp_announce=2 scope
    if [ "$MODE" = nat ]; then
        arp_ignore=0
        arp_announce=0
    fi
    for scope in all default lo "$public_nic"; do
        printf 'net.ipv4.conf.%s.arp_ignore = %s\nnet.ipv4.conf.%s.arp_announce = %s\n' "$scope" "$arp_ignore" "$scope" "$arp_announce"
    done
    case "$MODE" in
        # Decapsulated packets come in on tunl0 from clients routed via the
        # public NIC: strict reverse-path filtering would drop them.
        tun) printf 'net.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.tunl0.rp_filter = 0\n' ;;
        # Client packets arrive on the storage NIC, their route points out the public one.
        nat) printf 'net.ipv4.conf.%s.rp_filter = 2\n' "$storage_nic" ;;
    esac
}

forwarding_unit() {
    local storage_nic=$1 tun_mss=$2
    local mss_rule="-s $VIP/32 -p tcp --tcp-flags SYN,RST,ACK SYN,ACK -j TCPMSS --set-mss $tun_mss"
    print_stdin <<UNIT
[Unit]
Description=lvs-dr-lab: real server forwarding, mode $MODE
After=systemd-sysctl.service network-online.target
Wants=network-online.target
Before=apache2.service

[Service]
Type=oneshot
RemainAfterExit=yes
UNIT
    case "$MODE" in
        dr)
            echo "ExecStart=/sbin/ip addr replace $VIP/32 dev lo"
            echo "ExecStop=-/sbin/ip addr del $VIP/32 dev lo"
            ;;
        tun)
            echo "ExecStart=/sbin/modprobe ipip"
            echo "ExecStart=/sbin/ip link set tunl0 up"
            echo "ExecStart=/sbin/ip addr replace $VIP/32 dev tunl0"
            # Clients' full-size segments would not fit the director's tunnel
            # (IPIP adds 20 bytes): the SYN-ACK advertises an MSS that does.
            echo "ExecStart=/bin/sh -c 'iptables -w -t mangle -C OUTPUT $mss_rule 2>/dev/null || iptables -w -t mangle -A OUTPUT $mss_rule'"
            echo "ExecStop=-/bin/sh -c 'iptables -w -t mangle -D OUTPUT $mss_rule'"
            echo "ExecStop=-/sbin/ip addr del $VIP/32 dev tunl0"
            ;;
        nat)
            echo "ExecStart=/sbin/ip route replace $STORAGE_SUBNET dev $storage_nic table $NAT_TABLE"
            echo "ExecStart=/sbin/ip route replace default via $NAT_GATEWAY dev $storage_nic table $NAT_TABLE"
            echo "ExecStart=-/sbin/ip rule del priority $NAT_RULE_PRIORITY"
            echo "ExecStart=/sbin/ip rule add priority $NAT_RULE_PRIORITY from $STORAGE_IP table $NAT_TABLE"
            echo "ExecStop=-/sbin/ip rule del priority $NAT_RULE_PRIORITY"
            echo "ExecStop=-/sbin/ip route flush table $NAT_TABLE"
            ;;
        *)
            log "unknown MODE $MODE"
            exit 1
            ;;
    esac
    printf '\n[Install]\nWantedBy=multi-user.target\n'
}

verify() {
    local shown
    case "$MODE" in
        dr) address_on lo "$VIP/32" || { log "VIP $VIP is not on lo"; exit 1; } ;;
        tun) address_on tunl0 "$VIP/32" || { log "VIP $VIP is not on tunl0"; exit 1; } ;;
        nat)
            shown=$(ip route show table "$NAT_TABLE") || true
            [[ $'\n'"$shown" == *$'\n'"default via $NAT_GATEWAY "* ]] || { log "no route via $NAT_GATEWAY in table $NAT_TABLE"; exit 1; }
            ;;
    esac
}

apply() {
    local public_nic storage_nic
    interface_with "$PUBLIC_IP" public_nic
    interface_with "$STORAGE_IP" storage_nic
    [ -n "$public_nic" ] || { log "no interface carries $PUBLIC_IP"; exit 1; }
    [ -n "$storage_nic" ] || { log "no interface carries $STORAGE_IP"; exit 1; }
    if [ "$MODE" = tun ]; then
        echo ipip | write_file "$MODULES_FILE" 0644
        modprobe ipip
    else
        remove_file "$MODULES_FILE"
    fi
    # ARP settings before any VIP: it must never be announced from here.
    kernel_settings "$public_nic" "$storage_nic" | write_file "$SYSCTL_FILE" 0644
    sysctl -q -p "$SYSCTL_FILE"
    # TUN: the MSS that fits the director's IPIP tunnel: the NIC's MTU less 20 (IPIP), 20 (IP) and 20 (TCP).
    local tun_mss=$(($(cat "/sys/class/net/$public_nic/mtu") - 60))
    forwarding_unit "$storage_nic" "$tun_mss" | install_unit "$UNIT" "$UNIT_FILE"
    verify
    log "mode $MODE: ready for $VIP"
}

remove() {
    remove_unit "$UNIT" "$UNIT_FILE"
    remove_file "$SYSCTL_FILE"
    remove_file "$MODULES_FILE"
    local scope
    for scope in all default lo; do
        sysctl -q -w "net.ipv4.conf.$scope.arp_ignore=0" "net.ipv4.conf.$scope.arp_announce=0"
    done
}
