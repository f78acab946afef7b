//! The login seam, proven by `examples/proxy_login.rs`: the app, unchanged but for its login,
//! serves the users an authenticating proxy names, one account (and its installs) per user.
#![cfg(feature = "sandbox")]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

#[path = "../examples/proxy_login.rs"]
#[allow(dead_code)]
mod example;

use std::sync::Arc;

use helpers::{Browser, Options, TestApp, spawn_app_with};
use reqwest::header::{HeaderMap, HeaderValue};
use segment_partnerapp::web::proxy::TrustedProxies;

/// The app with the proxy login, believing the proxy at `trusted` (the tests' requests come
/// from 127.0.0.1).
async fn app_behind(trusted: &str) -> TestApp {
    spawn_app_with(Options {
        login: Some(Arc::new(example::ProxyLogin {
            proxies: TrustedProxies::parse(trusted).unwrap(),
        })),
        account_keys: true,
        ..Options::default()
    })
    .await
}

/// A browser behind the proxy, signed in as `user`: every request carries the proxy's header.
fn signed_in_as(user: &str) -> Browser {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-user", HeaderValue::from_str(user).unwrap());
    Browser::with_headers(headers)
}

fn account_line(text: &str) -> Option<String> {
    let rest = text.split("Account #").nth(1)?;
    Some(rest.split('…').next()?.to_owned())
}

#[tokio::test]
async fn each_user_the_proxy_names_has_an_account_and_keeps_their_installs() {
    let mut app = app_behind("127.0.0.1").await;
    app.browser = signed_in_as("alice@example.com");

    // Alice is signed in on her first page (no cookie), and connects.
    let home = app.browser.get(&app.url("/")).await;
    let alice = account_line(&home.text()).expect("alice has an account");
    assert!(app.cookie("partnerapp_account").is_none(), "a demo cookie");
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.text());

    // On another device (no cookies, no session), she is the same user with the same install.
    let mut elsewhere = app.another_visitor();
    elsewhere.browser = signed_in_as("alice@example.com");
    let home = elsewhere.browser.get(&elsewhere.url("/")).await;
    assert_eq!(account_line(&home.text()), Some(alice.clone()));
    let page = elsewhere
        .browser
        .follow_link(&home, "Enable with Segment")
        .await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(page.text().contains("Enabled"), "{}", page.text());

    // Bob is someone else: his own account, none of Alice's installs.
    let mut bob = app.another_visitor();
    bob.browser = signed_in_as("bob@example.com");
    let home = bob.browser.get(&bob.url("/")).await;
    let bobs = account_line(&home.text()).expect("bob has an account");
    assert_ne!(bobs, alice);
    let page = bob.browser.get(&bob.url("/destination")).await;
    assert_ne!(
        page.url.path(),
        "/destination",
        "bob reached alice's install"
    );
}

#[tokio::test]
async fn the_header_counts_only_from_the_proxy() {
    // The proxy is elsewhere: a request from 127.0.0.1 naming a user is nobody.
    let mut app = app_behind("10.9.9.9").await;
    app.browser = signed_in_as("alice@example.com");
    let home = app.browser.get(&app.url("/")).await;
    assert_eq!(account_line(&home.text()), None, "{}", home.text());
    assert_eq!(
        app.browser.get(&app.url("/destination")).await.url.path(),
        "/"
    );

    // A request without the header is nobody too, even from the proxy.
    let app = app_behind("127.0.0.1").await;
    let home = app.browser.get(&app.url("/")).await;
    assert_eq!(account_line(&home.text()), None, "{}", home.text());
}

/// Only the demo's login makes accounts: a visitor the proxy does not name who clicks Enable
/// with Segment (or asks for an API key) is asked to sign in, and gets no account, no account
/// cookie and no trip to Segment.
#[tokio::test]
async fn a_visitor_the_proxy_does_not_name_gets_no_account() {
    let app = app_behind("127.0.0.1").await;
    let store = app.store().await;
    let before = store.account_count().await.unwrap();
    let page = app.browser.get(&app.url("/auth/segment")).await;
    assert_eq!(page.status, 401, "{}", page.text());
    assert!(page.text().contains("Sign in first"), "{}", page.text());
    assert!(!page.url.path().starts_with("/sandbox"), "{}", page.url);
    let page = app.post_form("/account", &[]).await;
    assert_eq!(page.status, 401, "{}", page.text());
    assert!(app.cookie("partnerapp_account").is_none(), "a demo cookie");
    assert_eq!(
        store.account_count().await.unwrap(),
        before,
        "an account was made"
    );
}
