//! The `segment-sandbox` binary as a Rust test runs it: started with `--port 0`, its base URL
//! read from the first line of its standard output, stopped when dropped. (Tests in other
//! languages do the same with their own process tools; docs/sandbox.md shows how.)

use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `segment-sandbox` binary, killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    base_url: String,
    app: String,
}

impl Process {
    /// Starts `binary` with `args` (pass `--port 0` for a free port) and no environment but
    /// `RUST_LOG=off`, and waits up to `wait` for its two lines: the base URL, then the App's
    /// client id and secret. A binary that exits first, or says nothing in time, is an error
    /// (and is killed).
    pub fn start(binary: &Path, args: &[&str], wait: Duration) -> io::Result<Process> {
        let mut child = Command::new(binary)
            .args(args)
            .env_clear()
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let Some(stdout) = child.stdout.take() else {
            return Err(io::Error::other("no standard output"));
        };
        // Read on a thread of its own, so that a silent binary fails in `wait`.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let lines: Vec<String> = BufReader::new(stdout)
                .lines()
                .take(2)
                .map_while(Result::ok)
                .collect();
            let _ = send.send(lines);
        });
        let mut process = Process {
            child,
            base_url: String::new(),
            app: String::new(),
        };
        match receive.recv_timeout(wait) {
            Ok(lines) if lines.len() == 2 => {
                process.base_url = lines[0].clone();
                process.app = lines[1].clone();
                Ok(process)
            }
            // Dropping `process` kills the binary.
            Ok(_) => Err(io::Error::other(
                "segment-sandbox stopped before it announced its base URL",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "segment-sandbox did not announce its base URL in time",
            )),
        }
    }

    /// Its base URL (`http://127.0.0.1:PORT`): the identity service and the Config API.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Its second line: `client_id=… client_secret=…`.
    pub fn app(&self) -> &str {
        &self.app
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
