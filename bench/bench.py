"""rplay against its peers on the same real sshd hosts; see bench/README.md.

Hosts are OpenSSH daemons on loopback ports started by tests/rig/sshd-hosts.sh (all hosts
share this machine's filesystem, so workload 2 writes under a directory per host and per
tool). Every tool connects as root with the rig's key and checks host keys against the
rig's known_hosts.

Workloads
  1  20 tasks of `command: true`
  2  node prep: 20 tasks (file, copy, template, lineinfile) into a directory per host,
     run fresh (2a) and again, idempotent (2b)
  3  fact gathering
  4  one ad hoc command on every host

Runners, alternated within each round
  rplay     target/release/rplay, --forks = hosts
  ansible   ansible-playbook / ansible from .venv, tuned as its users tune it: forks = hosts,
            pipelining, ControlMaster with ControlPersist, gather_facts: false unless the
            workload is facts
  pyinfra   pyinfra from .venv, --parallel = hosts
  floor     OpenSSH alone: one ControlMaster connection per host, every task one
            `ssh -S` exec on it, all hosts at once (workloads 1 and 4)
  spawn     the same commands run here with fork/exec, all hosts at once (workloads 1, 4)
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RPLAY = ROOT / "target" / "release" / "rplay"
VENV = ROOT / ".venv" / "bin"
RIG = ROOT / "tests" / "rig" / "sshd-hosts.sh"
TASKS = 20


def log(message):
    print(message, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def run(argv, cwd, env=None):
    """Runs a command and returns its wall time in seconds. A non-zero exit is a failure:
    a benchmark of a failed run means nothing."""
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace")[-3000:]
        raise Failed(f"{' '.join(map(str, argv[:4]))}... exited {proc.returncode}:\n{tail}")
    return seconds


def peak_rss_kib(argv, cwd, env=None):
    """Runs a command and returns (seconds, its peak RSS in KiB)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failed(f"{argv[0]} exited {status}:\n{out.decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss


class Rig:
    def __init__(self, count, work):
        self.dir = work / "rig"
        out = subprocess.run(
            [str(RIG), str(count), str(self.dir)], check=True, stdout=subprocess.PIPE, text=True
        ).stdout
        self.ports = [int(line) for line in out.split()]
        assert len(self.ports) == count
        self.key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        # Each host's TMPDIR on a tmpfs, as /tmp is on Debian 13: this machine's disk is
        # ext4 without a journal, where every new file costs a scan for recently freed
        # inodes (about 0.2 ms under load), which no real target pays.
        self.tmpfs = Path("/dev/shm") / f"rplay-bench-{os.getpid()}"
        for index in range(1, count + 1):
            tmp = self.dir / f"h{index}" / "tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            (self.tmpfs / f"h{index}").mkdir(parents=True, exist_ok=True)
            tmp.symlink_to(self.tmpfs / f"h{index}")

    def stop(self):
        subprocess.run([str(RIG), "stop", str(self.dir)], check=False)
        shutil.rmtree(self.tmpfs, ignore_errors=True)


def hosts(count):
    return [f"h{i}" for i in range(1, count + 1)]


# ---------------------------------------------------------------- workloads as files

def playbook_trivial():
    tasks = "".join(f"    - name: true {i}\n      command: 'true'\n" for i in range(1, TASKS + 1))
    return f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}"


NODE_PREP = """- hosts: all
  gather_facts: false
  vars:
    node: "{{ bench_nodes }}/{{ inventory_hostname }}"
  tasks:
    - file: {path: "{{ node }}", state: directory, mode: "0755"}
    - file: {path: "{{ node }}/etc", state: directory, mode: "0755"}
    - file: {path: "{{ node }}/etc/modules-load.d", state: directory, mode: "0755"}
    - file: {path: "{{ node }}/etc/sysctl.d", state: directory, mode: "0755"}
    - file: {path: "{{ node }}/etc/containerd", state: directory, mode: "0755"}
    - file: {path: "{{ node }}/var/lib/kubelet", state: directory, mode: "0700"}
    - copy: {content: "overlay\\nbr_netfilter\\n", dest: "{{ node }}/etc/modules-load.d/k8s.conf", mode: "0644"}
    - copy: {content: "runtime-endpoint: unix:///run/containerd/containerd.sock\\n", dest: "{{ node }}/etc/crictl.yaml", mode: "0644"}
    - copy: {content: "KUBELET_EXTRA_ARGS=\\n", dest: "{{ node }}/etc/kubelet-default", mode: "0644"}
    - copy: {content: "[Service]\\nDelegate=yes\\n", dest: "{{ node }}/etc/containerd/override.conf", mode: "0644"}
    - template: {src: kubelet.env.j2, dest: "{{ node }}/etc/kubelet.env", mode: "0644"}
    - template: {src: hosts.j2, dest: "{{ node }}/etc/hosts", mode: "0644"}
    - template: {src: config.toml.j2, dest: "{{ node }}/etc/containerd/config.toml", mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/sysctl.d/99-kubernetes.conf", line: "net.ipv4.ip_forward = 1", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/sysctl.d/99-kubernetes.conf", line: "net.bridge.bridge-nf-call-iptables = 1", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/sysctl.d/99-kubernetes.conf", line: "net.bridge.bridge-nf-call-ip6tables = 1", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/sysctl.d/99-kubernetes.conf", line: "vm.overcommit_memory = 1", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/fstab", line: "# swap disabled for kubelet", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/modules-load.d/conntrack.conf", line: "nf_conntrack", create: true, mode: "0644"}
    - lineinfile: {path: "{{ node }}/etc/kubelet-node-ip", line: "KUBELET_NODE_IP={{ ansible_host }}", create: true, mode: "0644"}
"""

TEMPLATES = {
    "kubelet.env.j2": "NODE_NAME={{ inventory_hostname }}\nMAX_PODS=110\n",
    "hosts.j2": "127.0.0.1 localhost\n{{ ansible_host }} {{ inventory_hostname }}\n",
    "config.toml.j2": "version = 2\n# {{ inventory_hostname }}\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
}

PYINFRA_NODE_PREP = '''
from io import StringIO
from pyinfra import host
from pyinfra.operations import files

node = f"{BENCH_NODES}/{host.name}"
address = host.data.ssh_hostname
for path, mode in [("", "755"), ("/etc", "755"), ("/etc/modules-load.d", "755"),
                   ("/etc/sysctl.d", "755"), ("/etc/containerd", "755"), ("/var/lib/kubelet", "700")]:
    files.directory(path=node + path, mode=mode)
for content, dest in [("overlay\\nbr_netfilter\\n", "/etc/modules-load.d/k8s.conf"),
                      ("runtime-endpoint: unix:///run/containerd/containerd.sock\\n", "/etc/crictl.yaml"),
                      ("KUBELET_EXTRA_ARGS=\\n", "/etc/kubelet-default"),
                      ("[Service]\\nDelegate=yes\\n", "/etc/containerd/override.conf")]:
    files.put(src=StringIO(content), dest=node + dest, mode="644")
for src, dest in [("kubelet.env.j2", "/etc/kubelet.env"), ("hosts.j2", "/etc/hosts"),
                  ("config.toml.j2", "/etc/containerd/config.toml")]:
    files.template(src=f"{BENCH_DIR}/{src}", dest=node + dest, mode="644",
                   inventory_hostname=host.name, ansible_host=address)
for line in ["net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1",
             "net.bridge.bridge-nf-call-ip6tables = 1", "vm.overcommit_memory = 1"]:
    files.line(path=node + "/etc/sysctl.d/99-kubernetes.conf", line=line, escape_regex_characters=True)
files.line(path=node + "/etc/fstab", line="# swap disabled for kubelet", escape_regex_characters=True)
files.line(path=node + "/etc/modules-load.d/conntrack.conf", line="nf_conntrack")
files.line(path=node + "/etc/kubelet-node-ip", line=f"KUBELET_NODE_IP={address}", escape_regex_characters=True)
'''

PYINFRA_TRIVIAL = f'''
from pyinfra.operations import server
for i in range({TASKS}):
    server.shell(name=f"true {{i}}", commands=["true"])
'''

PYINFRA_FACTS = '''
from pyinfra import host
from pyinfra.facts import server
# About what Ansible's default fact gathering collects: OS, kernel, distribution, host
# name, users and groups, mounts, time, uptime, load.
for fact in [server.Os, server.OsVersion, server.Arch, server.Hostname, server.Kernel,
             server.KernelVersion, server.LinuxDistribution, server.LinuxName, server.Date,
             server.Users, server.Groups, server.Mounts, server.Uptime, server.LoadAverage,
             server.OsRelease, server.Path]:
    host.get_fact(fact)
'''


class Setup:
    """The files every runner reads, for one host count."""

    def __init__(self, work, rig, count):
        self.work = work
        self.count = count
        self.dir = work / f"n{count}"
        self.dir.mkdir(parents=True, exist_ok=True)
        names = hosts(count)
        lines = ["[all]"]
        for name, port in zip(names, rig.ports):
            lines.append(f"{name} ansible_host=127.0.0.1 ansible_port={port}")
        lines += [
            "[all:vars]",
            "ansible_user=root",
            f"ansible_ssh_private_key_file={rig.key}",
            f"ansible_ssh_common_args='-o UserKnownHostsFile={rig.known_hosts}'",
            "ansible_python_interpreter=/usr/bin/python3",
        ]
        self.write("inventory.ini", "\n".join(lines) + "\n")
        self.write("trivial.yml", playbook_trivial())
        self.write("node-prep.yml", NODE_PREP)
        self.write("facts.yml", "- hosts: all\n  gather_facts: true\n  tasks: []\n")
        for name, text in TEMPLATES.items():
            self.write(name, text)
        self.write(
            "ansible.cfg",
            f"""[defaults]
forks = {count}
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s
control_path_dir = {self.dir}/cp
""",
        )
        pyhosts = ",\n".join(
            f'("{name}", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}, "ssh_user": "root", '
            f'"ssh_key": "{rig.key}", "ssh_known_hosts_file": "{rig.known_hosts}", '
            f'"ssh_strict_host_key_checking": "yes"}})'
            for name, port in zip(names, rig.ports)
        )
        self.write("pyinfra_inventory.py", f"hosts = [\n{pyhosts}\n]\n")
        self.write("pyinfra_trivial.py", PYINFRA_TRIVIAL)
        self.write("pyinfra_facts.py", PYINFRA_FACTS)
        self.write(
            "pyinfra_node_prep.py",
            f"BENCH_NODES = {str(self.nodes('pyinfra'))!r}\nBENCH_DIR = {str(self.dir)!r}\n"
            + PYINFRA_NODE_PREP,
        )
        self.ports = rig.ports[:count]
        self.rig = rig

    def write(self, name, text):
        (self.dir / name).write_text(text)

    def nodes(self, tool):
        return self.dir / f"nodes-{tool}"

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env["ANSIBLE_CONFIG"] = str(self.dir / "ansible.cfg")
        env["NO_COLOR"] = "1"
        env.pop("SSH_AUTH_SOCK", None)
        return env

    # ------------------------------------------------------------ runners per workload

    def rplay(self, workload):
        forks = ["--forks", str(self.count)]
        if workload == "1":
            return [str(RPLAY), "-i", "inventory.ini", "trivial.yml", *forks]
        if workload in ("2a", "2b"):
            return [str(RPLAY), "-i", "inventory.ini", "node-prep.yml", *forks,
                    "-e", f"bench_nodes={self.nodes('rplay')}"]
        if workload == "3":
            return [str(RPLAY), "-i", "inventory.ini", "facts.yml", *forks]
        if workload == "4":
            return [str(RPLAY), "run", "all", "-i", "inventory.ini", *forks, "true"]

    def ansible(self, workload):
        if workload == "1":
            return [str(VENV / "ansible-playbook"), "-i", "inventory.ini", "trivial.yml"]
        if workload in ("2a", "2b"):
            return [str(VENV / "ansible-playbook"), "-i", "inventory.ini", "node-prep.yml",
                    "-e", f"bench_nodes={self.nodes('ansible')}"]
        if workload == "3":
            return [str(VENV / "ansible-playbook"), "-i", "inventory.ini", "facts.yml"]
        if workload == "4":
            return [str(VENV / "ansible"), "all", "-i", "inventory.ini", "-m", "command", "-a", "true"]

    def pyinfra(self, workload):
        base = [str(VENV / "pyinfra"), "-y", "--parallel", str(self.count), "pyinfra_inventory.py"]
        if workload == "1":
            return base + ["pyinfra_trivial.py"]
        if workload in ("2a", "2b"):
            return base + ["pyinfra_node_prep.py"]
        if workload == "3":
            return base + ["pyinfra_facts.py"]
        if workload == "4":
            return base + ["exec", "--", "true"]

    def floor(self, workload):
        """OpenSSH alone. Workload 1: a master per host, then every task one exec per host
        on it, all hosts at once. Workload 4: one plain connection per host."""
        if workload not in ("1", "4"):
            return None
        ssh = (f"ssh -q -i {self.rig.key} -o UserKnownHostsFile={self.rig.known_hosts} "
               "-o BatchMode=yes -l root -p")
        script = ["set -e", f"dir={self.dir}/floor", 'rm -rf "$dir"; mkdir -p "$dir"']
        if workload == "4":
            script += [f"{ssh} {port} 127.0.0.1 true &" for port in self.ports]
            script.append("wait")
            return ["bash", "-c", "\n".join(script)]
        script += [f'{ssh} {port} -o ControlMaster=yes -o ControlPersist=yes -S "$dir/{port}" -fN 127.0.0.1'
                   for port in self.ports]
        one_task = " ".join(f'{ssh} {port} -S "$dir/{port}" 127.0.0.1 true &' for port in self.ports)
        script.append(f"for task in $(seq {TASKS}); do {one_task} wait; done")
        script += [f'{ssh} {port} -S "$dir/{port}" -O exit 127.0.0.1 2>/dev/null' for port in self.ports]
        return ["bash", "-c", "\n".join(script)]

    def spawn(self, workload):
        """The same commands as fork/exec on this machine, all hosts at once."""
        if workload not in ("1", "4"):
            return None
        tasks = TASKS if workload == "1" else 1
        one_task = "for h in $(seq %d); do /usr/bin/true & done; wait" % self.count
        return ["bash", "-c", f"for task in $(seq {tasks}); do {one_task}; done"]

    def prepare(self, tool, workload):
        """Untimed: workload 2a starts from nothing, 2b from what 2a left."""
        if workload == "2a":
            shutil.rmtree(self.nodes(tool), ignore_errors=True)
            self.nodes(tool).mkdir(parents=True)


def node_tree(root):
    """Every file under one host's directory with its content, to compare the tools."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(root))] = path.read_text()
    return found


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Linux {platform.release()}"


def versions():
    def first_line(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return {
        "rplay": first_line([str(RPLAY), "--version"]),
        "ansible": first_line([str(VENV / "ansible-playbook"), "--version"]),
        "pyinfra": first_line([str(VENV / "pyinfra"), "--version"]),
        "openssh": first_line(["ssh", "-V"]),
    }


def fmt(seconds):
    if seconds is None:
        return "—"
    if isinstance(seconds, str):
        return seconds
    return f"{seconds:.2f}"


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b == 0:
        return "—"
    return f"{a / b:.1f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="10,20,50")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="1,2,3,4")
    parser.add_argument("--peers", default="rplay,ansible,pyinfra,floor,spawn")
    parser.add_argument("--scale", type=int, default=1000,
                        help="hosts for rplay alone with its peak memory (0: skip)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--append", action="store_true",
                        help="add this run's section to --out instead of replacing it")
    args = parser.parse_args()

    counts = [int(n) for n in args.hosts.split(",") if n]
    workloads = []
    for w in args.workloads.split(","):
        workloads += ["2a", "2b"] if w == "2" else [w]
    peers = args.peers.split(",")
    if not RPLAY.exists():
        sys.exit(f"{RPLAY} is missing: run bench/run, which builds it")

    work = Path(tempfile.mkdtemp(prefix="rplay-bench-"))
    results = {}  # (workload, count, peer) -> [seconds]
    errors = []
    equivalence = []
    scale_line = None
    rig = Rig(max(counts + [args.scale]), work)
    try:
        for count in counts:
            setup = Setup(work, rig, count)
            for rnd in range(1, args.rounds + 1):
                for workload in workloads:
                    # Alternate the order of the runners from round to round.
                    order = peers[rnd % len(peers):] + peers[: rnd % len(peers)]
                    if workload == "2b":
                        order = peers  # 2b must follow 2a of the same tool: keep the order
                    for peer in order:
                        argv = getattr(setup, peer)(workload)
                        if argv is None:
                            continue
                        setup.prepare(peer, workload)
                        try:
                            seconds = run(argv, setup.dir, env=setup.env())
                        except Failed as e:
                            errors.append(f"{peer} workload {workload} on {count} hosts: {e}")
                            results.setdefault((workload, count, peer), []).append("error")
                            continue
                        results.setdefault((workload, count, peer), []).append(seconds)
                        log(f"{count:>5} hosts  w{workload:<3} {peer:<8} {seconds:8.2f} s  (round {rnd})")
            if "2a" in workloads:
                # The node-prep workload must leave the same files behind with every tool.
                trees = {peer: node_tree(setup.nodes(peer) / "h1")
                         for peer in ("rplay", "ansible", "pyinfra") if peer in peers}
                base = trees.get("rplay")
                for peer, tree in trees.items():
                    if tree != base:
                        equivalence.append(f"{count} hosts: {peer}'s files for h1 differ from rplay's")
        if args.scale:
            setup = Setup(work, rig, args.scale)
            seconds, rss = peak_rss_kib(setup.rplay("1"), setup.dir, env=setup.env())
            scale_line = (f"rplay, workload 1 on {args.scale} hosts (forks {args.scale}): "
                          f"{seconds:.2f} s, peak RSS {rss / 1024:.0f} MiB")
            log(scale_line)
    finally:
        rig.stop()

    def median(key):
        values = results.get(key)
        if not values:
            return None
        if any(v == "error" for v in values):
            return "error"
        return statistics.median(values)

    names = {"1": "1: 20 x command true", "2a": "2a: node prep, fresh", "2b": "2b: node prep, again",
             "3": "3: facts", "4": "4: ad hoc command"}
    rows = []
    header = ("| workload | hosts | " + " | ".join(peers)
              + " | ansible / rplay | pyinfra / rplay | rplay / floor | rplay / spawn |")
    rows.append(header)
    rows.append("|" + "---|" * (header.count("|") - 1))
    for workload in workloads:
        for count in counts:
            m = {peer: median((workload, count, peer)) for peer in peers}
            cells = [fmt(m[p]) for p in peers]
            rows.append(
                f"| {names[workload]} | {count} | " + " | ".join(cells) + " | "
                + " | ".join([ratio(m.get("ansible"), m.get("rplay")),
                              ratio(m.get("pyinfra"), m.get("rplay")),
                              ratio(m.get("rplay"), m.get("floor")),
                              ratio(m.get("rplay"), m.get("spawn"))]) + " |"
            )

    command = "bench/run " + " ".join(sys.argv[1:])
    v = versions()
    report = [
        "# Benchmark results",
        "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}.",
        f"Command: `{command.strip()}` ({args.rounds} rounds; medians in seconds, wall time "
        "of the whole command including connection setup).",
        "",
        "Versions: " + "; ".join(f"{k}: {val}" for k, val in v.items()) + ".",
        "",
        *rows,
        "",
    ]
    if scale_line:
        report += [scale_line + ".", ""]
    if equivalence:
        report += ["Differences in what the tools left behind:", ""] + [f"- {e}" for e in equivalence] + [""]
    if errors:
        report += ["Runs that failed (their cells say `error`):", ""] + [
            "```", *[e[:1500] for e in errors], "```", ""]
    text = "\n".join(report)
    print(text)
    out = Path(args.out)
    # The hand-written "## Findings" section (profiles, causes) survives new runs.
    previous = out.read_text() if out.exists() else ""
    findings = previous[previous.find("## Findings"):] if "## Findings" in previous else ""
    if findings:
        previous = previous[: previous.find("## Findings")]
    if args.append and previous:
        text = previous.rstrip("\n") + "\n\n" + text.replace("# Benchmark results", "## More hosts", 1)
    if findings:
        text = text.rstrip("\n") + "\n\n" + findings
    out.write_text(text)
    log(f"written to {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
