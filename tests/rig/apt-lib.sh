# Shared by the scripts that build apt repositories for tests (local-apt-repo.sh,
# containerd-repo.sh, k8s-apt-repo.sh); sourced, not run. Needs apt-get (for downloads),
# dpkg-deb, flock, gzip, md5sum, sha256sum.

# apt_download CACHE PACKAGE...: Debian's .deb of each package, fetched once with this
# machine's `apt-get download` (it writes only into the download directory: nothing is
# installed, no list is updated) into CACHE and reused; parallel callers share one lock.
apt_download() {
  local cache=$1 package download
  shift
  mkdir -p "$cache"
  (
    flock 9
    for package in "$@"; do
      compgen -G "$cache/${package}_*.deb" >/dev/null && continue
      download=$(mktemp -d "$cache/download.XXXXXX")
      # Root downloads: apt's `_apt` user could not write into the cache.
      (cd "$download" && apt-get download -q -o APT::Sandbox::User=root "$package" >&2) || {
        rm -rf "$download"
        echo "apt-get download $package failed (does this machine reach its Debian mirror?)" >&2
        exit 1
      }
      mv "$download"/*.deb "$cache/"
      rmdir "$download"
    done
  ) 9>"$cache/.lock"
}

# apt_index DIR LABEL ARCHITECTURES: Packages, Packages.gz and Release of the flat
# repository in DIR, from every .deb below it: each package's control stanza, then where
# it is and the checksums apt checks; Release lists the index files' checksums. Used as
# `deb [trusted=yes] file:DIR ./` unless signed afterwards (InRelease, Release.gpg).
apt_index() {
  local dir=$1 label=$2 architectures=$3 deb index
  (
    cd "$dir"
    find . -name '*.deb' | LC_ALL=C sort | while read -r deb; do
      dpkg-deb --field "$deb"
      printf 'Filename: %s\n' "${deb#./}"
      printf 'Size: %s\n' "$(stat -c %s "$deb")"
      printf 'MD5sum: %s\n' "$(md5sum <"$deb" | cut -d' ' -f1)"
      printf 'SHA256: %s\n' "$(sha256sum <"$deb" | cut -d' ' -f1)"
      printf '\n'
    done
  ) >"$dir/Packages"
  gzip -9n <"$dir/Packages" >"$dir/Packages.gz"
  {
    printf 'Origin: rplay\nLabel: %s\n' "$label"
    printf 'Date: %s\n' "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
    printf 'Architectures: %s\nDescription: %s\n' "$architectures" "$label"
    printf 'MD5Sum:\n'
    for index in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(md5sum <"$dir/$index" | cut -d' ' -f1)" "$(stat -c %s "$dir/$index")" "$index"
    done
    printf 'SHA256:\n'
    for index in Packages Packages.gz; do
      printf ' %s %s %s\n' "$(sha256sum <"$dir/$index" | cut -d' ' -f1)" "$(stat -c %s "$dir/$index")" "$index"
    done
  } >"$dir/Release"
}
