//! The Segment client on its own against the sandbox: every call it offers, and how Segment's
//! answers come back typed.

use std::net::TcpListener;

use reqwest::StatusCode;
use segment_partnerapp::sandbox::{self, Sandbox};
use segment_partnerapp::secret::{AccessToken, AuthorizationCode, ClientSecret};
use segment_partnerapp::segment::{
    AppCredentials, ConfigValue, DestinationChange, DestinationSlug, InstallToken, Limits,
    SegmentClient, SegmentError, SegmentScope, SegmentUrls,
};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/auth/segment/callback";

async fn client_for(scope: &str) -> SegmentClient {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    // The client and the sandbox (Segment) each read the scope their own way.
    let app = sandbox::demo_app(
        &Url::parse(REDIRECT).unwrap(),
        sandbox::Scope::parse(scope).unwrap(),
    );
    let scope = SegmentScope::parse(scope).unwrap();
    tokio::spawn(sandbox::serve(Sandbox::new(app, ""), listener).unwrap());
    client_at(base, scope, sandbox::CLIENT_ID, sandbox::CLIENT_SECRET)
}

/// A client for an App with these credentials, talking to Segment at `base`.
fn client_at(base: Url, scope: SegmentScope, id: &str, secret: &str) -> SegmentClient {
    SegmentClient::new(
        segment_partnerapp::segment::http_client(&Limits::default()).unwrap(),
        SegmentUrls {
            authorize_base: base.clone(),
            token_base: base.clone(),
            api_base: base,
        },
        AppCredentials {
            client_id: id.into(),
            client_secret: ClientSecret::new(secret.to_owned()),
            redirect_url: Url::parse(REDIRECT).unwrap(),
            scope,
            pkce: true,
        },
        &Limits::default(),
    )
}

/// Runs the authorization request the client builds through the consent form, and exchanges
/// the code.
async fn install(client: &SegmentClient, source: &str) -> InstallToken {
    let request = client.authorization_request();
    let mut form: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    assert!(form.contains(&("response_type".into(), "code".into())));
    assert!(form.contains(&("code_challenge_method".into(), "S256".into())));
    form.push(("source".into(), source.into()));
    form.push(("decision".into(), "allow".into()));
    let consent_url = request.url.as_str().split('?').next().unwrap().to_owned();
    let browser = crate::helpers::form_client();
    let token = crate::helpers::consent_token(&browser, request.url.as_str()).await;
    form.push(("sandbox_csrf".into(), token));
    let response = browser.post(consent_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(&query["state"], request.state.secret());
    let code = AuthorizationCode::new(query["code"].clone());
    client
        .exchange_code(code, request.pkce_verifier)
        .await
        .expect("the code is exchanged")
}

#[tokio::test]
async fn the_destination_calls_round_trip() {
    let client = client_for("destination/clearbrain").await;
    let token = install(&client, "ios").await;
    assert_eq!(token.scope.to_string(), "destination/clearbrain");
    assert!(token.install_name.as_str().starts_with("installs/"));
    let source = token.source().unwrap().clone();
    assert_eq!(source.as_str(), "workspaces/acme/sources/ios");
    let printed = format!("{token:?}");
    assert!(
        !printed.contains(token.access_token.secret()),
        "Debug shows the token"
    );

    let slug = DestinationSlug::parse("clearbrain").unwrap();
    let name = source.destination(&slug);
    let access = &token.access_token;
    assert_eq!(client.get_destination(access, &name).await.unwrap(), None);

    let fields = DestinationChange {
        enabled: Some(true),
        connection_mode: None,
        config: Some(vec![ConfigValue {
            name: name.setting("apiKey"),
            value: "key-12345678".into(),
        }]),
    };
    let created = client
        .create_destination(access, &source, &name, &fields)
        .await
        .unwrap();
    assert!(created.enabled);
    assert_eq!(created.config[0].setting(), "apiKey");
    let again = client
        .create_destination(access, &source, &name, &fields)
        .await
        .unwrap_err();
    assert!(again.is_already_exists(), "{again}");

    let disabled = client
        .update_destination(
            access,
            &name,
            &DestinationChange {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.config[0].value, "key-12345678");

    let catalog = client.get_catalog_destination(access, &slug).await.unwrap();
    assert_eq!(catalog.display_name, "ClearBrain");
    assert_eq!(catalog.settings[0].name, "apiKey");
    assert!(
        catalog.settings[0]
            .validators
            .contains_key("string_validators")
    );

    // The scope keeps this install away from the workspace.
    let refused = client
        .list_sources(access, &source.workspace())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SegmentError::Api { status: 403, .. }),
        "{refused}"
    );

    client.delete_destination(access, &name).await.unwrap();
    let gone = client.delete_destination(access, &name).await.unwrap_err();
    assert!(gone.is_not_found());
}

#[tokio::test]
async fn refresh_replaces_the_token_and_keeps_the_source() {
    let client = client_for("destination/clearbrain").await;
    let first = install(&client, "javascript").await;
    let second = client.refresh_install_token(&first).await.unwrap();
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.install_name, first.install_name);
    assert_eq!(
        second.source(),
        first.source(),
        "the refreshed token lost its source"
    );

    let name = first
        .source()
        .unwrap()
        .destination(&DestinationSlug::parse("clearbrain").unwrap());
    let stale = client
        .get_destination(&first.access_token, &name)
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(401));
    assert_eq!(stale.message(), "malformed token");
    assert_eq!(
        client
            .get_destination(&second.access_token, &name)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_workspace_install_reads_the_workspace_and_its_sources() {
    let client = client_for("workspace").await;
    let token = install(&client, "").await;
    assert_eq!(token.source(), None);
    let workspace = token.workspace().unwrap();
    let details = client
        .get_workspace(&token.access_token, workspace)
        .await
        .unwrap();
    assert_eq!(details.display_name, "Acme Inc.");
    let sources = client
        .list_sources(&token.access_token, workspace)
        .await
        .unwrap();
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "workspaces/acme/sources/javascript",
            "workspaces/acme/sources/ios",
            "workspaces/acme/sources/node-server"
        ]
    );
}

#[tokio::test]
async fn an_unreachable_segment_is_an_error_not_a_hang() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let client = client_at(base, SegmentScope::Workspace, "id", "secret");
    let error = client
        .exchange_code(AuthorizationCode::new("a-code-value".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(error, SegmentError::Unreachable { .. }), "{error}");
    assert!(!error.to_string().contains("a-code-value"));
}

#[tokio::test]
async fn calls_beyond_the_in_flight_limit_wait_for_a_slot() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A "Segment" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let limits = Limits {
        total: std::time::Duration::from_millis(600),
        max_in_flight: 1,
        ..Limits::default()
    };
    let client = SegmentClient::new(
        segment_partnerapp::segment::http_client(&limits).unwrap(),
        SegmentUrls {
            authorize_base: base.clone(),
            token_base: base.clone(),
            api_base: base,
        },
        AppCredentials {
            client_id: "id".into(),
            client_secret: ClientSecret::new("secret".into()),
            redirect_url: Url::parse(REDIRECT).unwrap(),
            scope: SegmentScope::Workspace,
            pkce: false,
        },
        &limits,
    );
    let client = Arc::new(client);
    let workspace = segment_partnerapp::segment::WorkspaceName::parse("workspaces/acme").unwrap();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (client, workspace) = (client.clone(), workspace.clone());
            tokio::spawn(async move {
                client
                    .get_workspace(&AccessToken::new("t".into()), &workspace)
                    .await
            })
        })
        .collect();
    // While the first call waits for its answer, the second waits for a slot.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "two calls in flight with a limit of one"
    );
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                SegmentError::Unreachable {
                    timed_out: true,
                    ..
                }
            ),
            "{error}"
        );
    }
}
