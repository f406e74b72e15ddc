#!/usr/bin/env bash
# A signed local mirror of what the cluster content downloads, for targets without Internet.
#
#   tests/rig/k8s-apt-repo.sh DIR    build it in DIR (created or emptied); prints DIR
#
# DIR holds three flat apt repositories, each with `Release` signed into `InRelease` (and
# `Release.gpg`) by a GPG key made for this run, and the files the roles download:
#
#   DIR/key.asc        the signing key, ASCII-armored (what pkgs.k8s.io serves as Release.key)
#   DIR/kubernetes/    stand-in kubeadm, kubelet, kubectl at KUBE_VERSION (1.31.2-1.1, named
#                      as pkgs.k8s.io names them): the stand-ins of tests/rig/*-standin,
#                      kubelet with /usr/lib/systemd/system/kubelet.service
#   DIR/nvidia/        a stand-in nvidia-container-toolkit (/usr/bin/nvidia-container-runtime
#                      that runs runc)
#   DIR/debian/        Debian's own containerd, runc and net-tools (fetched once with this machine's `apt-get download` into
#                      .cache/debs, or $RPLAY_DEBS): the Debian mirror stand-in
#   DIR/files/         node_exporter-1.8.2.linux-amd64.tar.gz (a stand-in binary that
#                      sleeps) and its sha256sums.txt; tigera-operator.yaml (a stand-in
#                      manifest of one namespace and one deployment)
#
# A target uses a repository as pkgs.k8s.io is used, with the key as its signed-by:
#   deb [signed-by=/etc/apt/keyrings/kubernetes.asc] file:/PATH/kubernetes/ /
#
# Needs bash, gpg, dpkg-deb, apt-get, tar, gzip, sha256sum, md5sum; root only for the
# download (apt-get download writes as root into the cache).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/rig/apt-lib.sh
. "$here/apt-lib.sh"
repo=$(cd "$here/../.." && pwd)
cache=${RPLAY_DEBS:-$repo/.cache/debs}
kube_version=${KUBE_VERSION:-1.31.2-1.1}
debian_packages=(containerd runc net-tools)

fail() {
  echo "k8s-apt-repo.sh: error: $*" >&2
  exit 1
}

(($# == 1)) || fail "usage: k8s-apt-repo.sh DIR"
for tool in gpg dpkg-deb apt-get tar gzip md5sum sha256sum flock; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

apt_download "$cache" "${debian_packages[@]}" || fail "could not fetch ${debian_packages[*]}"

mkdir -p "$1"
dir=$(cd "$1" && pwd)
rm -rf "${dir:?}"/{kubernetes,nvidia,debian,files,key.asc}
mkdir -p "$dir"/{kubernetes,nvidia,debian,files}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package REPOSITORY NAME VERSION: builds $work/NAME (already filled) into REPOSITORY.
package() {
  local repository=$1 name=$2 version=$3 root=$work/$2
  mkdir -p "$root/DEBIAN"
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: amd64\n' "$name" "$version"
    printf 'Maintainer: rplay tests <rplay@example.invalid>\nSection: admin\nPriority: optional\n'
    printf 'Description: TEST STAND-IN for %s (rplay tests)\n' "$name"
    printf ' Not the real %s: a script that plays it for rplay'"'"'s cluster tests.\n' "$name"
  } >"$root/DEBIAN/control"
  chmod 0755 "$root/DEBIAN"
  dpkg-deb --root-owner-group -Zgzip --build "$root" \
    "$dir/$repository/${name}_${version}_amd64.deb" >/dev/null
}

install_script() { # SOURCE NAME: /usr/bin/NAME in the package NAME
  mkdir -p "$work/$2/usr/bin"
  install -m 0755 "$1" "$work/$2/usr/bin/$2"
}

install_script "$here/kubeadm-standin" kubeadm
package kubernetes kubeadm "$kube_version"
install_script "$here/kubectl-standin" kubectl
package kubernetes kubectl "$kube_version"
install_script "$here/kubelet-standin" kubelet
mkdir -p "$work/kubelet/usr/lib/systemd/system"
# The real package's unit: restarted until kubeadm has configured the node.
cat >"$work/kubelet/usr/lib/systemd/system/kubelet.service" <<'UNIT'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
package kubernetes kubelet "$kube_version"

mkdir -p "$work/nvidia-container-toolkit/usr/bin"
printf '#!/bin/sh\n# TEST STAND-IN for nvidia-container-runtime: runs runc.\nexec runc "$@"\n' \
  >"$work/nvidia-container-toolkit/usr/bin/nvidia-container-runtime"
chmod 0755 "$work/nvidia-container-toolkit/usr/bin/nvidia-container-runtime"
package nvidia nvidia-container-toolkit 1.17.0-1

for package in "${debian_packages[@]}"; do
  cp "$cache/${package}"_*.deb "$dir/debian/"
done

# The signing key, made for this run in a home of its own.
export GNUPGHOME=$work/gnupg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'rplay test repository <rplay@example.invalid>' \
  ed25519 sign never 2>/dev/null
gpg --batch --quiet --armor --export >"$dir/key.asc"

# index REPOSITORY: the flat repository's index, signed (InRelease and Release.gpg).
index() {
  local repo_dir=$dir/$1
  apt_index "$repo_dir" "rplay $1 test repository" amd64
  gpg --batch --quiet --yes --clearsign -o "$repo_dir/InRelease" "$repo_dir/Release"
  gpg --batch --quiet --yes --armor --detach-sign -o "$repo_dir/Release.gpg" "$repo_dir/Release"
}
index kubernetes
index nvidia
index debian

# What the roles download from GitHub: a node_exporter release and the Tigera operator.
release=node_exporter-1.8.2.linux-amd64
mkdir -p "$work/$release"
printf '#!/bin/sh\n# TEST STAND-IN for node_exporter: serves nothing.\ncase "${1:-}" in --version) echo "node_exporter, version 1.8.2 (stand-in)"; exit 0 ;; esac\nexec sleep infinity\n' \
  >"$work/$release/node_exporter"
chmod 0755 "$work/$release/node_exporter"
tar -C "$work" --owner=0 --group=0 -czf "$dir/files/$release.tar.gz" "$release"
(cd "$dir/files" && sha256sum "$release.tar.gz" >sha256sums.txt)
cat >"$dir/files/tigera-operator.yaml" <<'MANIFEST'
# TEST STAND-IN for Calico's tigera-operator.yaml: one namespace and one deployment.
apiVersion: v1
kind: Namespace
metadata:
  name: tigera-operator
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tigera-operator
  namespace: tigera-operator
spec:
  replicas: 1
MANIFEST

echo "$dir"
