//! Starts the local AWS emulator (moto's server from the project's own `.venv`) on a free loopback
//! port. Its life is tied to a pipe from this process, so it never outlives a run or a test.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// A running emulator.
pub struct Emulator {
    /// Its endpoint, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    child: Child,
}

impl Emulator {
    /// Starts the emulator; fails with what to run when the venv is missing.
    pub fn start(root: &Path) -> Result<Emulator, String> {
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: run `bash infra/scripts/setup.sh` (the README's commands do it for you)",
                python.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for the emulator: {e}"))?
            .port();
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("flyt-emulator-{port}.log")))
                .map_err(|e| format!("cannot create the emulator log: {e}"))?;
        let mut child = Command::new(&python)
            .arg(root.join("infra/scripts/emulator.py"))
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start the emulator: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("emulator did not start: {e}"))?;
        let url = line
            .trim()
            .strip_prefix("ready ")
            .ok_or_else(|| {
                format!("emulator did not start (printed {line:?}); see its log in the temp folder")
            })?
            .to_owned();
        Ok(Emulator { url, child })
    }

    /// One emulator per process, started on first use and left running until the process exits
    /// (its stdin pipe then closes and it stops). Tests share it and isolate by stack name.
    pub fn shared() -> &'static str {
        static SHARED: OnceLock<String> = OnceLock::new();
        SHARED.get_or_init(|| {
            let emulator = Emulator::start(&project_root()).unwrap_or_else(|e| panic!("{e}"));
            let url = emulator.url.clone();
            std::mem::forget(emulator);
            url
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project folder: `FLYT_ROOT`, or the folder holding this crate's workspace.
pub fn project_root() -> PathBuf {
    std::env::var_os("FLYT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}
