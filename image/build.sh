#!/usr/bin/env bash
# Build, or find in the cache, the lab's guest image: Debian 12 (bookworm) from
# Debian's packages via mmdebstrap, one ext4 partition booted by extlinux,
# shipped as qcow2. The last line on stdout is the image's path; progress and
# timings go to stderr.
set -euo pipefail
umask 022

usage() {
  cat <<'EOF'
Usage: image/build.sh [--print-path] [--force] [--help]

Builds the lab's Debian 12 guest image (qcow2) unless the image for the current
recipe (this script and image/) is already cached, then prints its path as the
last line on stdout.

  --print-path  print where the image for the current recipe is or would be,
                and exit without building
  --force       rebuild even if the image is cached
  --help        show this help

Environment:
  LVSLAB_CACHE  cache directory (default: $HOME/.cache/lvs-dr-lab); images go
                to $LVSLAB_CACHE/images, downloaded .debs to $LVSLAB_CACHE/debs

Building needs root, network access to deb.debian.org and these host tools:
mmdebstrap parted e2fsprogs extlinux syslinux-common qemu-utils (Debian
package names).
EOF
}

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly SECURITY_MIRROR=http://deb.debian.org/debian-security
# The lab's default disk (diskGiB 8): a guest booted with it has nothing to grow.
readonly DISK_SIZE=8G
readonly FS_LABEL=lvslab-root
# Modules the lab cannot work without; the build fails if the kernel lacks one.
# ata_piix, sr_mod and isofs read the NoCloud seed from an IDE cdrom.
readonly REQUIRED_MODULES=(ip_vs ip_vs_rr ip_vs_wrr nfs nfsv4 nfsd ext4 virtio_blk virtio_net virtio_pci ata_piix sr_mod isofs qemu_fw_cfg)

print_path=0
force=0
for arg in "$@"; do
  case $arg in
    --print-path) print_path=1 ;;
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "image.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
recipe_dir=$repo/image
cache_root=${LVSLAB_CACHE:-${HOME:-/root}/.cache/lvs-dr-lab}
image_dir=$cache_root/images
deb_cache=$cache_root/debs

log() { printf '[image.sh %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'image.sh: error: %s\n' "$*" >&2; exit 1; }

# Short hash over everything that shapes the image: image/, this script included
# (file names and contents; the README is documentation only).
recipe_hash() {
  (
    cd "$repo"
    find image -type f ! -name '*.md' | LC_ALL=C sort |
      tr '\n' '\0' | xargs -0 sha256sum
  ) | sha256sum | cut -c1-12
}

hash=$(recipe_hash)
image=$image_dir/lvslab-debian12-$hash.qcow2

if ((print_path)); then
  echo "$image"
  exit 0
fi
# The kernel and initramfs ride beside the image: the lab boots them directly.
kernel=${image%.qcow2}.vmlinuz
initrd=${image%.qcow2}.initrd
built() { [[ -f $image && -f $kernel && -f $initrd ]]; }
if built && ! ((force)); then
  echo "$image"
  exit 0
fi

# ---------------------------------------------------------------- build ----

[[ $(id -u) == 0 ]] || die "building the image needs root (loop devices, mount, chroot)"
for tool in mmdebstrap parted losetup partx mke2fs extlinux qemu-img flock findmnt chroot; do
  command -v "$tool" >/dev/null ||
    die "missing host tool '$tool'; install: apt-get install mmdebstrap parted e2fsprogs extlinux syslinux-common qemu-utils util-linux"
done
mbr_bin=
for f in /usr/lib/EXTLINUX/mbr.bin /usr/lib/syslinux/mbr/mbr.bin; do
  [[ -f $f ]] && { mbr_bin=$f; break; }
done
[[ -n $mbr_bin ]] || die "no syslinux mbr.bin found; install: apt-get install extlinux syslinux-common"
[[ -f $recipe_dir/packages.txt ]] || die "missing recipe file $recipe_dir/packages.txt"
# mmdebstrap splits hook arguments on blanks.
[[ $recipe_dir$cache_root != *[[:space:]]* ]] ||
  die "the checkout and LVSLAB_CACHE paths must not contain blanks: $recipe_dir, $cache_root"

mkdir -p "$image_dir" "$deb_cache"

# One build at a time per cache (parallel `pulumi up`s, CI); bounded wait.
exec {lock_fd}>"$image_dir/.build.lock"
flock -w 1800 "$lock_fd" || die "another build still holds $image_dir/.build.lock after 30 min"
if built && ! ((force)); then
  log "built meanwhile by another run"
  echo "$image"
  exit 0
fi

work=
loopdev=
child=

# Long steps run in the background and are waited for, so that a signal is
# handled at once (bash defers traps until a foreground child exits) and the
# step itself can be stopped before cleaning up.
run() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=
  return "$rc"
}

# Unmount whatever is still mounted below a build dir, then delete it.
# --one-file-system keeps rm from ever walking into a mount that survived.
remove_build_dir() {
  local dir=$1 m
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(findmnt -rn -o TARGET | awk -v p="$dir/" 'index($0, p) == 1' | sort -r)
  rm -rf --one-file-system "$dir"
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n $child ]]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  if [[ -n $work ]] && mountpoint -q "$work/mnt" 2>/dev/null; then
    umount "$work/mnt" || umount -l "$work/mnt"
  fi
  if [[ -n $loopdev ]]; then
    partx -d "$loopdev" >/dev/null 2>&1
    losetup -d "$loopdev"
  fi
  [[ -n $work ]] && remove_build_dir "$work"
  ((rc == 0)) || log "build failed (exit $rc); nothing was written to the cache"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of a build that was killed outright (we hold the lock, so no
# other build is using them).
for stale in "$image_dir"/.build-*; do
  [[ -d $stale ]] && { log "removing stale $stale"; remove_build_dir "$stale"; }
done

work=$(mktemp -d "$image_dir/.build-XXXXXX")
chmod 755 "$work" # apt downloads as user _apt and must reach the tree
rootfs=$work/rootfs
raw=$work/disk.raw
root_uuid=$(cat /proc/sys/kernel/random/uuid)

step_start=$SECONDS
step_done() { log "$1 done in $((SECONDS - step_start))s"; step_start=$SECONDS; }

# --- 1. root tree ------------------------------------------------------------
packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$recipe_dir/packages.txt" | paste -sd, -)
log "recipe $hash: bootstrapping Debian $SUITE with: $packages"

# mmdebstrap writes its progress to stderr; keep stdout for the path alone.
# shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook shell
run mmdebstrap \
  --mode=root --variant=required --format=directory \
  --include="$packages" \
  --aptopt='Acquire::Retries "3"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in $deb_cache /var/cache/apt/archives" \
  --essential-hook="bash $recipe_dir/hooks.sh essential \"\$1\"" \
  --customize-hook="bash $recipe_dir/hooks.sh customize \"\$1\"" \
  --customize-hook="sync-out /var/cache/apt/archives $deb_cache" \
  "$SUITE" "$rootfs" \
  "deb $MIRROR $SUITE main" \
  "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY_MIRROR $SUITE-security main" >&2
step_done "root tree"

# --- 2. checks on the tree -----------------------------------------------------
kernels=("$rootfs"/boot/vmlinuz-*)
if ((${#kernels[@]} != 1)) || [[ ! -f ${kernels[0]} ]]; then
  die "expected exactly one kernel in /boot, found: ${kernels[*]}"
fi
kver=${kernels[0]##*/vmlinuz-}
[[ -f $rootfs/boot/initrd.img-$kver ]] || die "no initramfs for kernel $kver"
moddir=$rootfs/lib/modules/$kver
for m in "${REQUIRED_MODULES[@]}"; do
  if ! grep -q "/$m\.ko" "$moddir/modules.builtin" &&
    [[ -z $(find "$moddir" -name "$m.ko*" -print -quit) ]]; then
    die "kernel $kver has no module $m"
  fi
done
compgen -G "$rootfs/etc/ssh/ssh_host_*" >/dev/null && die "SSH host keys were left in the image"
[[ ! -s $rootfs/etc/machine-id ]] || die "/etc/machine-id is not empty"
log "kernel $kver has: ${REQUIRED_MODULES[*]}"

# --- 2b. the direct-boot initramfs ----------------------------------------------
# What the lab boots directly (config firstBoot: kernel) is not initramfs-tools'
# image but a small one: busybox, the virtio disk drivers and image/initramfs/init.
# Built with the tree's own modprobe and cpio, so the build host needs neither.
initrd_tree=$rootfs/tmp/lvslab-initrd
mkdir -p "$initrd_tree/bin" "$initrd_tree/lib/modules"
install -m 0755 "$recipe_dir/initramfs/init" "$initrd_tree/init"
install -m 0755 "$rootfs/bin/busybox" "$initrd_tree/bin/busybox"
chroot "$rootfs" modprobe --all --show-depends --set-version "$kver" virtio_pci virtio_blk |
  awk '$1 == "insmod" { print $2 }' | while read -r module; do
    name=${module##*/}
    if [[ ! -e $initrd_tree/lib/modules/$name ]]; then
      cp "$rootfs$module" "$initrd_tree/lib/modules/$name"
      echo "$name" >> "$initrd_tree/modules"
    fi
  done
[[ -s $initrd_tree/modules ]] || die "found no modules for the direct-boot initramfs"
# Uncompressed: the kernel unpacks it without a decompressor, under emulation too.
chroot "$rootfs" sh -c 'cd /tmp/lvslab-initrd && find . | cpio --quiet -o -H newc' > "$work/direct.initrd"
log "direct-boot initramfs ($(du -h "$work/direct.initrd" | cut -f1)): busybox, $(paste -sd' ' "$initrd_tree/modules")"
rm -rf "$initrd_tree"

# --- 3. boot configuration (needs the kernel version and the root UUID) --------
# fsck pass 0: it sat on the boot's critical path (3-4 s under emulation) and
# ext4's journal already makes the file system consistent at mount.
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t0\n' "$root_uuid" > "$rootfs/etc/fstab"
mkdir -p "$rootfs/boot/extlinux"
# SERIAL must come first: the boot loader then talks on ttyS0 too. No prompt,
# no timeout: boot at once. The kernel's console is the serial port only, so
# libvirt's serial log shows kernel, systemd and cloud-init output.
cat > "$rootfs/boot/extlinux/extlinux.conf" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0

LABEL debian
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=UUID=$root_uuid ro console=ttyS0,115200n8
EOF
# The installed package list, kept beside the image for reference.
# shellcheck disable=SC2016 # dpkg-query's own format syntax
chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' > "$work/packages.list"

# --- 4. disk -------------------------------------------------------------------
truncate -s "$DISK_SIZE" "$raw"
parted -s "$raw" mklabel msdos mkpart primary ext4 1MiB 100% set 1 boot on
loopdev=$(losetup --find --show --partscan "$raw")
part=${loopdev}p1
# Some kernels (containers) leave the partition scan to user space.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [[ -b $part ]] && break
  partx -a "$loopdev" 2>/dev/null || true
  sleep 0.2
done
[[ -b $part ]] || die "partition $part did not appear"

# extlinux cannot read ext4 with the 64bit feature. Inode tables and journal are
# zeroed now (not lazily by every guest's kernel at first mount, which would
# write them into each copy-on-write overlay).
mke2fs -q -t ext4 -O ^64bit -L "$FS_LABEL" -U "$root_uuid" \
  -E lazy_itable_init=0,lazy_journal_init=0 -d "$rootfs" "$part" >&2
mkdir "$work/mnt"
mount "$part" "$work/mnt"
extlinux --install "$work/mnt/boot/extlinux" >&2
umount "$work/mnt"
partx -d "$loopdev" >/dev/null 2>&1 || true
losetup -d "$loopdev"
loopdev=
dd if="$mbr_bin" of="$raw" bs=440 count=1 conv=notrunc status=none
step_done "disk (raw, ext4 $FS_LABEL, extlinux)"

# --- 5. qcow2, then an atomic rename into the cache ------------------------------
# Compressed: about a third of the size; guests only read it through overlays.
run qemu-img convert -q -c -f raw -O qcow2 "$raw" "$work/image.qcow2"
step_done "qcow2"
mv -f "$work/packages.list" "${image%.qcow2}.packages"
install -m 0644 "$rootfs/boot/vmlinuz-$kver" "$kernel"
install -m 0644 "$work/direct.initrd" "$initrd"
mv -f "$work/image.qcow2" "$image"

# Keep the new image and the most recent older one (a lab built from it may
# still be up); remove the rest.
mapfile -t older < <(find "$image_dir" -maxdepth 1 -name 'lvslab-debian12-*.qcow2' ! -path "$image" -printf '%T@ %p\n' |
  sort -rn | cut -d' ' -f2-)
for old in "${older[@]:1}"; do
  log "removing old image $old"
  rm -f "$old" "${old%.qcow2}".{packages,vmlinuz,initrd}
done

actual=$(du -h "$image" | cut -f1)
log "built $image ($actual on disk, $DISK_SIZE virtual) in ${SECONDS}s"
echo "$image"
