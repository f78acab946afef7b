//! What your app says when the flow starts, succeeds or fails: the [`Hooks`] trait, and
//! [`PlainPages`], its defaults (plain pages with no branding of their own).

use std::future::Future;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use segment_client::InstallToken;

use crate::error::FlowError;

/// Something the library did, for your metrics or logs ([`Hooks::event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A browser was sent to Segment's consent screen.
    FlowStarted,
    /// A flow came back: `installed`, `denied` (the customer said no) or `failed`.
    FlowEnded(&'static str),
    /// A token refresh ended: `refreshed`, `used_another` (another request's new token was
    /// used), `refused` (Segment refused to mint one) or `failed`.
    Refresh(&'static str),
}

/// Your app's say in the flow. Every method has a default; implement those you need.
pub trait Hooks<Id>: 'static {
    /// Before a flow starts, for `user` (or for nobody, when [`Users::signs_up`] allows it): a
    /// response here answers instead (a user already connected is sent to their page, say).
    /// Default: none, the flow starts.
    ///
    /// [`Users::signs_up`]: crate::Users::signs_up
    fn before_start(
        &self,
        _request: &HttpRequest,
        _user: Option<&Id>,
    ) -> impl Future<Output = Result<Option<HttpResponse>, FlowError>> {
        async { Ok(None) }
    }

    /// Segment said yes; the install is not stored yet. An `Err` aborts it, with a reason the
    /// failure page shows ([`FlowError::Aborted`]). Default: every install is taken.
    fn before_save(
        &self,
        _request: &HttpRequest,
        _user: &Id,
        _install: &InstallToken,
    ) -> impl Future<Output = Result<(), String>> {
        async { Ok(()) }
    }

    /// The install is stored for `user`: the response. Default: a redirect (303) to `landing`
    /// (see [`EnableWithSegment::landing`](crate::EnableWithSegment::landing)).
    fn installed(
        &self,
        _request: &HttpRequest,
        _user: &Id,
        _install: &InstallToken,
        landing: &str,
    ) -> impl Future<Output = HttpResponse> {
        let response = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, landing.to_owned()))
            .finish();
        async { response }
    }

    /// The flow failed (or could not start): the response. Default: [`PlainPages::failure`].
    fn failed(
        &self,
        _request: &HttpRequest,
        _user: Option<&Id>,
        error: FlowError,
    ) -> impl Future<Output = HttpResponse> {
        let response = PlainPages::failure(&error);
        async { response }
    }

    /// Something happened (for metrics). Default: nothing.
    fn event(&self, _event: Event) {}
}

/// The defaults of every hook: no branding, no chrome, a plain page for a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainPages;

impl<Id> Hooks<Id> for PlainPages {}

/// The plain failure page: the error's status, what happened, and a link to start again.
#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><p>{{ message }}</p>{% if let Some(hint) = hint %}<p>{{ hint }}</p>{% endif %}</body></html>
"#
)]
struct FailurePage<'a> {
    title: &'a str,
    message: String,
    hint: Option<&'a str>,
}

impl PlainPages {
    /// The page [`Hooks::failed`] shows by default, with [`FlowError::status`].
    pub fn failure(error: &FlowError) -> HttpResponse {
        let (title, hint) = match error {
            FlowError::Provider { .. } if error.is_denial() => (
                "Not connected",
                Some("You chose not to connect Segment. Nothing was installed."),
            ),
            FlowError::NoFlow | FlowError::StateMismatch | FlowError::Expired => (
                "This link is not valid",
                Some("Start again: the link from Segment works once, in the browser that began."),
            ),
            FlowError::AlreadyInstalled | FlowError::InstalledElsewhere => (
                "Already installed",
                Some("The App is already installed on that workspace."),
            ),
            FlowError::SignInFirst => ("Sign in first", None),
            _ => ("Segment could not be connected", None),
        };
        // Store and login failures are ours: their details stay in the log.
        let message = match error {
            FlowError::Store(_) | FlowError::Users(_) => {
                tracing::error!(%error, "the install flow failed");
                "Something failed on our side. Please try again.".to_owned()
            }
            other => other.to_string(),
        };
        let page = FailurePage {
            title,
            message,
            hint,
        };
        HttpResponse::build(error.status())
            .content_type(ContentType::html())
            .body(page.render().unwrap_or_else(|_| title.to_owned()))
    }
}
