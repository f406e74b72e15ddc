# The Kubernetes node image: a Debian 13 disk booted under QEMU, provisioned by rplay
# running inside it over a local connection (playbooks/image.yml). See packer/README.md.

variable "repository" {
  type        = string
  description = "The rplay checkout: the binary and the content are uploaded from it."
  default     = "../.."
}

variable "base_image" {
  type        = string
  description = "The Debian 13 qcow2 to start from (tests/rig/vm.sh builds one from the mmdebstrap rootfs)."
  default     = "../../.cache/vm-trixie.qcow2"
}

variable "kernel" {
  type    = string
  default = "../../.cache/vm-trixie.vmlinuz"
}

variable "initrd" {
  type    = string
  default = "../../.cache/vm-trixie.initrd"
}

variable "ssh_private_key_file" {
  type        = string
  description = "A key root accepts in base_image."
  default     = "../../.cache/vm-trixie.key"
}

variable "qemu_dir" {
  type        = string
  description = "Where qemu-system-x86 is unpacked (tests/rig/vm.sh does it)."
  default     = "../../.cache/qemu"
}

variable "rplay_binary" {
  type    = string
  default = "../../target/release/rplay"
}

variable "image_profile" {
  type        = string
  description = "cpu, or gpu for the NVIDIA container toolkit."
  default     = "cpu"
}

variable "rplay_extra_args" {
  type        = string
  description = "More arguments for rplay, such as `-e @/opt/rplay/mirror.yml`."
  default     = ""
}

variable "mirror_directory" {
  type        = string
  description = "A directory Packer serves over HTTP to the VM (at http://10.0.2.2:PORT/ under QEMU's user networking; $PACKER_HTTP_ADDR in the provisioner), such as the signed mirror of tests/rig/k8s-apt-repo.sh. Empty: no server."
  default     = ""
}

variable "http_port" {
  type        = number
  description = "The port of that server; 0 picks a free one from 8000-9000. Fix it when the image keeps URLs of the mirror."
  default     = 0
}

variable "rplay_vars" {
  type        = string
  description = "YAML extra variables for the build (written to /opt/rplay/build-vars.yml and passed with -e @), such as the mirror's URLs for kubernetes_apt_repository_url and the others tests/content.rs overrides."
  default     = "{}"
}

variable "debian_mirror_url" {
  type        = string
  description = "A flat signed apt repository that replaces the image's Debian sources for the build only (they are put back at the end). Empty: the image's own sources."
  default     = ""
}

variable "debian_mirror_key_url" {
  type        = string
  description = "The key debian_mirror_url is signed with."
  default     = ""
}

variable "before_rplay" {
  type        = list(string)
  description = "Shell commands run in the VM before rplay (the tests give the disk an active swap file, as cloud images may have)."
  default     = []
}

variable "output_directory" {
  type    = string
  default = "output-cloud-base"
}

source "qemu" "node" {
  disk_image       = true
  iso_url          = var.base_image
  iso_checksum     = "none"
  use_backing_file = false
  skip_resize_disk = true
  format           = "qcow2"
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  # KVM does not boot a stock kernel on the machines this runs on: software emulation.
  accelerator = "tcg"
  qemu_binary = "${var.qemu_dir}/usr/bin/qemu-system-x86_64"
  # The disk has no bootloader: QEMU boots its kernel directly, as tests/rig/vm.sh does.
  qemuargs = [
    ["-L", "${var.qemu_dir}/usr/share/qemu"],
    ["-L", "/usr/share/seabios"],
    ["-L", "/usr/lib/ipxe/qemu"],
    ["-cpu", "max"],
    ["-smp", "2"],
    ["-m", "1024"],
    ["-kernel", var.kernel],
    ["-initrd", var.initrd],
    ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1"],
  ]
  headless             = true
  ssh_username         = "root"
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "20m"
  shutdown_command     = "systemctl poweroff"
  output_directory     = var.output_directory
  vm_name              = "node.qcow2"
  disk_compression     = true
  http_directory       = var.mirror_directory
  http_port_min        = var.http_port == 0 ? 8000 : var.http_port
  http_port_max        = var.http_port == 0 ? 9000 : var.http_port
}

build {
  sources = ["source.qemu.node"]

  provisioner "shell" {
    inline = ["mkdir -p /opt/rplay/playbooks"]
  }

  provisioner "file" {
    source      = var.rplay_binary
    destination = "/usr/local/bin/rplay"
  }

  provisioner "file" {
    source      = "${var.repository}/roles"
    destination = "/opt/rplay"
  }

  provisioner "file" {
    source      = "${var.repository}/inventories"
    destination = "/opt/rplay"
  }

  provisioner "file" {
    source      = "${path.root}/apt-mirror.sh"
    destination = "/opt/rplay/apt-mirror.sh"
  }

  provisioner "file" {
    source      = "${var.repository}/playbooks/image.yml"
    destination = "/opt/rplay/playbooks/image.yml"
  }

  provisioner "shell" {
    environment_vars = [
      "DEBIAN_MIRROR=${var.debian_mirror_url}",
      "DEBIAN_MIRROR_KEY=${var.debian_mirror_key_url}",
    ]
    inline = concat(var.before_rplay, [
      "chmod 0755 /usr/local/bin/rplay",
      "ln -sfn ../roles /opt/rplay/playbooks/roles",
      "cat >/opt/rplay/build-vars.yml <<'RPLAY_VARS'\n${var.rplay_vars}\nRPLAY_VARS",
      # A mirror standing in for Debian's during the build only.
      "if [ -n \"$DEBIAN_MIRROR\" ]; then sh /opt/rplay/apt-mirror.sh use \"$DEBIAN_MIRROR\" \"$DEBIAN_MIRROR_KEY\"; fi",
      "cd /opt/rplay && rplay -c local -i inventories/local playbooks/image.yml -e image_profile=${var.image_profile} -e @build-vars.yml ${var.rplay_extra_args}",
      "if [ -n \"$DEBIAN_MIRROR\" ]; then sh /opt/rplay/apt-mirror.sh restore; fi",
      # Last: each clone gets a machine ID of its own at first boot. Done here, not in the
      # playbook, so image.yml stays idempotent on a booted node.
      "truncate -s 0 /etc/machine-id",
      "rm -f /var/lib/dbus/machine-id",
    ])
  }
}
