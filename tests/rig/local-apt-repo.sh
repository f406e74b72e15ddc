#!/usr/bin/env bash
# A tiny apt repository of test packages, so package tests on real targets need no network.
#
#   tests/rig/local-apt-repo.sh DIR    build the repository in DIR (created or emptied)
#
# DIR becomes a flat repository (unsigned: use it with `trusted=yes`):
#
#   deb [trusted=yes] file:DIR ./
#
# which the script prints when done; DIR/rplay-test.list holds that line too. Copy DIR
# into a target (or bind-mount it) and point a source at the path it has there.
#
# Packages, all `Architecture: all`, each shipping /usr/share/NAME/version:
#   rplay-demo  1.0 and 2.0   2.0 depends on rplay-dep, so installing it pulls rplay-dep
#   rplay-dep   1.0
#   rplay-conf  1.0           a conffile, /etc/rplay-conf.conf, for remove-versus-purge
#
# Needs bash, dpkg-deb, gzip, md5sum and sha256sum; not root. The Packages index is
# written here from each package's control fields (no dpkg-dev needed), with the
# Filename, Size and checksums apt checks; Release lists the index files' checksums.
set -euo pipefail
# shellcheck source=tests/rig/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"

fail() {
  echo "local-apt-repo.sh: error: $*" >&2
  exit 1
}

(($# == 1)) || fail "usage: local-apt-repo.sh DIR"
for tool in dpkg-deb gzip md5sum sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done
mkdir -p "$1"
dir=$(cd "$1" && pwd)
rm -rf "$dir/pool" "$dir/Packages" "$dir/Packages.gz" "$dir/Release" "$dir/rplay-test.list"
mkdir -p "$dir/pool"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build NAME VERSION [CONTROL-LINE...]: a package with /usr/share/NAME/version.
build() {
  local name=$1 version=$2
  shift 2
  local root="$work/$name-$version"
  mkdir -p "$root/DEBIAN" "$root/usr/share/$name"
  printf '%s\n' "$version" >"$root/usr/share/$name/version"
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: all\n' "$name" "$version"
    printf 'Maintainer: rplay tests <rplay@example.invalid>\nSection: misc\nPriority: optional\n'
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
    printf 'Description: rplay test package %s\n A package for rplay'"'"'s apt tests.\n' "$name"
  } >"$root/DEBIAN/control"
  chmod 0755 "$root/DEBIAN"
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$dir/pool/${name}_${version}_all.deb" >/dev/null
}

build rplay-demo 1.0
build rplay-demo 2.0 "Depends: rplay-dep (>= 1.0)"
build rplay-dep 1.0
# build adds to what is already in the package's tree: here a conffile.
mkdir -p "$work/rplay-conf-1.0/etc" "$work/rplay-conf-1.0/DEBIAN"
printf 'setting = default\n' >"$work/rplay-conf-1.0/etc/rplay-conf.conf"
printf '/etc/rplay-conf.conf\n' >"$work/rplay-conf-1.0/DEBIAN/conffiles"
build rplay-conf 1.0

apt_index "$dir" "rplay test packages" all

line="deb [trusted=yes] file:$dir ./"
printf '%s\n' "$line" >"$dir/rplay-test.list"
echo "$line"
