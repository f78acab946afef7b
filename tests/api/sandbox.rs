//! The sandbox on its own, through its HTTP interface, as any OAuth client and Config API
//! client would meet it: codes, tokens, scopes and Segment's errors.

use std::net::TcpListener;

use reqwest::{Client, StatusCode};
use segment_partnerapp::sandbox::{self, Sandbox, pkce_s256};
use serde_json::{Value, json};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/auth/segment/callback";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-to-be-valid-0123456789";

struct Segment {
    base: String,
    client: Client,
    sandbox: std::sync::Arc<Sandbox>,
}

async fn start(scope: &str) -> Segment {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = sandbox::demo_app(
        &Url::parse(REDIRECT).unwrap(),
        sandbox::Scope::parse(scope).unwrap(),
    );
    let sandbox = Sandbox::new(app, "");
    tokio::spawn(sandbox::serve(sandbox.clone(), listener).unwrap());
    let client = crate::helpers::form_client();
    Segment {
        base,
        client,
        sandbox,
    }
}

impl Segment {
    /// The user allows, on `source`; returns the code from the redirect.
    async fn consent(&self, scope: &str, source: &str) -> String {
        let challenge = pkce_s256(VERIFIER);
        let request = [
            ("response_type", "code"),
            ("client_id", sandbox::CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let page = Url::parse_with_params(&format!("{}/oauth2/auth", self.base), request).unwrap();
        let token = crate::helpers::consent_token(&self.client, page.as_str()).await;
        let mut form = request.to_vec();
        form.extend([
            ("source", source),
            ("decision", "allow"),
            ("sandbox_csrf", &token),
        ]);
        let response = self
            .client
            .post(format!("{}/oauth2/auth", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        assert!(query.contains(&("state".into(), "s1".into())), "{query:?}");
        query
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
            .expect("a code")
    }

    async fn exchange(&self, form: &[(&str, &str)], secret: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(sandbox::CLIENT_ID, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn token(&self, scope: &str, source: &str) -> Value {
        let code = self.consent(scope, source).await;
        let (status, body) = self
            .exchange(&good_exchange(&code), sandbox::CLIENT_SECRET)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/v1beta/{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

fn good_exchange(code: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

const DEST: &str = "workspaces/acme/sources/javascript/destinations/clearbrain";

fn create_body(api_key: Value) -> Value {
    json!({"destination": {
        "name": DEST,
        "connection_mode": "CLOUD",
        "enabled": true,
        "config": [{"name": format!("{DEST}/config/apiKey"), "value": api_key}],
    }})
}

#[tokio::test]
async fn the_token_has_segments_shape() {
    let segment = start("destination/clearbrain").await;
    let token = segment.token("destination/clearbrain", "javascript").await;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 3599);
    assert_eq!(token["scope"], "destination/clearbrain");
    assert_eq!(token["app_name"], "apps/1");
    let install = token["install_name"].as_str().unwrap();
    let number: u64 = install.strip_prefix("installs/").unwrap().parse().unwrap();
    assert!(
        number > 1,
        "install names must not repeat across restarts: {install}"
    );
    assert_eq!(token["workspace_names"], json!(["workspaces/acme"]));
    assert_eq!(
        token["source_names"],
        json!(["workspaces/acme/sources/javascript"])
    );
}

#[tokio::test]
async fn codes_work_once_for_the_right_client_redirect_and_verifier() {
    let segment = start("destination/clearbrain").await;
    let scope = "destination/clearbrain";

    let code = segment.consent(scope, "javascript").await;
    let (status, body) = segment
        .exchange(&good_exchange(&code), "wrong-secret")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // The code was not spent by a client that failed to authenticate.
    let (status, _) = segment
        .exchange(&good_exchange(&code), sandbox::CLIENT_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = segment
        .exchange(&good_exchange(&code), sandbox::CLIENT_SECRET)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );

    // A fresh sandbox with no install yet: each of these codes fails on its own check.
    let segment2 = start(scope).await;
    let code = segment2.consent(scope, "javascript").await;
    let mut form = good_exchange(&code);
    form[2] = ("redirect_uri", "http://127.0.0.1:9/elsewhere");
    let (status, body) = segment2.exchange(&form, sandbox::CLIENT_SECRET).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("missing a required parameter")
    );

    let code = segment2.consent(scope, "javascript").await;
    let mut form = good_exchange(&code);
    form[3] = ("code_verifier", "not-the-verifier");
    let (_, body) = segment2.exchange(&form, sandbox::CLIENT_SECRET).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("PKCE"));

    let (_, body) = segment2
        .exchange(&good_exchange("made-up-code"), sandbox::CLIENT_SECRET)
        .await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_second_install_on_the_workspace_is_refused() {
    let segment = start("destination/clearbrain").await;
    segment.token("destination/clearbrain", "javascript").await;
    let code = segment.consent("destination/clearbrain", "ios").await;
    let (status, body) = segment
        .exchange(&good_exchange(&code), sandbox::CLIENT_SECRET)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "install already exists");
}

#[tokio::test]
async fn the_authorize_endpoint_checks_client_redirect_and_scope() {
    let segment = start("destination/clearbrain").await;
    let authorize = |params: Vec<(&str, &str)>| {
        let url = Url::parse_with_params(&format!("{}/oauth2/auth", segment.base), params).unwrap();
        segment.client.get(url).send()
    };
    let good = vec![
        ("response_type", "code"),
        ("client_id", sandbox::CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", "destination/clearbrain"),
        ("state", "xyz"),
    ];
    assert_eq!(
        authorize(good.clone()).await.unwrap().status(),
        StatusCode::OK
    );

    // An unregistered redirect URI gets a page, never a redirect.
    let mut bad = good.clone();
    bad[2] = ("redirect_uri", "http://evil.example/steal");
    let response = authorize(bad).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("not one of the App")
    );

    let mut bad = good.clone();
    bad[1] = ("client_id", "someone-else");
    assert_eq!(
        authorize(bad).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // A scope mismatch goes back to the app with Segment's three error fields and the state.
    let mut bad = good.clone();
    bad[3] = ("scope", "workspace");
    let response = authorize(bad).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "invalid_scope");
    assert!(query.contains_key("error_description"));
    assert!(query["error_hint"].contains("destination/clearbrain"));
    assert_eq!(query["state"], "xyz");

    let mut bad = good.clone();
    bad[0] = ("response_type", "token");
    let response = authorize(bad).await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=unsupported_response_type"),
        "{location}"
    );
}

#[tokio::test]
async fn a_destination_scope_reaches_only_its_destination_on_its_source() {
    let segment = start("destination/clearbrain").await;
    let token = segment.token("destination/clearbrain", "javascript").await;
    let token = token["access_token"].as_str().unwrap();
    use reqwest::Method;

    let (status, body) = segment.api(Method::GET, DEST, token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 5);

    let create = || {
        segment.api(
            Method::POST,
            "workspaces/acme/sources/javascript/destinations",
            token,
            Some(create_body(json!("key-12345678"))),
        )
    };
    let (status, body) = create().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["display_name"], "ClearBrain");
    assert_eq!(body["config"][0]["value"], "key-12345678");

    let (status, body) = create().await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("destination already exists")
    );

    // Other sources, other destinations, listing and the workspace are out of scope.
    for path in [
        "workspaces/acme/sources/ios/destinations/clearbrain",
        "workspaces/acme/sources/javascript/destinations/google-analytics",
        "workspaces/acme/sources/javascript/destinations",
        "workspaces/acme/sources",
        "workspaces/acme",
        "workspaces/other/sources/javascript/destinations/clearbrain",
    ] {
        let (status, body) = segment.api(Method::GET, path, token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    // The catalog is open to any token.
    let (status, body) = segment
        .api(
            Method::GET,
            "catalog/destinations/google-analytics",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["settings"].as_array().unwrap().len(), 35);
}

#[tokio::test]
async fn updates_need_a_mask_and_values_of_the_right_type() {
    let segment = start("destination/clearbrain").await;
    let token = segment.token("destination/clearbrain", "javascript").await;
    let token = token["access_token"].as_str().unwrap();
    use reqwest::Method;
    let list = "workspaces/acme/sources/javascript/destinations";

    let (status, body) = segment
        .api(Method::POST, list, token, Some(create_body(json!(42))))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("apiKey"), "{body}");

    let mut unknown = create_body(json!("key-12345678"));
    unknown["destination"]["config"][0]["name"] = json!(format!("{DEST}/config/nope"));
    let (status, body) = segment.api(Method::POST, list, token, Some(unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("unknown setting"),
        "{body}"
    );

    segment
        .api(
            Method::POST,
            list,
            token,
            Some(create_body(json!("key-12345678"))),
        )
        .await;
    let (status, body) = segment
        .api(
            Method::PATCH,
            DEST,
            token,
            Some(json!({"destination": {"enabled": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("update_mask"),
        "{body}"
    );

    // Only the masked field changes.
    let (status, body) = segment
        .api(
            Method::PATCH,
            DEST,
            token,
            Some(
                json!({"destination": {"enabled": false, "connection_mode": "DEVICE"},
                        "update_mask": {"paths": ["destination.enabled"]}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["connection_mode"], "CLOUD");

    let (status, _) = segment.api(Method::DELETE, DEST, token, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = segment.api(Method::DELETE, DEST, token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refresh_mints_a_new_token_and_retires_the_old_one() {
    let segment = start("workspace:read").await;
    let first = segment.token("workspace:read", "").await;
    let old = first["access_token"].as_str().unwrap();
    let install = first["install_name"].as_str().unwrap();
    assert!(first.get("source_names").is_none());
    use reqwest::Method;

    let (status, body) = segment
        .api(Method::GET, "workspaces/acme/sources", old, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sources"].as_array().unwrap().len(), 3);
    let (status, body) = segment.api(Method::DELETE, DEST, old, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "workspace:read wrote: {body}"
    );

    let response = segment
        .client
        .get(format!("{}/v1beta/{install}/token", segment.base))
        .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: Value = response.json().await.unwrap();
    let new = fresh["access_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(fresh["install_name"], install);

    let (status, body) = segment.api(Method::GET, "workspaces/acme", old, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "malformed token");
    let (status, body) = segment.api(Method::GET, "workspaces/acme", new, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["display_name"], "Acme Inc.");

    let response = segment
        .client
        .get(format!("{}/v1beta/{install}/token", segment.base))
        .basic_auth(sandbox::CLIENT_ID, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The delivery metrics endpoints over HTTP, as a client meets them: their paths, the limits
/// of a window, Segment's error bodies, and the scope rules.
#[tokio::test]
async fn the_delivery_metrics_endpoints_keep_their_limits_and_scopes() {
    use reqwest::Method;
    let segment = start("destination/clearbrain").await;
    let token = segment.token("destination/clearbrain", "javascript").await;
    let token = token["access_token"].as_str().unwrap();

    // No destination, no metrics.
    let summary = format!("{DEST}/metrics:getSummary");
    let (status, body) = segment.api(Method::GET, &summary, token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, _) = segment
        .api(
            Method::POST,
            "workspaces/acme/sources/javascript/destinations",
            token,
            Some(create_body(json!("key-12345678"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = segment.api(Method::GET, &summary, token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["summary"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "successes",
            "retried",
            "discarded",
            "time_to_success_p50",
            "time_to_success_p95"
        ]
    );
    let (status, body) = segment
        .api(Method::GET, &format!("{DEST}/metrics"), token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["metrics"].as_array().unwrap().len(), 5);
    let (status, body) = segment
        .api(
            Method::GET,
            &format!("{DEST}/metrics/successes?granularity=DAY"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["granularity"], "DAY");

    // A window longer than its granularity allows, or a made-up granularity: 400.
    for query in [
        "granularity=MINUTE",
        "granularity=WEEK",
        "start_time=2026-01-01T00:00:00Z&end_time=2026-01-09T00:00:00Z",
        "start_time=yesterday",
    ] {
        let (status, body) = segment
            .api(Method::GET, &format!("{summary}?{query}"), token, None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], 3);
        assert!(body["error"].as_str().unwrap().contains("invalid argument"));
    }

    // The batch names full metric names; the workspace's summaries need a workspace scope.
    let batch = format!(
        "{DEST}/metrics:batchGet?names={DEST}/metrics/successes&names={DEST}/metrics/discarded"
    );
    let (status, body) = segment.api(Method::GET, &batch, token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metrics"].as_array().unwrap().len(), 2);
    let (status, body) = segment
        .api(
            Method::GET,
            &format!("workspaces/acme/event-delivery-metrics:batchGetSummary?names={DEST}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("workspace:read or workspace")
    );
    // Another source's destination is out of this scope.
    let (status, _) = segment
        .api(
            Method::GET,
            "workspaces/acme/sources/ios/destinations/clearbrain/metrics:getSummary",
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The sandbox acts for a signed-in workspace owner: its forms need the token of the page they
/// came from, and its control endpoints refuse what a browser marks as cross-site.
#[tokio::test]
async fn the_sandboxs_forms_and_controls_refuse_other_sites() {
    let segment = start("destination/clearbrain").await;
    let request = [
        ("response_type", "code"),
        ("client_id", sandbox::CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", "destination/clearbrain"),
        ("state", "s1"),
    ];
    // A form posted from elsewhere has no token, or not this browser's; the path spelled with
    // percent-encoded letters is the same route, and refused the same way.
    let stranger = crate::helpers::form_client();
    for (consent, token) in [
        (format!("{}/oauth2/auth", segment.base), None),
        (
            format!("{}/oauth2/auth", segment.base),
            Some("x".repeat(43)),
        ),
        (format!("{}/oauth2/%61uth", segment.base), None),
        (format!("{}/%6fauth2/auth", segment.base), None),
    ] {
        let mut form: Vec<(&str, String)> =
            request.iter().map(|(k, v)| (*k, v.to_string())).collect();
        form.push(("source", "javascript".into()));
        form.push(("decision", "allow".into()));
        if let Some(token) = &token {
            form.push(("sandbox_csrf", token.clone()));
        }
        let response = stranger.post(&consent).form(&form).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{consent} {token:?}"
        );
    }
    // The real consent still works, and makes an install; Uninstall without the token does not.
    let token = segment.token("destination/clearbrain", "javascript").await;
    assert!(token["access_token"].is_string());
    let inspector: Value = segment
        .client
        .get(&segment.base)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = inspector["installs"][0]["id"].as_u64().unwrap();
    for uninstall in [
        format!("{}/installs/{id}/uninstall", segment.base),
        format!("{}/installs/{id}/%75ninstall", segment.base),
    ] {
        let response = stranger.post(&uninstall).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{uninstall}");
    }

    // Control endpoints: a browser's cross-site call is refused; a script's is not.
    let fault = json!({"endpoint": "catalog", "kind": {"status": 503}});
    let faults = format!("{}/faults", segment.base);
    for path in ["faults", "%66aults"] {
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let response = stranger
                .post(format!("{}/{path}", segment.base))
                .header(name, value)
                .json(&fault)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} {name}: {value}"
            );
        }
    }
    assert_eq!(
        segment
            .client
            .get(&faults)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(0),
        "no refused call armed a fault"
    );
    let response = stranger.post(&faults).json(&fault).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// A shared demo's sandbox cannot be filled: a workspace name is at most 100 characters, and
/// it keeps at most so many workspaces (500 unless set), with a clear answer past that; the
/// consent screen then stops offering a new one.
#[tokio::test]
async fn workspaces_have_a_name_length_and_a_count_limit() {
    let segment = start("destination/clearbrain").await;
    let add = |slug: String, name: String| {
        segment
            .client
            .post(format!("{}/workspaces", segment.base))
            .json(&json!({"slug": slug, "display_name": name}))
            .send()
    };
    let response = add("long".into(), "x".repeat(2_000)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("at most 100 characters"),
        "{body}"
    );
    // A body over the control endpoints' 16 KB is refused as it arrives: a 413, or, when the
    // client is still sending, the connection closed under it (on a client of its own, so that
    // the closed connection is not the next request's).
    let big = reqwest::Client::new()
        .post(format!("{}/workspaces", segment.base))
        .json(&json!({"slug": "big", "display_name": "x".repeat(2_000_000)}))
        .send();
    match big.await {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(error) => assert!(!error.is_timeout(), "{error}"),
    }

    let have = segment.sandbox.world().workspaces.len();
    segment.sandbox.set_max_workspaces(have + 2);
    for i in 0..2 {
        let response = add(format!("extra-{i}"), format!("Extra {i}"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let response = add("one-too-many".into(), "One too many".into())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("its most"),
        "{body}"
    );
    assert_eq!(segment.sandbox.world().workspaces.len(), have + 2);
    let names: Vec<String> = segment
        .sandbox
        .world()
        .workspaces
        .iter()
        .map(|w| w.display_name.clone())
        .collect();
    assert!(names.iter().all(|n| n.chars().count() <= 100), "{names:?}");
}
