//! `segment-sandbox`, as another project's tests run it: on a free port, announced on the first
//! line of standard output, reset between tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_segment-sandbox"))
        .args(args)
        .env_clear()
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("segment-sandbox runs");
    let stdout = child.stdout.take().expect("its standard output");
    let running = Running(child);
    // Two lines, read on a thread of their own so that a silent binary fails the test in time.
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(2)
            .map_while(Result::ok)
            .collect();
        let _ = send.send(lines);
    });
    let lines = receive
        .recv_timeout(Duration::from_secs(30))
        .expect("segment-sandbox announces itself");
    (running, lines)
}

#[tokio::test]
async fn it_announces_its_port_and_app_and_resets() {
    let (_running, lines) = start(&[
        "--port",
        "0",
        "--redirect-url",
        "http://127.0.0.1:9/auth/segment/callback",
        "--scope",
        "workspace",
    ]);
    let base = lines[0].clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{lines:?}");
    assert!(!base.ends_with(":0"), "{base}");
    assert_eq!(
        lines[1],
        "client_id=sandbox-partner-app client_secret=sandbox-client-secret"
    );

    let client = reqwest::Client::new();
    let view = || async {
        client
            .get(&base)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let app = view().await["app"].clone();
    assert_eq!(app["scope"], "workspace");
    assert_eq!(
        app["redirect_uris"][0],
        "http://127.0.0.1:9/auth/segment/callback"
    );

    let added = client
        .post(format!("{base}/workspaces"))
        .json(&serde_json::json!({"slug": "globex", "display_name": "Globex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 204);
    assert_eq!(view().await["workspaces"].as_array().unwrap().len(), 2);

    // Reset: the world as it started, the App as it was registered.
    let reset = client.post(format!("{base}/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 204);
    let after = view().await;
    assert_eq!(after["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(after["app"]["scope"], "workspace");
    // A browser's cross-site reset is refused, like every control endpoint.
    let forged = client
        .post(format!("{base}/reset"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[test]
fn bad_options_are_one_line_and_exit_code_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_segment-sandbox"))
        .args(["--port", "0", "--scope", "everything"])
        .env_clear()
        .output()
        .expect("segment-sandbox runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--scope"), "{stderr}");
}
