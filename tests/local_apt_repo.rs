//! The local apt repository that package tests on real targets install from
//! (`tests/rig/local-apt-repo.sh`), checked with this machine's own apt, sandboxed: every
//! directory apt reads or writes (configuration, lists, cache, dpkg status) lives in a
//! scratch directory, `APT_CONFIG` keeps the machine's `apt.conf.d` (and its hooks) out,
//! and packages are only simulated or downloaded, never installed.

use std::path::Path;
use std::process::{Command, Output};

struct Sandbox {
    _dir: tempfile::TempDir,
    root: String,
    config: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let root = dir.path().to_string_lossy().into_owned();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/lib/dpkg",
            "var/cache/apt/archives/partial",
            "var/log/apt",
            "download",
        ] {
            std::fs::create_dir_all(format!("{root}/{sub}")).expect("a sandbox directory");
        }
        std::fs::write(format!("{root}/var/lib/dpkg/status"), "").expect("an empty status");
        let config = format!("{root}/apt.conf");
        std::fs::write(
            &config,
            format!(
                "Dir::Etc::Parts \"{root}/etc/apt/apt.conf.d\";\n\
                 Dir::Etc::main \"/dev/null\";\n\
                 Dir::Etc::SourceList \"{root}/etc/apt/sources.list\";\n\
                 Dir::Etc::SourceParts \"{root}/etc/apt/sources.list.d\";\n\
                 Dir::Etc::Preferences \"{root}/etc/apt/preferences\";\n\
                 Dir::Etc::PreferencesParts \"{root}/etc/apt/preferences.d\";\n\
                 Dir::Etc::Trusted \"{root}/etc/apt/trusted.gpg\";\n\
                 Dir::Etc::TrustedParts \"{root}/etc/apt/trusted.gpg.d\";\n\
                 Dir::State \"{root}/var/lib/apt\";\n\
                 Dir::State::status \"{root}/var/lib/dpkg/status\";\n\
                 Dir::Cache \"{root}/var/cache/apt\";\n\
                 Dir::Log \"{root}/var/log/apt\";\n\
                 APT::Sandbox::User \"root\";\n"
            ),
        )
        .expect("the sandbox's apt.conf");
        Sandbox {
            _dir: dir,
            root,
            config,
        }
    }

    fn apt(&self, program: &str, args: &[&str]) -> Output {
        let output = Command::new(program)
            .args(args)
            .env("APT_CONFIG", &self.config)
            .env("LC_ALL", "C")
            .current_dir(format!("{}/download", self.root))
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_local_repository_is_one_apt_accepts() {
    let sandbox = Sandbox::new();
    let repo = format!("{}/repo", sandbox.root);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/local-apt-repo.sh");
    let built = Command::new("bash")
        .arg(&script)
        .arg(&repo)
        .output()
        .expect("bash runs the script");
    assert!(built.status.success(), "{}", text(&built));
    let line = String::from_utf8_lossy(&built.stdout).trim().to_string();
    assert_eq!(line, format!("deb [trusted=yes] file:{repo} ./"));
    std::fs::write(
        format!("{}/etc/apt/sources.list.d/rplay-test.list", sandbox.root),
        format!("{line}\n"),
    )
    .unwrap();

    let update = text(&sandbox.apt("apt-get", &["update"]));
    assert!(
        !update.contains("W:") && !update.contains("E:"),
        "apt-get update complained:\n{update}"
    );

    let policy = text(&sandbox.apt("apt-cache", &["policy", "rplay-demo", "rplay-dep"]));
    assert!(policy.contains("Candidate: 2.0"), "{policy}");
    assert!(policy.contains("     1.0 500"), "{policy}");

    // 2.0 pulls in its dependency; 1.0 can be asked for by version.
    let latest = text(&sandbox.apt("apt-get", &["-s", "install", "rplay-demo"]));
    assert!(latest.contains("Inst rplay-dep (1.0"), "{latest}");
    assert!(latest.contains("Inst rplay-demo (2.0"), "{latest}");
    let pinned = text(&sandbox.apt("apt-get", &["-s", "install", "rplay-demo=1.0"]));
    assert!(pinned.contains("Inst rplay-demo (1.0"), "{pinned}");
    assert!(!pinned.contains("rplay-dep"), "{pinned}");
    let globbed = text(&sandbox.apt("apt-get", &["-s", "install", "rplay-demo=1.*"]));
    assert!(globbed.contains("Inst rplay-demo (1.0"), "{globbed}");

    // Downloading checks each file against the index's size and SHA256.
    sandbox.apt("apt-get", &["download", "rplay-demo=2.0", "rplay-conf"]);
    for name in ["rplay-demo_2.0_all.deb", "rplay-conf_1.0_all.deb"] {
        assert!(
            Path::new(&format!("{}/download/{name}", sandbox.root)).exists(),
            "{name} downloaded"
        );
    }
    let conffiles = Command::new("dpkg-deb")
        .args([
            "--info",
            &format!("{repo}/pool/rplay-conf_1.0_all.deb"),
            "conffiles",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&conffiles.stdout),
        "/etc/rplay-conf.conf\n"
    );
}
