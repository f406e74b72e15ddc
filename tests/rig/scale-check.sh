#!/usr/bin/env bash
# Scale check, not a timed test: HOSTS loopback sshd hosts from sshd-hosts.sh, TASKS
# `command: true` tasks on each, every host at once (--forks FORKS). Prints rplay's wall
# time and peak memory from /usr/bin/time -v; the numbers go in the README by hand.
#
#   tests/rig/scale-check.sh [HOSTS [TASKS [FORKS]]]    defaults: 200 20 1000
#
# Uses the release build (built first when RPLAY is not set), ports from BASE_PORT
# (default 30001), and stops every daemon it started, also when interrupted.
set -euo pipefail

hosts=${1:-200}
tasks=${2:-20}
forks=${3:-1000}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[[ -x /usr/bin/time ]] || { echo "scale-check.sh: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

if [[ -z ${RPLAY:-} ]]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
  RPLAY=$repo/target/release/rplay
fi

dir=$(mktemp -d)
trap '"$here/sshd-hosts.sh" stop "$dir"; rm -rf "$dir"' EXIT
echo "starting $hosts sshd hosts..." >&2
started=$SECONDS
BASE_PORT=${BASE_PORT:-30001} "$here/sshd-hosts.sh" "$hosts" "$dir" >/dev/null
echo "started in $((SECONDS - started)) s" >&2

{
  echo "[rig]"
  i=1
  while read -r port; do
    echo "h$i ansible_port=$port"
    i=$((i + 1))
  done <"$dir/ports"
  echo "[rig:vars]"
  echo "ansible_host=127.0.0.1"
  echo "ansible_user=$(id -un)"
  echo "ansible_ssh_private_key_file=$dir/id_ed25519"
  echo "ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts'"
} >"$dir/inventory"
{
  echo "- hosts: all"
  echo "  gather_facts: false"
  echo "  tasks:"
  for ((t = 1; t <= tasks; t++)); do
    echo "    - command: 'true'"
  done
} >"$dir/playbook.yml"

echo "running $tasks tasks on $hosts hosts with --forks $forks..." >&2
set +e
(cd "$dir" && HOME=$dir /usr/bin/time -v "$RPLAY" -i inventory playbook.yml --forks "$forks" \
  >"$dir/out.txt" 2>"$dir/time.txt")
status=$?
set -e
recap_ok=$(grep -c "ok=$tasks .*unreachable=0 *failed=0" "$dir/out.txt" || true)
echo "exit status: $status; hosts with all $tasks tasks ok: $recap_ok of $hosts"
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$dir/time.txt"
[[ $status -eq 0 && $recap_ok -eq $hosts ]]
