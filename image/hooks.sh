#!/usr/bin/env bash
# mmdebstrap hooks for image/build.sh: `hooks.sh essential|customize ROOT`.
# They run on the build host as root; ROOT is the guest's root tree, with
# /proc, /sys and /dev mounted inside it by mmdebstrap.
set -euo pipefail
umask 022

stage=${1:?stage}
root=${2:?root tree}
recipe=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

in_root() { chroot "$root" "$@"; }

# Copy image/rootfs/ and image/cloud.cfg.d/ into the tree. `install` sets the
# modes explicitly, so a checkout made with an odd umask cannot leak into the
# image (e.g. a 0700 /etc).
install_files() {
  local f mode
  while IFS= read -r -d '' f; do
    f=${f#./}
    mode=0644
    [[ -x $recipe/rootfs/$f ]] && mode=0755
    install -D -m "$mode" "$recipe/rootfs/$f" "$root/$f"
  done < <(cd "$recipe/rootfs" && find . -type f -print0)
  for f in "$recipe"/cloud.cfg.d/*.cfg; do
    install -D -m 0644 "$f" "$root/etc/cloud/cloud.cfg.d/${f##*/}"
  done
}

unit_exists() {
  local d
  for d in usr/lib/systemd/system lib/systemd/system etc/systemd/system; do
    [[ -e $root/$d/$1 ]] && return 0
  done
  return 1
}

customize() {
  local verb unit
  # Turn off what the preset file names (the single list of units kept off).
  # Package postinsts enable their services regardless of presets.
  while read -r verb unit _; do
    [[ $verb == disable ]] || continue
    if unit_exists "$unit"; then
      in_root systemctl disable --quiet "$unit"
    fi
  done < "$root/etc/systemd/system-preset/10-lvslab.preset"

  # cloud-init renders network-config v2 for networkd (see 90_lvslab.cfg).
  in_root systemctl enable --quiet systemd-networkd.service
  # The fast first boot (identity from the kernel command line); both units
  # do nothing on a cloud-init boot, whose command line lacks lvslab.hostname.
  in_root systemctl enable --quiet lvslab-provision.service lvslab-network.service lvslab-growroot.service

  # Saves one cloud-init Python start-up per boot: the config stage's modules
  # run in the init and final stages instead (see 90_lvslab.cfg). Masked, not
  # disabled, because cloud-final.service Wants= it.
  in_root systemctl mask --quiet cloud-config.service
  # Only registers python3's .pyc handler with binfmt_misc; a static unit, so
  # it can only be masked.
  in_root systemctl mask --quiet systemd-binfmt.service

  # Static units a lab guest has no use for. Under emulation every process a
  # boot starts costs about a second of CPU while six guests share two cores:
  # - kernel modules and file systems for what guests never use (device
  #   mapper and DRM are blacklisted, no FUSE, loop, configfs, EFI, huge
  #   pages, POSIX queues, debugfs or tracing);
  # - first-boot catch-up jobs for /etc and /var "newer than /usr"
  #   (ConditionNeedsUpdate): users, ld cache, hwdb and journal catalog were
  #   all made when the image was built;
  # - systemd-firstboot (nothing to ask), the random seed (virtio-rng feeds
  #   the guest), utmp records, and logind (no local seats; SSH sessions need
  #   none, and no dbus is installed for it), with getty-static, which stands
  #   in for logind's gettys on tty2-6;
  # - committing the machine id (systemd makes the same one from the VM's
  #   UUID at every boot) and flushing the journal to disk (it stays in /run);
  # - ipvsadm's SysV script (the director restores its own table).
  in_root systemctl mask --quiet \
    modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service \
    modprobe@efi_pstore.service modprobe@fuse.service modprobe@loop.service \
    dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount \
    sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount \
    kmod-static-nodes.service \
    systemd-sysusers.service ldconfig.service systemd-hwdb-update.service \
    systemd-journal-catalog-update.service systemd-update-done.service \
    systemd-firstboot.service systemd-random-seed.service \
    systemd-update-utmp.service systemd-update-utmp-runlevel.service \
    systemd-logind.service getty-static.service \
    systemd-machine-id-commit.service systemd-journal-flush.service \
    ipvsadm.service

  # Generators for what the guests never have (encrypted, verity or integrity
  # volumes, GPT auto-mounts, hibernation, offline updates, systemd.run=,
  # systemd.mask= and friends, /etc/rc.local, SysV scripts: every service a
  # lab guest runs has a unit of its own, and ipvsadm's script is masked).
  # Each one costs 0.5-1 s of every boot and every daemon-reload under
  # emulation.
  local g
  mkdir -p "$root/etc/systemd/system-generators"
  for g in systemd-cryptsetup-generator systemd-integritysetup-generator \
    systemd-veritysetup-generator systemd-gpt-auto-generator \
    systemd-hibernate-resume-generator systemd-system-update-generator \
    systemd-run-generator systemd-debug-generator systemd-rc-local-generator \
    systemd-sysv-generator; do
    ln -sfn /dev/null "$root/etc/systemd/system-generators/$g"
  done

  # Debian's /etc/modules (a link to it here) names no module; without it the
  # modules-load directories are empty and systemd-modules-load skips itself
  # (its condition) until a step writes a file there (the TUN mode's ipip).
  rm -f "$root/etc/modules-load.d/modules.conf"

  # No message of the day at SSH logins: pam_motd runs /etc/update-motd.d
  # (run-parts, a shell, uname) at every one, and the lab's logins are its
  # guest steps, a few per guest while it boots.
  sed -i '/pam_motd\.so/d' "$root/etc/pam.d/sshd"

  # Per-instance identity is created at first boot, as on a Debian cloud image:
  # an empty machine-id makes systemd generate one without "first boot"
  # semantics; cloud-init's ssh module generates the host keys.
  rm -f "$root"/etc/ssh/ssh_host_*
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed"

  # No root password: access is by the users cloud-init creates.
  in_root usermod -p '*' root

  # mmdebstrap copied the build host's name and resolver; replace them.
  echo localhost > "$root/etc/hostname"
  cat > "$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
  # Guests have no DNS; lookups against the empty default fail at once.
  echo '# No DNS server in the lab; names come from /etc/hosts.' > "$root/etc/resolv.conf"

  # C.UTF-8 is built into libc, so no locale needs generating.
  echo 'LANG=C.UTF-8' > "$root/etc/default/locale"

  # Drop superseded .debs so the host-side package cache does not grow forever.
  in_root apt-get -qq autoclean
}

case $stage in
  essential) install_files ;;  # before the kernel's initramfs is generated
  customize) customize ;;
  *) echo "hooks.sh: unknown stage: $stage" >&2; exit 2 ;;
esac
