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

# Parallel tests wait on one lock and share one download.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
for package in "${packages[@]}"; do
  if ! compgen -G "$cache/${package}_*.deb" >/dev/null; then
    download=$(mktemp -d "$cache/download.XXXXXX")
    # Root downloads: apt's `_apt` user could not write into the cache.
    (cd "$download" && apt-get download -q -o APT::Sandbox::User=root "$package" >&2) ||
      fail "apt-get download $package failed (does this machine reach its Debian mirror?)"
    mv "$download"/*.deb "$cache/"
    rmdir "$download"
  fi
done
exec 9>&-

mkdir -p "$1"
dir=$(cd "$1" && pwd)
rm -rf "$dir/pool" "$dir/Packages" "$dir/Packages.gz" "$dir/Release"
mkdir -p "$dir/pool"
for package in "${packages[@]}"; do
  cp "$cache/${package}"_*.deb "$dir/pool/"
done

# The index: each package's control stanza, then where it is and its checksums.
for deb in "$dir"/pool/*.deb; do
  dpkg-deb --field "$deb"
  printf 'Filename: pool/%s\n' "$(basename "$deb")"
  printf 'Size: %s\n' "$(stat -c %s "$deb")"
  printf 'MD5sum: %s\n' "$(md5sum <"$deb" | cut -d' ' -f1)"
  printf 'SHA256: %s\n' "$(sha256sum <"$deb" | cut -d' ' -f1)"
  printf '\n'
done >"$dir/Packages"
gzip -9n <"$dir/Packages" >"$dir/Packages.gz"

{
  printf 'Origin: rplay\nLabel: containerd for rplay tests\nSuite: rplay-containerd\nCodename: rplay-containerd\n'
  printf 'Date: %s\n' "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  printf 'Architectures: %s\nDescription: containerd and runc from Debian (unsigned index)\n' \
    "$(dpkg --print-architecture)"
  printf 'MD5Sum:\n'
  for index in Packages Packages.gz; do
    printf ' %s %s %s\n' "$(md5sum <"$dir/$index" | cut -d' ' -f1)" "$(stat -c %s "$dir/$index")" "$index"
  done
  printf 'SHA256:\n'
  for index in Packages Packages.gz; do
    printf ' %s %s %s\n' "$(sha256sum <"$dir/$index" | cut -d' ' -f1)" "$(stat -c %s "$dir/$index")" "$index"
  done
} >"$dir/Release"

printf '%s\n' "${packages[@]}"
