//! `segment-sandbox`, as another project's tests run it: on a free port, announced on the first
//! line of standard output, reset between tests.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use segment_sandbox::process::Process;

fn start(args: &[&str]) -> Process {
    let binary = Path::new(env!("CARGO_BIN_EXE_segment-sandbox"));
    Process::start(binary, args, Duration::from_secs(30)).expect("segment-sandbox announces itself")
}

#[tokio::test]
async fn it_announces_its_port_and_app_and_resets() {
    let running = start(&[
        "--port",
        "0",
        "--redirect-url",
        "http://127.0.0.1:9/auth/segment/callback",
        "--scope",
        "workspace",
    ]);
    let base = running.base_url().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{running:?}");
    assert!(!base.ends_with(":0"), "{base}");
    assert_eq!(
        running.app(),
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
