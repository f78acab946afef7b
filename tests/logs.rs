//! The logs of whole flows (happy and not) hold no secret: no token, code, PKCE verifier,
//! client secret, API key, typed password or session key. A test binary of its own, so that
//! it owns the process's log subscriber.
#![cfg(feature = "sandbox")]

use std::io::Write;
use std::sync::{Arc, Mutex};

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{API_KEY, Options, spawn_app_with};
use segment_partnerapp::sandbox;

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    segment_partnerapp::telemetry::init_with_writer(
        move || writer.clone(),
        "info,segment_partnerapp=debug",
    );

    let app = spawn_app_with(Options {
        account_keys: true,
        ..Options::default()
    })
    .await;
    // The visitor's own API key, shown once on the first visit.
    let home = app.browser.get(&app.url("/")).await;
    let account_key = home
        .text()
        .split("Your API key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the key on the first visit")
        .to_owned();
    let typed_key = "typed-secret-key-0001";

    // The happy path, with a key typed into Configure and a token refresh.
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    app.post_form("/destination/configure", &[("setting.apiKey", typed_key)])
        .await;
    let inspector = app.browser.get(&app.sandbox_url).await;
    app.browser.click(&inspector, "Expire tokens").await;
    let page = app
        .browser
        .click(&app.browser.get(page.url.as_str()).await, "Disable")
        .await;
    let page = app.browser.click(&page, "Remove").await;
    app.browser.click(&page, "Log out").await;

    // Things going wrong, for another visitor: a workspace installed by someone else, a
    // refused exchange, a tampered state, Deny.
    let app = app.another_visitor();
    let consent = app.open_consent().await;
    app.browser.click(&consent, "Allow").await;
    app.arm_fault(serde_json::json!({"endpoint": "token", "kind": {"status": 400}}))
        .await;
    let consent = app.open_consent().await;
    app.browser.click(&consent, "Allow").await;
    let consent = app.open_consent().await;
    let mut callback = app.browser.click_to_redirect(&consent, "Allow", &[]).await;
    callback.set_query(Some(&format!("{}x", callback.query().unwrap_or_default())));
    app.browser.get(callback.as_str()).await;
    let consent = app.open_consent().await;
    app.browser.click(&consent, "Deny").await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    for expected in [
        "install token received",
        "install token refreshed",
        "request refused",
    ] {
        assert!(
            logs.contains(expected),
            "the flows did not log {expected:?}:\n{logs}"
        );
    }
    let mut secrets = app.sandbox.secrets_seen();
    assert!(
        secrets.len() >= 6,
        "the sandbox saw too few secrets: {}",
        secrets.len()
    );
    secrets.extend([
        sandbox::CLIENT_SECRET.to_owned(),
        API_KEY.to_owned(),
        typed_key.to_owned(),
        account_key.clone(),
        "k".repeat(64),
    ]);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs: {secret}\n{logs}"
        );
    }
}
