# shellcheck shell=bash
# Reads back, without changing anything, the facts a machine's steps set:
# one "NAME<TAB>VALUE" line each, the names a person reads in `refresh` and
# `scripts/lab check`, the values as the program states what it wants
# (components/facts/wanted.ts). Runs as root: ipvsadm and exportfs need it.
# Parameters:
#   ROLE               director | real-server | nfs
#   MODE               dr | nat | tun
#   NICS               director: its NICs (send_redirects is read on each)
#   STATIC_ADDRESSES   director: "address/prefix=nic ..." it holds itself
#   KEEPALIVED         director: 1 when keepalived keeps the table
#   VIP PORTS          director and real server
#   PUBLIC_IP STORAGE_IP NAT_GATEWAY   real server
#   EXPORT_PATH        store
#   PAGE_CONTENT       real server and store: the shared page's text

VRRP_PASSWORD_PLACEHOLDER=@LVSLAB_VRRP_PASSWORD@
NAT_TABLE=100
NAT_RULE_PRIORITY=1000

# Each process costs a busy emulated guest a good part of a second: the
# reader reads files with the shell itself, runs ip once, and forks no
# subshell for a value.
fact() {
    printf '%s\t%s\n' "$1" "$2"
}

# kernel_fact NAME PATH: the value under /proc/sys, or "missing".
kernel_fact() {
    local value
    IFS= read -r value 2>/dev/null <"/proc/sys/$2" || value=missing
    fact "$1" "$value"
}

# Every IPv4 address, one line each: "INDEX NIC inet ADDRESS/PREFIX ...".
ADDRESSES=$(ip -o -4 addr show 2>/dev/null) || true

# address_fact NAME NIC ADDRESS/PREFIX: present or absent.
address_fact() {
    local _index nic _family address _rest state=absent
    while read -r _index nic _family address _rest; do
        if [ "$nic" = "$2" ] && [ "$address" = "$3" ]; then
            state=present
        fi
    done <<<"$ADDRESSES"
    fact "$1" "$state"
}

# nic_with ADDRESS VAR: sets VAR to the NIC that carries ADDRESS (empty if none).
nic_with() {
    local _index name _family address _rest
    printf -v "$2" '%s' ''
    while read -r _index name _family address _rest; do
        if [ "${address%/*}" = "$1" ]; then
            printf -v "$2" '%s' "$name"
        fi
    done <<<"$ADDRESSES"
}

# services_fact UNIT...: one fact a unit, its state, from one systemctl.
services_fact() {
    local states unit state
    states=$(systemctl is-active "$@" 2>/dev/null) || true
    for unit in "$@"; do
        IFS= read -r state || state=unknown
        fact "$unit" "$state"
    done <<<"$states"
}

# The IPVS table as facts: each virtual service with its scheduler (and
# persistence), each real server with its forwarding method and weight.
ipvs_facts() {
    local table protocol service scheduler rest server method weight _active _inactive
    if ! table=$(ipvsadm -Ln 2>&1); then
        fact "ipvs table" "unreadable: ${table//$'\n'/ }"
        return
    fi
    service=''
    while read -r protocol rest; do
        case "$protocol" in
            TCP | UDP)
                read -r service scheduler rest <<<"$rest"
                fact "ipvs $protocol $service" "$scheduler${rest:+ $rest}"
                service="$protocol $service"
                ;;
            "->")
                read -r server method weight _active _inactive <<<"$rest"
                [ "$server" != RemoteAddress:Port ] || continue
                if [ -n "$service" ]; then
                    fact "ipvs $service -> $server" "$method weight $weight"
                fi
                ;;
        esac
    done <<<"$table"
}

director_facts() {
    local scope entry
    for scope in all default $NICS; do
        kernel_fact "send_redirects $scope" "net/ipv4/conf/$scope/send_redirects"
    done
    kernel_fact "ip_forward" net/ipv4/ip_forward
    kernel_fact "ipvs conn_reuse_mode" net/ipv4/vs/conn_reuse_mode
    kernel_fact "ipvs expire_nodest_conn" net/ipv4/vs/expire_nodest_conn
    for entry in $STATIC_ADDRESSES; do
        address_fact "address ${entry%%=*} on ${entry##*=}" "${entry##*=}" "${entry%%=*}"
    done
    ipvs_facts
    if [ "$KEEPALIVED" = 1 ]; then
        services_fact keepalived
        local digest=missing
        if [ -f /etc/keepalived/keepalived.conf ]; then
            # The password stands where the rendered file names it by its placeholder.
            digest=$(sed -E "s/^([[:space:]]*auth_pass ).*\$/\\1$VRRP_PASSWORD_PLACEHOLDER/" /etc/keepalived/keepalived.conf | sha256sum)
            digest="sha256 ${digest:0:12}"
        fi
        fact "keepalived.conf" "$digest"
    fi
}

# page_fact PORT: what apache answers for / on 127.0.0.1:PORT.
page_fact() {
    local connection status='' line body='' in_body=0
    if ! exec {connection}<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
        fact "page on port $1" "does not answer"
        return
    fi
    printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&"$connection"
    IFS= read -r -t 10 status <&"$connection" || true
    while IFS= read -r -t 10 line <&"$connection" || [ -n "$line" ]; do
        line=${line%$'\r'}
        if [ "$in_body" = 1 ]; then
            body+="$line"$'\n'
        elif [ -z "$line" ]; then
            in_body=1
        fi
    done
    exec {connection}>&-
    status=${status%$'\r'}
    if [[ ! "$status" =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]; then
        fact "page on port $1" "answers ${status:-nothing}"
    elif [ "${body%$'\n'}" = "$PAGE_CONTENT" ]; then
        fact "page on port $1" "answers with the page"
    else
        fact "page on port $1" "answers with another page"
    fi
}

real_server_facts() {
    local public_nic storage_nic scope source target fstype options _rest mounted='not mounted' fstab='absent' port routes
    nic_with "$PUBLIC_IP" public_nic
    nic_with "$STORAGE_IP" storage_nic
    for scope in all default lo "${public_nic:-public-nic}"; do
        kernel_fact "arp_ignore $scope" "net/ipv4/conf/$scope/arp_ignore"
        kernel_fact "arp_announce $scope" "net/ipv4/conf/$scope/arp_announce"
    done
    case "$MODE" in
        dr) address_fact "address $VIP/32 on lo" lo "$VIP/32" ;;
        tun)
            address_fact "address $VIP/32 on tunl0" tunl0 "$VIP/32"
            kernel_fact "rp_filter all" net/ipv4/conf/all/rp_filter
            kernel_fact "rp_filter tunl0" net/ipv4/conf/tunl0/rp_filter
            mangle=$(iptables -w -t mangle -S OUTPUT 2>/dev/null) || true
            if [[ "$mangle" == *"-s $VIP/32 "*"-j TCPMSS"* ]]; then
                fact "MSS clamp on replies from $VIP" present
            else
                fact "MSS clamp on replies from $VIP" absent
            fi
            ;;
        nat)
            # The rule that sends replies from the storage address to that table, then the table's route.
            rules=$(ip -4 rule show 2>/dev/null) || true
            if [[ $'\n'"$rules" == *$'\n'"$NAT_RULE_PRIORITY:"*"from $STORAGE_IP lookup $NAT_TABLE"* ]]; then
                fact "replies from $STORAGE_IP use table $NAT_TABLE" present
            else
                fact "replies from $STORAGE_IP use table $NAT_TABLE" absent
            fi
            routes=$(ip route show table "$NAT_TABLE" 2>/dev/null) || true
            if [[ $'\n'"$routes" == *$'\n'"default via $NAT_GATEWAY "* ]]; then
                fact "replies routed via $NAT_GATEWAY" present
            else
                fact "replies routed via $NAT_GATEWAY" absent
            fi
            kernel_fact "rp_filter ${storage_nic:-storage-nic}" "net/ipv4/conf/${storage_nic:-storage-nic}/rp_filter"
            ;;
    esac
    while read -r source target _rest; do
        if [ "$target" = /var/www/html ]; then
            mounted=$source
        fi
    done </proc/mounts
    fact "web root" "$mounted"
    if [ -f /etc/fstab ]; then
        while read -r source target fstype options _rest; do
            if [ "$target" = /var/www/html ] && [[ "$source" != \#* ]]; then
                fstab="$source $fstype $options"
            fi
        done </etc/fstab
    fi
    fact "web root in fstab" "$fstab"
    services_fact apache2
    for port in $PORTS; do
        page_fact "$port"
    done
}

nfs_facts() {
    local line='absent' exported page='missing'
    if [ -f /etc/exports.d/lvslab.exports ]; then
        IFS= read -r line </etc/exports.d/lvslab.exports || true
    fi
    fact "export line" "$line"
    exported=$(exportfs -v 2>/dev/null) || true
    if [[ $'\n'"$exported" == *$'\n'"$EXPORT_PATH"[[:space:]]* ]]; then
        fact "export of $EXPORT_PATH" present
    else
        fact "export of $EXPORT_PATH" absent
    fi
    services_fact nfs-server
    if [ -f "$EXPORT_PATH/index.html" ]; then
        IFS= read -r page <"$EXPORT_PATH/index.html" || true
    fi
    fact "page" "$page"
}

case "$ROLE" in
    director) director_facts ;;
    real-server) real_server_facts ;;
    nfs) nfs_facts ;;
    *)
        echo "unknown ROLE $ROLE" >&2
        exit 64
        ;;
esac
