//! `slurp`: returns a file's content from the host, base64-encoded; changes nothing.
//!
//! The file is read once through the transport; the task is always `ok`.
//!
//! ```yaml
//! - name: Read the join token
//!   slurp:
//!     src: /etc/kubernetes/join-token
//!   register: join_token
//! ```

use crate::args::Args;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::transport::TransportError;
use crate::{Host, Module, ModuleError};
use base64::Engine;
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "slurp",
    aliases: &["ansible.builtin.slurp", "ansible.legacy.slurp"],
    doc: include_str!("slurp.rs"),
    free_form: None,
    build: crate::registry::build::<SlurpArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurpArgs {
    /// The file to read.
    #[serde(alias = "path")]
    pub src: String,
}

impl Args for SlurpArgs {}

impl Module for SlurpArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let src = &self.src;
            let content = match host.transport.get(src).await {
                Ok(Some(content)) => content,
                Ok(None) => return Err(ModuleError::failed(format!("File not found: {src}"))),
                Err(TransportError::Io(message)) => {
                    return Err(ModuleError::failed(if message.contains("Is a directory") {
                        format!("Source is a directory and must be a file: {src}")
                    } else if message.contains("Permission denied") {
                        format!("File is not readable: {src}")
                    } else {
                        format!("Unable to slurp file: {src}: {message}")
                    }))
                }
                Err(other) => return Err(other.into()),
            };
            Ok(Plan::ok(format!("read {} bytes from {src}", content.len()))
                .with(
                    "content",
                    base64::engine::general_purpose::STANDARD.encode(&content),
                )
                .with("source", src.clone())
                .with("encoding", "base64"))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use serde_json::json;

    #[tokio::test]
    async fn returns_the_content_in_base64() {
        let fx = Fixture::new();
        let path = fx.write("token", b"abc\n\x00\xff", 0o600);
        let plan = fx.plan("slurp", json!({"src": path})).await.unwrap();
        assert!(plan.steps.is_empty(), "slurp never changes anything");
        assert_eq!(plan.result["content"], "YWJjCgD/");
        assert_eq!(plan.result["encoding"], "base64");
        assert_eq!(plan.result["source"], path.as_str());
    }

    #[tokio::test]
    async fn missing_files_and_directories_fail_with_ansibles_messages() {
        let fx = Fixture::new();
        let missing = fx.path("none");
        let error = fx
            .plan("slurp", json!({"path": missing}))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), format!("File not found: {missing}"));
        let directory = fx.path("controller");
        let error = fx
            .plan("slurp", json!({"src": directory}))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("Source is a directory and must be a file: {directory}")
        );
    }
}
