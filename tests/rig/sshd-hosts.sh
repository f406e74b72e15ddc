#!/usr/bin/env bash
# Real SSH targets for tests: N OpenSSH sshd daemons on 127.0.0.1, one port each.
#
#   tests/rig/sshd-hosts.sh N DIR     start N daemons; print their ports, one per line
#   tests/rig/sshd-hosts.sh stop DIR  stop the daemons started in DIR
#
# Ports are taken from BASE_PORT (default 22001) upwards, skipping ports in use, so rigs
# started at once by parallel tests do not collide. The daemons run as the current user
# (root in CI) with `UsePAM no` and `StrictModes no`; all hosts share this filesystem.
#
# What DIR holds afterwards:
#   id_ed25519, id_ed25519.pub  the client key every host accepts (kept if already there)
#   known_hosts                 `[127.0.0.1]:PORT key` for every host
#   user_ca, user_ca.pub        a CA every host trusts for user certificates (TrustedUserCAKeys)
#   host_ca.pub                 a CA that signed every host key (principals 127.0.0.1 and
#                               localhost), for `@cert-authority` lines
#   ports                       the ports, one per line
#   hN/                         host N: its host key and certificate, sshd_config,
#                               sshd.pid, sshd.log, port, tmp/, the TMPDIR of its
#                               sessions (so what a session leaves behind stays here),
#                               and home/, their HOME (so the login shell does not run
#                               this machine's ~/.bashrc, which may be slow: pyenv)
set -euo pipefail

sshd=/usr/sbin/sshd

fail() {
  echo "sshd-hosts.sh: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 N DIR | $0 stop DIR" >&2
  exit 2
}

stop() {
  local dir=$1 pidfile pid tries state pids=()
  # Signal every daemon first, then wait for them together: stopping 200 hosts one by
  # one would wait for each in turn.
  for pidfile in "$dir"/h*/sshd.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    # Only the daemon this rig started: its pid file names it.
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidfile"
  done
  for pid in "${pids[@]}"; do
    for ((tries = 0; tries < 50; tries++)); do
      # Gone, or exited and waiting for init to reap it (a zombie holds no port).
      state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
      [[ -z $state || $state == Z ]] && break
      sleep 0.1
    done
  done
}

# Starts one daemon in the foreground mode (-D) in the background: a detached sshd
# reports success before it binds, so a port lost to a parallel rig would go unnoticed.
# sshd writes its pid file once its socket is bound; it exits if the bind fails.
start_daemon() {
  local host=$1 pid tries
  rm -f "$host/sshd.pid"
  : >"$host/sshd.log"
  "$sshd" -D -f "$host/sshd_config" -E "$host/sshd.log" </dev/null >/dev/null 2>&1 &
  pid=$!
  for ((tries = 0; tries < 200; tries++)); do
    if [[ -s $host/sshd.pid ]] && kill -0 "$pid" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  kill "$pid" 2>/dev/null
  return 1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local count=$1 dir=$2 base=${BASE_PORT:-22001}
  [[ $count =~ ^[0-9]+$ ]] && ((count > 0)) || usage
  [[ -x $sshd ]] || fail "$sshd not found: install openssh-server (apt-get install openssh-server)"
  command -v ssh-keygen >/dev/null || fail "ssh-keygen not found: install openssh-client"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # sshd running as root wants its privilege separation directory.
  if ((EUID == 0)); then
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
  fi
  [[ -f $dir/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C rplay-test -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  [[ -f $dir/host_ca ]] || ssh-keygen -q -t ed25519 -N '' -C rplay-test-host-ca -f "$dir/host_ca"
  [[ -f $dir/user_ca ]] || ssh-keygen -q -t ed25519 -N '' -C rplay-test-user-ca -f "$dir/user_ca"
  : >"$dir/known_hosts"
  : >"$dir/ports"
  local i port=$base attempts=0 host
  # A rig that fails half way stops the daemons it started.
  # shellcheck disable=SC2064 # $dir is expanded now
  trap "stop '$dir'" EXIT
  for ((i = 1; i <= count; i++)); do
    host=$dir/h$i
    mkdir -p "$host/tmp" "$host/home"
    rm -f "$host/ssh_host_ed25519_key" "$host/ssh_host_ed25519_key.pub" "$host/ssh_host_ed25519_key-cert.pub"
    ssh-keygen -q -t ed25519 -N '' -C "h$i" -f "$host/ssh_host_ed25519_key"
    ssh-keygen -q -s "$dir/host_ca" -I "h$i" -h -n 127.0.0.1,localhost "$host/ssh_host_ed25519_key.pub"
    attempts=0
    while :; do
      ((attempts++ < 500)) || fail "no free port for h$i after 500 tries from $port"
      if ((port > 65535)); then fail "ran out of ports above $base"; fi
      if port_in_use "$port"; then
        port=$((port + 1))
        continue
      fi
      cat >"$host/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $host/ssh_host_ed25519_key
HostCertificate $host/ssh_host_ed25519_key-cert.pub
AuthorizedKeysFile $dir/authorized_keys
TrustedUserCAKeys $dir/user_ca.pub
PidFile $host/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
MaxStartups 200:30:400
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv TMPDIR=$host/tmp HOME=$host/home
EOF
      if start_daemon "$host"; then
        break
      fi
      # Another rig took the port between the check and the bind: try the next one.
      if grep -q "Address already in use" "$host/sshd.log" 2>/dev/null; then
        port=$((port + 1))
        continue
      fi
      fail "sshd for h$i did not start: $(tail -n 5 "$host/sshd.log" 2>/dev/null)"
    done
    echo "$port" >"$host/port"
    echo "$port" >>"$dir/ports"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$host/ssh_host_ed25519_key.pub")" >>"$dir/known_hosts"
    port=$((port + 1))
  done
  trap - EXIT
  cat "$dir/ports"
}

case ${1:-} in
  stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
  '' | -h | --help) usage ;;
  *)
    [[ $# -eq 2 ]] || usage
    start "$1" "$2"
    ;;
esac
