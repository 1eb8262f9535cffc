# shellcheck shell=bash
# NFS store: export the web root read-write to the storage subnet and hold the
# shared test page. Parameters: EXPORT_PATH CLIENT_SUBNET PAGE_CONTENT

EXPORTS_FILE=/etc/exports.d/lvslab.exports

apply() {
    ensure_packages nfs-kernel-server
    [ -d "$EXPORT_PATH" ] || mkdir -p "$EXPORT_PATH"
    printf '%s\n' "$PAGE_CONTENT" | write_file "$EXPORT_PATH/index.html" 0644
    # The seed's options: clients are the real servers, which write as root.
    printf '%s %s(rw,sync,no_root_squash,no_subtree_check)\n' "$EXPORT_PATH" "$CLIENT_SUBNET" |
        write_file "$EXPORTS_FILE" 0644
    enable_service nfs-server
    systemctl start nfs-server
    exportfs -ra
    local exported
    exported=$(exportfs -v) || true
    [[ $'\n'"$exported" == *$'\n'"$EXPORT_PATH"[[:space:]]* ]] || { log "export of $EXPORT_PATH is not active"; exit 1; }
    log "exporting $EXPORT_PATH to $CLIENT_SUBNET"
}

remove() {
    remove_file "$EXPORTS_FILE"
    if command -v exportfs >/dev/null 2>&1; then
        exportfs -ra
    fi
    remove_file "$EXPORT_PATH/index.html"
}
