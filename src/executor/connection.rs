//! The transport a task uses: the host's connection with the task's `become` and
//! `environment` applied.

use futures::future::BoxFuture;
use rplay_modules::transport::{get_with_commands, put_with_commands};
use rplay_modules::{Exec, FileAttrs, Output, Transport, TransportError};
use std::sync::Arc;

/// How a task becomes another user.
#[derive(Debug, Clone, PartialEq)]
pub struct Become {
    pub user: String,
    /// `sudo` or `su`.
    pub method: String,
    pub flags: Option<String>,
}

impl Become {
    /// The words put before a command to run it as `user`.
    fn prefix(&self) -> Vec<String> {
        match self.method.as_str() {
            "su" => vec![
                "su".to_string(),
                "-s".to_string(),
                "/bin/sh".to_string(),
                self.user.clone(),
                "-c".to_string(),
            ],
            _ => {
                let mut words = vec!["sudo".to_string()];
                match &self.flags {
                    Some(flags) => words.extend(flags.split_whitespace().map(str::to_string)),
                    None => words.extend(["-H".to_string(), "-S".to_string(), "-n".to_string()]),
                }
                words.extend(["-u".to_string(), self.user.clone(), "--".to_string()]);
                words
            }
        }
    }
}

/// A host connection seen through one task's settings.
pub struct TaskTransport {
    pub inner: Arc<dyn Transport>,
    pub become_: Option<Become>,
    pub environment: Vec<(String, String)>,
}

impl TaskTransport {
    fn wrap(&self, exec: &Exec) -> Exec {
        let mut exec = exec.clone();
        match &self.become_ {
            None => {
                let mut env = self.environment.clone();
                env.append(&mut exec.env);
                exec.env = env;
            }
            Some(become_) => {
                // The environment must survive sudo, so it goes on the command line via
                // `env`, after the user switch.
                let mut argv = Vec::new();
                let env: Vec<(String, String)> = self
                    .environment
                    .iter()
                    .cloned()
                    .chain(exec.env.drain(..))
                    .collect();
                let mut command = Vec::new();
                if !env.is_empty() {
                    command.push("env".to_string());
                    command.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
                }
                command.append(&mut exec.argv);
                if become_.method == "su" {
                    argv.extend(become_.prefix());
                    argv.push(rplay_modules::util::join_words(&command));
                } else {
                    argv.extend(become_.prefix());
                    argv.extend(command);
                }
                exec.argv = argv;
            }
        }
        exec
    }
}

impl Transport for TaskTransport {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let wrapped = self.wrap(exec);
            self.inner.run(&wrapped).await
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if self.become_.is_some() {
                put_with_commands(self, path, content, attrs).await
            } else {
                self.inner.put(path, content, attrs).await
            }
        })
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            if self.become_.is_some() {
                get_with_commands(self, path).await
            } else {
                self.inner.get(path).await
            }
        })
    }
}
