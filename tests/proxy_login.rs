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

/// The page at `url`, asked for with the header `name: value`.
async fn home_with(url: &str, name: &str, value: &str) -> String {
    reqwest::Client::new()
        .get(url)
        .header(name, value)
        .send()
        .await
        .expect("the app answers")
        .text()
        .await
        .expect("a page")
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

/// What the proxy's headers may not do: a user header that is there but unusable does not fall
/// back to the email header, and an identity header sent twice names nobody.
#[tokio::test]
async fn an_unusable_or_doubled_identity_header_is_nobody() {
    let app = app_behind("127.0.0.1").await;
    let client = reqwest::Client::new();
    let cases: [&[(&str, &str)]; 4] = [
        &[
            ("x-forwarded-user", ""),
            ("x-forwarded-email", "mallory@example.com"),
        ],
        &[
            ("x-forwarded-user", &"a".repeat(300)),
            ("x-forwarded-email", "mallory@example.com"),
        ],
        &[
            ("x-forwarded-user", "mallory"),
            ("x-forwarded-user", "alice"),
        ],
        &[
            ("x-forwarded-email", "mallory@example.com"),
            ("x-forwarded-email", "alice@example.com"),
        ],
    ];
    for headers in cases {
        let mut request = client.get(app.url("/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let home = request.send().await.unwrap().text().await.unwrap();
        assert_eq!(account_line(&home), None, "{headers:?}");
    }
    assert_eq!(app.store().await.account_count().await.unwrap(), 0);
    // One usable header of each kind still names the user.
    let home = home_with(&app.url("/"), "x-forwarded-email", "alice@example.com").await;
    assert!(account_line(&home).is_some(), "{home}");
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
    let page = app.browser.post(&app.url("/account"), &[]).await;
    assert_eq!(page.status, 401, "{}", page.text());
    assert!(app.cookie("partnerapp_account").is_none(), "a demo cookie");
    assert_eq!(
        store.account_count().await.unwrap(),
        before,
        "an account was made"
    );
}

/// Behind the recipe's nginx (`deploy/nginx.conf`), an identity header a client sends is not
/// what reaches the app: nginx clears it, so nobody can name themselves.
#[tokio::test]
#[cfg_attr(
    not(topology_tests),
    ignore = "set TOPOLOGY_TESTS=1 (needs nginx) to run it through the recipe's nginx"
)]
async fn behind_the_recipes_nginx_a_forged_identity_is_not_believed() {
    let app = app_behind("127.0.0.1").await;
    let app_port = app
        .url("/")
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    // nginx's prefix: removed after nginx stops (`_stop` below is dropped first).
    let folder = tempfile::Builder::new()
        .prefix("partnerapp-nginx-")
        .tempdir()
        .unwrap();
    let dir = folder.path();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let nginx_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
        .unwrap()
        .replace("@NGINX_PORT@", &nginx_port.to_string())
        .replace("@APP1_PORT@", &app_port)
        .replace("@APP2_PORT@", &app_port);
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let prefix = dir.to_str().unwrap();
    let started = std::process::Command::new("nginx")
        .args(["-p", prefix, "-c", &format!("{prefix}/nginx.conf")])
        .status()
        .expect("nginx is installed (Debian's nginx-light)");
    assert!(started.success(), "nginx did not start");
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("nginx")
                .args([
                    "-p",
                    &self.0,
                    "-c",
                    &format!("{}/nginx.conf", self.0),
                    "-s",
                    "stop",
                ])
                .status();
        }
    }
    let _stop = Stop(prefix.to_owned());

    let client = reqwest::Client::new();
    let through_nginx = format!("http://127.0.0.1:{nginx_port}/");
    let mut home = String::new();
    for _ in 0..50 {
        match client
            .get(&through_nginx)
            .header("x-forwarded-user", "mallory")
            .header("x-forwarded-email", "mallory@example.com")
            .send()
            .await
        {
            Ok(response) => {
                home = response.text().await.unwrap();
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert!(home.contains("Enable with Segment"), "{home}");
    assert_eq!(
        account_line(&home),
        None,
        "a forged header was believed: {home}"
    );
    assert_eq!(app.store().await.account_count().await.unwrap(), 0);
    // The same header straight to the app, from the trusted address, is believed: the test
    // would see it if nginx passed it on.
    let direct = home_with(&app.url("/"), "x-forwarded-user", "mallory").await;
    assert!(account_line(&direct).is_some(), "{direct}");
}
