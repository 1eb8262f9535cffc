#!/usr/bin/env bash
# Boot the lab's guest image once under software emulation with a NoCloud seed
# and check what the lab relies on: kernel and root mount, cloud-init through
# its final stage, users/keys/hostname/write_files/runcmd, SSH host keys,
# ip_vs and NFS modules, network-config v2 with NICs matched by MAC and
# renamed, and the units that must stay off. Exits 0 if all checks pass.
#
# The guest's NICs sit on QEMU hubs with no other port: there is no host
# network, no socket and no traffic leaves the VM.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: test/live/image-boot-check.sh IMAGE.qcow2 [--timeout SECONDS] [--reboot] [--blame] [--keep]

  --timeout S  give up after S seconds from qemu start (default 600)
  --reboot     after the first boot, reboot the guest and check that names,
               addresses and sshd come back (about 1-2 min more)
  --blame      after cloud-init finishes, wait for `systemd-analyze blame`
               from the guest and print it (about 20 s more)
  --keep       keep the work directory (serial log, seed, overlay)
EOF
}

timeout=600
blame=0
reboot=0
keep=0
image=
while (($#)); do
  case $1 in
    --timeout) timeout=${2:?--timeout needs a value}; shift ;;
    --blame) blame=1 ;;
    --reboot) reboot=1 ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "boot-check: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) image=$1 ;;
  esac
  shift
done
[[ -n $image ]] || { usage >&2; exit 2; }
if ((reboot && blame)); then
  echo "boot-check: --reboot and --blame do not go together" >&2
  exit 2
fi
[[ -f $image ]] || { echo "boot-check: FAIL: no image at $image" >&2; exit 1; }
image=$(realpath "$image")
for tool in qemu-system-x86_64 qemu-img genisoimage; do
  command -v "$tool" >/dev/null || { echo "boot-check: FAIL: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/lvslab-boot-check.XXXXXX)
log=$work/serial.log
qemu_pid=

stop_qemu() {
  [[ -n $qemu_pid ]] || return 0
  kill -TERM "$qemu_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$qemu_pid" 2>/dev/null || true
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=
}
cleanup() {
  stop_qemu
  if ((keep)); then
    echo "boot-check: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- NoCloud seed ---------------------------------------------------------------
mac0=52:54:00:1a:b0:01
mac1=52:54:00:1a:b0:02
if command -v ssh-keygen >/dev/null; then
  ssh-keygen -q -t ed25519 -N '' -C boot-check -f "$work/id_ed25519"
  pubkey=$(cat "$work/id_ed25519.pub")
else
  pubkey='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEoB0Ot5CkdjmWBmT7gQtaqhHWTFkmGQSOxWqOUTZ6Kq boot-check'
fi
# Hash of the throw-away console password "bootcheck" (SHA-512 crypt).
# shellcheck disable=SC2016 # a literal crypt string, not an expansion
pwhash='$6$a.0wF8KgDi3eFxyj$pJFljtvJTKgfLoGsrFofJu4Vqy6FJo.YboZxPT.5NVYsUWVk0t98o95iftkOl8xxs0E1B1xDamXT58pAMfboC.'

mkdir "$work/seed"
cat > "$work/seed/meta-data" <<EOF
instance-id: boot-check-$RANDOM$RANDOM
local-hostname: bootcheck
EOF
# Two NICs like the director's, matched by MAC and renamed.
cat > "$work/seed/network-config" <<EOF
version: 2
ethernets:
  eth0:
    match:
      macaddress: "$mac0"
    set-name: eth0
    addresses: [192.0.2.10/24, 192.0.2.9/24]
  eth1:
    match:
      macaddress: "$mac1"
    set-name: eth1
    addresses: [198.51.100.10/24]
EOF
cat > "$work/seed/user-data" <<EOF
#cloud-config
hostname: bootcheck
fqdn: bootcheck.lab.test
manage_etc_hosts: true
ssh_pwauth: false
users:
  - name: lab
    groups: [sudo]
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: false
    ssh_authorized_keys:
      - "$pubkey"
# The console password as the lab hands it over: a hash, never the password.
chpasswd:
  expire: false
  users:
    - name: lab
      password: "$pwhash"
      type: hash
write_files:
  - path: /etc/lvslab-boot-check
    content: "written by write_files\n"
  - path: /usr/local/sbin/boot-check-report
    permissions: "0755"
    content: |
      #!/bin/sh
      # Runs from runcmd; each line goes to the serial console for the host.
      say() { echo "BOOTCHECK \$*" > /dev/ttyS0; }
      say hostname=\$(hostname) fqdn=\$(hostname -f)
      say write_files=\$(cat /etc/lvslab-boot-check 2>&1)
      modprobe ip_vs && lsmod | grep -q '^ip_vs ' && say ip_vs=loaded
      ipvsadm -A -t 192.0.2.9:80 -s rr && ipvsadm -a -t 192.0.2.9:80 -r 192.0.2.20:80 -g -w 1 &&
        say ipvsadm=\$(ipvsadm -Ln | grep -c Route)-route
      modprobe nfs && modprobe nfsd && say nfs-modules=loaded
      say sshd=\$(systemctl is-active ssh) host-keys=\$(ls /etc/ssh/ssh_host_*_key | wc -l)
      say user-lab=\$(id -nG lab | tr ' ' ,) authorized-keys=\$(wc -l < /home/lab/.ssh/authorized_keys)
      say passwd-lab=\$(passwd -S lab | cut -d' ' -f2) passwd-root=\$(passwd -S root | cut -d' ' -f2)
      say machine-id=\$(wc -c < /etc/machine-id)
      # No secret in reach of a guest user: the console password's hash, looked
      # for as nobody wherever a user reads; the hostname, looked for the same
      # way, must be found (or the search proves nothing).
      readable() { runuser -u nobody -- grep -rlsF -D skip --exclude-dir=dpkg -f - /proc/cmdline /etc /run /var/log /var/lib /var/tmp /tmp /home /srv /boot 2>/dev/null | wc -l; }
      hash=\$(getent shadow lab | cut -d: -f2)
      say secret-readable=\$(printf '%s\\n' "\$hash" | readable) canary-readable=\$(echo bootcheck | readable) secret-in-journal=\$(runuser -u nobody -- journalctl -b -q --no-pager 2>/dev/null | grep -cF -- "\$hash")
      say off=\$(systemctl is-enabled keepalived nfs-server apache2 apt-daily.timer cloud-init-hotplugd.socket 2>&1 | sort -u | tr '\n' ,)
      say running-roles=\$(systemctl is-active keepalived nfs-server apache2 2>&1 | sort -u | tr '\n' ,)
      timeout 120 systemctl start apache2 && curl -sf http://127.0.0.1/ | grep -q 'Apache2 Debian Default Page' && say apache-serves=yes
      # NFS server and v3/v4 client on demand, over the guest's own loopback
      # (rpcbind, statd and nfs-client.target are off at boot in the image).
      mkdir -p /srv/nfs-check /mnt/nfs3 /mnt/nfs4 /etc/exports.d && echo served > /srv/nfs-check/f
      echo '/srv/nfs-check 127.0.0.1(ro,sync,no_subtree_check)' > /etc/exports.d/boot-check.exports
      timeout 120 systemctl start nfs-server && say nfs-server=started
      timeout 60 mount -t nfs -o vers=3 127.0.0.1:/srv/nfs-check /mnt/nfs3 && say nfs-v3=\$(cat /mnt/nfs3/f)
      timeout 60 mount -t nfs -o vers=4.2 127.0.0.1:/srv/nfs-check /mnt/nfs4 && say nfs-v4=\$(cat /mnt/nfs4/f)
      umount /mnt/nfs3 /mnt/nfs4; systemctl stop nfs-server; rm /etc/exports.d/boot-check.exports
      ip -br addr | while read -r line; do say "addr \$line"; done
      say rootfs-gib=\$(df -BG --output=size / | tail -1 | tr -dc 0-9)
      say failed-units=\$(systemctl --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ,)
      say cloud-init-warnings=\$(grep -c ' WARNING' /var/log/cloud-init.log)
      grep ' WARNING' /var/log/cloud-init.log | head -5 | while read -r line; do say "warning \$line"; done
      say report-done
  - path: /usr/local/sbin/boot-check-reboot
    permissions: "0755"
    content: |
      #!/bin/sh
      # runcmd installs this as a per-boot script after the first boot's
      # per-boot scripts ran, so it first runs on the second boot.
      say() { echo "BOOTCHECK-REBOOT \$*" > /dev/ttyS0; }
      say hostname=\$(hostname) sshd=\$(systemctl is-active ssh) host-keys=\$(ls /etc/ssh/ssh_host_*_key | wc -l)
      ip -br addr | while read -r line; do say "addr \$line"; done
      say failed-units=\$(systemctl --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ,)
      say done
  - path: /usr/local/sbin/boot-check-blame
    permissions: "0755"
    content: |
      #!/bin/sh
      # Boot profile for --blame, run once the boot has finished.
      {
        systemd-analyze
        systemd-analyze blame | head -40
        echo "modules: \$(lsmod | awk 'NR > 1 { print \$1 }' | sort | tr '\n' ' ')"
        systemd-analyze critical-chain cloud-final.service
        d=\$(mktemp -d)
        for g in /lib/systemd/system-generators/*; do
          s=\$(date +%s%N)
          "\$g" "\$d" "\$d" "\$d" > /dev/null 2>&1
          echo "generator \${g##*/} took \$(( (\$(date +%s%N) - s) / 1000000 )) ms"
        done
        s=\$(date +%s%N)
        systemctl daemon-reload
        echo "systemctl daemon-reload (all generators, unit loading) took \$(( (\$(date +%s%N) - s) / 1000000 )) ms"
        sync; echo 3 > /proc/sys/vm/drop_caches
        s=\$(date +%s%N)
        python3 -c 'import cloudinit.cmd.main'
        echo "cloud-init's imports, cold cache: \$(( (\$(date +%s%N) - s) / 1000000 )) ms"
        s=\$(date +%s%N)
        python3 -c 'import cloudinit.cmd.main'
        echo "cloud-init's imports, warm cache: \$(( (\$(date +%s%N) - s) / 1000000 )) ms"
      } 2>&1 | sed 's/^/BLAME /' > /dev/ttyS0
      echo BLAME-DONE > /dev/ttyS0
runcmd:
  - [/usr/local/sbin/boot-check-report]
EOF
if ((reboot)); then
  # A per-boot script reports on the second boot; power_state reboots once
  # the first boot's final stage is done.
  cat >> "$work/seed/user-data" <<'EOF'
  - [sh, -c, "mkdir -p /var/lib/cloud/scripts/per-boot && install -m 0755 /usr/local/sbin/boot-check-reboot /var/lib/cloud/scripts/per-boot/"]
power_state:
  mode: reboot
  delay: now
  condition: true
EOF
fi
if ((blame)); then
  cat >> "$work/seed/user-data" <<'EOF'
  - [systemd-run, --on-active=20, /usr/local/sbin/boot-check-blame]
EOF
fi
cat >> "$work/seed/user-data" <<'EOF'
final_message: "BOOTCHECK-FINAL cloud-init $version finished at $timestamp, up $uptime s"
EOF
if command -v cloud-init >/dev/null; then
  cloud-init schema --config-file "$work/seed/user-data" >/dev/null ||
    { echo "boot-check: FAIL: the test's own user-data does not pass cloud-init schema" >&2; exit 1; }
fi
genisoimage -quiet -output "$work/seed.iso" -volid cidata -joliet -rock \
  "$work/seed/user-data" "$work/seed/meta-data" "$work/seed/network-config"

# Overlay larger than the image, to see growpart/resizefs take effect.
qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$work/disk.qcow2" 10G

# --- boot ---------------------------------------------------------------------------
echo "boot-check: booting $image (TCG, 512 MiB, 1 vCPU, timeout ${timeout}s)" >&2
start=$(date +%s.%N)
qemu-system-x86_64 -machine accel=tcg -m 512 -smp 1 -display none -monitor none \
  -nic none \
  -netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0,mac=$mac0 \
  -netdev hubport,id=n1,hubid=1 -device virtio-net-pci,netdev=n1,mac=$mac1 \
  -drive file="$work/disk.qcow2",if=virtio,format=qcow2 \
  -cdrom "$work/seed.iso" \
  -serial file:"$log" \
  >"$work/qemu.out" 2>&1 &
qemu_pid=$!

want=BOOTCHECK-FINAL
((reboot)) && want='BOOTCHECK-REBOOT done'
((blame)) && want=BLAME-DONE
outcome=timeout
deadline=$(($(date +%s) + timeout))
final_at=
while (($(date +%s) < deadline)); do
  if ! kill -0 "$qemu_pid" 2>/dev/null; then outcome=qemu-exited; break; fi
  if [[ -z $final_at ]] && grep -q 'BOOTCHECK-FINAL' "$log" 2>/dev/null; then
    final_at=$(date +%s.%N)
  fi
  if grep -q "$want" "$log" 2>/dev/null; then outcome=finished; break; fi
  if grep -qE 'Kernel panic|emergency mode|Cannot open access to console' "$log" 2>/dev/null; then
    outcome=boot-failure; break
  fi
  sleep 1
done
stop_qemu
tr -d '\r' < "$log" > "$work/serial.txt"

# --- verdict ---------------------------------------------------------------------------
fails=0
ok() { echo "  ok   $*"; }
bad() { echo "  FAIL $*"; fails=$((fails + 1)); }
has() { grep -qE "$1" "$work/serial.txt"; }
check() { # description, regex
  if has "$2"; then ok "$1"; else bad "$1 (no line matching /$2/)"; fi
}

echo "boot-check: $image"
if [[ $outcome != finished ]]; then
  bad "boot did not finish: $outcome"
  echo "--- last 40 lines of the serial log ---"
  tail -n 40 "$work/serial.txt"
  [[ -s $work/qemu.out ]] && { echo "--- qemu ---"; cat "$work/qemu.out"; }
  echo "boot-check: FAILED"
  exit 1
fi
check "boot loader and kernel on the serial console" 'Linux version [0-9]'
check "root file system mounted from the image" 'EXT4-fs \(vda1\): mounted'
check "cloud-init reached its final stage" 'BOOTCHECK-FINAL cloud-init'
check "hostname and fqdn from user-data" 'BOOTCHECK hostname=bootcheck fqdn=bootcheck.lab.test'
check "write_files" 'BOOTCHECK write_files=written by write_files'
check "runcmd ran (report complete)" 'BOOTCHECK report-done'
check "ip_vs module loads" 'BOOTCHECK ip_vs=loaded'
check "ipvsadm programs a DR service" 'BOOTCHECK ipvsadm=1-route'
check "nfs and nfsd modules load" 'BOOTCHECK nfs-modules=loaded'
check "sshd running with generated host keys" 'BOOTCHECK sshd=active host-keys=[2-9]'
check "user with sudo group and SSH key" 'BOOTCHECK user-lab=lab,sudo authorized-keys=1'
check "console password set for the user, root locked" 'BOOTCHECK passwd-lab=P passwd-root=L'
check "machine-id generated at boot" 'BOOTCHECK machine-id=33'
check "no secret in reach of a guest user: the console password's hash nowhere nobody reads (its hostname found)" 'BOOTCHECK secret-readable=0 canary-readable=[1-9][0-9]* secret-in-journal=0'
check "keepalived, nfs-server, apache2, apt timers, hotplug off" 'BOOTCHECK off=disabled,$'
check "keepalived, nfs-server and apache2 not running at boot" 'BOOTCHECK running-roles=inactive,$'
check "apache2 starts on demand and serves its default page" 'BOOTCHECK apache-serves=yes'
check "nfs-server starts on demand" 'BOOTCHECK nfs-server=started'
check "NFSv3 mount works (rpcbind/statd started on demand)" 'BOOTCHECK nfs-v3=served'
check "NFSv4.2 mount works" 'BOOTCHECK nfs-v4=served'
check "eth0 renamed by MAC, static address and second address" 'BOOTCHECK addr eth0 +UP +192\.0\.2\.10/24 192\.0\.2\.9/24'
check "eth1 renamed by MAC, static address" 'BOOTCHECK addr eth1 +UP +198\.51\.100\.10/24'
check "root grown to the overlay's 10 GiB" 'BOOTCHECK rootfs-gib=(9|10)$'
check "no failed units" 'BOOTCHECK failed-units=$'
check "no cloud-init warnings" 'BOOTCHECK cloud-init-warnings=0'
if ((reboot)); then
  check "after reboot: hostname, sshd, same 2 host keys" 'BOOTCHECK-REBOOT hostname=bootcheck sshd=active host-keys=2'
  check "after reboot: eth0 renamed and addressed again" 'BOOTCHECK-REBOOT addr eth0 +UP +192\.0\.2\.10/24 192\.0\.2\.9/24'
  check "after reboot: eth1 renamed and addressed again" 'BOOTCHECK-REBOOT addr eth1 +UP +198\.51\.100\.10/24'
  check "after reboot: no failed units" 'BOOTCHECK-REBOOT failed-units=$'
fi

total=$(awk -v a="$start" -v b="${final_at:-$start}" 'BEGIN { printf "%.0f", b - a }')
guest_up=$(sed -n 's/.*BOOTCHECK-FINAL.* up \([0-9.]*\) s.*/\1/p' "$work/serial.txt" | head -1)
echo "  time from qemu start to cloud-init finished: ${total}s (guest uptime then: ${guest_up:-?}s)"
if ((reboot)); then
  second_up=$(sed -n 's/.*BOOTCHECK-FINAL.* up \([0-9.]*\) s.*/\1/p' "$work/serial.txt" | sed -n 2p)
  echo "  second boot: cloud-init finished at guest uptime ${second_up:-?}s"
fi
grep -E '^BOOTCHECK (warning|failed-units)' "$work/serial.txt" | sed 's/^/  /' || true
if ((blame)); then
  echo "--- systemd-analyze in the guest ---"
  grep -E '^BLAME ' "$work/serial.txt" | sed 's/^BLAME //' || true
fi
if ((fails)); then
  echo "--- BOOTCHECK lines from the guest ---"
  grep '^BOOTCHECK' "$work/serial.txt" || true
  echo "boot-check: FAILED ($fails checks)"
  exit 1
fi
echo "boot-check: PASSED"
