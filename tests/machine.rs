//! Server-to-server OAuth against the sandbox: a signed JWT gets a token; each kind of bad JWT
//! gets its OAuth error; tokens are cached and minted again near expiry; and the `token`
//! command's answers and errors. The keys in tests/fixtures/jwt are test keys, made for this.
#![cfg(feature = "sandbox")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use segment_partnerapp::sandbox::{self, Sandbox};
use segment_partnerapp::segment::machine::{
    Claims, MachineClient, MachineConfig, MachineError, SigningKey,
};
use segment_partnerapp::segment::{Limits, http_client};
use serde_json::{Value, json};
use url::Url;

const APP: &str = "app-1";
const KID: &str = "key-1";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

/// A sandbox on its own port, with the test public key registered; its base URL.
fn start() -> (Arc<Sandbox>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = sandbox::demo_app(
        &Url::parse("http://127.0.0.1:9/cb").unwrap(),
        sandbox::Scope::parse("destination/clearbrain").unwrap(),
    );
    let sandbox = Sandbox::new(app, "");
    sandbox.set_machine_audience(&base);
    let public = std::fs::read_to_string(fixture("test-public.pem")).unwrap();
    sandbox.register_machine_key(APP, KID, &public);
    tokio::spawn(sandbox::serve(sandbox.clone(), listener).unwrap());
    (sandbox, base)
}

fn client(base: &str, key_file: &str, scope: &str) -> MachineClient {
    let key = SigningKey::from_file(&fixture(key_file), KID).unwrap();
    MachineClient::new(
        http_client(&Limits::default()).unwrap(),
        MachineConfig {
            app_id: APP.into(),
            key,
            scope: scope.into(),
            token_url: Url::parse(&format!("{base}/token")).unwrap(),
            audience: base.into(),
        },
    )
}

async fn tokens_issued(base: &str) -> u64 {
    let view: Value = reqwest::Client::new()
        .get(base)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    view["machine_tokens"].as_u64().unwrap()
}

#[tokio::test]
async fn a_good_jwt_gets_a_token_that_is_cached_and_reminted_near_expiry() {
    let (sandbox, base) = start();
    let client = client(&base, "test-private.pem", "tracking_api:write");
    let token = client.token().await.expect("a token");
    assert_eq!(token.scope, "tracking_api:write");
    assert!(token.expires_at > Utc::now() + chrono::Duration::hours(23));
    assert!(!format!("{token:?}").contains(token.access_token.expose()));
    let again = client.token().await.unwrap();
    assert_eq!(
        again.access_token, token.access_token,
        "the cached token was not reused"
    );
    assert_eq!(tokens_issued(&base).await, 1);

    // A token that expires within a minute is minted again on the next call.
    sandbox.set_machine_token_lifetime(30);
    let client = crate::client(&base, "test-private.pem", "tracking_api:write");
    let short = client.token().await.unwrap();
    let next = client.token().await.unwrap();
    assert_ne!(
        next.access_token, short.access_token,
        "a token about to expire was reused"
    );
    assert_eq!(tokens_issued(&base).await, 3);
}

/// Posts an assertion signed with `key_file` over `claims`; the OAuth error code.
async fn refused(base: &str, key_file: &str, claims: &Claims, scope: &str) -> String {
    let key = SigningKey::from_file(&fixture(key_file), KID).unwrap();
    let assertion = key.sign(claims).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(!status.is_success(), "accepted: {body}");
    format!(
        "{}: {}",
        body["error"].as_str().unwrap(),
        body["error_description"].as_str().unwrap_or("")
    )
}

fn claims(base: &str) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: APP.into(),
        sub: APP.into(),
        aud: base.into(),
        iat: now,
        exp: now + 50,
        jti: format!("jti-{}", rand_suffix()),
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn each_bad_jwt_gets_its_oauth_error() {
    let (_sandbox, base) = start();
    let scope = "functions:write";
    let now = Utc::now().timestamp();

    let expired = Claims {
        iat: now - 120,
        exp: now - 60,
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &expired, scope)
            .await
            .contains("expired")
    );

    let future = Claims {
        iat: now + 600,
        exp: now + 630,
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &future, scope)
            .await
            .contains("future")
    );

    let long = Claims {
        exp: now + 300,
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &long, scope)
            .await
            .contains("within a minute")
    );

    // Lifetimes that would overflow a subtraction, or reach far past or ahead: refused, and
    // nothing panics.
    let endless = Claims {
        iat: -1,
        exp: i64::MAX,
        ..claims(&base)
    };
    let why = refused(&base, "test-private.pem", &endless, scope).await;
    assert!(why.starts_with("invalid_grant"), "{why}");
    let stale = Claims {
        iat: now - 120,
        exp: now + 30,
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &stale, scope)
            .await
            .contains("more than a minute ago")
    );
    let far = Claims {
        iat: now + 4,
        exp: now + 64 + 60,
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &far, scope)
            .await
            .contains("within a minute")
    );

    let wrongly_signed = refused(&base, "other-private.pem", &claims(&base), scope).await;
    assert!(
        wrongly_signed.starts_with("invalid_client") && wrongly_signed.contains("signature"),
        "{wrongly_signed}"
    );

    let elsewhere = Claims {
        aud: "https://oauth2.segment.io".into(),
        ..claims(&base)
    };
    assert!(
        refused(&base, "test-private.pem", &elsewhere, scope)
            .await
            .contains("aud")
    );

    let wrong_scope = refused(&base, "test-private.pem", &claims(&base), "workspace").await;
    assert!(wrong_scope.starts_with("invalid_scope"), "{wrong_scope}");

    // The same jti twice: the second is refused.
    let once = claims(&base);
    let client = reqwest::Client::new();
    let key = SigningKey::from_file(&fixture("test-private.pem"), KID).unwrap();
    let assertion = key.sign(&once).unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
        ("scope", scope),
    ];
    let first = client
        .post(format!("{base}/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    assert!(
        refused(&base, "test-private.pem", &once, scope)
            .await
            .contains("jti")
    );

    // An unknown key id.
    let other = SigningKey::from_file(&fixture("test-private.pem"), "key-unknown").unwrap();
    let client = MachineClient::new(
        http_client(&Limits::default()).unwrap(),
        MachineConfig {
            app_id: APP.into(),
            key: other,
            scope: scope.into(),
            token_url: Url::parse(&format!("{base}/token")).unwrap(),
            audience: base.clone(),
        },
    );
    let error = client.token().await.unwrap_err();
    assert!(
        matches!(error, MachineError::Refused { status: 401, .. }),
        "{error}"
    );
}

/// Runs `segment-partnerapp token …`: exit code, stdout, stderr.
async fn run(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"))
            .arg("token")
            .args(&args)
            .env_clear()
            .current_dir(std::env::temp_dir())
            .output()
            .expect("the binary runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn args(base: &str, key: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--key".into(),
        fixture(key).display().to_string(),
        "--key-id".into(),
        KID.into(),
        "--app-id".into(),
        APP.into(),
        "--scope".into(),
        "public_api:read_write".into(),
        "--url".into(),
        format!("{base}/token"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

#[tokio::test]
async fn the_token_command_prints_a_token_or_one_clear_error() {
    let (_sandbox, base) = start();
    let (code, out, err) = run(args(&base, "test-private.pem", &[])).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    assert!(out.trim().len() > 20, "{out}");

    let (code, out, _) = run(args(&base, "test-private.pem", &["--json"])).await;
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["scope"], "public_api:read_write");
    assert_eq!(json["token_type"], "bearer");

    let cases: [(Vec<String>, i32, &str); 5] = [
        (args(&base, "missing.pem", &[]), 1, "cannot be read"),
        (args(&base, "ec-private.pem", &[]), 1, "not an RSA key"),
        (
            args(&base, "test-private.pem", &["--region", "mars"]),
            2,
            "unknown region",
        ),
        (
            {
                let mut a = args(&base, "test-private.pem", &[]);
                let i = a.iter().position(|x| x == "public_api:read_write").unwrap();
                a[i] = "workspace".into();
                a
            },
            2,
            "unknown scope",
        ),
        (
            args(&base, "other-private.pem", &[]),
            1,
            "refused: invalid_client",
        ),
    ];
    for (args, expected, words) in cases {
        let (code, out, err) = run(args.clone()).await;
        assert_eq!(code, expected, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(words),
            "{args:?}: {err}"
        );
    }
}

/// A registered key id is not taken over by whoever posts another key under it.
#[tokio::test]
async fn a_registered_key_is_replaced_only_when_asked() {
    let (_sandbox, base) = start();
    let other = std::fs::read_to_string(fixture("other-public.pem")).unwrap();
    let post = |body: Value| {
        let base = base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/machine-keys"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let key = json!({"app_id": APP, "key_id": KID, "public_key_pem": other});
    assert_eq!(post(key.clone()).await, 409);
    // The registered key still works.
    let good = client(&base, "test-private.pem", "functions:write");
    assert!(good.token().await.is_ok());
    // Asked for, the replacement happens, and the old key stops working.
    let mut replace = key;
    replace["replace"] = json!(true);
    assert_eq!(post(replace).await, 204);
    let old = client(&base, "test-private.pem", "functions:write");
    assert!(old.token().await.is_err());
}
