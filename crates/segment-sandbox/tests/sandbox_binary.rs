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

/// A public demo server's sandbox is open to anyone who reaches it: what its control endpoints
/// keep is capped (bodies of 16 KB, 100 faults, 100 keys), and its pages and control endpoints
/// answer only the names it serves, so a page on another name that resolves to it (DNS
/// rebinding) gets nothing; Segment's own endpoints answer whatever the name.
#[tokio::test]
async fn its_control_endpoints_are_capped_and_answer_only_its_names() {
    let running = start(&[
        "--port",
        "0",
        "--redirect-url",
        "http://partner.example:9/auth/segment/callback",
        "--allow-host",
        "sandbox.internal",
    ]);
    let base = running.base_url().to_owned();
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).json(&body).send()
    };

    // Size: a fault whose method is 20 KB long is refused before it is read (on a client of
    // its own: the server may close that connection, and it must not be the next request's).
    let huge =
        serde_json::json!({"endpoint": "token", "method": "G".repeat(20_000), "kind": "drop"});
    let refused = reqwest::Client::new()
        .post(format!("{base}/faults"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    let said: serde_json::Value = refused.json().await.unwrap();
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("larger than 16384 bytes"),
        "{said}"
    );
    let odd = serde_json::json!({"endpoint": "token", "method": "G E T", "kind": "drop"});
    assert_eq!(post("/faults", odd).await.unwrap().status(), 400);

    // Number: 100 faults, then a clear 429.
    let fault = serde_json::json!({"endpoint": "catalog", "kind": {"status": 500}});
    for _ in 0..100 {
        assert_eq!(post("/faults", fault.clone()).await.unwrap().status(), 201);
    }
    let full = post("/faults", fault.clone()).await.unwrap();
    assert_eq!(full.status(), 429);
    let said: serde_json::Value = full.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("DELETE /faults"),
        "{said}"
    );

    // Keys: 100 key ids, then a 429; replacing one is still allowed.
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/jwt/test-public.pem"
    ))
    .unwrap();
    let key = |kid: usize| serde_json::json!({"app_id": "app", "key_id": format!("k{kid}"), "public_key_pem": pem});
    for kid in 0..100 {
        assert_eq!(post("/machine-keys", key(kid)).await.unwrap().status(), 204);
    }
    assert_eq!(post("/machine-keys", key(100)).await.unwrap().status(), 429);
    assert_eq!(post("/machine-keys", key(7)).await.unwrap().status(), 204);

    // Names: loopback, the redirect URL's host and --allow-host are answered; another is not.
    let port = base.rsplit(':').next().unwrap();
    let with_host = |path: &str, host: &str| {
        client
            .get(format!("{base}{path}"))
            .header("host", host)
            .header("accept", "application/json")
            .send()
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "partner.example:9".to_owned(),
        "sandbox.internal".to_owned(),
    ] {
        assert_eq!(with_host("/", &host).await.unwrap().status(), 200, "{host}");
    }
    for path in ["/", "/faults", "/oauth2/auth"] {
        let rebound = with_host(path, &format!("attacker.example:{port}"))
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403, "{path}");
        assert!(rebound.text().await.unwrap().contains("--allow-host"));
    }
    let reset = client
        .post(format!("{base}/reset"))
        .header("host", "attacker.example")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 403);
    // Segment's API is called by servers, by whatever name reaches it.
    let api = with_host("/v1beta/workspaces/acme", "sandbox.docker:8890")
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API answered by its own rules");
}
