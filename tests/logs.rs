//! The logs of whole flows (happy and not) hold no secret: no token, code, PKCE verifier,
//! client secret, API key, typed password or session key. A test binary of its own, so that
//! it owns the process's log subscriber.
#![cfg(feature = "sandbox")]

use std::io::Write;
use std::sync::{Arc, Mutex};

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{API_KEY, Browser, Options, TestApp, spawn_app_with};

/// The values of a `Cookie` header's cookies (session ids, login credentials).
fn cookie_values(header: &str) -> Vec<String> {
    header
        .split("; ")
        .filter_map(|c| c.split_once('='))
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() >= 16)
        .collect()
}

/// The destination page, fetched again.
async fn page_again(app: &TestApp) -> helpers::Page {
    app.browser.get(&app.url("/destination")).await
}
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
        segment_partnerapp::telemetry::LogFormat::Text,
    );

    let app = spawn_app_with(Options {
        account_keys: true,
        ..Options::default()
    })
    .await;
    // The visitor's own API key, shown once when the account is made.
    let home = app.make_account().await;
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
    // Monitor, with the typed key refused by the partner's API (401 discards), and the
    // workspace view refused for this scope.
    app.sandbox.set_key_retest_after(chrono::Duration::zero());
    for range in ["1h", "24h", "7d"] {
        let monitor = app
            .browser
            .get(&app.url(&format!("/destination/monitor?range={range}")))
            .await;
        assert_eq!(monitor.status, 200);
    }
    assert_eq!(
        app.browser.get(&app.url("/workspace/monitor")).await.status,
        403
    );
    let inspector = app.browser.get(&app.sandbox_url).await;
    app.browser.click(&inspector, "Expire tokens").await;
    let page = app
        .browser
        .click(&app.browser.get(page.url.as_str()).await, "Disable")
        .await;
    let confirm = app.browser.follow_link(&page, "Remove").await;
    app.browser.click(&confirm, "Remove the destination").await;

    // Another visitor's account cookie sent with this visitor's session cookie: refused, and
    // logged at warn, without the cookies.
    let cookies = app.browser.cookie_header(&app.url("/")).unwrap_or_default();
    let mut cookie_secrets = cookie_values(&cookies);
    let other = app.another_visitor();
    other.make_account().await;
    let other_cookies = other
        .browser
        .cookie_header(&app.url("/"))
        .unwrap_or_default();
    cookie_secrets.extend(cookie_values(&other_cookies));
    let mixed = Browser::new();
    let session = cookies
        .split("; ")
        .find(|c| c.starts_with("partnerapp_session="));
    let account = other_cookies
        .split("; ")
        .find(|c| c.starts_with("partnerapp_account="));
    mixed.set_cookie(&app.url("/"), session.expect("a session cookie"));
    mixed.set_cookie(&app.url("/"), account.expect("an account cookie"));
    let page = mixed.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/", "another account used this install");
    let home = other.browser.get(&app.url("/")).await;
    other.browser.click(&home, "Forget this account").await;

    app.browser.click(&page_again(&app).await, "Log out").await;

    // Things going wrong, for another visitor: a workspace installed by someone else, a
    // refused exchange, a tampered state, Deny.
    let app = app.another_visitor();
    let consent = app.open_consent().await;
    app.browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
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

    let metrics = app.browser.get(&app.metrics_url).await.body;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    // Every line logged while a request is served names it.
    let request_lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("request method=") || line.contains("request refused"))
        .collect();
    assert!(request_lines.len() > 20, "too few request lines:\n{logs}");
    assert!(
        request_lines
            .iter()
            .all(|line| line.contains("request{id=")),
        "a request line without its id:\n{logs}"
    );
    // Durations with two decimals at most (`ms=0.27`).
    for line in logs.lines().filter(|line| line.contains(" ms=")) {
        let ms = line
            .split(" ms=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let decimals = ms.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 2, "a duration like {ms}: {line}");
    }
    for expected in [
        "install token received",
        "install token refreshed",
        "request refused",
        "the session names an install this account does not hold",
        "the browser forgot its demo account",
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
        helpers::SESSION_KEY.to_owned(),
    ]);
    secrets.extend(cookie_secrets);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs: {secret}\n{logs}"
        );
        assert!(
            !metrics.contains(secret.as_str()),
            "a secret is in /metrics: {secret}\n{metrics}"
        );
    }
}
