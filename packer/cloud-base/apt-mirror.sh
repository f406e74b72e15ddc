#!/bin/sh
# Puts a flat signed apt repository in place of the machine's Debian sources, and back.
#
#   apt-mirror.sh use URL KEY_URL   set the Debian sources aside (NAME.rplay-build), use URL
#                                   signed with the key at KEY_URL instead, and drop the
#                                   package lists (they describe the sources set aside)
#   apt-mirror.sh restore           remove the mirror and its key, put the sources back
#
# For builds in a VM that cannot reach Debian's mirror: cloud-base.pkr.hcl runs it around
# rplay when `debian_mirror_url` is set. Needs curl.
set -eu

sources='/etc/apt/sources.list /etc/apt/sources.list.d/debian.sources'
mirror=/etc/apt/sources.list.d/rplay-build-mirror.sources
key=/etc/apt/keyrings/rplay-build-mirror.asc

case "${1:-}" in
use)
  [ $# -eq 3 ] || { echo "usage: apt-mirror.sh use URL KEY_URL" >&2; exit 2; }
  mkdir -p /etc/apt/keyrings
  curl -fsS -o "$key" "$3"
  for f in $sources; do
    if [ -e "$f" ]; then mv "$f" "$f.rplay-build"; fi
  done
  printf 'Types: deb\nURIs: %s\nSuites: /\nSigned-By: %s\n' "$2" "$key" >"$mirror"
  # An empty lists directory makes rplay's apt update whatever cache_valid_time says.
  find /var/lib/apt/lists -maxdepth 1 -type f -not -name lock -delete
  ;;
restore)
  rm -f "$mirror" "$key"
  for f in $sources; do
    if [ -e "$f.rplay-build" ]; then mv "$f.rplay-build" "$f"; fi
  done
  ;;
*)
  echo "usage: apt-mirror.sh use URL KEY_URL | restore" >&2
  exit 2
  ;;
esac
