//! `deploy/local.sh` from an attacker's side: it keeps its secrets in a folder of its own,
//! readable by its owner only, refuses a folder someone else made or can write to, and reads
//! `services.env` as data. It needs bash, curl and python3 (the fake instance below), so it runs
//! with the topology tests (`TOPOLOGY_TESTS=1`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local.sh");

/// A folder name in the temp folder that does not exist yet.
fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("partnerapp-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(SCRIPT)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEPLOY_DIR", dir)
        .envs(vars.iter().copied())
        .output()
        .expect("deploy/local.sh runs")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
#[cfg_attr(
    not(topology_tests),
    ignore = "set TOPOLOGY_TESTS=1 (needs bash, curl, python3)"
)]
fn a_folder_others_can_write_to_or_someone_else_owns_is_refused() {
    let dir = fresh("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = run(&dir, &["stop", "nginx"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("others can write"), "{stderr}");

    // As root (CI), a folder of another user's is refused too.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if root {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let chown = Command::new("chown")
            .args(["65534", dir.to_str().unwrap()])
            .status();
        assert!(chown.unwrap().success());
        let output = run(&dir, &["stop", "nginx"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("belongs to someone else"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fake instance: writes the environment it was given next to the script's files, then
/// answers 200 to anything on `PORT` (the script waits for `/readyz`).
const FAKE_APP: &str = r#"#!/bin/sh
env > "$DEPLOY_DIR/seen.env"
exec python3 -c '
import http.server, os
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Ok).serve_forever()
'
"#;

#[test]
#[cfg_attr(
    not(topology_tests),
    ignore = "set TOPOLOGY_TESTS=1 (needs bash, curl, python3)"
)]
fn secrets_are_private_and_services_env_is_read_as_data() {
    let dir = fresh("private");
    // The script makes the folder itself, private.
    let output = run(&dir, &["stop", "nginx"], &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(matches!(mode(&dir), 0o700 | 0o711), "{:o}", mode(&dir));

    // services.env with a line someone planted: it must not reach the instance.
    std::fs::write(
        dir.join("services.env"),
        "DATABASE_URL=sqlite://planted-test.db\nPLANTED=yes\nLD_PRELOAD=/tmp/evil.so\n",
    )
    .unwrap();
    let fake = dir.join("fake-app");
    std::fs::write(&fake, FAKE_APP).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o700)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let vars = [
        ("APP_BIN", fake.to_str().unwrap()),
        ("APP1_PORT", port.as_str()),
        ("CLIENT_ID", "id"),
        ("CLIENT_SECRET", "secret"),
    ];
    let output = run(&dir, &["app", "1"], &vars);
    let stopped = run(&dir, &["stop", "app1"], &vars);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stopped.status.success());
    let seen = std::fs::read_to_string(dir.join("seen.env")).unwrap();
    assert!(
        seen.contains("DATABASE_URL=sqlite://planted-test.db"),
        "{seen}"
    );
    assert!(
        !seen.contains("PLANTED"),
        "a planted line was exported: {seen}"
    );
    assert!(
        !seen.contains("LD_PRELOAD"),
        "a planted line was exported: {seen}"
    );
    // The session key it made is its owner's only.
    assert_eq!(mode(&dir.join("session.key")), 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}
