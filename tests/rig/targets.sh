#!/usr/bin/env bash
# Real Debian targets for tests, each in its own network namespace with its own copy of
# the rootfs from tests/rig/debian-rootfs.sh, reachable over SSH as root (and as `deploy`).
#
#   tests/rig/targets.sh up KIND N DIR   start N targets t1..tN; print their names
#   tests/rig/targets.sh down DIR        stop everything started in DIR and remove it
#   tests/rig/targets.sh ssh DIR NAME CMD...   run CMD on target NAME as root (plain ssh)
#   tests/rig/targets.sh cut DIR NAME    take NAME off the network (its link goes down)
#   tests/rig/targets.sh mend DIR NAME   put it back
#
# Faults for netns targets (tests/faults.rs):
#   tests/rig/targets.sh crash DIR NAME  kill every process of NAME (sshd, sessions, the
#                                        commands they run) as if the machine died
#   tests/rig/targets.sh revive DIR NAME start its sshd again
#   tests/rig/targets.sh reset DIR NAME  reset every SSH connection of NAME (TCP RST)
#   tests/rig/targets.sh drop-next DIR NAME
#                                        stop NAME's sshd; the next connection to port 22
#                                        is accepted and closed at once, then sshd starts
#                                        again (prints `listening` once ready; stays in
#                                        the foreground until then)
#   tests/rig/targets.sh pids DIR NAME   the processes of NAME: `pid command line` each
#   tests/rig/targets.sh small-disk DIR NAME PATH KIB
#                                        mount a KIB KiB filesystem at PATH in NAME
#
# KIND is
#   netns   OpenSSH sshd chrooted into the target's rootfs (about 0.1 s and 1.5 MiB each):
#           per-host filesystems, users and host keys, for fan-out to many hosts;
#   nspawn  a systemd-nspawn machine booted with systemd as PID 1 (about 2 s each): real
#           systemd, apt, dpkg and per-namespace `net.*` sysctls. No `kernel.*` sysctls or
#           modprobe (those need the QEMU VM).
#
# Target i lives in network namespace rp<S> (S is a slot claimed under /run/rplay-rig, so
# rigs started at once by parallel tests do not collide), reached through a veth pair:
# 10.79.A.B+1 on this side, 10.79.A.B+2 on the target. Nothing else is routed; the targets
# have no Internet (tests bring what they install).
#
# What DIR holds afterwards:
#   id_ed25519(.pub)  the client key root and deploy accept on every target
#   known_hosts       every target's host key under its address
#   inventory.ini     group `targets` with t1..tN, ansible_host, user root, key, known_hosts
#   tN/               the target: rootfs (its filesystem, seen from here), address, slot,
#                     and for nspawn its console log (console.log) and pid
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=/run/rplay-rig

fail() {
  echo "targets.sh: error: $*" >&2
  exit 1
}

usage() {
  sed -n '5,24p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Claims the lowest free slot (1..4000); its directory names the rig that holds it.
claim_slot() {
  local owner=$1 slot
  mkdir -p "$state/slots"
  for ((slot = 1; slot <= 4000; slot++)); do
    if mkdir "$state/slots/$slot" 2>/dev/null; then
      echo "$owner" >"$state/slots/$slot/owner"
      echo "$slot"
      return
    fi
    # A slot whose owner is gone (a killed test run) is taken back.
    if [[ -f $state/slots/$slot/owner && ! -d $(cat "$state/slots/$slot/owner") ]]; then
      release_slot "$slot"
      if mkdir "$state/slots/$slot" 2>/dev/null; then
        echo "$owner" >"$state/slots/$slot/owner"
        echo "$slot"
        return
      fi
    fi
  done
  fail "no free slot under $state/slots"
}

release_slot() {
  local slot=$1
  ip netns del "rp$slot" 2>/dev/null || true
  ip link del "rpv$slot" 2>/dev/null || true
  rm -rf "${state:?}/slots/$slot"
}

# 10.79.A.B: four addresses per slot.
address() {
  local slot=$1 side=$2
  echo "10.79.$((slot / 64)).$(((slot % 64) * 4 + side))"
}

network() {
  local kind=$1 slot=$2 ns=rp$2 here_ip there_ip
  here_ip=$(address "$slot" 1)
  there_ip=$(address "$slot" 2)
  # The slot is ours: whatever a killed rig left under its names goes first.
  ip netns del "$ns" 2>/dev/null || true
  ip link del "rpv$slot" 2>/dev/null || true
  if [[ $kind == nspawn ]]; then
    # systemd-nspawn makes the namespace itself; start_nspawn moves the far end into it.
    ip link add "rpv$slot" type veth peer name "rpt$slot"
  else
    ip netns add "$ns"
    ip link add "rpv$slot" type veth peer name eth0 netns "$ns"
    ip -n "$ns" addr add "$there_ip/30" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$here_ip"
  fi
  ip addr add "$here_ip/30" dev "rpv$slot"
  ip link set "rpv$slot" up
}

# The target's filesystem: an overlay over the shared rootfs, with its own host keys,
# hostname and the rig's client key.
prepare_rootfs() {
  local dir=$1 name=$2 lower=$3 target=$dir/$2 root
  root=$target/rootfs
  mkdir -p "$target/upper" "$target/work" "$root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$target/upper,workdir=$target/work" "$root"
  # Shared, so that a filesystem a test mounts inside the target later (small-disk) is seen
  # by its sshd too, which runs in a mount namespace of its own (ip netns exec).
  mount --make-shared "$root"
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >"$root/etc/hosts"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
  local home
  for home in "$root/root" "$root/home/deploy"; do
    mkdir -p "$home/.ssh"
    cp "$dir/id_ed25519.pub" "$home/.ssh/authorized_keys"
    chmod 700 "$home/.ssh"
    chmod 600 "$home/.ssh/authorized_keys"
  done
  chroot "$root" chown -R deploy:deploy /home/deploy/.ssh
  # Password logins are allowed so tests of `-k` have something to log in to.
  printf 'PasswordAuthentication yes\nKbdInteractiveAuthentication no\nMaxStartups 100:30:200\n' \
    >"$root/etc/ssh/sshd_config.d/rplay-rig.conf"
}

start_netns() {
  local dir=$1 name=$2 slot=$3 root=$1/$2/rootfs
  mount --bind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mkdir -p "$root/run/sshd"
  start_sshd "$dir" "$name" "$slot"
}

start_sshd() {
  local dir=$1 name=$2 slot=$3 root=$1/$2/rootfs
  # Its own UTS namespace, so `hostname` on the target says its name.
  ip netns exec "rp$slot" unshare --uts sh -c 'hostname "$1" && exec chroot "$2" /usr/sbin/sshd \
    -o UsePAM=no -o PidFile=/run/sshd.pid -E /var/log/sshd.log' sh "$name" "$root"
}

# The target's slot, for a netns target only: the fault commands act on its namespace.
netns_slot() {
  local dir=$1 name=$2
  [[ -f $dir/$name/slot ]] || fail "no target $name in $dir"
  [[ $(cat "$dir/kind") == netns ]] || fail "$name is not a netns target"
  cat "$dir/$name/slot"
}

# Kills every process in the target's namespace and waits (5 s at most) until none is left.
kill_all() {
  local slot=$1 tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -z $(ip netns pids "rp$slot") ]] && return 0
    ip netns pids "rp$slot" | xargs -r kill -9 2>/dev/null || true
    sleep 0.1
  done
  fail "processes of rp$slot survived SIGKILL: $(ip netns pids "rp$slot" | tr '\n' ' ')"
}

wait_for_port() {
  local dir=$1 name=$2 tries
  for ((tries = 0; tries < 100; tries++)); do
    ssh-keyscan -T 2 -t ed25519 "$(cat "$dir/$name/address")" 2>/dev/null | grep -q ssh-ed25519 && return 0
    sleep 0.1
  done
  fail "$name: sshd did not answer after being started again"
}

fault() {
  local action=$1 dir=$2 name=$3 slot
  slot=$(netns_slot "$dir" "$name")
  case $action in
    crash) kill_all "$slot" ;;
    revive)
      start_sshd "$dir" "$name" "$slot"
      wait_for_port "$dir" "$name"
      ;;
    reset)
      # Each established connection to port 22 is aborted on the target's side, which
      # sends the client a TCP reset.
      ip netns exec "rp$slot" ss -K state established '( sport = :22 )' >/dev/null 2>&1
      ;;
    drop-next)
      kill_all "$slot"
      ip netns exec "rp$slot" perl -MIO::Socket::INET -e '
        my $server = IO::Socket::INET->new(LocalPort => 22, Listen => 5, ReuseAddr => 1)
          or die "cannot listen on port 22: $!\n";
        $| = 1;
        print "listening\n";
        my $client = $server->accept or die "accept: $!\n";
        close $client;
        close $server;'
      start_sshd "$dir" "$name" "$slot"
      wait_for_port "$dir" "$name"
      ;;
    pids)
      local pid
      for pid in $(ip netns pids "rp$slot"); do
        [[ -r /proc/$pid/cmdline ]] && echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline")"
      done
      ;;
  esac
}

# A filesystem of its own at PATH in the target, KIB KiB big, to fill up.
small_disk() {
  local dir=$1 name=$2 path=$3 size=$4 root=$1/$2/rootfs
  [[ -d $root ]] || fail "no target $name in $dir"
  [[ $path == /* && $size =~ ^[0-9]+$ ]] || usage
  mkdir -p "$root$path"
  mount -t tmpfs -o "size=${size}k,mode=0755" rplay-small "$root$path"
  # What the target itself sees there: a test must never fill the shared disk instead.
  local seen
  seen=$(target_ssh "$dir" "$name" findmnt -n -o FSTYPE --target "$path") || true
  [[ $seen == tmpfs ]] || {
    umount "$root$path"
    fail "$name does not see the small filesystem at $path (it sees ${seen:-nothing})"
  }
}

start_nspawn() {
  local dir=$1 name=$2 slot=$3 target=$1/$2 root=$1/$2/rootfs
  # The network is set up from here; the target's ifupdown must leave it alone, and
  # there is no disk to mount.
  printf 'auto lo\niface lo inet loopback\n' >"$root/etc/network/interfaces"
  : >"$root/etc/fstab"
  # --private-network gives the machine a namespace of its own (only then is its
  # /proc/sys/net writable); the far end of the veth pair is moved in once it exists.
  systemd-nspawn --quiet --boot --register=no --keep-unit --machine="$name" \
    --directory="$root" --private-network \
    --console=read-only --private-users=no \
    </dev/null >"$target/console.log" 2>&1 &
  local pid=$! inner='' tries
  echo "$pid" >"$target/pid"
  for ((tries = 0; tries < 200; tries++)); do
    # The machine's PID 1 once it runs systemd: intermediate children come and go.
    inner=$(pgrep -P "$pid" -x systemd | head -n 1) || true
    [[ -n $inner ]] && break
    kill -0 "$pid" 2>/dev/null || fail "$name exited while starting: $(tail -n 20 "$target/console.log")"
    inner=''
    sleep 0.05
  done
  [[ -n $inner ]] || fail "$name: systemd did not start in 10 s: $(tail -n 20 "$target/console.log")"
  ip link set "rpt$slot" netns "$inner"
  nsenter -t "$inner" -n sh -e -c '
    ip link set "$1" name eth0
    ip addr add "$2/30" dev eth0
    ip link set eth0 up
    ip link set lo up
    ip route add default via "$3"' sh "rpt$slot" "$(address "$slot" 2)" "$(address "$slot" 1)"
}

wait_for_sshd() {
  local dir=$1 name=$2 deadline ip
  ip=$(cat "$dir/$name/address")
  deadline=$((SECONDS + ${RPLAY_RIG_BOOT_TIMEOUT:-90}))
  until ssh-keyscan -T 2 -t ed25519 "$ip" 2>/dev/null | grep -q ssh-ed25519; do
    if ((SECONDS > deadline)); then
      local log=$dir/$name/console.log
      [[ -f $log ]] || log=$dir/$name/rootfs/var/log/sshd.log
      fail "$name ($ip) did not answer on port 22 in time; last lines of $log:
$(tail -n 20 "$log" 2>/dev/null)"
    fi
    if [[ -f $dir/$name/pid ]] && ! kill -0 "$(cat "$dir/$name/pid")" 2>/dev/null; then
      fail "$name exited while booting: $(tail -n 20 "$dir/$name/console.log")"
    fi
    sleep 0.2
  done
}

up() {
  local kind=$1 count=$2 dir=$3 lower i name slot
  [[ $kind == netns || $kind == nspawn ]] || usage
  [[ $count =~ ^[0-9]+$ ]] && ((count > 0 && count <= 1000)) || usage
  ((EUID == 0)) || fail "the rig needs root (network namespaces, mounts)"
  local tool
  for tool in ip ssh-keygen ssh-keyscan mount; do
    command -v "$tool" >/dev/null || fail "$tool not found: apt-get install iproute2 openssh-client mount"
  done
  if [[ $kind == nspawn ]]; then
    command -v systemd-nspawn >/dev/null || fail "systemd-nspawn not found: apt-get install systemd-container"
  fi
  lower=$("$here/debian-rootfs.sh")
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # A rig that fails half way takes down what it started.
  # shellcheck disable=SC2064 # $dir is expanded now: the trap runs outside this function
  trap "down '$dir'" EXIT
  echo "$kind" >"$dir/kind"
  [[ -f $dir/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C rplay-rig -f "$dir/id_ed25519"
  : >"$dir/known_hosts"
  {
    echo "[targets]"
  } >"$dir/inventory.ini"
  for ((i = 1; i <= count; i++)); do
    name=t$i
    slot=$(claim_slot "$dir")
    mkdir -p "$dir/$name"
    echo "$slot" >"$dir/$name/slot"
    address "$slot" 2 >"$dir/$name/address"
    network "$kind" "$slot"
    prepare_rootfs "$dir" "$name" "$lower"
    echo "$(cat "$dir/$name/address") $(cut -d' ' -f1,2 "$dir/$name/rootfs/etc/ssh/ssh_host_ed25519_key.pub")" \
      >>"$dir/known_hosts"
    echo "$name ansible_host=$(cat "$dir/$name/address")" >>"$dir/inventory.ini"
    "start_$kind" "$dir" "$name" "$slot"
  done
  cat >>"$dir/inventory.ini" <<EOF

[targets:vars]
ansible_user=root
ansible_ssh_private_key_file=$dir/id_ed25519
ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts'
EOF
  for ((i = 1; i <= count; i++)); do
    wait_for_sshd "$dir" "t$i"
  done
  trap - EXIT
  for ((i = 1; i <= count; i++)); do
    echo "t$i"
  done
}

stop_target() {
  local dir=$1 target=$2 root=$2/rootfs pid tries
  if [[ -f $target/pid ]]; then
    pid=$(cat "$target/pid")
    # SIGTERM asks the booted system to power off; it gets 20 s before SIGKILL.
    if kill "$pid" 2>/dev/null; then
      for ((tries = 0; tries < 200; tries++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  if [[ -f $root/run/sshd.pid ]]; then
    kill "$(cat "$root/run/sshd.pid")" 2>/dev/null || true
  fi
  # Whatever still runs inside the target's namespace (sessions, sleeps) goes too.
  if [[ -f $target/slot ]]; then
    local ns=rp$(cat "$target/slot")
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  fi
  local mount
  # Mounts a test made inside the target first (small-disk), deepest first.
  if [[ -d $root ]]; then
    while read -r mount; do
      [[ $mount == "$root" || $mount == "$root/proc" || $mount == "$root/dev" ]] && continue
      umount "$mount" 2>/dev/null || umount -l "$mount"
    done < <(findmnt -rn -o TARGET | grep -F "$root/" | sort -r)
  fi
  for mount in "$root/proc" "$root/dev" "$root"; do
    mountpoint -q "$mount" 2>/dev/null && { umount "$mount" 2>/dev/null || umount -l "$mount"; }
  done
  if [[ -f $target/slot ]]; then
    release_slot "$(cat "$target/slot")"
  fi
  rm -rf "$target"
}

down() {
  local dir=$1 target
  [[ -d $dir ]] || return 0
  for target in "$dir"/t*/; do
    [[ -d $target ]] || continue
    stop_target "$dir" "${target%/}" &
  done
  wait
}

target_ssh() {
  local dir=$1 name=$2
  shift 2
  ssh -q -i "$dir/id_ed25519" -o UserKnownHostsFile="$dir/known_hosts" -o BatchMode=yes \
    -o ConnectTimeout=10 "root@$(cat "$dir/$name/address")" -- "$@"
}

case ${1:-} in
  up)
    [[ $# -eq 4 ]] || usage
    up "$2" "$3" "$4"
    ;;
  down)
    [[ $# -eq 2 ]] || usage
    down "$2"
    ;;
  ssh)
    [[ $# -ge 4 ]] || usage
    target_ssh "${@:2}"
    ;;
  cut | mend)
    # The link on this side goes down: the target is cut off as by a partition.
    [[ $# -eq 3 ]] || usage
    slot=$(cat "$2/$3/slot")
    if [[ $1 == cut ]]; then
      ip link set "rpv$slot" down
    else
      ip link set "rpv$slot" up
      ip addr replace "$(address "$slot" 1)/30" dev "rpv$slot"
    fi
    ;;
  crash | revive | reset | drop-next | pids)
    [[ $# -eq 3 ]] || usage
    fault "$1" "$2" "$3"
    ;;
  small-disk)
    [[ $# -eq 5 ]] || usage
    small_disk "$2" "$3" "$4" "$5"
    ;;
  *) usage ;;
esac
