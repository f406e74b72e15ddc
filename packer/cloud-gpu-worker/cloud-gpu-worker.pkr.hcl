# The GPU worker image, layered on the node image of packer/cloud-base: the same
# playbook again with `image_profile=gpu`, which finds the base already in place and adds
# NVIDIA's container toolkit and containerd's nvidia runtime. See packer/README.md.

variable "base_image" {
  type        = string
  description = "The output of packer/cloud-base."
  default     = "../cloud-base/output-cloud-base/node.qcow2"
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
  type    = string
  default = "../../.cache/vm-trixie.key"
}

variable "qemu_dir" {
  type    = string
  default = "../../.cache/qemu"
}

variable "rplay_extra_args" {
  type    = string
  default = ""
}

variable "output_directory" {
  type    = string
  default = "output-cloud-gpu-worker"
}

source "qemu" "gpu-worker" {
  disk_image       = true
  iso_url          = var.base_image
  iso_checksum     = "none"
  use_backing_file = false
  skip_resize_disk = true
  format           = "qcow2"
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  accelerator      = "tcg"
  qemu_binary      = "${var.qemu_dir}/usr/bin/qemu-system-x86_64"
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
  vm_name              = "gpu-worker.qcow2"
}

build {
  sources = ["source.qemu.gpu-worker"]

  # rplay and the content are in the base image already (/usr/local/bin/rplay, /opt/rplay).
  provisioner "shell" {
    inline = [
      "cd /opt/rplay && rplay -c local -i inventories/local playbooks/image.yml -e image_profile=gpu ${var.rplay_extra_args}",
    ]
  }
}
