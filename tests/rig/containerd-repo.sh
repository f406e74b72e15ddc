#!/usr/bin/env bash
# A flat apt repository of Debian's containerd and runc packages, so tests can install a
# real containerd on targets that have no Internet.
#
#   tests/rig/containerd-repo.sh DIR    build the repository in DIR (created or emptied)
#
# The packages are fetched once with this machine's `apt-get download containerd runc`
# (it writes only into the download directory: nothing is installed, no list is updated)
# into .cache/debs in the repository (git ignores .cache; $RPLAY_DEBS overrides it) and
# reused afterwards. They are whatever versions this machine's apt offers (Debian 12:
# containerd 1.6.20, runc 1.1.5); their other dependencies (libc6, libseccomp2) are in
# every Debian system.
#
# DIR becomes a flat repository (unsigned: use it with `trusted=yes`), laid out as
# tests/rig/local-apt-repo.sh lays out its own: DIR/pool/*.deb, Packages(.gz), Release.
# The script prints the names of the packages, one per line, when done.
#
# Needs bash, apt-get (with its package lists), dpkg-deb, flock, gzip, md5sum, sha256sum.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/rig/apt-lib.sh
. "$here/apt-lib.sh"
repo=$(cd "$here/../.." && pwd)
cache=${RPLAY_DEBS:-$repo/.cache/debs}
packages=(containerd runc)

fail() {
  echo "containerd-repo.sh: error: $*" >&2
  exit 1
}

(($# == 1)) || fail "usage: containerd-repo.sh DIR"
for tool in apt-get dpkg-deb flock gzip md5sum sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

apt_download "$cache" "${packages[@]}" || fail "could not fetch ${packages[*]}"

mkdir -p "$1"
dir=$(cd "$1" && pwd)
rm -rf "$dir/pool" "$dir/Packages" "$dir/Packages.gz" "$dir/Release"
mkdir -p "$dir/pool"
for package in "${packages[@]}"; do
  cp "$cache/${package}"_*.deb "$dir/pool/"
done

apt_index "$dir" "containerd and runc from Debian for rplay tests" "$(dpkg --print-architecture)"

printf '%s\n' "${packages[@]}"
