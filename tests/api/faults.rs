//! When Segment misbehaves: for each call the app makes, each kind of fault gives a clear page
//! with a fitting status, nothing panics, and the session works again once Segment does.

use serde_json::{Value, json};

use crate::helpers::{Options, Page, TestApp, spawn_app_with};

/// The app's timeout in these tests; `delay` faults wait longer.
const TIMEOUT_MS: u64 = 300;
const DELAY_MS: u64 = 1_000;

/// A fault kind and the status the app answers with when a call meets it.
struct Kind {
    kind: Value,
    status: u16,
}

fn kinds(rate_limit_status: u16) -> Vec<Kind> {
    vec![
        Kind {
            kind: json!({"status": 500}),
            status: 502,
        },
        Kind {
            kind: json!({"status": 503}),
            status: 502,
        },
        Kind {
            kind: json!({"status": 429}),
            status: rate_limit_status,
        },
        Kind {
            kind: json!({"delay_ms": DELAY_MS}),
            status: 504,
        },
        Kind {
            kind: json!("malformed"),
            status: 502,
        },
        Kind {
            kind: json!("drop"),
            status: 502,
        },
    ]
}

async fn app_with(options: Options) -> TestApp {
    let mut options = options;
    options.extra = vec![
        ("SEGMENT_TIMEOUT_MS", TIMEOUT_MS.to_string()),
        ("SEGMENT_CONNECT_TIMEOUT_MS", TIMEOUT_MS.to_string()),
    ];
    spawn_app_with(options).await
}

/// What the customer does that makes the call under test.
#[derive(Clone, Copy, Debug)]
enum Action {
    ShowDestination,
    Enable,
    Disable,
    Remove,
    Configure,
}

async fn perform(app: &TestApp, action: Action) -> Page {
    match action {
        Action::ShowDestination => app.browser.get(&app.url("/destination")).await,
        Action::Enable => app.post_form("/destination/enable", &[]).await,
        Action::Disable => app.post_form("/destination/disable", &[]).await,
        Action::Remove => app.post_form("/destination/remove", &[]).await,
        Action::Configure => app.browser.get(&app.url("/destination/configure")).await,
    }
}

fn assert_error_page(page: &Page, status: u16, context: &str) {
    assert_eq!(page.status, status, "{context}: {}", page.text());
    let text = page.text();
    assert!(
        text.contains(&format!("Error {status}")),
        "{context}: not the error page: {text}"
    );
    assert!(text.contains("What to do"), "{context}: no hint: {text}");
}

/// Arms `fault` for `count` calls of `endpoint`/`method`, does `action`, checks the page, then
/// checks the same action works once the fault has passed.
async fn each_kind(
    app: &TestApp,
    endpoint: &str,
    method: &str,
    count: u32,
    action: Action,
    rate_limit_status: u16,
) {
    for Kind { kind, status } in kinds(rate_limit_status) {
        let context = format!("{action:?} with {kind} on {method} {endpoint}");
        app.arm_fault(
            json!({"endpoint": endpoint, "method": method, "kind": kind, "count": count}),
        )
        .await;
        let page = perform(app, action).await;
        assert_error_page(&page, status, &context);
        // Segment is well again (a 429 is not retried, so some may still be armed).
        app.clear_faults().await;
        let page = perform(app, Action::ShowDestination).await;
        assert_eq!(page.status, 200, "{context}, afterwards: {}", page.text());
    }
}

#[tokio::test]
async fn reading_the_destination() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    // GETs are tried three times: the fault must outlast the retries.
    each_kind(&app, "destinations", "GET", 3, Action::ShowDestination, 503).await;
}

#[tokio::test]
async fn creating_updating_and_removing_the_destination() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    each_kind(&app, "destinations", "POST", 1, Action::Enable, 503).await;
    perform(&app, Action::Enable).await;
    each_kind(&app, "destinations", "PATCH", 1, Action::Disable, 503).await;
    each_kind(&app, "destinations", "DELETE", 1, Action::Remove, 503).await;
}

#[tokio::test]
async fn reading_the_catalog() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    each_kind(&app, "catalog", "GET", 3, Action::Configure, 503).await;
}

#[tokio::test]
async fn listing_sources() {
    let app = app_with(Options::scope("workspace")).await;
    let consent = app.open_consent().await;
    app.browser.click(&consent, "Allow").await;
    each_kind(&app, "sources", "GET", 3, Action::ShowDestination, 503).await;
}

#[tokio::test]
async fn refreshing_the_install_token() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    for Kind { kind, status } in kinds(503) {
        let inspector = app.browser.get(&app.sandbox_url).await;
        app.browser.click(&inspector, "Expire tokens").await;
        app.arm_fault(json!({"endpoint": "refresh", "kind": kind, "count": 3}))
            .await;
        let page = perform(&app, Action::ShowDestination).await;
        assert_error_page(&page, status, &format!("refresh with {kind}"));
        app.clear_faults().await;
        let page = perform(&app, Action::ShowDestination).await;
        assert_eq!(
            page.status,
            200,
            "after refresh with {kind}: {}",
            page.text()
        );
    }
}

#[tokio::test]
async fn exchanging_the_code() {
    let app = app_with(Options::default()).await;
    // The token endpoint answers in OAuth's terms, which carry no status: a 429 reads as a
    // refusal (502), like any other error there.
    for Kind { kind, status } in kinds(502) {
        app.arm_fault(json!({"endpoint": "token", "kind": kind, "count": 1}))
            .await;
        let consent = app.open_consent().await;
        let page = app.browser.click(&consent, "Allow").await;
        assert_eq!(page.url.path(), "/auth/segment/callback");
        assert_error_page(&page, status, &format!("code exchange with {kind}"));
        let home = app.browser.get(&app.url("/")).await;
        assert_eq!(home.status, 200);
        // A late answer still installed the App in Segment: start over from there.
        if kind.get("delay_ms").is_some() {
            for _ in 0..40 {
                if app.install_count().await == 1 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let inspector = app.browser.get(&app.sandbox_url).await;
            app.browser.click(&inspector, "Uninstall").await;
        }
    }
    let page = app.install_on("ios").await;
    assert!(page.text().contains("workspaces/acme/sources/ios"));
}

/// Calls whose line starts with `prefix`, the delivery metrics left out (the destination page
/// asks for its health summary too; those calls have their own fault endpoint).
fn calls(segment: &Value, prefix: &str) -> usize {
    segment["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            let what = a["what"].as_str().unwrap_or("");
            what.starts_with(prefix) && !what.contains("/metrics")
        })
        .count()
}

#[tokio::test]
async fn reads_are_retried_and_writes_are_not() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    let before = app.segment_view().await;

    app.arm_fault(json!({"endpoint": "destinations", "method": "GET", "kind": {"status": 503}}))
        .await;
    let page = perform(&app, Action::ShowDestination).await;
    assert_eq!(page.status, 200, "a passing 503 on a read was not retried");
    let after = app.segment_view().await;
    assert_eq!(
        calls(&after, "GET /v1beta") - calls(&before, "GET /v1beta"),
        1,
        "one good GET after the fault"
    );

    app.arm_fault(json!({"endpoint": "destinations", "method": "POST", "kind": {"status": 503}}))
        .await;
    let page = perform(&app, Action::Enable).await;
    assert_eq!(page.status, 502);
    let last = app.segment_view().await;
    assert_eq!(
        calls(&last, "POST /v1beta"),
        0,
        "a failed write was sent again"
    );
}

/// Segment's 429 says when to come back (`Retry-After: 1`): the call waits that long and is
/// tried again, a write too (a 429 was not applied); a wait past the call's own deadline is not
/// waited for.
#[tokio::test]
async fn a_rate_limited_call_waits_as_asked_within_its_deadline() {
    // The default timeout (15 s) has room for the one-second wait.
    let app = spawn_app_with(Options::default()).await;
    app.install_on("javascript").await;
    for (method, action) in [("GET", Action::ShowDestination), ("POST", Action::Enable)] {
        app.arm_fault(
            json!({"endpoint": "destinations", "method": method, "kind": {"status": 429}}),
        )
        .await;
        let mark = app.sandbox.journal_mark();
        let page = perform(&app, action).await;
        assert_eq!(page.status, 200, "{method}: {}", page.text());
        let calls: Vec<_> = app
            .sandbox
            .calls_since(mark)
            .into_iter()
            .filter(|call| call.method == method && call.path.contains("/destinations"))
            .collect();
        assert_eq!(
            calls.len(),
            2,
            "{method}: one 429, then once more: {calls:?}"
        );
        // Taken the second time (a GET of a destination not made yet is a 404).
        assert_eq!(calls[0].status, 429);
        assert!([200, 404].contains(&calls[1].status), "{calls:?}");
        let waited = calls[1].at.duration_since(calls[0].at);
        assert!(
            waited >= std::time::Duration::from_secs(1),
            "{method} waited {waited:?}"
        );
    }

    // With a 300 ms deadline, the one-second wait does not fit: one call, and the page says so.
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;
    app.arm_fault(json!({"endpoint": "destinations", "method": "GET", "kind": {"status": 429}}))
        .await;
    let mark = app.sandbox.journal_mark();
    let page = perform(&app, Action::ShowDestination).await;
    assert_eq!(page.status, 503, "{}", page.text());
    assert_eq!(app.sandbox.calls_since(mark).len(), 1);
}

/// Segment answering 503 is said as it is (unavailable, passing), and the page offers the way
/// back: the same page again for a read, the destination for both.
#[tokio::test]
async fn an_unavailable_segment_offers_to_try_again_and_the_way_back() {
    let app = app_with(Options::default()).await;
    app.install_on("javascript").await;

    app.arm_fault(json!({"endpoint": "catalog", "kind": {"status": 503}, "count": 3}))
        .await;
    let page = perform(&app, Action::Configure).await;
    assert_eq!(page.status, 502, "{}", page.text());
    let text = page.text();
    assert!(text.contains("Segment is unavailable"), "{text}");
    assert!(!text.contains("refused"), "{text}");
    assert!(text.contains("try again in a moment"), "{text}");
    assert_eq!(page.link("Try again").path(), "/destination/configure");
    assert_eq!(page.link("Back to your destination").path(), "/destination");
    app.clear_faults().await;
    let again = app.browser.follow_link(&page, "Try again").await;
    assert_eq!(again.status, 200, "{}", again.text());

    // A form is not offered again behind the visitor's back; the destination is.
    app.arm_fault(json!({"endpoint": "destinations", "method": "POST", "kind": {"status": 503}}))
        .await;
    let page = perform(&app, Action::Enable).await;
    assert_eq!(page.status, 502, "{}", page.text());
    assert!(page.text().contains("Segment is unavailable"));
    assert!(!page.text().contains("Try again"), "{}", page.text());
    assert_eq!(page.link("Back to your destination").path(), "/destination");
}
