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

fact() {
    printf '%s\t%s\n' "$1" "$2"
}

# kernel_setting PATH: the value under /proc/sys, or "missing".
kernel_setting() {
    local value
    if IFS= read -r value 2>/dev/null <"/proc/sys/$1"; then
        printf '%s' "$value"
    else
        printf 'missing'
    fi
}

present_if() {
    if "$@"; then printf 'present'; else printf 'absent'; fi
}

address_on() {
    local shown
    shown=$(ip -o addr show dev "$1" 2>/dev/null) || true
    [[ "$shown" == *" $2 "* ]]
}

# nic_with ADDRESS: the NIC that carries ADDRESS (empty if none).
nic_with() {
    local _index name _family address _rest
    while read -r _index name _family address _rest; do
        if [ "${address%/*}" = "$1" ]; then
            printf '%s' "$name"
            return
        fi
    done < <(ip -o -4 addr show)
}

service_state() {
    systemctl is-active "$1" 2>/dev/null || true
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
        fact "send_redirects $scope" "$(kernel_setting "net/ipv4/conf/$scope/send_redirects")"
    done
    fact "ip_forward" "$(kernel_setting net/ipv4/ip_forward)"
    fact "ipvs conn_reuse_mode" "$(kernel_setting net/ipv4/vs/conn_reuse_mode)"
    fact "ipvs expire_nodest_conn" "$(kernel_setting net/ipv4/vs/expire_nodest_conn)"
    for entry in $STATIC_ADDRESSES; do
        fact "address ${entry%%=*} on ${entry##*=}" "$(present_if address_on "${entry##*=}" "${entry%%=*}")"
    done
    ipvs_facts
    if [ "$KEEPALIVED" = 1 ]; then
        fact "keepalived" "$(service_state keepalived)"
        local digest=missing
        if [ -f /etc/keepalived/keepalived.conf ]; then
            # The password stands where the rendered file names it by its placeholder.
            digest=$(sed -E "s/^([[:space:]]*auth_pass ).*\$/\\1$VRRP_PASSWORD_PLACEHOLDER/" /etc/keepalived/keepalived.conf | sha256sum)
            digest="sha256 ${digest:0:12}"
        fi
        fact "keepalived.conf" "$digest"
    fi
}

# page_on PORT: what apache answers for / on 127.0.0.1:PORT.
page_on() {
    local connection status='' line body='' in_body=0
    if ! exec {connection}<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
        printf 'does not answer'
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
        printf 'answers %s' "${status:-nothing}"
    elif [ "${body%$'\n'}" = "$PAGE_CONTENT" ]; then
        printf 'answers with the page'
    else
        printf 'answers with another page'
    fi
}

real_server_facts() {
    local public_nic storage_nic scope source target fstype options _rest mounted='not mounted' fstab='absent' port routes
    public_nic=$(nic_with "$PUBLIC_IP")
    storage_nic=$(nic_with "$STORAGE_IP")
    for scope in all default lo "${public_nic:-public-nic}"; do
        fact "arp_ignore $scope" "$(kernel_setting "net/ipv4/conf/$scope/arp_ignore")"
        fact "arp_announce $scope" "$(kernel_setting "net/ipv4/conf/$scope/arp_announce")"
    done
    case "$MODE" in
        dr) fact "address $VIP/32 on lo" "$(present_if address_on lo "$VIP/32")" ;;
        tun)
            fact "address $VIP/32 on tunl0" "$(present_if address_on tunl0 "$VIP/32")"
            fact "rp_filter all" "$(kernel_setting net/ipv4/conf/all/rp_filter)"
            fact "rp_filter tunl0" "$(kernel_setting net/ipv4/conf/tunl0/rp_filter)"
            ;;
        nat)
            routes=$(ip route show table "$NAT_TABLE" 2>/dev/null) || true
            fact "replies routed via $NAT_GATEWAY" "$(present_if test -n "$(grep -F "default via $NAT_GATEWAY " <<<"$routes")")"
            fact "rp_filter ${storage_nic:-storage-nic}" "$(kernel_setting "net/ipv4/conf/${storage_nic:-storage-nic}/rp_filter")"
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
    fact "apache" "$(service_state apache2)"
    for port in $PORTS; do
        fact "page on port $port" "$(page_on "$port")"
    done
}

nfs_facts() {
    local line='absent' exported page='missing'
    if [ -f /etc/exports.d/lvslab.exports ]; then
        IFS= read -r line </etc/exports.d/lvslab.exports || true
    fi
    fact "export line" "$line"
    exported=$(exportfs -v 2>/dev/null) || true
    fact "export of $EXPORT_PATH" "$(present_if test -n "$(grep -E "^$EXPORT_PATH([[:space:]]|\$)" <<<"$exported")")"
    fact "nfs-server" "$(service_state nfs-server)"
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
