#!/usr/bin/env bash
# A Debian root filesystem for real test targets, built once with mmdebstrap and cached.
#
#   tests/rig/debian-rootfs.sh [DIR]   print the rootfs path, building it first if needed
#
# DIR defaults to $RPLAY_ROOTFS or .cache/rootfs-$SUITE in the repository (git ignores
# .cache). SUITE is $RPLAY_SUITE or trixie (Debian 13, the release rplay's images use).
# Builds take 2-4 minutes; parallel callers wait on one lock and share the result.
#
# The rootfs boots with systemd (as a systemd-nspawn machine or, with its kernel, as a
# QEMU VM) and runs sshd; it also serves as the chroot of sshd hosts in network
# namespaces. It has:
#   - root and a user `deploy` (password `deploy-secret`, sudo only with that password);
#     the rigs install their own client keys;
#   - python3, so ansible-playbook can drive the same targets for comparisons;
#   - a kernel and initrd under /boot for QEMU.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=${RPLAY_SUITE:-trixie}
dir=${1:-${RPLAY_ROOTFS:-$repo/.cache/rootfs-$suite}}
mirror=${MIRROR:-http://deb.debian.org/debian}
# Bump when the contents below change, so cached trees are rebuilt.
recipe=4

fail() {
  echo "debian-rootfs.sh: error: $*" >&2
  exit 1
}

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [[ -f $dir/.rplay-rootfs && $(cat "$dir/.rplay-rootfs") == "$recipe" ]]; then
  echo "$dir"
  exit 0
fi
((EUID == 0)) || fail "building the rootfs needs root (mmdebstrap, chroot)"
command -v mmdebstrap >/dev/null || fail "mmdebstrap not found: apt-get install mmdebstrap"

tmp=$dir.tmp
rm -rf "$tmp"
packages=(
  linux-image-amd64 systemd-sysv udev dbus openssh-server openssh-sftp-server
  ifupdown isc-dhcp-client iproute2 kmod procps ca-certificates sudo python3
  gpg curl less iptables
)
echo "debian-rootfs.sh: building $suite into $dir (2-4 minutes)" >&2
mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$suite" "$tmp" "$mirror" >&2

echo rplay-target >"$tmp/etc/hostname"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$tmp/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n' \
  >"$tmp/etc/network/interfaces"
printf 'PermitRootLogin prohibit-password\nUseDNS no\n' >"$tmp/etc/ssh/sshd_config.d/rplay-test.conf"
# Host keys are made per target by the rigs, never shared through the image.
rm -f "$tmp"/etc/ssh/ssh_host_*
chroot "$tmp" useradd -m -s /bin/bash deploy
echo 'deploy:deploy-secret' | chroot "$tmp" chpasswd
echo 'deploy ALL=(ALL:ALL) ALL' >"$tmp/etc/sudoers.d/deploy"
chmod 0440 "$tmp/etc/sudoers.d/deploy"
# An empty root password lets the serial console log in when a VM needs debugging.
chroot "$tmp" passwd -d root >/dev/null
# apt's lists stay: tests install packages from the mirror only where the network allows.
echo "$recipe" >"$tmp/.rplay-rootfs"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir"
