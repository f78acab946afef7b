//! `--exec`: the partner's app, run by a shell with the sandbox's settings in its environment,
//! its output on the kit's standard error (standard output is the report), stopped at the end
//! with everything it started (its process group).

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use url::Url;

/// The partner's app, stopped when dropped.
pub struct PartnerApp {
    child: Child,
}

impl PartnerApp {
    /// Runs `command` with `sh -c`, with `vars` added to the environment.
    pub fn start(command: &str, vars: &[(&str, String)]) -> io::Result<PartnerApp> {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(command)
            .envs(vars.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(io::stderr())
            .stderr(io::stderr());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut shell, 0);
        Ok(PartnerApp {
            child: shell.spawn()?,
        })
    }

    /// Waits until something listens where `url` points (the app is up), at most `within`.
    pub async fn wait_for(&mut self, url: &Url, within: Duration) -> Result<(), String> {
        let address = url
            .socket_addrs(|| None)
            .ok()
            .and_then(|addresses| addresses.into_iter().next())
            .ok_or_else(|| format!("{url} names no address to connect to"))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the app exited ({status}) before it listened on {address}"
                ));
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect(address),
            );
            if let Ok(Ok(_)) = attempt.await {
                return Ok(());
            }
            if started.elapsed() >= within {
                return Err(format!(
                    "nothing listened on {address} within {} s of starting the app",
                    within.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the app (and whatever its shell started) to stop, then makes it: SIGTERM to its
    /// process group, SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        #[cfg(unix)]
        {
            use nix::sys::signal::{Signal, killpg};
            use nix::unistd::Pid;
            let group = Pid::from_raw(self.child.id() as i32);
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                // Reaps the shell once it is done, so that only live processes are counted.
                let _ = self.child.try_wait();
                if killpg(group, None).is_err() {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = killpg(group, Signal::SIGKILL);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PartnerApp {
    fn drop(&mut self) {
        self.stop();
    }
}
