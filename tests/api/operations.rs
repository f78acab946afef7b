//! What an operator running several instances sees: `/metrics`, request ids, `/readyz`, and
//! which proxy headers the app believes.

use crate::helpers::{Browser, Options, spawn_app, spawn_app_with};

/// The value of the metric line that starts with `series` (`name{labels}`), 0 if absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_flows_calls_refreshes_and_requests_by_route() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    // A refresh: Segment retires the token, the next page refreshes it once.
    app.expire_tokens().await;
    assert_eq!(app.browser.get(&app.url("/destination")).await.status, 200);
    // A visitor who says no.
    let other = app.another_visitor();
    let consent = other.open_consent().await;
    other.browser.click(&consent, "Deny").await;
    // A made-up path is counted under one series, not its own.
    app.browser.get(&app.url("/no/such/page/12345")).await;

    // Never on the public listener: only on the metrics' own.
    assert_eq!(app.browser.get(&app.url("/metrics")).await.status, 404);
    let response = reqwest::get(&app.metrics_url).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = response.text().await.unwrap();

    assert_eq!(
        metric(&text, "partnerapp_install_flows_started_total"),
        2.0,
        "{text}"
    );
    let completed = |outcome: &str| {
        metric(
            &text,
            &format!("partnerapp_install_flows_completed_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(completed("installed"), 1.0, "{text}");
    assert_eq!(completed("denied"), 1.0, "{text}");
    let calls = |endpoint: &str, outcome: &str| {
        metric(
            &text,
            &format!(
                "partnerapp_segment_calls_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(calls("exchange_code", "ok"), 1.0, "{text}");
    assert_eq!(calls("install_token", "ok"), 1.0, "{text}");
    assert_eq!(
        calls("get_destination", "client_error"),
        1.0,
        "the retired token: {text}"
    );
    // "Not created": after the install, and after the refresh.
    assert_eq!(calls("get_destination", "not_found"), 2.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "partnerapp_token_refreshes_total{outcome=\"refreshed\"}"
        ),
        1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "partnerapp_http_requests_total{route=\"/destination\",method=\"GET\",status=\"200\"}"
        ) >= 2.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "partnerapp_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        2.0,
        "the made-up path and /metrics on the public port: {text}"
    );
    assert!(!text.contains("12345"), "a raw path became a label");
    assert!(text.contains("partnerapp_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_trusted_proxys_sensible_one_is_kept() {
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let made_here =
        |id: &str| id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let from_nginx = "3f6c2a1b9d0e4f5a8b7c6d5e4f3a2b1c";
    let client = reqwest::Client::new();

    // No proxy is trusted: a client's id is never believed.
    let app = spawn_app().await;
    let made = id_of(&client.get(app.url("/healthz")).send().await.unwrap());
    assert!(made_here(&made), "{made}");
    let again = id_of(&client.get(app.url("/healthz")).send().await.unwrap());
    assert_ne!(made, again);
    let claimed = client
        .get(app.url("/"))
        .header("X-Request-Id", from_nginx)
        .send()
        .await
        .unwrap();
    assert!(made_here(&id_of(&claimed)), "a client's id was believed");

    // Behind a trusted proxy (here: loopback), its sensible id is kept, a forged one is not.
    let app = spawn_app_with(Options {
        extra: vec![("TRUSTED_PROXIES", "127.0.0.1, ::1".into())],
        ..Options::default()
    })
    .await;
    let kept = client
        .get(app.url("/"))
        .header("X-Request-Id", from_nginx)
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&kept), from_nginx);
    let forged = client
        .get(app.url("/"))
        .header("X-Request-Id", "x\" status=200 forged=\"")
        .send()
        .await
        .unwrap();
    assert!(made_here(&id_of(&forged)), "a forged id was kept");
}

#[tokio::test]
async fn readyz_names_where_the_sessions_are() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["sessions"], "in the database");
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "set DATABASE_TEST_URL and REDIS_TEST_URL to run it on Postgres and Redis"
)]
async fn readyz_checks_redis_when_the_sessions_are_there() {
    let app = spawn_app_with(Options {
        postgres_and_redis: true,
        ..Options::default()
    })
    .await;
    let response = reqwest::get(app.url("/readyz")).await.unwrap();
    assert!(
        response.headers().get("set-cookie").is_none(),
        "/readyz made a session or an account"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["sessions"], "ok");
}

/// Where `GET /auth/segment` sends a browser whose request carries these headers: the app's
/// public origin (it "moves" the browser there first) or Segment's consent screen.
async fn start_with_headers(trusted: Option<&str>, headers: &[(&str, &str)]) -> String {
    let extra = match trusted {
        Some(list) => vec![("TRUSTED_PROXIES", list.to_owned())],
        None => Vec::new(),
    };
    let app = spawn_app_with(Options {
        extra,
        ..Options::default()
    })
    .await;
    let browser = Browser::new();
    let mut request = browser.client.get(app.url("/auth/segment"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    if location.starts_with(&app.url("/auth/segment?moved=1")) {
        "moved".to_owned()
    } else {
        assert!(location.contains("/oauth2/auth"), "{location}");
        "to Segment".to_owned()
    }
}

#[tokio::test]
async fn forwarded_host_and_proto_are_believed_only_from_a_trusted_proxy() {
    let elsewhere = [("X-Forwarded-Host", "partner.example.com")];
    let https = [("X-Forwarded-Proto", "https")];
    // The tests' app and proxy are both on 127.0.0.1.
    assert_eq!(start_with_headers(None, &[]).await, "to Segment");
    assert_eq!(start_with_headers(None, &elsewhere).await, "to Segment");
    assert_eq!(start_with_headers(None, &https).await, "to Segment");
    assert_eq!(
        start_with_headers(Some("10.9.9.9"), &elsewhere).await,
        "to Segment"
    );
    assert_eq!(
        start_with_headers(Some("127.0.0.1"), &elsewhere).await,
        "moved"
    );
    // REDIRECT_URL is http here: a browser on https is elsewhere.
    assert_eq!(start_with_headers(Some("127.0.0.1"), &https).await, "moved");
    assert_eq!(
        start_with_headers(Some("127.0.0.1"), &[("X-Forwarded-Proto", "http")]).await,
        "to Segment"
    );
}

/// An attacker's requests cannot grow the metrics: made-up paths (refused before routing, a
/// CSRF 403 for a POST), percent-encoded paths, long paths and made-up methods all land on a
/// closed set of labels.
#[tokio::test]
async fn no_request_makes_a_new_metrics_series() {
    let app = spawn_app().await;
    let client = Browser::new().client;
    let long = "a".repeat(4000);
    for i in 0..200 {
        let path = match i % 5 {
            0 => format!("/made-up/{i}"),
            1 => format!("/destin%61tion?{i}"),
            2 => format!("/{long}{i}"),
            3 => format!("/destination/%{i:02x}"),
            _ => format!("/sandbox/../x{i}"),
        };
        let method = match i % 3 {
            0 => reqwest::Method::POST,
            1 => reqwest::Method::from_bytes(format!("M{i}").as_bytes()).unwrap(),
            _ => reqwest::Method::GET,
        };
        client
            .request(method, app.url(&path))
            .send()
            .await
            .expect("the app answers");
    }
    let text = client
        .get(&app.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("partnerapp_http_requests_total{"))
        .collect();
    assert!(
        series.len() <= 12,
        "{} series:\n{}",
        series.len(),
        series.join("\n")
    );
    for line in &series {
        let route = line
            .split("route=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        assert!(
            matches!(route, Some("unmatched" | "/sandbox"))
                || segment_partnerapp::web::ROUTES
                    .iter()
                    .any(|r| Some(r.path) == route),
            "{line}"
        );
        let method = line
            .split("method=\"")
            .nth(1)
            .and_then(|m| m.split('"').next());
        assert!(matches!(method, Some("GET" | "POST" | "other")), "{line}");
    }
    assert!(text.len() < 20_000, "{} bytes of metrics", text.len());
}
