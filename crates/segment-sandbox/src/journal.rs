//! What reached Segment's endpoints, in order: every call to the token endpoint and the Config
//! API (never the sandbox's own pages), with its answer. The conformance kit judges an app by it
//! (`conform`); a test can read it too ([`Sandbox::calls_since`]). The last [`JOURNAL_LEN`]
//! calls are kept, from the first [`Sandbox::journal_mark`] on.
//!
//! It holds no secret: a token exchange is described by how the client authenticated, the
//! `redirect_uri` it sent, whether it sent a PKCE verifier, and the code's hash.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;

use super::Sandbox;
use super::faults::{Endpoint, FaultKind};

/// How many calls the journal keeps.
pub const JOURNAL_LEN: usize = 1_000;

/// One call to one of Segment's endpoints.
#[derive(Debug, Clone)]
pub struct Call {
    /// Its place in the order of calls (see [`Sandbox::journal_mark`]).
    pub seq: u64,
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path inside the sandbox, without the query.
    pub path: String,
    /// The endpoint it is for.
    pub endpoint: Endpoint,
    /// The status of the answer.
    pub status: u16,
    /// The fault that answered instead of the endpoint, if one was armed.
    pub fault: Option<FaultKind>,
    /// The install it acted for: its token's (Config API), its path's (refresh), or the one
    /// the code exchange made.
    pub install: Option<u64>,
    /// For the token endpoint: what the exchange sent.
    pub exchange: Option<Exchange>,
}

/// What a client sent to the token endpoint, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// How the client said who it is.
    pub client_auth: ClientAuth,
    /// The `redirect_uri` it sent.
    pub redirect_uri: Option<String>,
    /// Whether it sent a PKCE `code_verifier`.
    pub code_verifier: bool,
    /// The S256 hash of the code it sent (as [`crate::pkce_s256`] makes it).
    pub code_hash: Option<String>,
}

/// How a client authenticated at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// An HTTP Basic `Authorization` header: what Segment asks for.
    Basic,
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Form,
    /// Neither.
    Missing,
}

/// The calls, oldest first.
#[derive(Debug, Default)]
pub struct Journal {
    calls: VecDeque<Call>,
    next_seq: u64,
}

/// What is known of a call when it arrives; recorded with its answer.
pub(crate) struct Arrival {
    at: Instant,
    method: String,
    path: String,
    endpoint: Endpoint,
    install: Option<u64>,
}

impl Arrival {
    /// The arrival of `request`, if it is for one of Segment's endpoints.
    pub(crate) fn of(sandbox: &Sandbox, request: &ServiceRequest) -> Option<Arrival> {
        if !sandbox.journaling.load(Ordering::Relaxed) {
            return None;
        }
        let full = request.path();
        let path = full.strip_prefix(&sandbox.base_path).unwrap_or(full);
        let endpoint = Endpoint::of(path)?;
        let install = match endpoint {
            Endpoint::Token => None,
            Endpoint::Refresh => path
                .trim_start_matches("/v1beta/installs/")
                .trim_end_matches("/token")
                .parse()
                .ok(),
            _ => bearer(request.request()).and_then(|token| sandbox.world().install_of(token)),
        };
        Some(Arrival {
            at: Instant::now(),
            method: request.method().to_string(),
            path: path.to_owned(),
            endpoint,
            install,
        })
    }
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

impl Journal {
    /// Records a call and its answer.
    pub(crate) fn record(
        &mut self,
        arrival: Arrival,
        status: u16,
        fault: Option<FaultKind>,
        exchange: Option<(Exchange, Option<u64>)>,
    ) {
        let (exchange, made) = match exchange {
            Some((exchange, made)) => (Some(exchange), made),
            None => (None, None),
        };
        if self.calls.len() == JOURNAL_LEN {
            self.calls.pop_front();
        }
        self.calls.push_back(Call {
            seq: self.next_seq,
            at: arrival.at,
            method: arrival.method,
            path: arrival.path,
            endpoint: arrival.endpoint,
            status,
            fault,
            install: arrival.install.or(made),
            exchange,
        });
        self.next_seq += 1;
    }
}

impl Sandbox {
    /// A mark in the journal: [`Sandbox::calls_since`] it returns the calls made after now.
    /// The first mark turns the journal on (until then nothing is recorded).
    pub fn journal_mark(&self) -> u64 {
        self.journaling.store(true, Ordering::Relaxed);
        self.world().journal.next_seq
    }

    /// The calls to Segment's endpoints since `mark`, oldest first (those still kept).
    pub fn calls_since(&self, mark: u64) -> Vec<Call> {
        self.world()
            .journal
            .calls
            .iter()
            .filter(|call| call.seq >= mark)
            .cloned()
            .collect()
    }
}
