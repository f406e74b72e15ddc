#!/usr/bin/env bash
# A QEMU virtual machine of the test rootfs, for what containers cannot show truthfully:
# kernel modules (modprobe), `kernel.*` sysctls, the image-build path.
#
#   tests/rig/vm.sh up DIR [DISK]   boot a VM; print its SSH port once it answers (60-120 s)
#                                   DISK: a qcow2 made from the cached image (a Packer
#                                   build's output) to boot instead of the cached image
#   tests/rig/vm.sh prepare    unpack QEMU and build the cached image if needed; print the
#                              QEMU folder, then the image's path without `.qcow2` (beside
#                              it: .vmlinuz, .initrd, .key, .hostkey.pub)
#   tests/rig/vm.sh down DIR   power it off and remove its disk overlay
#   tests/rig/vm.sh ssh DIR CMD...   run CMD in the VM as root (plain ssh)
#
# The VM boots the rootfs from tests/rig/debian-rootfs.sh as an ext4 disk with its own
# kernel and initrd (no bootloader), under software emulation (`-accel tcg`: KVM does not
# boot a stock kernel on these machines), with user networking and SSH forwarded to a free
# loopback port. The disk image is built once and cached beside the rootfs; each VM writes
# to its own overlay in DIR, so the cached image stays clean.
#
# What DIR holds afterwards: id_ed25519 (the client key; the image trusts it), known_hosts,
# inventory.ini (group `vms`, host `vm1`), port, console.log, qemu.pid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${RPLAY_CACHE:-$repo/.cache}

fail() {
  echo "vm.sh: error: $*" >&2
  exit 1
}

# qemu-system-x86 from Debian 12 conflicts with the newer qemu-utils these machines have,
# so it is unpacked into the cache instead of installed; its libraries come from apt.
qemu() {
  local q=$cache/qemu
  if [[ ! -x $q/usr/bin/qemu-system-x86_64 ]]; then
    echo "vm.sh: unpacking qemu-system-x86 into $q" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends seabios ipxe-qemu libfdt1 libslirp0 \
      libcapstone4 libbrlapi0.8 libcacard0 libepoxy0 libibverbs1 libpmem1 librdmacm1 \
      libsndio7.0 libspice-server1 libusb-1.0-0 libusbredirparser1 libvdeplug2 libaio1 \
      liburing2 libgbm1 libvirglrenderer1 libdaxctl1 libndctl6 libjpeg62-turbo libpng16-16 \
      libsdl2-2.0-0 libgtk-3-0 libvte-2.91-0 libnuma1 >/dev/null \
      || fail "apt-get could not install QEMU's libraries"
    rm -rf "$q.tmp"
    mkdir -p "$q.tmp/debs"
    (cd "$q.tmp/debs" && apt-get download qemu-system-x86 qemu-system-common qemu-system-data) \
      >/dev/null || fail "apt-get download qemu-system-x86 failed"
    local deb
    for deb in "$q.tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$q.tmp"; done
    rm -rf "$q.tmp/debs" "$q"
    mv "$q.tmp" "$q"
  fi
  local missing
  missing=$(ldd "$q/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
  [[ -z $missing ]] || fail "QEMU lacks libraries: $missing"
  echo "$q"
}

# The disk image: the rootfs, a client key it trusts and host keys of its own.
image() {
  local rootfs stamp image=$cache/vm-trixie
  rootfs=$("$here/debian-rootfs.sh")
  stamp="$(cat "$rootfs/.rplay-rootfs") $(stat -c %Y "$rootfs/.rplay-rootfs")"
  exec 8>"$image.lock"
  flock 8
  if [[ -f $image.qcow2 && -f $image.stamp && $(cat "$image.stamp") == "$stamp" ]]; then
    echo "$image"
    return
  fi
  echo "vm.sh: building the VM disk image (about a minute)" >&2
  command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 not found: apt-get install e2fsprogs"
  command -v qemu-img >/dev/null || fail "qemu-img not found: apt-get install qemu-utils"
  local stage=$image.stage
  rm -rf "$stage" "$image.key" "$image.key.pub"
  mkdir -p "$stage"
  ssh-keygen -q -t ed25519 -N '' -C rplay-vm -f "$image.key"
  # A writable copy of the rootfs to add keys to: an overlay keeps the cache untouched.
  mkdir -p "$stage/upper" "$stage/work" "$stage/root"
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$stage/upper,workdir=$stage/work" "$stage/root"
  mkdir -p "$stage/root/root/.ssh"
  cp "$image.key.pub" "$stage/root/root/.ssh/authorized_keys"
  chmod 700 "$stage/root/root/.ssh"
  chmod 600 "$stage/root/root/.ssh/authorized_keys"
  ssh-keygen -q -t ed25519 -N '' -C vm1 -f "$stage/root/etc/ssh/ssh_host_ed25519_key"
  cp "$stage/root/etc/ssh/ssh_host_ed25519_key.pub" "$image.hostkey.pub"
  echo vm1 >"$stage/root/etc/hostname"
  cp "$rootfs"/boot/vmlinuz-* "$image.vmlinuz"
  cp "$rootfs"/boot/initrd.img-* "$image.initrd"
  truncate -s 4G "$stage/raw"
  mkfs.ext4 -q -F -L rootfs -d "$stage/root" "$stage/raw"
  umount "$stage/root"
  qemu-img convert -O qcow2 "$stage/raw" "$image.qcow2.tmp"
  mv "$image.qcow2.tmp" "$image.qcow2"
  rm -rf "$stage"
  echo "$stamp" >"$image.stamp"
  echo "$image"
}

free_port() {
  local port
  for ((port = ${BASE_PORT:-22201}; port < 23000; port++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
      echo "$port"
      return
    }
  done
  fail "no free port from 22201"
}

up() {
  local dir=$1 disk=${2:-} q image port
  ((EUID == 0)) || fail "the VM rig needs root (mounts, apt)"
  q=$(qemu)
  image=$(image)
  # The kernel, initrd and keys are the cached image's: a disk built from it shares them.
  if [[ -n $disk ]]; then
    [[ -f $disk ]] || fail "no disk image at $disk"
    disk=$(cd "$(dirname "$disk")" && pwd)/$(basename "$disk")
  else
    disk=$image.qcow2
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  cp "$image.key" "$dir/id_ed25519"
  cp "$image.key.pub" "$dir/id_ed25519.pub"
  chmod 600 "$dir/id_ed25519"
  qemu-img create -q -f qcow2 -F qcow2 -b "$disk" "$dir/disk.qcow2"
  port=$(free_port)
  echo "$port" >"$dir/port"
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$image.hostkey.pub")" >"$dir/known_hosts"
  cat >"$dir/inventory.ini" <<EOF
[vms]
vm1 ansible_host=127.0.0.1 ansible_port=$port

[vms:vars]
ansible_user=root
ansible_ssh_private_key_file=$dir/id_ed25519
ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts'
EOF
  "$q/usr/bin/qemu-system-x86_64" -L "$q/usr/share/qemu" -L /usr/share/seabios -L /usr/lib/ipxe/qemu \
    -accel tcg,tb-size=64 -cpu max -smp 2 -m 1024 -display none -no-reboot \
    -serial "file:$dir/console.log" -pidfile "$dir/qemu.pid" -daemonize \
    -kernel "$image.vmlinuz" -initrd "$image.initrd" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1" \
    -drive "file=$dir/disk.qcow2,if=virtio,format=qcow2" \
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:22" \
    || fail "QEMU did not start"
  local deadline=$((SECONDS + ${RPLAY_VM_BOOT_TIMEOUT:-300}))
  until vm_ssh "$dir" true 2>/dev/null; do
    if ((SECONDS > deadline)); then
      down "$dir"
      fail "the VM did not answer SSH in time; console:
$(tail -n 30 "$dir/console.log")"
    fi
    kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null || fail "QEMU exited; console:
$(tail -n 30 "$dir/console.log")"
    sleep 2
  done
  echo "$port"
}

down() {
  local dir=$1 pid tries
  [[ -f $dir/qemu.pid ]] || return 0
  pid=$(cat "$dir/qemu.pid")
  if kill -0 "$pid" 2>/dev/null; then
    vm_ssh "$dir" 'systemctl poweroff' >/dev/null 2>&1 || true
    for ((tries = 0; tries < 100; tries++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/qemu.pid" "$dir/disk.qcow2"
}

vm_ssh() {
  local dir=$1
  shift
  ssh -q -i "$dir/id_ed25519" -o UserKnownHostsFile="$dir/known_hosts" -o BatchMode=yes \
    -o ConnectTimeout=5 -p "$(cat "$dir/port")" root@127.0.0.1 -- "$@"
}

case ${1:-} in
  up) [[ $# -eq 2 || $# -eq 3 ]] && up "${@:2}" || fail "usage: $0 up DIR [DISK]" ;;
  prepare) [[ $# -eq 1 ]] && qemu && image || fail "usage: $0 prepare" ;;
  down) [[ $# -eq 2 ]] && down "$2" || fail "usage: $0 down DIR" ;;
  ssh)
    [[ $# -ge 3 ]] || fail "usage: $0 ssh DIR CMD..."
    vm_ssh "${@:2}"
    ;;
  *) fail "usage: $0 up DIR [DISK] | down DIR | ssh DIR CMD... | prepare" ;;
esac
