//! The sandbox's regional authorization server for server-to-server OAuth: `POST /token` takes
//! a signed JWT assertion and answers with an access token or the OAuth error, and
//! `POST /machine-keys` registers a public key (`{"app_id", "key_id", "public_key_pem"}`), as
//! uploading it in Segment's OAuth application settings does; a key id once registered is
//! replaced only with `"replace": true`.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::Sandbox;

/// The scopes a server-to-server token may carry (Segment's OAuth 2.0 docs), read here rather
/// than from the client, so that the two can disagree and a test notice.
const SCOPES: [&str; 3] = [
    "tracking_api:write",
    "functions:write",
    "public_api:read_write",
];

/// What the sandbox reads of an assertion: the registered claims Segment's docs name.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    iat: i64,
    jti: String,
}

/// The server-to-server side of the world.
#[derive(Debug)]
pub struct Machine {
    /// Public keys (PEM) by (app id, key id).
    keys: HashMap<(String, String), String>,
    /// The `aud` assertions must carry.
    pub audience: String,
    /// `jti`s seen, with their assertion's `exp`: one that has expired cannot be replayed
    /// anyway, so it is forgotten.
    used_jtis: HashMap<String, i64>,
    /// `expires_in` of the tokens (Segment: 1 day to 30 days).
    pub token_lifetime_secs: i64,
    /// Tokens issued, for the inspector and tests.
    pub tokens_issued: u64,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            keys: HashMap::new(),
            audience: "https://oauth2.segment.io".to_owned(),
            used_jtis: HashMap::new(),
            token_lifetime_secs: 86_400,
            tokens_issued: 0,
        }
    }
}

impl Machine {
    /// Records a `jti`; true if it was used before. Expired ones are forgotten first.
    fn replayed(&mut self, jti: &str, exp: i64, now: i64) -> bool {
        self.used_jtis.retain(|_, seen_exp| *seen_exp >= now);
        self.used_jtis.insert(jti.to_owned(), exp).is_some()
    }
}

/// Why a key was not registered.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRefused {
    /// Another key is registered under that id; replacing it must be asked for.
    Taken,
    /// [`MAX_MACHINE_KEYS`] are registered already.
    Full,
}

/// How many public keys the sandbox keeps (a shared demo server must not grow without end).
pub const MAX_MACHINE_KEYS: usize = 100;

impl Sandbox {
    /// Registers (or, with `replace`, replaces) the public key `key_id` of `app_id`. The same
    /// key again is fine; another key under a registered id is refused unless `replace`.
    pub fn add_machine_key(
        &self,
        app_id: &str,
        key_id: &str,
        public_key_pem: &str,
        replace: bool,
    ) -> Result<(), KeyRefused> {
        let mut world = self.world();
        let id = (app_id.to_owned(), key_id.to_owned());
        match world.machine.keys.get(&id) {
            Some(registered) if registered != public_key_pem && !replace => Err(KeyRefused::Taken),
            None if world.machine.keys.len() >= MAX_MACHINE_KEYS => Err(KeyRefused::Full),
            _ => {
                world.machine.keys.insert(id, public_key_pem.to_owned());
                Ok(())
            }
        }
    }

    /// Registers the public key `key_id` of `app_id` (for tests: replaces any).
    pub fn register_machine_key(&self, app_id: &str, key_id: &str, public_key_pem: &str) {
        let _ = self.add_machine_key(app_id, key_id, public_key_pem, true);
    }

    /// The audience machine assertions must name (for tests).
    pub fn set_machine_audience(&self, audience: &str) {
        self.world().machine.audience = audience.to_owned();
    }

    /// How long a machine token lives, in seconds (for tests).
    pub fn set_machine_token_lifetime(&self, seconds: i64) {
        self.world().machine.token_lifetime_secs = seconds;
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/token").route(web::post().to(token)))
        .service(
            web::resource("/machine-keys")
                .app_data(super::forms::control_json())
                .route(web::post().to(register)),
        );
}

#[derive(Deserialize)]
struct NewKey {
    app_id: String,
    key_id: String,
    public_key_pem: String,
    /// Replace the key registered under this id (without it, a registered id is refused).
    #[serde(default)]
    replace: bool,
}

async fn register(sandbox: web::Data<Sandbox>, body: web::Json<NewKey>) -> HttpResponse {
    if DecodingKey::from_rsa_pem(body.public_key_pem.as_bytes()).is_err() {
        return HttpResponse::BadRequest().json(
            json!({"error": "public_key_pem is not an RSA public key in PEM form", "code": 3}),
        );
    }
    match sandbox.add_machine_key(&body.app_id, &body.key_id, &body.public_key_pem, body.replace) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(KeyRefused::Taken) => HttpResponse::Conflict().json(json!({
            "error": format!(
                "key id {} of {} is registered with another key; send \"replace\": true to replace it",
                body.key_id, body.app_id
            ),
            "code": 6
        })),
        Err(KeyRefused::Full) => HttpResponse::TooManyRequests().json(json!({
            "error": format!(
                "{MAX_MACHINE_KEYS} keys are registered already, the most this sandbox keeps: \
                 replace one, or POST /reset"
            ),
            "code": 8
        })),
    }
}

fn refuse(status: u16, error: &str, description: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({ "error": error, "error_description": description }))
}

async fn token(sandbox: web::Data<Sandbox>, form: web::Bytes) -> HttpResponse {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&form).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return refuse(
            400,
            "unsupported_grant_type",
            "Only client_credentials is supported here.",
        );
    }
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return refuse(
            400,
            "invalid_request",
            "client_assertion_type must be jwt-bearer.",
        );
    }
    let assertion = field("client_assertion");
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return refuse(400, "invalid_request", "client_assertion is not a JWT.");
    };
    // The key is chosen by the (not yet verified) subject and key id; the signature then
    // proves the assertion came from that key's owner.
    let subject = unverified_subject(assertion);
    let key_id = header.kid.unwrap_or_default();
    let mut world = sandbox.world();
    let Some(pem) = world
        .machine
        .keys
        .get(&(subject.clone(), key_id.clone()))
        .cloned()
    else {
        world.log(
            &format!("machine token refused: no key {key_id:?} for app {subject:?}"),
            401,
        );
        return refuse(
            401,
            "invalid_client",
            "No public key with that key id is registered for that app.",
        );
    };
    let audience = world.machine.audience.clone();
    let now = Utc::now().timestamp();
    let checked =
        decode_claims(assertion, &pem, &audience).and_then(|claims| {
            match claims_problem(&claims, now, &mut world.machine, field("scope")) {
                Some(refused) => Err(refused),
                None => Ok(claims),
            }
        });
    let claims = match checked {
        Ok(claims) => claims,
        Err((status, code, why)) => {
            world.log(&format!("machine token refused: {why}"), status);
            return refuse(status, code, why);
        }
    };
    let token = format!("{}.{}", uuidish(), uuidish());
    world.saw_secret(token.clone());
    world.machine.tokens_issued += 1;
    world.log(
        &format!(
            "machine token issued to app {} ({})",
            claims.sub,
            field("scope")
        ),
        200,
    );
    HttpResponse::Ok().json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": world.machine.token_lifetime_secs,
        "scope": field("scope"),
    }))
}

/// Why an assertion is refused: the status, the OAuth error and the description.
type Refused = (u16, &'static str, &'static str);

/// The assertion's claims, once its signature (by `pem`), audience and expiry hold.
fn decode_claims(assertion: &str, pem: &str, audience: &str) -> Result<Claims, Refused> {
    let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) else {
        return Err((500, "server_error", "The registered key cannot be read."));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "sub", "iss"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::ExpiredSignature => (400, "invalid_grant", "The assertion has expired."),
            ErrorKind::InvalidSignature => (
                401,
                "invalid_client",
                "The assertion's signature does not match the registered key.",
            ),
            ErrorKind::InvalidAudience => (
                400,
                "invalid_grant",
                "The assertion's aud is not this authorization server.",
            ),
            _ => (400, "invalid_grant", "The assertion is not valid."),
        })
}

/// What Segment's rules refuse in verified claims (issuer, times, replay, scope), if anything.
fn claims_problem(
    claims: &Claims,
    now: i64,
    machine: &mut Machine,
    scope: &str,
) -> Option<Refused> {
    if claims.iss != claims.sub {
        Some((
            401,
            "invalid_client",
            "The assertion's iss must be the app id, like sub.",
        ))
    } else if claims.iat > now + 5 {
        Some((
            400,
            "invalid_grant",
            "The assertion is issued in the future.",
        ))
    } else if claims.iat < now.saturating_sub(60) {
        Some((
            400,
            "invalid_grant",
            "The assertion was issued more than a minute ago.",
        ))
    } else if claims.exp > now.saturating_add(60)
        || claims
            .exp
            .checked_sub(claims.iat)
            .is_none_or(|lifetime| lifetime > 60)
    {
        Some((
            400,
            "invalid_grant",
            "The assertion must expire within a minute of being issued.",
        ))
    } else if machine.replayed(&claims.jti, claims.exp, now) {
        Some((400, "invalid_grant", "The assertion's jti was used before."))
    } else if !SCOPES.contains(&scope) {
        Some((
            400,
            "invalid_scope",
            "The scope must be tracking_api:write, functions:write or public_api:read_write.",
        ))
    } else {
        None
    }
}

/// The `sub` of an assertion, read before its signature is checked (to find its key).
fn unverified_subject(assertion: &str) -> String {
    assertion
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|payload| serde_json::from_slice::<serde_json::Value>(&payload).ok())
        .and_then(|claims| claims["sub"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn uuidish() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}
