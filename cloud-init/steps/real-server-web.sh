# shellcheck shell=bash
# Real server web tier: the NFS export mounted on the web root (again at boot,
# via fstab with _netdev) and apache serving it. Each server names itself in
# an X-Real-Server response header and at /whoami, outside the shared root,
# so a test can tell which server answered.
# This step starts as soon as the server answers, while the NFS store may
# still be booting or exporting: apache first, then the share, waited for.
# Parameters: SERVER_NAME NFS_SERVER EXPORT_PATH PORTS (space-separated; apache must answer on each)

WEB_ROOT=/var/www/html
IDENTITY_DIR=/var/lib/lvslab
CONF_FILE=/etc/apache2/conf-available/lvslab-identity.conf
PORTS_FILE=/etc/apache2/ports.conf
FSTAB_FILE=/etc/fstab
FSTAB_TAG="# lvs-dr-lab web root"
# How long the step waits for the store's export (its boot included).
MOUNT_WAIT_SECONDS=600

# The fstab without the lab's line. grep exits 1 when nothing is left (an
# empty fstab, or only our line), which pipefail would turn into a failure.
fstab_others() {
    if [ -f "$FSTAB_FILE" ]; then
        grep -vF "$FSTAB_TAG" "$FSTAB_FILE" || [ $? -eq 1 ]
    fi
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
    if ! grep -qsxF "$fstab_line" "$FSTAB_FILE"; then
        # No daemon-reload: the mount below is made directly (systemd sees it
        # as it happens) and the next boot reads fstab afresh.
        fstab_others | { cat; printf '%s\n' "$fstab_line"; } | write_file "$FSTAB_FILE" 0644
    fi
    mkdir -p "$WEB_ROOT"
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
        curl -fsS --max-time 10 "http://127.0.0.1:$port/whoami" >/dev/null || { log "apache does not answer on port $port"; exit 1; }
    done
    # Apache serves the share once it is mounted over the web root.
    if ! mountpoint -q "$WEB_ROOT"; then
        mount_web_root || exit 1
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
    if mountpoint -q "$WEB_ROOT"; then
        umount -l "$WEB_ROOT" || true
    fi
    if grep -qsF "$FSTAB_TAG" "$FSTAB_FILE"; then
        fstab_others | write_file "$FSTAB_FILE" 0644
    fi
}
