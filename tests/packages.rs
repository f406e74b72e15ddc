//! The apt family against booted Debian 13 machines (`tests/rig/targets.sh up nspawn`),
//! installing from the local repository of tiny packages that `tests/rig/local-apt-repo.sh`
//! builds here and each test copies to /srv/repo on its target (the targets have no
//! Internet). Every check reads the target's state over plain OpenSSH: what dpkg says,
//! apt's sources, lists and keyrings, the files packages leave.

#[path = "support/targets.rs"]
mod targets;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use targets::{recap, Kind, Run, Targets};

/// The test repository's source line: it is unsigned, so trusted.
const SOURCE: &str = "deb [trusted=yes] file:/srv/repo ./";

/// A booted target with the test repository at /srv/repo and no apt source at all.
fn target_with_repository() -> Targets {
    let rig = Targets::up(Kind::Nspawn, 1);
    let repository = build_repository(&rig, "repo");
    rig.put_dir("t1", &repository, "/srv/repo");
    // The image's sources.list names the Debian mirror, which no target can reach: every
    // `apt-get update` would wait about 90 s for it.
    rig.sh("t1", ": > /etc/apt/sources.list");
    rig
}

/// The target of `target_with_repository`, with the repository as its source and apt's
/// lists read.
fn target_with_source() -> Targets {
    let rig = target_with_repository();
    rig.sh(
        "t1",
        &format!(
            "echo '{SOURCE}' > /etc/apt/sources.list.d/rplay-test.list && apt-get -q update >/dev/null"
        ),
    );
    rig
}

/// Builds the test repository in the rig's directory, under `name`.
fn build_repository(rig: &Targets, name: &str) -> PathBuf {
    let dir = rig.path(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/local-apt-repo.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("bash runs local-apt-repo.sh");
    assert!(
        output.status.success(),
        "local-apt-repo.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// The test packages dpkg knows on the target, one `NAME VERSION STATUS` a line.
fn packages(rig: &Targets) -> String {
    rig.sh(
        "t1",
        r"dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}\n' 'rplay-*' 2>/dev/null; true",
    )
}

fn exists(rig: &Targets, path: &str) -> bool {
    let (status, _, _) = rig.try_sh("t1", &format!("test -e '{path}'"));
    status == 0
}

/// A play on every target, without facts, of these tasks (indented by four spaces).
fn playbook(tasks: &str) -> String {
    format!("- hosts: targets\n  gather_facts: false\n  tasks:\n{tasks}")
}

/// Runs rplay, which must succeed with these counts in t1's recap.
fn run(rig: &Targets, args: &[&str], ok: u32, changed: u32) -> Run {
    let run = rig.rplay(args);
    run.assert_status(0);
    assert_eq!(
        run.recap("t1"),
        recap("t1", ok, changed, 0, 0),
        "rplay {args:?}:\n{}",
        run.stdout
    );
    run
}

/// Runs rplay, which must fail on t1 (after `ok` tasks) with `message` in its output.
fn run_fails(rig: &Targets, args: &[&str], ok: u32, message: &str) -> Run {
    let run = rig.rplay(args);
    run.assert_status(2);
    assert_eq!(run.recap("t1"), recap("t1", ok, 0, 0, 1), "{}", run.stdout);
    assert!(
        run.stdout.contains(message),
        "{message:?} is not in:\n{}",
        run.stdout
    );
    run
}

/// Runs rplay on a playbook whose bad arguments must be refused before any host is
/// contacted, with exactly this error.
fn refused(rig: &Targets, file: &str, error: &str) {
    let run = rig.rplay(&[file]);
    run.assert_status(5);
    assert_eq!(run.stderr, error);
    assert_eq!(run.stdout, "", "no play started");
}

const LATEST: &str = "    - name: the candidate, after updating apt's lists
      apt:
        name: rplay-demo
        update_cache: true
      register: demo
    - assert:
        that: demo.cache_updated
";

#[test]
fn apt_installs_the_candidate_pinned_versions_and_local_debs() {
    let rig = target_with_repository();
    rig.sh(
        "t1",
        &format!("echo '{SOURCE}' > /etc/apt/sources.list.d/rplay-test.list"),
    );
    assert_eq!(
        packages(&rig),
        "",
        "the target starts without the test packages"
    );
    let both = "rplay-demo 2.0 installed\nrplay-dep 1.0 installed\n";

    // The candidate, 2.0, pulls in rplay-dep, which apt marks as installed automatically.
    rig.write("latest.yml", &playbook(LATEST));
    run(&rig, &["latest.yml"], 2, 1);
    assert_eq!(packages(&rig), both);
    assert_eq!(
        rig.sh("t1", "apt-mark showauto rplay-demo rplay-dep"),
        "rplay-dep\n"
    );

    // Lists an hour old are updated again (the playbook asserts `cache_updated`); nothing
    // is installed.
    let stamp = "/var/lib/apt/periodic/update-success-stamp";
    rig.sh("t1", &format!("touch -d '1 hour ago' {stamp}"));
    run(&rig, &["latest.yml"], 2, 0);
    let age = rig.sh(
        "t1",
        &format!("echo $(( $(date +%s) - $(stat -c %Y {stamp}) ))"),
    );
    assert!(
        age.trim().parse::<i64>().unwrap() < 60,
        "updated {age} s ago"
    );
    assert_eq!(packages(&rig), both);

    // Drift: removed by hand. --check reports it and leaves it; a run puts it back.
    rig.sh("t1", "dpkg -r rplay-demo >/dev/null");
    let removed = "rplay-dep 1.0 installed\n";
    assert_eq!(packages(&rig), removed);
    run(&rig, &["latest.yml", "--check"], 2, 1);
    assert_eq!(packages(&rig), removed, "--check left it alone");
    run(&rig, &["latest.yml"], 2, 1);
    assert_eq!(packages(&rig), both);

    // An older version by name needs allow_downgrade; a version glob it matches is
    // satisfied, and `latest` brings back 2.0.
    let old = "rplay-demo 1.0 installed\nrplay-dep 1.0 installed\n";
    rig.write(
        "pinned.yml",
        &playbook("    - apt: {name: rplay-demo=1.0, allow_downgrade: true}\n"),
    );
    run(&rig, &["pinned.yml"], 1, 1);
    assert_eq!(packages(&rig), old);
    run(&rig, &["pinned.yml"], 1, 0);
    rig.write(
        "glob.yml",
        &playbook("    - apt: {name: \"rplay-demo=1.*\"}\n"),
    );
    run(&rig, &["glob.yml"], 1, 0);
    assert_eq!(packages(&rig), old);
    rig.write(
        "upgrade.yml",
        &playbook("    - apt: {name: rplay-demo, state: latest}\n"),
    );
    run(&rig, &["upgrade.yml"], 1, 1);
    assert_eq!(packages(&rig), both);
    run(&rig, &["upgrade.yml"], 1, 0);

    // A newer version by name is a plain upgrade; an older one without allow_downgrade is
    // refused by apt-get, and nothing changes.
    run(&rig, &["pinned.yml"], 1, 1);
    rig.write(
        "exact.yml",
        &playbook("    - apt: {name: rplay-demo=2.0}\n"),
    );
    run(&rig, &["exact.yml"], 1, 1);
    assert_eq!(packages(&rig), both);
    run(&rig, &["exact.yml"], 1, 0);
    rig.write(
        "downgrade.yml",
        &playbook("    - apt: {name: rplay-demo=1.0}\n"),
    );
    run_fails(
        &rig,
        &["downgrade.yml"],
        0,
        "E: Packages were downgraded and -y was used without --allow-downgrades.",
    );
    assert_eq!(packages(&rig), both);

    // A .deb file on the target, installed over the newer version.
    rig.write(
        "deb.yml",
        &playbook(
            "    - apt: {deb: /srv/repo/pool/rplay-demo_1.0_all.deb, allow_downgrade: true}\n",
        ),
    );
    run(&rig, &["deb.yml"], 1, 1);
    assert_eq!(packages(&rig), old);
    run(&rig, &["deb.yml"], 1, 0);

    // A name apt does not know fails the task before anything is installed, in a run and
    // in --check.
    rig.write(
        "missing.yml",
        &playbook("    - apt: {name: [rplay-conf, rplay-nonexistent]}\n"),
    );
    for args in [&["missing.yml"][..], &["missing.yml", "--check"]] {
        run_fails(
            &rig,
            args,
            0,
            "No package matching 'rplay-nonexistent' is available",
        );
        assert_eq!(packages(&rig), old, "rplay {args:?} installed nothing");
    }

    // A misspelt argument stops the playbook before its first task runs.
    rig.write(
        "typo.yml",
        &playbook("    - apt: {name: rplay-conf}\n    - apt: {name: rplay-conf, stat: absent}\n"),
    );
    refused(
        &rig,
        "typo.yml",
        "error: unknown field `stat` in `apt` arguments
 --> typo.yml:5:31
  |
5 |     - apt: {name: rplay-conf, stat: absent}
  |                               ^^^^
help: did you mean `state`?
",
    );
    assert_eq!(packages(&rig), old);
}

#[test]
fn apt_removes_keeps_or_purges_configuration_and_autoremoves() {
    let rig = target_with_source();
    let conffile = "cat /etc/rplay-conf.conf";

    rig.write("conf.yml", &playbook("    - apt: {name: rplay-conf}\n"));
    run(&rig, &["conf.yml"], 1, 1);
    assert_eq!(packages(&rig), "rplay-conf 1.0 installed\n");
    assert_eq!(rig.sh("t1", conffile), "setting = default\n");

    // Removed, the package leaves its configuration file.
    rig.write(
        "remove.yml",
        &playbook("    - apt: {name: rplay-conf, state: absent}\n"),
    );
    run(&rig, &["remove.yml"], 1, 1);
    assert_eq!(packages(&rig), "rplay-conf 1.0 config-files\n");
    assert_eq!(rig.sh("t1", conffile), "setting = default\n");
    run(&rig, &["remove.yml"], 1, 0);

    // Purged, it leaves nothing; --check only says so.
    rig.write(
        "purge.yml",
        &playbook("    - apt: {name: rplay-conf, state: absent, purge: true}\n"),
    );
    run(&rig, &["purge.yml", "--check"], 1, 1);
    assert_eq!(packages(&rig), "rplay-conf 1.0 config-files\n");
    assert!(exists(&rig, "/etc/rplay-conf.conf"), "--check left it");
    run(&rig, &["purge.yml"], 1, 1);
    assert_eq!(packages(&rig), "");
    assert!(!exists(&rig, "/etc/rplay-conf.conf"));
    run(&rig, &["purge.yml"], 1, 0);

    // rplay-dep came in for rplay-demo 2.0 only: once that is removed, autoremove takes it.
    rig.write(
        "demo.yml",
        &playbook("    - apt: {name: rplay-demo}\n    - apt: {name: rplay-demo, state: absent}\n"),
    );
    run(&rig, &["demo.yml"], 2, 2);
    assert_eq!(packages(&rig), "rplay-dep 1.0 installed\n");
    rig.write(
        "autoremove.yml",
        &playbook("    - apt: {autoremove: true}\n"),
    );
    run(&rig, &["autoremove.yml", "--check"], 1, 1);
    assert_eq!(
        packages(&rig),
        "rplay-dep 1.0 installed\n",
        "--check left it"
    );
    run(&rig, &["autoremove.yml"], 1, 1);
    assert_eq!(packages(&rig), "");
    run(&rig, &["autoremove.yml"], 1, 0);
}

/// Holds dpkg's frontend lock until /run/rplay-lock-release appears (30 s at most).
/// dpkg and apt lock with fcntl(2), which flock(1) does not take part in: python's
/// `lockf` is fcntl.
const HOLD_LOCK: &str = "import fcntl, os, time
lock = open('/var/lib/dpkg/lock-frontend', 'a')
fcntl.lockf(lock, fcntl.LOCK_EX)
open('/run/rplay-lock-held', 'w').close()
deadline = time.time() + 30
while not os.path.exists('/run/rplay-lock-release') and time.time() < deadline:
    time.sleep(0.1)
";

#[test]
fn apt_waits_for_the_dpkg_lock_and_holds_services_back_with_policy_rc_d() {
    let rig = target_with_source();

    rig.sh_with_input("t1", "cat > /run/hold-lock.py", HOLD_LOCK.as_bytes());
    rig.sh(
        "t1",
        "nohup python3 /run/hold-lock.py >/dev/null 2>&1 </dev/null &
         for i in $(seq 100); do [ -e /run/rplay-lock-held ] && exit 0; sleep 0.1; done; exit 1",
    );
    rig.write(
        "impatient.yml",
        &playbook("    - apt: {name: rplay-conf, lock_timeout: 1}\n"),
    );
    run_fails(
        &rig,
        &["impatient.yml"],
        0,
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?",
    );
    assert_eq!(packages(&rig), "");
    // The lock goes two seconds after the next run starts; that run waits for it.
    rig.sh(
        "t1",
        "nohup sh -c 'sleep 2; touch /run/rplay-lock-release' >/dev/null 2>&1 </dev/null &",
    );
    rig.write(
        "patient.yml",
        &playbook("    - apt: {name: rplay-conf, lock_timeout: 60}\n"),
    );
    let patient = run(&rig, &["patient.yml", "-v"], 1, 1);
    assert!(
        patient
            .stdout
            .contains("Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend"),
        "{}",
        patient.stdout
    );
    assert_eq!(packages(&rig), "rplay-conf 1.0 installed\n");

    // The administrator's own policy-rc.d is set aside while apt-get runs and put back;
    // an apt hook records the one dpkg saw.
    let admin = "#!/bin/sh\nexit 0\n";
    rig.sh_with_input(
        "t1",
        "cat > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d",
        admin.as_bytes(),
    );
    rig.sh(
        "t1",
        r#"echo 'DPkg::Pre-Invoke { "cat /usr/sbin/policy-rc.d > /run/policy-rc.d.seen"; };' > /etc/apt/apt.conf.d/99rplay-test"#,
    );
    rig.write(
        "policy.yml",
        &playbook("    - apt: {name: rplay-demo, policy_rc_d: 101}\n"),
    );
    run(&rig, &["policy.yml"], 1, 1);
    assert_eq!(
        rig.sh("t1", "cat /run/policy-rc.d.seen"),
        "#!/bin/sh\nexit 101\n"
    );
    assert_eq!(rig.sh("t1", "cat /usr/sbin/policy-rc.d"), admin);
    assert_eq!(
        packages(&rig),
        "rplay-conf 1.0 installed\nrplay-demo 2.0 installed\nrplay-dep 1.0 installed\n"
    );

    // Without one before, none is left after.
    rig.sh("t1", "rm /usr/sbin/policy-rc.d /run/policy-rc.d.seen");
    rig.write(
        "policy-purge.yml",
        &playbook("    - apt: {name: rplay-conf, state: absent, purge: true, policy_rc_d: 101}\n"),
    );
    run(&rig, &["policy-purge.yml"], 1, 1);
    assert_eq!(
        rig.sh("t1", "cat /run/policy-rc.d.seen"),
        "#!/bin/sh\nexit 101\n"
    );
    assert!(!exists(&rig, "/usr/sbin/policy-rc.d"));
    assert!(!packages(&rig).contains("rplay-conf"));
}

#[test]
fn apt_repository_and_deb822_repository_manage_sources_apt_reads() {
    let rig = target_with_repository();
    let sources = |rig: &Targets| rig.sh("t1", "ls /etc/apt/sources.list.d");
    let list = "/etc/apt/sources.list.d/rplay-test.list";
    assert_eq!(
        rig.sh("t1", "apt-cache policy rplay-dep"),
        "",
        "apt does not know the package yet"
    );

    // The source is added without an update; the next task's update reads it.
    rig.write(
        "repository.yml",
        &playbook(&format!(
            "    - apt_repository: {{repo: \"{SOURCE}\", filename: rplay-test, update_cache: false}}
    - apt: {{name: rplay-dep, update_cache: true}}
"
        )),
    );
    run(&rig, &["repository.yml"], 2, 2);
    assert_eq!(
        rig.sh("t1", &format!("stat -c %a {list}; cat {list}")),
        format!("644\n{SOURCE}\n")
    );
    assert_eq!(packages(&rig), "rplay-dep 1.0 installed\n");
    run(&rig, &["repository.yml"], 2, 0);

    // Drift: the file removed by hand.
    rig.sh("t1", &format!("rm {list}"));
    run(&rig, &["repository.yml", "--check"], 2, 1);
    assert_eq!(sources(&rig), "", "--check left it out");
    run(&rig, &["repository.yml"], 2, 1);
    assert_eq!(rig.sh("t1", &format!("cat {list}")), format!("{SOURCE}\n"));

    // Lists updated two hours ago are stale for cache_valid_time 3600; once updated, fresh.
    let stamp = "stat -c %Y /var/lib/apt/periodic/update-success-stamp";
    rig.sh(
        "t1",
        "touch -d '2 hours ago' /var/lib/apt/periodic/update-success-stamp",
    );
    let stale: i64 = rig.sh("t1", stamp).trim().parse().unwrap();
    rig.write(
        "cache.yml",
        &playbook(
            "    - apt: {update_cache: true, cache_valid_time: 3600}
      register: cache
    - debug: {var: cache.cache_updated}
",
        ),
    );
    let first = run(&rig, &["cache.yml"], 2, 1);
    assert!(
        first.stdout.contains("\"cache.cache_updated\": true"),
        "{}",
        first.stdout
    );
    let updated: i64 = rig.sh("t1", stamp).trim().parse().unwrap();
    assert!(updated > stale + 3600, "updated at {updated}, was {stale}");
    let second = run(&rig, &["cache.yml"], 2, 0);
    assert!(
        second.stdout.contains("\"cache.cache_updated\": false"),
        "{}",
        second.stdout
    );
    assert_eq!(rig.sh("t1", stamp).trim(), updated.to_string());

    // `absent` deletes the file the line was alone in.
    rig.write(
        "absent.yml",
        &playbook(&format!(
            "    - apt_repository: {{repo: \"{SOURCE}\", state: absent}}\n"
        )),
    );
    run(&rig, &["absent.yml"], 1, 1);
    assert_eq!(sources(&rig), "");
    run(&rig, &["absent.yml"], 1, 0);

    // A repository apt cannot read: the update fails and the new file goes again.
    rig.write(
        "broken.yml",
        &playbook(
            "    - apt_repository: {repo: \"deb file:/nonexistent ./\", update_cache_retries: 1}\n",
        ),
    );
    run_fails(
        &rig,
        &["broken.yml"],
        0,
        "E: The repository 'file:/nonexistent ./ Release' does not have a Release file.",
    );
    assert_eq!(sources(&rig), "");

    // The same repository as a deb822 source; apt installs from it.
    let deb822 = "    - deb822_repository:
        name: rplay test
        uris: file:/srv/repo
        suites: ./
        trusted: true
    - apt: {name: rplay-conf, update_cache: true}
";
    rig.write("deb822.yml", &playbook(deb822));
    let file = "/etc/apt/sources.list.d/rplay-test.sources";
    let written =
        "X-Repolib-Name: rplay test\nSuites: ./\nTrusted: yes\nTypes: deb\nURIs: file:/srv/repo\n";
    run(&rig, &["deb822.yml"], 2, 2);
    assert_eq!(
        rig.sh("t1", &format!("stat -c %a {file}; cat {file}")),
        format!("644\n{written}")
    );
    assert_eq!(
        packages(&rig),
        "rplay-conf 1.0 installed\nrplay-dep 1.0 installed\n"
    );
    run(&rig, &["deb822.yml"], 2, 0);

    // Drift: edited by hand.
    rig.sh(
        "t1",
        &format!("sed -i 's/^Trusted: yes/Trusted: no/' {file}"),
    );
    let edited = rig.sh("t1", &format!("cat {file}"));
    assert!(edited.contains("Trusted: no"));
    run(&rig, &["deb822.yml", "--check"], 2, 1);
    assert_eq!(
        rig.sh("t1", &format!("cat {file}")),
        edited,
        "--check left it"
    );
    run(&rig, &["deb822.yml"], 2, 1);
    assert_eq!(rig.sh("t1", &format!("cat {file}")), written);

    rig.write(
        "deb822-absent.yml",
        &playbook("    - deb822_repository: {name: rplay test, state: absent}\n"),
    );
    run(&rig, &["deb822-absent.yml"], 1, 1);
    assert_eq!(sources(&rig), "");
    run(&rig, &["deb822-absent.yml"], 1, 0);

    rig.write(
        "typo.yml",
        &playbook(&format!(
            "    - apt_repository: {{repo: \"{SOURCE}\"}}
    - deb822_repository: {{name: rplay test, uris: file:/srv/repo, suites: ./, trusted: perhaps}}
"
        )),
    );
    refused(
        &rig,
        "typo.yml",
        "error: `\"perhaps\"` is not a boolean (use true or false) in `deb822_repository` arguments
 --> typo.yml:5:88
  |
5 |     - deb822_repository: {name: rplay test, uris: file:/srv/repo, suites: ./, trusted: perhaps}
  |                                                                                        ^^^^^^^
",
    );
    assert_eq!(sources(&rig), "");
}

/// An OpenPGP signing key made for one test in a GnuPG home of its own; the gpg-agent gpg
/// starts for it is stopped when the test ends.
struct Signer {
    home: PathBuf,
}

impl Signer {
    fn new(home: PathBuf) -> Signer {
        std::fs::create_dir_all(&home).expect("a GnuPG home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let signer = Signer { home };
        signer.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "rplay test <rplay@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        signer
    }

    fn gpg(&self, args: &[&str]) -> String {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--batch", "--yes", "--quiet"])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn public_key(&self) -> String {
        self.gpg(&["--armor", "--export"])
    }

    fn fingerprint(&self) -> String {
        let listing = self.gpg(&["--with-colons", "--list-keys"]);
        listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:::::::::"))
            .and_then(|rest| rest.strip_suffix(':'))
            .expect("a fingerprint")
            .to_string()
    }

    /// Signs a repository's Release as InRelease, as archives do.
    fn sign(&self, repository: &Path) {
        let release = repository.join("Release");
        let in_release = repository.join("InRelease");
        self.gpg(&[
            "--clearsign",
            "--output",
            in_release.to_str().unwrap(),
            release.to_str().unwrap(),
        ]);
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "all"])
            .status();
    }
}

#[test]
fn apt_key_fills_a_keyring_that_apt_checks_a_signed_repository_with() {
    let rig = target_with_repository();
    let signer = Signer::new(rig.path("gnupg"));
    let signed = build_repository(&rig, "signed");
    signer.sign(&signed);
    rig.put_dir("t1", &signed, "/srv/signed");
    // A copy changed after signing: its signature no longer matches.
    rig.put_dir("t1", &signed, "/srv/tampered");
    rig.sh(
        "t1",
        "sed -i 's/^Label: .*/Label: someone else/' /srv/tampered/InRelease",
    );

    let key: String = signer
        .public_key()
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    rig.write(
        "key.yml",
        &format!(
            "- hosts: targets
  gather_facts: false
  vars:
    key: |
{key}  tasks:
    - apt_key:
        data: \"{{{{ key }}}}\"
        keyring: /etc/apt/keyrings/rplay.gpg
"
        ),
    );
    let keyring = "/etc/apt/keyrings/rplay.gpg";
    let listed = format!(
        "stat -c %a {keyring}; gpg --show-keys --with-colons {keyring} 2>/dev/null | grep ^fpr"
    );
    run(&rig, &["key.yml"], 1, 1);
    assert_eq!(
        rig.sh("t1", &listed),
        format!("644\nfpr:::::::::{}:\n", signer.fingerprint())
    );
    run(&rig, &["key.yml"], 1, 0);

    // Drift: the keyring deleted by hand.
    rig.sh("t1", &format!("rm {keyring}"));
    run(&rig, &["key.yml", "--check"], 1, 1);
    assert!(!exists(&rig, keyring), "--check left it out");
    run(&rig, &["key.yml"], 1, 1);
    assert_eq!(
        rig.sh("t1", &listed),
        format!("644\nfpr:::::::::{}:\n", signer.fingerprint())
    );

    // No `trusted=yes`: apt checks InRelease against the keyring, then installs.
    rig.write(
        "signed.yml",
        &playbook(&format!(
            "    - apt_repository: {{repo: \"deb [signed-by={keyring}] file:/srv/signed ./\", filename: rplay-signed}}
    - apt: {{name: rplay-demo}}
"
        )),
    );
    run(&rig, &["signed.yml"], 2, 2);
    assert_eq!(
        packages(&rig),
        "rplay-demo 2.0 installed\nrplay-dep 1.0 installed\n"
    );
    assert!(exists(&rig, "/var/lib/apt/lists/_srv_signed_._InRelease"));
    run(&rig, &["signed.yml"], 2, 0);

    // The same keyring refuses the tampered copy: the update fails, the source goes again.
    rig.write(
        "tampered.yml",
        &playbook(&format!(
            "    - apt_repository: {{repo: \"deb [signed-by={keyring}] file:/srv/tampered ./\", filename: rplay-tampered, update_cache_retries: 1}}\n"
        )),
    );
    run_fails(
        &rig,
        &["tampered.yml"],
        0,
        "E: The repository 'file:/srv/tampered ./ InRelease' is not signed.",
    );
    assert_eq!(
        rig.sh("t1", "ls /etc/apt/sources.list.d"),
        "rplay-signed.list\n"
    );

    rig.write(
        "typo.yml",
        &playbook("    - apt: {name: rplay-conf}\n    - apt_key: {id: XYZ, keyring: /etc/apt/keyrings/rplay.gpg}\n"),
    );
    refused(
        &rig,
        "typo.yml",
        "error: Invalid key_id in `apt_key` arguments
 --> typo.yml:5:21
  |
5 |     - apt_key: {id: XYZ, keyring: /etc/apt/keyrings/rplay.gpg}
  |                     ^^^
",
    );
    assert!(!packages(&rig).contains("rplay-conf"));
}

#[test]
fn package_installs_through_apt_and_dpkg_selections_hold_a_version() {
    let rig = target_with_source();

    rig.write(
        "package.yml",
        &playbook("    - package: {name: rplay-dep, state: present}\n"),
    );
    run(&rig, &["package.yml"], 1, 1);
    assert_eq!(packages(&rig), "rplay-dep 1.0 installed\n");
    // apt-get, not dpkg alone, installed it: apt keeps a history.
    assert_eq!(
        rig.sh(
            "t1",
            "grep -c '^Install: rplay-dep:amd64 (1.0)' /var/log/apt/history.log"
        ),
        "1\n"
    );
    run(&rig, &["package.yml"], 1, 0);
    rig.sh("t1", "dpkg -r rplay-dep >/dev/null");
    run(&rig, &["package.yml", "--check"], 1, 1);
    assert_eq!(packages(&rig), "", "--check left it out");
    run(&rig, &["package.yml"], 1, 1);
    assert_eq!(packages(&rig), "rplay-dep 1.0 installed\n");

    rig.write(
        "facts.yml",
        &playbook(
            "    - package_facts:
    - assert:
        that:
          - ansible_facts.packages['rplay-dep'][0].version == '1.0'
          - ansible_facts.packages['rplay-dep'][0].source == 'apt'
          - \"'rplay-demo' not in ansible_facts.packages\"
",
        ),
    );
    run(&rig, &["facts.yml"], 2, 0);

    // Held at 1.0.
    rig.sh(
        "t1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -q -y rplay-demo=1.0 >/dev/null",
    );
    let selection = |rig: &Targets| {
        rig.sh("t1", "dpkg --get-selections rplay-demo")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(selection(&rig), "rplay-demo install");
    rig.write(
        "hold.yml",
        &playbook("    - dpkg_selections: {name: rplay-demo, selection: hold}\n"),
    );
    run(&rig, &["hold.yml"], 1, 1);
    assert_eq!(selection(&rig), "rplay-demo hold");
    run(&rig, &["hold.yml"], 1, 0);

    // Drift: released by hand.
    rig.sh_with_input("t1", "dpkg --set-selections", b"rplay-demo install\n");
    run(&rig, &["hold.yml", "--check"], 1, 1);
    assert_eq!(selection(&rig), "rplay-demo install", "--check left it");
    run(&rig, &["hold.yml"], 1, 1);
    assert_eq!(selection(&rig), "rplay-demo hold");

    // The hold keeps apt at 1.0 unless the task lets held packages change.
    rig.write(
        "upgrade.yml",
        &playbook("    - apt: {name: rplay-demo, state: latest}\n"),
    );
    run_fails(
        &rig,
        &["upgrade.yml"],
        0,
        "E: Held packages were changed and -y was used without --allow-change-held-packages.",
    );
    assert_eq!(
        packages(&rig),
        "rplay-demo 1.0 installed\nrplay-dep 1.0 installed\n"
    );
    rig.write(
        "upgrade-held.yml",
        &playbook(
            "    - apt: {name: rplay-demo, state: latest, allow_change_held_packages: true}\n",
        ),
    );
    run(&rig, &["upgrade-held.yml"], 1, 1);
    assert_eq!(
        packages(&rig),
        "rplay-demo 2.0 installed\nrplay-dep 1.0 installed\n"
    );

    rig.write(
        "typo.yml",
        &playbook("    - apt: {name: rplay-conf}\n    - dpkg_selections: {name: rplay-demo, selection: keep}\n"),
    );
    refused(
        &rig,
        "typo.yml",
        "error: unknown variant `keep`, expected one of `install`, `hold`, `deinstall`, `purge` in `dpkg_selections` arguments
 --> typo.yml:5:54
  |
5 |     - dpkg_selections: {name: rplay-demo, selection: keep}
  |                                                      ^^^^
",
    );
    assert!(!packages(&rig).contains("rplay-conf"));
}
