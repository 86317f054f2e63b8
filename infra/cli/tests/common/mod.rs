//! What the tests of the `flyt` binary share: the binary run with a clean environment pointing at
//! the local emulator, and the local stack.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flyt_local::stack::REGION;
use flyt_local::{Emulator, Local, LocalOptions};

/// The binary with a clean environment: the emulator's endpoint, test credentials, the given
/// variables, and optionally a working directory of its own (removed when dropped).
pub struct Flyt {
    endpoint: String,
    env: Vec<(&'static str, String)>,
    dir: Option<PathBuf>,
}

impl Flyt {
    /// The binary talking to `endpoint`.
    pub fn new(endpoint: &str) -> Flyt {
        Flyt {
            endpoint: endpoint.to_owned(),
            env: Vec::new(),
            dir: None,
        }
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, name: &'static str, value: &str) -> Flyt {
        self.env.push((name, value.to_owned()));
        self
    }

    /// Runs in a fresh temporary directory named after `name`.
    pub fn in_temp_dir(mut self, name: &str) -> Flyt {
        let dir = std::env::temp_dir().join(format!(
            "flyt-cli-{name}-{}-{:x}",
            std::process::id(),
            flyt::time::now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a working directory");
        self.dir = Some(dir);
        self
    }

    /// The working directory, if it has its own.
    pub fn dir(&self) -> &Path {
        self.dir.as_deref().expect("created with in_temp_dir")
    }

    /// The command, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flyt"));
        command
            .args(args)
            .env_clear()
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs a command.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the flyt binary runs")
    }

    /// Runs a command with `stdin` as its input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the flyt binary starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin.as_bytes())
            .expect("stdin is written");
        child.wait_with_output().expect("the flyt binary runs")
    }

    /// Stdout and stderr of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        succeeded(args, self.run(args))
    }

    /// Stdout of a command that must succeed.
    pub fn stdout(&self, args: &[&str]) -> String {
        self.ok(args).0
    }

    /// Stderr of a command that must fail with exit code `code` and print nothing on stdout.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(
            output.status.code(),
            Some(code),
            "flyt {args:?}:\n{stdout}{stderr}"
        );
        assert_eq!(stdout, "", "flyt {args:?} printed on stdout");
        stderr
    }
}

impl Drop for Flyt {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// Stdout and stderr of a command that must have succeeded.
pub fn succeeded(args: &[&str], output: Output) -> (String, String) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "flyt {args:?} failed ({}):\n{stderr}{stdout}",
        output.status
    );
    (stdout, stderr)
}

/// Stdout and stderr of a command that must have failed.
pub fn failed(args: &[&str], output: Output) -> (String, String) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        !output.status.success(),
        "flyt {args:?} succeeded but should not have:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// The local stack on the shared emulator.
pub async fn local() -> Local {
    Local::start(Emulator::shared(), LocalOptions::default())
        .await
        .unwrap()
}
