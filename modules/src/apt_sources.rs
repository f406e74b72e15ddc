//! What the modules that manage apt's sources and keys share: reading a set of files
//! (with their mode, through symlinks) in one command, downloading a key on the host, and
//! telling an ASCII-armored key from a binary one.

use crate::transport::{Exec, Transport};
use crate::ModuleError;

/// Where apt's sources live.
pub(crate) const SOURCES_LIST: &str = "/etc/apt/sources.list";
pub(crate) const SOURCES_PARTS: &str = "/etc/apt/sources.list.d";
/// Where keys for `signed-by` belong.
pub(crate) const KEYRINGS: &str = "/etc/apt/keyrings";

/// A file as the host has it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostFile {
    /// The path asked for (or found in the directory).
    pub path: String,
    /// Where its content lives: the path itself, or what a symlink points to.
    pub real_path: String,
    /// Permission bits.
    pub mode: u32,
    pub content: Vec<u8>,
}

/// Prints, for each regular file among the arguments (after the `*.list` files of the
/// directory in the first argument, when it is not empty): its path, a line with its mode,
/// size and real path, then its bytes.
const READ: &str = r#"dir=$1
shift
if [ -n "$dir" ]; then
  for file in "$dir"/*.list; do
    [ -e "$file" ] && set -- "$@" "$file"
  done
fi
for file do
  [ -f "$file" ] || continue
  printf '%s\n%s %s %s\n' "$file" "$(stat -L -c %a -- "$file")" "$(stat -L -c %s -- "$file")" "$(readlink -f -- "$file")"
  cat -- "$file"
done
"#;

/// Reads `files` and, with `list_dir`, every `*.list` file in that directory, in one
/// command. Files that do not exist (or are not regular files) are left out.
pub(crate) async fn read_files(
    transport: &dyn Transport,
    list_dir: Option<&str>,
    files: &[String],
) -> Result<Vec<HostFile>, ModuleError> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        READ.to_string(),
        "rplay-read-files".to_string(),
        list_dir.unwrap_or_default().to_string(),
    ];
    argv.extend(files.iter().cloned());
    let output = transport.run(&Exec::new(argv)).await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "reading apt's files failed: {}",
            output.stderr_text().trim()
        )));
    }
    parse_files(&output.stdout).map_err(ModuleError::failed)
}

fn parse_files(bytes: &[u8]) -> Result<Vec<HostFile>, String> {
    let mut files: Vec<HostFile> = Vec::new();
    let mut rest = bytes;
    let line = |rest: &mut &[u8]| -> Option<String> {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        *rest = &rest[end + 1..];
        Some(text)
    };
    while !rest.is_empty() {
        let bad = || "could not read apt's files: unexpected output".to_string();
        let path = line(&mut rest).ok_or_else(bad)?;
        let header = line(&mut rest).ok_or_else(bad)?;
        let mut fields = header.splitn(3, ' ');
        let mode = fields
            .next()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(bad)?;
        let size: usize = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let real_path = fields.next().unwrap_or(&path).to_string();
        if rest.len() < size {
            return Err(bad());
        }
        let content = rest[..size].to_vec();
        rest = &rest[size..];
        // A file named twice (given, and found in the directory) is read once.
        if !files.iter().any(|f| f.path == path) {
            files.push(HostFile {
                path,
                real_path,
                mode,
                content,
            });
        }
    }
    Ok(files)
}

/// Prints the body at a URL, with curl or else wget. Arguments: the URL, then `0` to
/// skip certificate checks.
const DOWNLOAD: &str = r#"url=$1 validate=$2
if command -v curl >/dev/null 2>&1; then
  if [ "$validate" = 0 ]; then exec curl --silent --show-error --location --fail --insecure "$url"; fi
  exec curl --silent --show-error --location --fail "$url"
elif command -v wget >/dev/null 2>&1; then
  if [ "$validate" = 0 ]; then exec wget --quiet --no-check-certificate --output-document=- "$url"; fi
  exec wget --quiet --output-document=- "$url"
fi
echo "downloading $url needs curl or wget on the host" >&2
exit 3
"#;

/// Downloads `url` on the host (reading only: the body comes back here). `Err` carries
/// the downloader's complaint for the task's failure message.
pub(crate) async fn download(
    transport: &dyn Transport,
    url: &str,
    validate_certs: bool,
) -> Result<Result<Vec<u8>, String>, ModuleError> {
    let output = transport
        .run(&Exec::new([
            "sh",
            "-c",
            DOWNLOAD,
            "rplay-download",
            url,
            if validate_certs { "1" } else { "0" },
        ]))
        .await?;
    if output.success() {
        Ok(Ok(output.stdout))
    } else {
        Ok(Err(output.stderr_text().trim().to_string()))
    }
}

/// Whether key material is an ASCII-armored public key block.
pub(crate) fn is_armored(data: &[u8]) -> bool {
    data.windows(36)
        .any(|w| w == b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
}

/// Whether a value names something to fetch (`https://…`).
pub(crate) fn is_url(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn reads_files_and_a_directory_in_one_command() {
        let fixture = Fixture::new();
        let dir = fixture.path("sources.list.d");
        std::fs::create_dir(&dir).unwrap();
        fixture.write("sources.list.d/a.list", b"deb http://a/ x main\n", 0o644);
        fixture.write("sources.list.d/b.sources", b"ignored\n", 0o644);
        fixture.write("real.list", b"deb http://b/ y main\n", 0o600);
        std::os::unix::fs::symlink(
            fixture.path("real.list"),
            fixture.path("sources.list.d/c.list"),
        )
        .unwrap();
        let key = fixture.write("key.gpg", &[0x99, 0x00, 0x0a, 0xff], 0o644);
        let (files, commands) = {
            let counting = crate::testing::CountingTransport {
                inner: &fixture.transport,
                runs: std::sync::atomic::AtomicUsize::new(0),
            };
            let files = read_files(
                &counting,
                Some(&dir),
                &[
                    key.clone(),
                    fixture.path("missing"),
                    fixture.path("sources.list.d/a.list"),
                ],
            )
            .await
            .unwrap();
            (
                files,
                counting.runs.load(std::sync::atomic::Ordering::SeqCst),
            )
        };
        assert_eq!(commands, 1);
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            vec![
                key.as_str(),
                fixture.path("sources.list.d/a.list").as_str(),
                fixture.path("sources.list.d/c.list").as_str(),
            ]
        );
        assert_eq!(files[0].content, vec![0x99, 0x00, 0x0a, 0xff]);
        assert_eq!(files[2].content, b"deb http://b/ y main\n");
        assert_eq!(files[2].mode, 0o600);
        assert_eq!(files[2].real_path, fixture.path("real.list"));
    }

    #[tokio::test]
    async fn downloads_through_the_host() {
        let fixture = Fixture::new();
        let key = fixture.write("key.asc", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n", 0o644);
        let body = download(&fixture.transport, &format!("file://{key}"), true)
            .await
            .unwrap()
            .unwrap();
        assert!(is_armored(&body));
        let failure = download(&fixture.transport, "file:///nonexistent/key", false)
            .await
            .unwrap()
            .unwrap_err();
        assert!(!failure.is_empty());
    }

    #[test]
    fn tells_urls_from_keys_and_paths() {
        assert!(is_url(
            "https://pkgs.k8s.io/core:/stable:/v1.31/deb/Release.key"
        ));
        assert!(!is_url("/etc/apt/keyrings/k8s.asc"));
        assert!(!is_url(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: x://y\n"
        ));
        assert!(!is_url("0123456789ABCDEF0123456789ABCDEF01234567"));
    }
}
