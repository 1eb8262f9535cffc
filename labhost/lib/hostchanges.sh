# shellcheck shell=bash
# What the project changes on the host outside its own directories, kept
# small and written down so that `scripts/lab uninstall` can undo it:
#
#   install_debian_packages NAME LIST  apt-get installs the missing packages
#       of LIST, then disables every unit that install newly enabled (its own
#       packages' and those of dependencies it pulled in or upgraded), writes
#       cloud-init's marker /etc/cloud/cloud-init.disabled when the install
#       added cloud-init, and records all of it in the manifest.
#   undo_host_changes [--dry-run] [--yes] [--force]
#       purges exactly the packages the manifest lists, removes the files the
#       project wrote outside its directories, then its caches and
#       $LVSLAB_HOME. Refuses while the lab host runs.
#
# "Enabled" is what `systemctl enable` / deb-systemd-helper / update-rc.d
# leave on disk: symlinks under /etc/systemd/{system,user} (*.wants,
# *.requires, aliases) and S links in /etc/rc[S2345].d. No running systemd is
# needed: the links an install added are found by comparing a listing taken
# before it with one taken after, and removed (S links renamed to K, as
# `update-rc.d NAME disable` does). deb-systemd-helper keeps its own record of
# the links it made, so a later upgrade of such a package sees the unit as
# disabled by the admin and leaves it so.
#
# The manifest, $LVSLAB_HOME/host-changes/:
#   packages   every package an install of ours added (dependencies included)
#   requested  the ones we asked apt for (the others came as dependencies)
#   upgraded   "package old-version new-version": upgraded as dependencies
#              (not undone: a downgrade is not a clean-up)
#   disabled   "removed LINK -> TARGET" / "renamed S-LINK -> K-LINK"
#   files      files written on the host (cloud-init's marker)
#   accounts   "user NAME" / "group NAME": system users and groups the
#              packages' maintainer scripts created (a purge leaves some)
#   log        one line per install
#   pending/   the "before" listings while an install runs; an install that
#              was interrupted is finished (its units disabled) by the next
#              run of install_debian_packages or by undo_host_changes
#
# LVSLAB_HOST_ROOT (default empty, i.e. /) is the tree the unit links, the
# cloud-init marker and policy-rc.d live in: the tests point it at a scratch
# directory. apt-get and dpkg-query always act on the real system (the tests
# put fakes on PATH). Needs lib/common.sh.

host_changes_dir() {
    echo "$LVSLAB_HOME/host-changes"
}

# Every symlink that makes a unit start: systemd's (any symlink under
# /etc/systemd/system and /etc/systemd/user but masks, which point to
# /dev/null) and sysvinit's S links. One "PATH<TAB>TARGET" a line, sorted.
unit_links_snapshot() {
    local root=${LVSLAB_HOST_ROOT:-} dir
    {
        for dir in "$root/etc/systemd/system" "$root/etc/systemd/user"; do
            if [ -d "$dir" ]; then find "$dir" -type l -printf '%p\t%l\n'; fi
        done
        for dir in "$root"/etc/rc[S2345].d; do
            if [ -d "$dir" ]; then find "$dir" -maxdepth 1 -type l -name 'S[0-9][0-9]?*' -printf '%p\t%l\n'; fi
        done
    } | awk -F'\t' '$2 != "/dev/null"' | LC_ALL=C sort
}

# The links in the current listing whose path the listing in file $1 lacks.
new_unit_links() {
    awk -F'\t' 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' "$1" <(unit_links_snapshot)
}

# Installed packages: "NAME VERSION" a line, sorted.
installed_packages() {
    dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package} ${Version}\n' 2>/dev/null |
        awk '$1 == "ii" { print $2, $3 }' | LC_ALL=C sort
}

# System users and groups: "user NAME" and "group NAME" lines, sorted.
accounts_snapshot() {
    local root=${LVSLAB_HOST_ROOT:-}
    {
        if [ -f "$root/etc/passwd" ]; then cut -d: -f1 "$root/etc/passwd" | sed 's/^/user /'; fi
        if [ -f "$root/etc/group" ]; then cut -d: -f1 "$root/etc/group" | sed 's/^/group /'; fi
    } | LC_ALL=C sort
}

package_installed() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

# disable_new_units BEFORE RECORD: removes the enable links that appeared
# since the listing BEFORE was taken (S links become K links) and appends what
# it did to RECORD. Prints each change.
disable_new_units() {
    local before=$1 record=$2 link target parent
    while IFS=$'\t' read -r link target; do
        [ -n "$link" ] || continue
        case "$link" in
            */etc/rc[S2345].d/S*)
                local stopped
                stopped="$(dirname "$link")/K$(basename "$link" | cut -c2-)"
                mv -f "$link" "$stopped"
                echo "renamed $link -> $stopped" | tee -a "$record" | sed 's/^/    disabled: /' >&2
                ;;
            *)
                rm -f "$link"
                echo "removed $link -> $target" | tee -a "$record" | sed 's/^/    disabled: /' >&2
                parent=$(dirname "$link")
                case "$parent" in
                    *.wants | *.requires | *.upholds) rmdir "$parent" 2>/dev/null || true ;;
                esac
                ;;
        esac
    done < <(new_unit_links "$before")
}

# Finishes the install whose "before" listings are in the manifest's pending/:
# disables what it enabled, records what it added, and checks that nothing it
# enabled is left.
settle_install() {
    local label=${1:-an earlier install} dir pending
    dir=$(host_changes_dir)
    pending="$dir/pending"
    [ -f "$pending/links" ] && [ -f "$pending/packages" ] || return 0
    touch "$dir/packages" "$dir/requested" "$dir/upgraded" "$dir/disabled" "$dir/files" "$dir/accounts"

    local disabled_before
    disabled_before=$(wc -l <"$dir/disabled")
    disable_new_units "$pending/links" "$dir/disabled"

    local after added upgraded
    after=$(installed_packages)
    # Added: installed now, not before. Upgraded: installed before, another version now.
    added=$(awk 'NR == FNR { before[$1] = $2; next } !($1 in before) { print $1 }' "$pending/packages" - <<<"$after")
    upgraded=$(awk 'NR == FNR { before[$1] = $2; next } ($1 in before) && before[$1] != $2 { print $1, before[$1], $2 }' "$pending/packages" - <<<"$after")
    merge_lines "$dir/packages" <<<"$added"
    merge_lines "$dir/upgraded" <<<"$upgraded"
    if [ -f "$pending/accounts" ]; then
        accounts_snapshot | LC_ALL=C comm -13 "$pending/accounts" - | merge_lines "$dir/accounts"
    fi
    if [ -f "$pending/requested" ]; then
        { grep -Fxf <(cut -d: -f1 <<<"$added") "$pending/requested" || true; } | merge_lines "$dir/requested"
    fi

    # cloud-init, if this install added it: its generator would run it at the
    # next boot (no datasource on a workstation: it may still create users and
    # regenerate the host's SSH keys). Its own off switch is this marker.
    local marker="${LVSLAB_HOST_ROOT:-}/etc/cloud/cloud-init.disabled"
    if grep -qx 'cloud-init\(:[a-z0-9]*\)\?' <<<"$added" && [ ! -e "$marker" ]; then
        mkdir -p "$(dirname "$marker")"
        echo "# written by lvs-dr-lab: cloud-init was installed only for its tests (scripts/lab uninstall removes it)" >"$marker"
        echo "$marker" | merge_lines "$dir/files"
        echo "    disabled: cloud-init ($marker)" >&2
    fi

    local left
    left=$(new_unit_links "$pending/links")
    [ -z "$left" ] || die "units enabled by $label are still enabled: $left"
    echo "$(date -u '+%F %T') $label: added $(grep -c . <<<"$added") packages, upgraded $(grep -c . <<<"$upgraded"), disabled $(($(wc -l <"$dir/disabled") - disabled_before)) enable links" >>"$dir/log"
    rm -rf "$pending"
    echo "    recorded in $dir (undo: scripts/lab uninstall)" >&2
}

# Adds the lines of stdin to FILE, keeping it sorted and without duplicates.
merge_lines() {
    local file=$1 merged
    merged=$(cat "$file" 2>/dev/null; cat)
    grep -v '^$' <<<"$merged" | LC_ALL=C sort -u >"$file" || true
}

# install_debian_packages NAME LIST: installs the packages of LIST (one a
# line, # comments) that are missing, with no daemon started now and none
# left enabled for the next boot.
install_debian_packages() {
    local name=$1 list=$2 wanted missing=() package dir lock
    wanted=$(grep -vE '^\s*(#|$)' "$list" | awk '{ print $1 }')
    dir=$(host_changes_dir)
    for package in $wanted; do
        package_installed "$package" || missing+=("$package")
    done
    if [ "${#missing[@]}" = 0 ] && [ ! -d "$dir/pending" ]; then
        echo "    Debian packages ($name): all $(wc -w <<<"$wanted") present" >&2
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        [ "${#missing[@]}" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
        die "an install was interrupted before its units were disabled ($dir/pending): run this again as root to finish it"
    fi
    mkdir -p "$dir"
    # One install at a time: each compares the host with its own "before".
    exec {lock}>>"$dir/lock"
    flock "$lock"
    if [ -d "$dir/pending" ]; then
        echo "    finishing an install that was interrupted before its units were disabled" >&2
        settle_install "an interrupted install"
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        install_and_disable "$name" "${missing[@]}"
    fi
    exec {lock}>&-
}

# install_and_disable NAME PACKAGE...: apt-get install, then settle_install.
install_and_disable() {
    local name=$1 dir
    shift
    dir=$(host_changes_dir)
    echo "    installing ($name): $*" >&2
    mkdir -p "$dir/pending"
    unit_links_snapshot >"$dir/pending/links"
    installed_packages >"$dir/pending/packages"
    accounts_snapshot >"$dir/pending/accounts"
    printf '%s\n' "$@" >"$dir/pending/requested"

    # No daemon of these packages may start on the host now: libvirtd runs
    # only in the lab's namespace, sshd only in the plugin tests.
    local policy="${LVSLAB_HOST_ROOT:-}/usr/sbin/policy-rc.d" added_policy=0
    if [ ! -e "$policy" ]; then
        mkdir -p "$(dirname "$policy")"
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local status=0
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } >&2 || status=$?
    [ "$added_policy" = 1 ] && rm -f "$policy"
    # Even after a failed install: whatever it got to enable goes.
    settle_install "the $name install of $*"
    [ "$status" = 0 ] || die "apt-get could not install: $*"
}

# --------------------------------------------------------------------- undo

# Stacks in the lab's state that still hold resources: "STACK COUNT" a line.
stacks_with_resources() {
    local state="$LVSLAB_HOME/state/.pulumi/stacks" file count
    [ -d "$state" ] || return 0
    while IFS= read -r file; do
        case "$file" in
            *.json.gz) count=$(gzip -dc "$file" | jq '(.checkpoint.latest.resources // []) | length' 2>/dev/null || echo "?") ;;
            *) count=$(jq '(.checkpoint.latest.resources // []) | length' "$file" 2>/dev/null || echo "?") ;;
        esac
        if [ "$count" != 0 ]; then
            echo "$(basename "${file%.gz}" .json) $count"
        fi
    done < <(find "$state" -type f \( -name '*.json' -o -name '*.json.gz' \))
}

# What of the lab still runs: the default lab host, any other lab host with
# a root under $LVSLAB_HOME/labhosts, an e2e/bench/drills run whose process
# lives. Prints one phrase per item; nothing when all is down.
running_lab_hosts() {
    local labhost=${LABHOST:-$LVSLAB_ROOT/labhost/labhost.sh} root pid
    if "$labhost" status >/dev/null 2>&1; then
        echo "the lab host ${LVSLAB_LABHOST:-lvslab} is running"
    fi
    for root in "$LVSLAB_HOME"/labhosts/*/; do
        [ -d "$root" ] || continue
        root=${root%/}
        [ "$(basename "$root")" != "${LVSLAB_LABHOST:-lvslab}" ] || continue
        if LVSLAB_LABHOST=$(basename "$root") LVSLAB_LABHOST_ROOT=$root "$labhost" status >/dev/null 2>&1; then
            echo "the lab host $(basename "$root") is running"
        fi
    done
    for root in "$LVSLAB_HOME"/runs/*/; do
        pid=$(cat "$root/pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
            echo "the run in ${root%/} (pid $pid) is going on"
        fi
    done
}

# A directory undo_host_changes may delete: not / or a system or home directory.
removable_dir() {
    case "${1%/}" in
        "" | / | /bin | /boot | /dev | /etc | /home | /lib | /opt | /proc | /root | /run | /sbin | /srv | /sys | /tmp | /usr | /var | /var/lib | /var/cache | "$HOME" | "$HOME/.cache") return 1 ;;
    esac
    [ -d "$1" ]
}

undo_host_changes() {
    local dry_run=0 yes=0 force=0 arg
    for arg in "$@"; do
        case "$arg" in
            --dry-run | -n) dry_run=1 ;;
            --yes | -y) yes=1 ;;
            --force) force=1 ;;
            *) die "usage: scripts/lab uninstall [--dry-run] [--yes] [--force]" ;;
        esac
    done
    local dir stacks running
    dir=$(host_changes_dir)
    running=$(running_lab_hosts | paste -sd';' | sed 's/;/; /g')
    [ -z "$running" ] || die "$running: take the lab down first (scripts/lab destroy [--stack NAME]), or let the run finish"
    stacks=$(stacks_with_resources)
    if [ -n "$stacks" ] && [ "$force" = 0 ]; then
        die "these stacks still have resources, which the state in $LVSLAB_HOME/state tracks: $(tr '\n' ',' <<<"$stacks" | sed 's/,$//; s/,/, /g'). Destroy them first (scripts/lab destroy --stack NAME), or add --force to delete the state anyway"
    fi
    [ "$dry_run" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (or see what it would do with --dry-run)"
    if [ "$dry_run" = 0 ] && [ -d "$dir" ]; then
        local lock
        exec {lock}>>"$dir/lock"
        flock "$lock"
        if [ -d "$dir/pending" ]; then
            settle_install "an interrupted install"
        fi
    fi

    # The packages we added that are still installed. A dependency of ours
    # that was since marked manually installed (apt-get install of it by
    # someone) stays.
    local ours=() kept=() package requested manual
    requested=$(cat "$dir/requested" 2>/dev/null || true)
    manual=$(apt-mark showmanual 2>/dev/null || true)
    while IFS= read -r package; do
        [ -n "$package" ] || continue
        package_installed "$package" || continue
        if ! grep -qxF "${package%%:*}" <<<"$requested" && grep -qxF "${package%%:*}" <<<"$manual"; then
            kept+=("$package")
            continue
        fi
        ours+=("$package")
    done < <(cat "$dir/packages" 2>/dev/null || true)

    # apt-get must remove nothing else (a package installed since that
    # depends on ours would go with it): ask it first.
    if [ "${#ours[@]}" -gt 0 ]; then
        local simulated removed others
        simulated=$(apt-get -s purge "${ours[@]}" 2>&1) || die "apt-get -s purge ${ours[*]} failed: $simulated"
        removed=$(awk '$1 == "Purg" || $1 == "Remv" { sub(/:.*/, "", $2); print $2 }' <<<"$simulated")
        others=$(grep -vxFf <(printf '%s\n' "${ours[@]}" | sed 's/:.*//') <<<"$removed" || true)
        [ -z "$others" ] || die "purging the lab's packages would also remove packages it did not install: $(tr '\n' ' ' <<<"$others")- remove or keep those first (apt-mark manual on the lab package they need keeps it)"
    fi

    local files=() file dirs=() d
    while IFS= read -r file; do
        [ -n "$file" ] && [ -e "$file" ] && files+=("$file")
    done < <(cat "$dir/files" 2>/dev/null || true)
    for d in "$LVSLAB_CACHE" "$LVSLAB_HOME"; do
        removable_dir "$d" && dirs+=("$d")
    done

    say "scripts/lab uninstall$([ "$dry_run" = 1 ] && echo ' --dry-run: nothing is changed')"
    if [ "${#ours[@]}" -gt 0 ]; then
        echo "purge ${#ours[@]} packages the lab installed: ${ours[*]}" >&2
    else
        echo "no package of the lab's to purge ($dir/packages lists none still installed)" >&2
    fi
    [ "${#kept[@]}" = 0 ] || echo "keep (marked manually installed since): ${kept[*]}" >&2
    [ "${#files[@]}" = 0 ] || echo "remove: ${files[*]}" >&2
    if [ -s "$dir/accounts" ]; then
        echo "remove what the purge leaves of the users ($(awk '$1 == "user" { print $2 }' "$dir/accounts" | paste -sd' ')) and groups ($(awk '$1 == "group" { print $2 }' "$dir/accounts" | paste -sd' ')) the installs created" >&2
    fi
    [ "${#dirs[@]}" = 0 ] || echo "remove directories: ${dirs[*]}" >&2
    [ -z "$stacks" ] || echo "and with them the state of stacks that still have resources: $(tr '\n' ' ' <<<"$stacks")" >&2
    if [ -s "$dir/upgraded" ]; then
        echo "not undone: packages upgraded as dependencies ($(cut -d' ' -f1 "$dir/upgraded" | sort -u | paste -sd' ')), apt's package lists, Go's module and build caches" >&2
    fi
    [ "$dry_run" = 0 ] || return 0
    if [ "$yes" = 0 ]; then
        [ -t 0 ] || die "add --yes to go ahead without a terminal to ask on"
        local answer
        read -r -p "Go ahead? [y/N] " answer
        [[ "$answer" =~ ^[yY] ]] || die "nothing changed"
    fi

    if [ "${#ours[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${ours[@]}" >&2 || die "apt-get purge failed; the manifest in $dir is kept, run scripts/lab uninstall again"
    fi
    # Users before groups: a user's primary group cannot go first.
    local kind account root=${LVSLAB_HOST_ROOT:-}
    while read -r kind account; do
        case "$kind" in
            user) if cut -d: -f1 "$root/etc/passwd" | grep -qxF "$account"; then userdel "$account" || echo "warning: userdel $account failed" >&2; fi ;;
            group) if cut -d: -f1 "$root/etc/group" | grep -qxF "$account"; then groupdel "$account" || echo "warning: groupdel $account failed" >&2; fi ;;
        esac
    done < <(grep '^user ' "$dir/accounts" 2>/dev/null; grep '^group ' "$dir/accounts" 2>/dev/null)
    for file in "${files[@]}"; do
        rm -f "$file"
        rmdir "$(dirname "$file")" 2>/dev/null || true
    done
    for d in "${dirs[@]}"; do
        rm -rf -- "$d"
    done
    echo "    uninstalled: the host is as before the lab's installs, but for the upgrades listed above" >&2
}
