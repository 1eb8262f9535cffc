# shellcheck shell=bash
# Helpers shared by every guest step. components/guestConfig.ts puts this file
# between a step's parameters and its body, so each step runs as one script.

# write_file sits at the end of pipelines; lastpipe keeps its CHANGED flag.
shopt -s lastpipe

# Shell built-ins wherever they do: under emulation every process a step
# starts costs a few tenths of a second of a guest that is still booting.
HOST_NAME=$HOSTNAME
log() {
    printf '[%s %s] %s\n' "$HOST_NAME" "$STEP" "$*" >&2
}

# Package steps must not race cloud-init's own first-boot work. Watched by
# its result file, not `cloud-init status --wait` (a Python start per step,
# seconds under emulation); nothing to wait for on a kernel first boot, where
# cloud-init is off.
CMDLINE_FILE=/proc/cmdline
wait_for_cloud_init() {
    local cmdline=''
    read -r cmdline <"$CMDLINE_FILE" || true
    if ! command -v cloud-init >/dev/null 2>&1 || [[ " $cmdline " == *" cloud-init=disabled "* ]]; then
        return 0
    fi
    local waited=0
    while [ ! -e /run/cloud-init/result.json ] && [ "$waited" -lt 900 ]; do
        sleep 1
        waited=$((waited + 1))
    done
}

# Where services are enabled and apache's parts are switched on (tests point
# these into a sandbox).
SERVICE_WANTS_DIR=/etc/systemd/system/multi-user.target.wants
SERVICE_UNIT_DIR=/lib/systemd/system
APACHE_DIR=/etc/apache2

# enable_service NAME [UNIT_FILE]: what `systemctl enable` does for the
# lab's services, each WantedBy=multi-user.target: a link to Debian's unit
# (or to UNIT_FILE, the lab's own), without systemctl's start (seconds under
# emulation) or Debian's SysV step (update-rc.d, a Perl start); systemd
# ignores the SysV script of a service it has a unit file for.
enable_service() {
    local name=${1%.service}
    local link=$SERVICE_WANTS_DIR/$name.service
    if [ ! -L "$link" ]; then
        [ -d "$SERVICE_WANTS_DIR" ] || mkdir -p "$SERVICE_WANTS_DIR"
        ln -s "${2:-$SERVICE_UNIT_DIR/$name.service}" "$link"
        log "enabled $name"
    fi
}

# disable_service NAME: no longer started at boot, and stopped now.
disable_service() {
    if [ -L "$SERVICE_WANTS_DIR/$1.service" ]; then
        rm -f "$SERVICE_WANTS_DIR/$1.service"
        log "disabled $1"
    fi
    systemctl stop "$1" 2>/dev/null || true
}

# apache_enable mods|conf|sites NAME, apache_disable ...: what a2enmod,
# a2enconf and a2ensite (and a2dis*) do for these plain cases, by their
# symlinks (each of those is a Perl start). Set CHANGED=1 when a link changed.
apache_link() {
    local ext=conf
    [ "$1" = mods ] && ext=load
    printf '%s/%s-enabled/%s.%s' "$APACHE_DIR" "$1" "$2" "$ext"
}
apache_enable() {
    local link
    link=$(apache_link "$1" "$2")
    if [ ! -L "$link" ]; then
        [ -d "${link%/*}" ] || mkdir -p "${link%/*}"
        ln -s "../$1-available/${link##*/}" "$link"
        CHANGED=1
        log "apache: enabled $1 $2"
    fi
}
apache_disable() {
    local link
    link=$(apache_link "$1" "$2")
    if [ -L "$link" ]; then
        rm -f "$link"
        CHANGED=1
        log "apache: disabled $1 $2"
    fi
}

# The lab's own image carries every package; a stock cloud image with
# Internet access gets the missing ones installed. dpkg keeps a file list for
# each installed package (dpkg-query would read the whole status database).
DPKG_INFO_DIR=/var/lib/dpkg/info
ensure_packages() {
    local missing=() package
    for package in "$@"; do
        [ -f "$DPKG_INFO_DIR/$package.list" ] || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# restart_apache: restarts apache; when it will not start, shows why (its
# configuration test and journal) instead of only systemd's "job failed".
# No separate configtest before: apache tests its configuration as it starts.
restart_apache() {
    if ! systemctl restart apache2; then
        apache2ctl configtest >&2 || true
        journalctl -u apache2 -n 20 --no-pager >&2 || true
        log "apache2 did not start"
        exit 1
    fi
}

# write_file PATH MODE: replaces PATH with standard input only when the
# content differs, so a second run changes nothing. Sets CHANGED=1 if it wrote.
# Text only (no NUL bytes): read and compared by the shell itself.
CHANGED=0
write_file() {
    local target=$1 mode=$2 content=''
    IFS= read -r -d '' content || true
    if file_holds "$target" "$content"; then
        return 0
    fi
    [ -d "${target%/*}" ] || mkdir -p "${target%/*}"
    # Written beside it and renamed: a reader sees the old file or the new one.
    # Created with its mode by the umask (a chmod only for execute bits); an
    # old file there would keep its own mode, so it goes first.
    local new=$target.lvslab-new mask
    [ ! -e "$new" ] || rm -f "$new"
    printf -v mask '%03o' $((8#777 & ~8#$mode))
    umask "$mask"
    printf '%s' "$content" >"$new"
    umask "$STEP_UMASK"
    if (((8#$mode) & 8#111)); then
        chmod "$mode" "$new"
    fi
    mv -f "$new" "$target"
    CHANGED=1
    log "wrote $target"
}

# file_holds FILE TEXT: whether FILE exists with exactly TEXT in it.
file_holds() {
    local current=''
    [ -f "$1" ] || return 1
    IFS= read -r -d '' current <"$1" || true
    [ "$current" = "$2" ]
}

# print_stdin: what `cat` prints for a here-document, by the shell itself.
print_stdin() {
    local text=''
    IFS= read -r -d '' text || true
    printf '%s' "$text"
}

# changed: true when this run wrote or removed a file (a service needs a restart).
changed() {
    [ "$CHANGED" = 1 ]
}

remove_file() {
    if [ -e "$1" ]; then
        rm -f "$1"
        CHANGED=1
        log "removed $1"
    fi
}

# write_unit FILE: the unit text on standard input as FILE; systemd reloads
# (every generator, every unit file: seconds under emulation) only when an
# existing file changed. A new unit file needs no reload: systemd reads a
# unit it does not know when it is first asked for it (a `start`, an
# `enable`), even one it once looked up and found missing.
write_unit() {
    local file=$1 text='' existed=0
    IFS= read -r -d '' text || true
    file_holds "$file" "$text" && return 0
    [ -f "$file" ] && existed=1
    printf '%s' "$text" | write_file "$file" 0644
    if [ "$existed" = 1 ]; then
        systemctl daemon-reload
    fi
}

# install_unit NAME FILE: installs the systemd unit text on standard input as
# FILE, enabled and started. A unit whose text changed is stopped first, so
# its old ExecStop undoes the old state before the new ExecStart runs.
install_unit() {
    local name=$1 file=$2 text=''
    IFS= read -r -d '' text || true
    if [ -f "$file" ] && ! file_holds "$file" "$text"; then
        systemctl stop "$name"
    fi
    printf '%s' "$text" | write_unit "$file"
    enable_service "$name" "$file"
    systemctl start "$name"
}

# remove_unit NAME FILE: stops and disables the unit (its ExecStop undoes what
# it did) and removes its file.
remove_unit() {
    local name=$1 file=$2
    if [ -f "$file" ]; then
        systemctl disable --now "$name" >&2 || true
        remove_file "$file"
        systemctl daemon-reload
    fi
}

# interface_with ADDRESS VAR: sets VAR to the NIC that carries ADDRESS
# (empty if none), found by address so that interface names (eth0 on the lab
# image, ens3 on a stock one) don't matter. One `ip` for all calls of a run.
IPV4_ADDRESSES=''
interface_with() {
    [ -n "$IPV4_ADDRESSES" ] || IPV4_ADDRESSES=$(ip -o -4 addr show)
    local _index nic_name _family nic_address _rest
    printf -v "$2" '%s' ''
    while read -r _index nic_name _family nic_address _rest; do
        if [ "${nic_address%/*}" = "$1" ]; then
            printf -v "$2" '%s' "$nic_name"
            return 0
        fi
    done <<<"$IPV4_ADDRESSES"
}

# address_on DEVICE ADDRESS/PREFIX: whether DEVICE carries that address
# (one `ip`, its output matched by the shell).
address_on() {
    local shown
    shown=$(ip -o addr show dev "$1") || true
    [[ "$shown" == *" $2 "* ]]
}

# Files and directories the steps make: 0644 and 0755 whatever sudo's umask.
STEP_UMASK=022
run_step() {
    umask "$STEP_UMASK"
    case "${1:-}" in
        apply) wait_for_cloud_init; apply ;;
        remove) remove ;;
        *) echo "usage: $STEP apply|remove" >&2; exit 64 ;;
    esac
}
