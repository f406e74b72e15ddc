//! What only a real kernel shows: kernel modules and `kernel.*` sysctls, in a QEMU VM of
//! the Debian 13 test image (`tests/rig/vm.sh`; software emulation, one to three minutes
//! to boot). State is read from the VM over plain OpenSSH, not from rplay's report.

#[path = "support/targets.rs"]
mod targets;

#[path = "support/vm.rs"]
mod vm;

use targets::recap;
use vm::Vm;

const KERNEL_PLAYBOOK: &str = r#"- hosts: vms
  gather_facts: false
  tasks:
    - name: bridged traffic goes through iptables
      community.general.modprobe:
        name: br_netfilter
        persistent: present
    - name: the container runtime's filesystem
      modprobe:
        name: overlay
        persistent: present
    - name: bridge netfilter, a parameter br_netfilter brings
      sysctl:
        name: net.bridge.bridge-nf-call-iptables
        value: "1"
        sysctl_file: /etc/sysctl.d/99-kubernetes.conf
    - name: a kernel parameter
      sysctl:
        name: kernel.panic
        value: "10"
        sysctl_file: /etc/sysctl.d/99-kubernetes.conf
"#;

const STATE: &str = "for m in br_netfilter overlay; do grep -q \"^$m \" /proc/modules && echo $m loaded || echo $m missing; done; \
     cat /etc/modules-load.d/br_netfilter.conf /etc/modules-load.d/overlay.conf; \
     sysctl -n net.bridge.bridge-nf-call-iptables kernel.panic";

#[test]
fn modules_load_and_persist_and_kernel_parameters_apply_in_a_vm() {
    let vm = Vm::up();
    std::fs::write(vm.dir.path().join("kernel.yml"), KERNEL_PLAYBOOK).unwrap();
    assert_eq!(
        vm.sh(&format!("{STATE} 2>/dev/null; true")),
        "br_netfilter missing\noverlay missing\n-1\n",
        "a fresh VM has neither module loaded (and panic=-1 from its kernel command line)"
    );

    let first = vm.rplay(&["kernel.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("vm1"), recap("vm1", 4, 4, 0, 0));
    assert_eq!(
        vm.sh(STATE),
        "br_netfilter loaded\noverlay loaded\nbr_netfilter\noverlay\n1\n10\n"
    );

    let second = vm.rplay(&["kernel.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("vm1"), recap("vm1", 4, 0, 0, 0));

    // Drift: a module unloaded and a parameter changed by hand. --check sees both and
    // changes neither; a run puts both back.
    vm.sh("modprobe -r overlay && sysctl -qw kernel.panic=0");
    let check = vm.rplay(&["kernel.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(check.recap("vm1"), recap("vm1", 4, 2, 0, 0));
    assert_eq!(
        vm.sh(STATE),
        "br_netfilter loaded\noverlay missing\nbr_netfilter\noverlay\n1\n0\n"
    );
    let converge = vm.rplay(&["kernel.yml"]);
    converge.assert_status(0);
    assert_eq!(converge.recap("vm1"), recap("vm1", 4, 2, 0, 0));
    assert_eq!(
        vm.sh(STATE),
        "br_netfilter loaded\noverlay loaded\nbr_netfilter\noverlay\n1\n10\n"
    );
}
