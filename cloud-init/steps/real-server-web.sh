# shellcheck shell=bash
# Real server web tier: the NFS export mounted on the web root (again at boot,
# via fstab with _netdev) and apache serving it. Each server names itself in
# an X-Real-Server response header and at /whoami, outside the shared root,
# so a test can tell which server answered.
# This step starts as soon as the server answers, while the NFS store may
# still be booting or exporting: the share is mounted (and waited for) in the
# background while apache is set up, and the step ends once both are done.
# Parameters: SERVER_NAME NFS_SERVER EXPORT_PATH PORTS (space-separated; apache must answer on each)

WEB_ROOT=/var/www/html
IDENTITY_DIR=/var/lib/lvslab
CONF_FILE=/etc/apache2/conf-available/lvslab-identity.conf
PORTS_FILE=/etc/apache2/ports.conf
FSTAB_FILE=/etc/fstab
FSTAB_TAG="# lvs-dr-lab web root"
# How long the step waits for the store's export (its boot included).
MOUNT_WAIT_SECONDS=600

# Where the kernel lists what is mounted (tests point it into a sandbox).
MOUNTS_FILE=/proc/mounts

# The fstab without the lab's line, and whether it holds a line: read by the
# shell itself (each process is most of a second of a busy emulated guest).
fstab_others() {
    local line
    [ -f "$FSTAB_FILE" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" == *"$FSTAB_TAG"* ]] || printf '%s\n' "$line"
    done <"$FSTAB_FILE"
}
fstab_holds() {
    local line
    [ -f "$FSTAB_FILE" ] || return 1
    while IFS= read -r line || [ -n "$line" ]; do
        [ "$line" != "$1" ] || return 0
    done <"$FSTAB_FILE"
    return 1
}

# answers PORT PATH: whether apache answers GET PATH on 127.0.0.1:PORT with a
# 2xx within 10 s, by bash's own /dev/tcp: curl would start libcurl and its
# TLS libraries, seconds of a busy emulated guest that has never run them.
answers() {
    local connection status=''
    exec {connection}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&"$connection"
    IFS= read -r -t 10 status <&"$connection" || true
    exec {connection}>&-
    [[ "$status" =~ ^HTTP/1\.[01]\ 2[0-9][0-9]\  ]]
}

web_root_mounted() {
    local _source target _rest
    while read -r _source target _rest; do
        [ "$target" != "$WEB_ROOT" ] || return 0
    done <"$MOUNTS_FILE"
    return 1
}

# mount_web_root: mounts the share, retrying until MOUNT_WAIT_SECONDS have
# passed (a line every 30 s), then fails with mount's last error.
mount_web_root() {
    local deadline=$((SECONDS + MOUNT_WAIT_SECONDS)) next_note=$((SECONDS + 30)) error
    until error=$(mount "$WEB_ROOT" 2>&1); do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "could not mount $NFS_SERVER:$EXPORT_PATH on $WEB_ROOT within $MOUNT_WAIT_SECONDS s: $error"
            return 1
        fi
        if [ "$SECONDS" -ge "$next_note" ]; then
            log "still waiting for $NFS_SERVER to export $EXPORT_PATH: $error"
            next_note=$((SECONDS + 30))
        fi
        sleep 2
    done
}

apply() {
    ensure_packages apache2 nfs-common
    local fstab_line="$NFS_SERVER:$EXPORT_PATH $WEB_ROOT nfs defaults,_netdev,nofail 0 0 $FSTAB_TAG"
    if ! fstab_holds "$fstab_line"; then
        # No daemon-reload: the mount below is made directly (systemd sees it
        # as it happens) and the next boot reads fstab afresh.
        { fstab_others; printf '%s\n' "$fstab_line"; } | write_file "$FSTAB_FILE" 0644
    fi
    [ -d "$WEB_ROOT" ] || mkdir -p "$WEB_ROOT"
    # The mount waits on the network and the store as much as on this guest:
    # it runs beside apache's setup, and never outlives the step.
    MOUNT_PID=''
    if ! web_root_mounted; then
        mount_web_root &
        MOUNT_PID=$!
        trap 'kill "$MOUNT_PID" 2>/dev/null || true' EXIT
    fi
    printf '%s\n' "$SERVER_NAME" | write_file "$IDENTITY_DIR/whoami" 0644
    write_file "$CONF_FILE" 0644 <<CONF
# lvs-dr-lab: say which real server answered. The document root is set here,
# for the whole server, so that extra ports (no VirtualHost of their own)
# serve the share too.
DocumentRoot $WEB_ROOT
Header always set X-Real-Server "$SERVER_NAME"
Alias /whoami $IDENTITY_DIR/whoami
<Directory $IDENTITY_DIR>
    Require all granted
</Directory>
CONF
    local port
    for port in $PORTS; do
        printf 'Listen %s\n' "$port"
    done | write_file "$PORTS_FILE" 0644
    apache_enable mods headers
    apache_enable conf lvslab-identity
    enable_service apache2
    if changed || ! systemctl is-active -q apache2; then
        restart_apache
    fi
    for port in $PORTS; do
        answers "$port" /whoami || { log "apache does not answer on port $port"; exit 1; }
    done
    # Apache serves the share once it is mounted over the web root.
    if [ -n "$MOUNT_PID" ]; then
        wait "$MOUNT_PID" || exit 1
        trap - EXIT
    fi
    log "serving $NFS_SERVER:$EXPORT_PATH on port(s) $PORTS"
}

remove() {
    if [ -f "$CONF_FILE" ]; then
        apache_disable conf lvslab-identity
        remove_file "$CONF_FILE"
        systemctl reload apache2 2>/dev/null || true
    fi
    remove_file "$IDENTITY_DIR/whoami"
    if web_root_mounted; then
        umount -l "$WEB_ROOT" || true
    fi
    if [ -f "$FSTAB_FILE" ]; then
        fstab_others | write_file "$FSTAB_FILE" 0644
    fi
}
