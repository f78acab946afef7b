//! Bad input at scale: arbitrary query strings and form bodies at every route, with and
//! without a session and a valid CSRF token. The app may refuse (4xx) or report Segment's
//! failures (502/503/504, documented), but never answers another 5xx, and never stops
//! answering.

use proptest::prelude::*;
use proptest::test_runner::{TestCaseResult, TestRunner};
use tokio::runtime::Runtime;

use crate::helpers::{TestApp, spawn_app};

/// The app's routes with `method`, from its one route table, and a path no route matches.
fn routes(method: &str) -> Vec<&'static str> {
    let mut routes: Vec<&'static str> = segment_partnerapp::web::ROUTES
        .iter()
        .filter(|route| route.method == method)
        .map(|route| route.path)
        .collect();
    routes.push("/no/such/page");
    routes
}

/// Routes that end the shared session or change its account: fuzzed from a fresh browser.
const SESSION_ENDING: &[&str] = &[
    "/logout",
    "/destination/disconnect",
    "/account/rotate-key",
    "/account/forget",
];
/// Field names the forms use, so that some bodies get past the first checks.
const FIELDS: &[&str] = &[
    "csrf_token",
    "source",
    "setting.apiKey",
    "code",
    "state",
    "error",
    "error_description",
    "x",
];

struct Fixture {
    runtime: Runtime,
    app: TestApp,
    csrf: String,
}

/// Runs `case` on 200 values of `strategy`, each against the same app, connected to Segment,
/// on a runtime that outlives each case. The app and its database go when the test ends.
fn fuzz<S>(strategy: S, case: impl AsyncFn(&Fixture, S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (app, csrf) = runtime.block_on(async {
        let app = spawn_app().await;
        app.install_on("javascript").await;
        let csrf = app.csrf_token().await;
        (app, csrf)
    });
    let fixture = Fixture { runtime, app, csrf };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |value| {
        fixture.runtime.block_on(case(&fixture, value))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

fn documented(status: u16) -> bool {
    status < 500 || matches!(status, 502..=504)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        any::<String>().prop_map(|s| s.chars().take(80).collect()),
        Just("<script>alert(1)</script>".to_owned()),
        Just("%zz%00%ff".to_owned()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![prop::sample::select(FIELDS).prop_map(str::to_owned), text()],
            text(),
        ),
        0..6,
    )
}

#[test]
fn any_query_string_on_any_get_route() {
    let strategy = (prop::sample::select(routes("GET")), "[ -~]{0,300}", pairs());
    fuzz(strategy, async |fixture, (route, raw, fields)| {
        let client = &fixture.app.browser.client;
        let mut url = reqwest::Url::parse(&fixture.app.url(route)).unwrap();
        url.query_pairs_mut().extend_pairs(fields.iter());
        for url in [url.to_string(), format!("{}?{raw}", fixture.app.url(route))] {
            // A dropped connection is what a panicking handler looks like from outside.
            let response = client.get(&url).send().await;
            prop_assert!(response.is_ok(), "GET {url}: no answer: {response:?}");
            let status = response.unwrap().status().as_u16();
            prop_assert!(documented(status), "GET {url} answered {status}");
        }
        let health = client.get(fixture.app.url("/healthz")).send().await;
        prop_assert!(
            health.is_ok_and(|r| r.status() == 200),
            "the app stopped answering"
        );
        Ok(())
    });
}

#[test]
fn any_session_id_and_account_credential_on_any_get_route() {
    let strategy = (
        prop::sample::select(routes("GET")),
        prop_oneof!["[A-Za-z0-9%+/=]{0,120}", Just(String::new())],
        prop_oneof!["pal_[A-Za-z0-9]{40}", "[ -~&&[^;,]]{0,60}"],
    );
    fuzz(strategy, async |fixture, (route, session, login)| {
        // A browser of its own: made-up cookies must not end the shared session.
        let browser = crate::helpers::Browser::new();
        let url = fixture.app.url(route);
        browser.set_cookie(&url, &format!("partnerapp_session={session}"));
        browser.set_cookie(&url, &format!("partnerapp_account={login}"));
        let response = browser.client.get(&url).send().await;
        prop_assert!(response.is_ok(), "GET {url}: no answer: {response:?}");
        let response = response.unwrap();
        let status = response.status().as_u16();
        prop_assert!(
            documented(status),
            "GET {url} with made-up cookies answered {status}"
        );
        // Made-up credentials open nothing.
        let body = response.text().await.unwrap_or_default();
        prop_assert!(
            !body.contains("Account #"),
            "a made-up cookie opened an account"
        );
        Ok(())
    });
}

#[test]
fn any_form_on_any_post_route() {
    let strategy = (
        prop::sample::select(routes("POST")),
        pairs(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..512),
    );
    fuzz(
        strategy,
        async |fixture, (route, fields, with_token, raw)| {
            // These would end the shared session for the cases after this one.
            let fresh = crate::helpers::Browser::new();
            let client = if SESSION_ENDING.contains(&route) {
                &fresh.client
            } else {
                &fixture.app.browser.client
            };
            let mut form = fields.clone();
            if with_token {
                form.push(("csrf_token".into(), fixture.csrf.clone()));
            }
            let url = fixture.app.url(route);
            let encoded = client.post(&url).form(&form).send().await;
            let raw = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(raw.clone())
                .send()
                .await;
            for response in [encoded, raw] {
                prop_assert!(response.is_ok(), "POST {url}: no answer: {response:?}");
                let status = response.unwrap().status().as_u16();
                prop_assert!(
                    documented(status),
                    "POST {url} with {form:?} answered {status}"
                );
            }
            let health = client.get(fixture.app.url("/healthz")).send().await;
            prop_assert!(
                health.is_ok_and(|r| r.status() == 200),
                "the app stopped answering"
            );
            // The cases run connected: otherwise the handlers past "connect first" go unfuzzed.
            let page = fixture
                .app
                .browser
                .get(&fixture.app.url("/destination"))
                .await;
            prop_assert_eq!(
                page.url.path(),
                "/destination",
                "the shared session lost its install"
            );
            Ok(())
        },
    );
}
