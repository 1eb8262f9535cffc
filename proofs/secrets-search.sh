# shellcheck shell=bash
# Run on a lab guest as an unprivileged user (nobody), given before it:
#   CANARY    a text every user can read on the guest (its hostname): the
#             search must find it, or it proves nothing
#   SECRETS   an array of the lab's secrets (passwords, their hashes, keys)
# Prints "canary PLACE" for each place the canary is found and "secret PLACE"
# for each place a secret is, PLACE naming where (never the secret itself).
# The secrets reach grep through a pipe, never on a command line (which
# every user reads in /proc).
set -u

# Where a guest user looks: the kernel's command line and log, the journal as
# this user reads it, every process's command line, and the files under the
# usual trees (dpkg's own records left out: large, and written by packages).
readonly TREES=(/etc /run /var/log /var/lib /var/tmp /var/spool /tmp /home /srv /boot /usr/local /opt /sys/firmware/qemu_fw_cfg)

# search KIND TEXT...: reports each place that holds one of the texts.
search() {
    local kind=$1
    shift
    local -a texts=("$@")
    matches() { grep -qsF -f <(printf '%s\n' "${texts[@]}"); }
    matches </proc/cmdline && echo "$kind /proc/cmdline"
    dmesg 2>/dev/null | matches && echo "$kind the kernel log (dmesg)"
    journalctl -b -q --no-pager 2>/dev/null | matches && echo "$kind the journal"
    grep -lsaF -f <(printf '%s\n' "${texts[@]}") /proc/[0-9]*/cmdline | sed "s/^/$kind /"
    grep -rlsF -D skip --exclude-dir=dpkg -f <(printf '%s\n' "${texts[@]}") "${TREES[@]}" 2>/dev/null | sed "s/^/$kind /"
    return 0
}

search canary "$CANARY"
search secret "${SECRETS[@]}"
