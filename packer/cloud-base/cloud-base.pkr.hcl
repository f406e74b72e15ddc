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
    source      = "${var.repository}/playbooks/image.yml"
    destination = "/opt/rplay/playbooks/image.yml"
  }

  provisioner "shell" {
    inline = [
      "chmod 0755 /usr/local/bin/rplay",
      "ln -sfn ../roles /opt/rplay/playbooks/roles",
      "cd /opt/rplay && rplay -c local -i inventories/local playbooks/image.yml -e image_profile=${var.image_profile} ${var.rplay_extra_args}",
    ]
  }
}
