//! Monitor: the customer sees whether their data reaches the partner. The numbers on the page
//! are the ones the sandbox sent; a key the partner's API refuses shows as 401 discards with
//! what to do; every way the metrics can fail gives a panel on a page that still shows the
//! destination.

use chrono::Duration;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::{
    Options, Page, TestApp, app_with_enabled_destination, spawn_app, spawn_app_with,
};

const DESTINATION: &str = "workspaces/acme/sources/javascript/destinations/clearbrain";

/// An app whose accounts push their own keys (so the credential test passes), installed on
/// `javascript` with the destination enabled and `hours` of delivery history behind it.
async fn delivering_app(hours: i64) -> TestApp {
    let (app, _) = app_with_enabled_destination().await;
    assert!(
        app.sandbox
            .age_destination(DESTINATION, Duration::hours(hours))
    );
    app
}

async fn monitor(app: &TestApp, range: &str) -> Page {
    let page = app
        .browser
        .get(&app.url(&format!("/destination/monitor?range={range}")))
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    page
}

/// The page's totals: label → value as shown.
fn totals(page: &Page) -> Vec<(String, String)> {
    let html = Html::parse_document(&page.body);
    let item = Selector::parse(".totals div").unwrap();
    let dt = Selector::parse("dt").unwrap();
    let dd = Selector::parse("dd").unwrap();
    html.select(&item)
        .map(|div| {
            let text = |s: &Selector| div.select(s).next().unwrap().text().collect::<String>();
            (text(&dt), text(&dd))
        })
        .collect()
}

fn total(page: &Page, label: &str) -> String {
    totals(page)
        .into_iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label} on {}", page.text()))
        .1
}

/// The chart's bars, as their titles say them.
fn bars(page: &Page) -> Vec<String> {
    let html = Html::parse_document(&page.body);
    let title = Selector::parse("svg g.bucket > title").unwrap();
    html.select(&title).map(|t| t.text().collect()).collect()
}

fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The last summary and the last batch of series the sandbox sent.
fn sent(app: &TestApp) -> (Value, Value) {
    let sent = app.sandbox.metrics_sent();
    let summary = sent
        .iter()
        .rev()
        .find(|b| b.get("summary").is_some())
        .unwrap();
    let series = sent
        .iter()
        .rev()
        .find(|b| b.get("metrics").is_some())
        .unwrap();
    (summary["summary"].clone(), series["metrics"].clone())
}

fn metric(summary: &Value, name: &str) -> u64 {
    summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()["value"]
        .as_u64()
        .unwrap()
}

fn points(series: &Value, metric: &str) -> Vec<u64> {
    series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/metrics/{metric}"))
        })
        .unwrap()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_page_shows_what_the_sandbox_sent_for_each_range() {
    let app = delivering_app(24 * 8).await;
    let destination = app.browser.get(&app.url("/destination")).await;
    let page = app.browser.follow_link(&destination, "Monitor").await;
    assert_eq!(page.url.query(), None, "the default range");
    assert!(
        page.text().contains("Over the last 24 h"),
        "{}",
        page.text()
    );

    for (range, buckets) in [("1h", 60), ("24h", 24), ("7d", 7)] {
        let page = monitor(&app, range).await;
        let (summary, series) = sent(&app);
        for (label, name) in [
            ("Delivered", "successes"),
            ("Retried", "retried"),
            ("Discarded", "discarded"),
        ] {
            assert_eq!(
                total(&page, label),
                grouped(metric(&summary, name)),
                "{range} {label}"
            );
        }
        assert!(metric(&summary, "successes") > 0, "{range}: traffic");
        let p50 = metric(&summary, "time_to_success_p50");
        assert_eq!(total(&page, "Time to success (p50)"), format!("{p50} ms"));
        // Delivered of delivered + discarded, never rounded up.
        let (delivered, discarded) = (
            metric(&summary, "successes") as f64,
            metric(&summary, "discarded") as f64,
        );
        let expected = format!(
            "{:.1}%",
            (delivered / (delivered + discarded) * 1000.0).floor() / 10.0
        );
        assert_eq!(total(&page, "Success rate"), expected, "{range}");

        // One bar per bucket, each saying the numbers the sandbox sent for it.
        let bars = bars(&page);
        assert_eq!(bars.len(), buckets, "{range}");
        let delivered = points(&series, "successes");
        let discarded = points(&series, "discarded");
        assert_eq!(delivered.len(), buckets);
        for (i, bar) in bars.iter().enumerate() {
            let expected = format!(
                "{} delivered, {} discarded",
                grouped(delivered[i]),
                grouped(discarded[i])
            );
            assert!(
                bar.ends_with(&expected),
                "{range} bar {i}: {bar} vs {expected}"
            );
        }
        assert_eq!(
            delivered.iter().sum::<u64>(),
            metric(&summary, "successes"),
            "{range}: the series add up to the summary"
        );
        // The chart in words, and axis labels.
        assert!(page.body.contains("<desc id=\"chart-desc\">"));
        assert!(page.text().contains(&format!("{buckets} bars from")));
        assert!(page.body.contains("class=\"axis-label\""));
    }

    // The inspector shows the same 24-hour totals. Its window ends at its own clock and the
    // page's at the app's, so a reading that straddles a minute's turn is read again (on a
    // loaded machine, the turn can fall between any two of the three reads); a real
    // disagreement fails every attempt.
    for attempt in 1..=5 {
        let page = monitor(&app, "24h").await;
        let inspector = app.segment_view().await;
        let last_day = &inspector["destinations"][0]["last_day"];
        let again = monitor(&app, "24h").await;
        let shown = (total(&page, "Delivered"), total(&page, "Discarded"));
        let held = (
            grouped(last_day["delivered"].as_u64().unwrap()),
            grouped(last_day["discarded"].as_u64().unwrap()),
        );
        if shown == held {
            break;
        }
        let steady = total(&page, "Delivered") == total(&again, "Delivered");
        assert!(
            attempt < 5,
            "page {shown:?}, inspector {held:?} (steady: {steady})"
        );
    }

    // A made-up range is a bad request, not a guess.
    let bad = app
        .browser
        .get(&app.url("/destination/monitor?range=30d"))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("1h, 24h and 7d"), "{}", bad.text());
}

#[tokio::test]
async fn a_replaced_key_shows_as_401_discards_until_enable_pushes_the_new_one() {
    let app = delivering_app(1).await;
    app.sandbox.set_key_retest_after(Duration::zero());
    let before = monitor(&app, "1h").await;
    assert!(
        !before.text().contains("401 Unauthorized"),
        "{}",
        before.text()
    );

    // The customer replaces their key: Segment still holds the old one, which our API now
    // refuses. Ten minutes later the discards are there, with what to do.
    let page = app.post_form("/account/rotate-key", &[]).await;
    assert_eq!(page.status, 200);
    monitor(&app, "1h").await; // Segment delivers (and is refused) from now on.
    app.sandbox
        .age_destination(DESTINATION, Duration::minutes(10));
    let page = monitor(&app, "1h").await;
    let text = page.text();
    assert!(text.contains("Why events were discarded"), "{text}");
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(text.contains("not a key our API knows"), "{text}");
    assert!(
        text.contains("not your current key"),
        "the key check: {text}"
    );
    // At least nine whole minutes, of at least 15 events each (the sandbox's quietest, around
    // midnight UTC).
    let discarded: u64 = total(&page, "Discarded").replace(',', "").parse().unwrap();
    assert!(
        discarded >= 9 * 15,
        "ten minutes of refused events: {discarded}"
    );

    // Enable pushes the current key; from then on the events get through.
    let page = app.browser.click(&page, "Enable").await;
    assert!(
        page.flash().unwrap().contains("API key was updated"),
        "{:?}",
        page.flash()
    );
    app.sandbox
        .age_destination(DESTINATION, Duration::minutes(5));
    monitor(&app, "1h").await;
    let (summary, series) = sent(&app);
    let discarded_points = points(&series, "discarded");
    let delivered_points = points(&series, "successes");
    let n = discarded_points.len();
    // The last bucket is the minute still running; the three before it are after Enable.
    // (A delivering minute may still discard one event as 400 Bad Request, one in fifty.)
    for i in n - 4..n - 1 {
        assert!(
            discarded_points[i] <= 1,
            "bucket {i} after Enable: {}",
            discarded_points[i]
        );
        assert!(delivered_points[i] > 0, "bucket {i} after Enable");
    }
    // The refused minutes stay in the history (moved back with it: other minutes, so other
    // counts, but as many of them).
    assert!(
        metric(&summary, "discarded") >= 9 * 15,
        "the history stays: {discarded} before"
    );
}

/// One failure of the metrics, and the panel it gives.
async fn panel_for(app: &TestApp, kind: Value) -> String {
    app.arm_fault(json!({"endpoint": "metrics", "kind": kind, "count": 20}))
        .await;
    let page = monitor(app, "24h").await;
    app.clear_faults().await;
    let text = page.text();
    assert!(
        text.contains("ClearBrain"),
        "the destination is still shown: {text}"
    );
    assert!(text.contains("Enabled"), "{text}");
    let html = Html::parse_document(&page.body);
    let panel = Selector::parse(".panel h3").unwrap();
    html.select(&panel)
        .next()
        .map(|h| h.text().collect())
        .unwrap_or_else(|| panic!("no panel for {kind}: {text}"))
}

#[tokio::test]
async fn each_failure_of_the_metrics_gives_its_panel() {
    let app = spawn_app_with(Options {
        account_keys: true,
        extra: vec![("SEGMENT_TIMEOUT_MS", "300".into())],
        ..Options::default()
    })
    .await;
    let page = app.install_on("javascript").await;

    // No destination yet: the page says so, and how to make one.
    let page_before = monitor(&app, "24h").await;
    assert!(
        page_before.text().contains("No destination yet"),
        "{}",
        page_before.text()
    );
    app.browser.click(&page, "Enable").await;

    for (kind, title) in [
        (json!({"status": 404}), "No metrics yet"),
        (
            json!({"status": 501}),
            "No delivery metrics for this destination",
        ),
        (json!({"status": 403}), "Not allowed by the install's scope"),
        (json!({"status": 429}), "Segment asked us to slow down"),
        (json!({"status": 503}), "Segment had a problem"),
        (json!({"delay_ms": 1000}), "Segment did not answer"),
        (json!("malformed"), "Segment's answer could not be read"),
        (json!("drop"), "Segment did not answer"),
    ] {
        assert_eq!(panel_for(&app, kind.clone()).await, title, "{kind}");
    }
    // And once Segment answers again, the numbers are back.
    let page = monitor(&app, "24h").await;
    assert!(
        totals(&page).iter().any(|(l, _)| l == "Delivered"),
        "{}",
        page.text()
    );
}

#[tokio::test]
async fn metrics_reads_are_retried_and_cost_at_most_three_calls() {
    let app = delivering_app(2).await;
    monitor(&app, "24h").await;
    let calls = app.segment_view().await["api_calls"].as_u64().unwrap();
    monitor(&app, "24h").await;
    let after = app.segment_view().await["api_calls"].as_u64().unwrap();
    assert_eq!(
        after - calls,
        3,
        "the destination, its summary and its series"
    );

    // A passing 503 on a metrics read is retried (they are GETs).
    app.arm_fault(json!({"endpoint": "metrics", "kind": {"status": 503}, "count": 1}))
        .await;
    let page = monitor(&app, "24h").await;
    assert!(page.body.contains("class=\"bucket\""), "{}", page.text());
    assert!(!page.text().contains("Segment had a problem"));
}

#[tokio::test]
async fn a_new_install_lands_on_its_destination_page_at_one_call() {
    // A new install: the partner's destination is not on the source yet, so there is no health
    // to ask about, and the page asks only for the destination.
    let app = spawn_app().await;
    let calls = app.segment_view().await["api_calls"].as_u64().unwrap();
    let page = app.install_on("javascript").await;
    assert_eq!(page.url.path(), "/destination");
    assert!(page.text().contains("Enable"), "{}", page.text());
    let after = app.segment_view().await["api_calls"].as_u64().unwrap();
    assert_eq!(after - calls, 1, "the destination only");
    let again = app.browser.get(&app.url("/destination")).await;
    assert_eq!(again.status, 200);
    let last = app.segment_view().await["api_calls"].as_u64().unwrap();
    assert_eq!(last - after, 1, "the destination only, cache or not");
}

#[tokio::test]
async fn the_destination_page_says_how_deliveries_went_at_one_call_when_warm() {
    let app = delivering_app(3).await;
    // The line Enable's page kept (no events yet) is replaced by Monitor's fresher one.
    let monitored = monitor(&app, "24h").await;
    let rate = total(&monitored, "Success rate");
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        page.text().contains(&format!("{rate} delivered")),
        "{}",
        page.text()
    );
    let text = page.text();
    assert!(text.contains("delivered in the last 24 h"), "{text}");
    let line = page.link(
        &Html::parse_document(&page.body)
            .select(&Selector::parse(".health a").unwrap())
            .next()
            .unwrap()
            .text()
            .collect::<String>(),
    );
    assert_eq!(line.path(), "/destination/monitor");

    // Warm: the page costs one call, the destination.
    let calls = app.segment_view().await["api_calls"].as_u64().unwrap();
    let again = app.browser.get(&app.url("/destination")).await;
    assert!(again.text().contains("delivered in the last 24 h"));
    let after = app.segment_view().await["api_calls"].as_u64().unwrap();
    assert_eq!(after - calls, 1);

    // Metrics that fail leave the line out; the page works.
    app.sandbox
        .add_workspace("beta", "Beta Inc.")
        .expect("room for a workspace");
    let fresh = app.another_visitor();
    let page = fresh.install_on_workspace("beta", "ios").await;
    fresh
        .arm_fault(json!({"endpoint": "metrics", "kind": {"status": 500}, "count": 20}))
        .await;
    let page = fresh.browser.click(&page, "Enable").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.text().contains("delivered in the last 24 h"),
        "{}",
        page.text()
    );
    fresh.clear_faults().await;
}

/// Puts a destination of another tool on `source`, enabled, straight into the sandbox, with
/// `refused` deciding whether its credential test failed; its history starts `hours` ago.
fn other_destination(app: &TestApp, source: &str, slug: &str, refused: bool, hours: i64) -> String {
    let name = format!("workspaces/acme/sources/{source}/destinations/{slug}");
    let body = json!({"destination": {"name": name, "enabled": true, "connection_mode": "CLOUD"}});
    let mut world = app.sandbox.world();
    world.create_destination("acme", source, &body).unwrap();
    world.record_credential_test(&name, "failed: 401".into(), !refused);
    drop(world);
    app.sandbox.age_destination(&name, Duration::hours(hours));
    name
}

#[tokio::test]
async fn the_workspace_view_lists_every_destination_worst_first() {
    for scope in ["workspace", "workspace:read"] {
        let app = spawn_app_with(Options {
            account_keys: true,
            ..Options::scope(scope)
        })
        .await;
        let consent = app.open_consent().await;
        let page = app.browser.click(&consent, "Allow").await;
        app.browser
            .click_with(
                &page,
                "Manage this source",
                &[("source", "workspaces/acme/sources/javascript")],
            )
            .await;
        let healthy = other_destination(&app, "javascript", "google-analytics", false, 3);
        let refused = other_destination(&app, "ios", "airship", true, 2);

        let destination = app.browser.get(&app.url("/destination")).await;
        let page = app
            .browser
            .follow_link(&destination, "Workspace monitor")
            .await;
        assert_eq!(page.status, 200, "{scope}: {}", page.text());
        let (summary, _) = {
            let sent = app.sandbox.metrics_sent();
            let last = sent.last().unwrap().clone();
            (last, ())
        };
        let summaries = summary["summaries"].as_array().unwrap();
        assert_eq!(
            summaries.len(),
            2,
            "one summary per destination, in one call"
        );

        // Worst first: every event of the refused one was discarded.
        let html = Html::parse_document(&page.body);
        let rows = Selector::parse("table.workspace tbody tr").unwrap();
        let rows: Vec<String> = html
            .select(&rows)
            .map(|r| {
                r.text()
                    .flat_map(str::split_whitespace)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows[0].contains(&refused) && rows[0].contains("100.0%"),
            "{rows:?}"
        );
        assert!(rows[1].contains(&healthy), "{rows:?}");
        let delivered =
            summaries.iter().find(|s| s["name"] == healthy).unwrap()["metrics"][0]["value"]
                .as_u64()
                .unwrap();
        assert!(
            rows[1].contains(&grouped(delivered)),
            "{rows:?} vs {delivered}"
        );

        // Each links to its own Monitor view, which shows that destination.
        let own = app.browser.follow_link(&page, "Monitor").await;
        assert_eq!(own.status, 200);
        assert!(own.text().contains("401 Unauthorized"), "{}", own.text());
        assert!(
            !own.buttons().contains(&"Enable".to_owned()),
            "not ours to enable"
        );
        assert!(own.text().contains("Back to the workspace"));
    }
}

#[tokio::test]
async fn a_destination_scope_cannot_see_the_workspace() {
    let app = delivering_app(1).await;
    let page = app.browser.get(&app.url("/workspace/monitor")).await;
    assert_eq!(page.status, 403);
    let text = page.text();
    assert!(
        text.contains("one destination, not the workspace"),
        "{text}"
    );
    assert!(text.contains("workspace:read or workspace scope"), "{text}");
    // Nor another destination by name.
    let other = "workspaces/acme/sources/ios/destinations/clearbrain";
    let page = app
        .browser
        .get(&app.url(&format!("/destination/monitor?destination={other}")))
        .await;
    assert_eq!(page.status, 403, "{}", page.text());
    // Its own, by name, is fine.
    let page = app
        .browser
        .get(&app.url(&format!("/destination/monitor?destination={DESTINATION}")))
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
}

/// The delivered count on a Monitor page, as a number.
fn delivered(page: &Page) -> u64 {
    total(page, "Delivered")
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("Delivered is not a number on {}", page.text()))
}

/// Enable, then Monitor at once: the sandbox started the destination with a few hours of its
/// source's traffic, so the page has numbers, and hours, not a week, of them.
#[tokio::test]
async fn monitor_has_hours_of_deliveries_the_moment_the_destination_is_enabled() {
    let app = delivering_app(0).await;
    let day = monitor(&app, "24h").await;
    let hours = delivered(&day);
    assert!(hours > 0, "nothing delivered yet: {}", day.text());
    // 15 to 49 events a minute for about three hours.
    assert!(
        (15 * 60 * 2..=49 * 60 * 4).contains(&hours),
        "{hours} is not a few hours of events"
    );
    let week = monitor(&app, "7d").await;
    assert_eq!(
        delivered(&week),
        hours,
        "more than the warm start: {}",
        week.text()
    );
}

/// On `cargo run`'s sandbox, Monitor offers the sandbox's time buttons for the visitor's own
/// destination, and each shows that much more history.
#[tokio::test]
async fn the_sandbox_lets_time_pass_from_the_monitor_page() {
    let app = crate::helpers::spawn_app_in_sandbox_mode_with(&[("DESTINATION_API_KEY", "")]).await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    let before = app.browser.follow_link(&page, "Monitor").await;
    let first = delivered(&before);

    let after = app.browser.click(&before, "A day later").await;
    assert_eq!(after.url.path(), "/destination/monitor", "{}", after.text());
    assert!(
        after.flash().unwrap().contains("A day passed"),
        "{:?}",
        after.flash()
    );
    let later = delivered(&after);
    assert!(later > first * 3, "{first} then {later}: {}", after.text());

    let week = app.browser.click(&after, "A week later").await;
    assert!(week.flash().unwrap().contains("A week passed"));

    // Only in sandbox mode: the app talking to a Segment elsewhere has no such buttons.
    let elsewhere = delivering_app(0).await;
    let page = monitor(&elsewhere, "24h").await;
    assert!(!page.text().contains("A day later"), "{}", page.text());
    let refused = elsewhere
        .post_form("/destination/monitor/later", &[("hours", "24")])
        .await;
    assert_eq!(refused.status, 404, "{}", refused.text());
}
