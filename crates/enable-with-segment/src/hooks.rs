//! What your app says when the flow starts, succeeds or fails: the [`Hooks`] trait, and
//! [`PlainPages`], its defaults (plain pages with no branding of their own). Also what the
//! library tells your metrics ([`Event`]).

use std::fmt::Display;
use std::future::Future;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use segment_client::InstallToken;

use crate::advice::Advice;
use crate::error::{FlowError, FlowErrorOf};
use crate::store::InstallStore;
use crate::users::Users;

/// Something the library did, for your metrics or logs ([`Hooks::event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A browser was sent to Segment's consent screen.
    FlowStarted,
    /// A flow came back from Segment, and ended so.
    FlowEnded(FlowOutcome),
    /// A token refresh ended so.
    Refresh(RefreshOutcome),
}

/// How a flow that came back ended ([`Event::FlowEnded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowOutcome {
    /// The install is stored.
    Installed,
    /// The customer said no on Segment's consent screen.
    Denied,
    /// Anything else ([`Hooks::failed`] was told why).
    Failed,
}

/// How a token refresh ended ([`Event::Refresh`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// Segment minted a new token, now stored.
    Refreshed,
    /// Another request (perhaps on another instance) had just stored a new token: that one was
    /// used.
    UsedAnother,
    /// Segment refused to mint one: the install is marked refused.
    Refused,
    /// Segment failed for a passing reason.
    Failed,
}

impl FlowOutcome {
    /// `installed`, `denied` or `failed`: a metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowOutcome::Installed => "installed",
            FlowOutcome::Denied => "denied",
            FlowOutcome::Failed => "failed",
        }
    }
}

impl RefreshOutcome {
    /// `refreshed`, `used_another`, `refused` or `failed`: a metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Refreshed => "refreshed",
            RefreshOutcome::UsedAnother => "used_another",
            RefreshOutcome::Refused => "refused",
            RefreshOutcome::Failed => "failed",
        }
    }
}

/// Your app's say in the flow, for users `U` and store `S`. Every method has a default;
/// implement those you need: `impl Hooks<MyUsers, SqlStore> for MyPages { … }`.
pub trait Hooks<U: Users, S: InstallStore<U::Id>>: Send + Sync + 'static {
    /// Before a flow starts, for `user` (or for nobody, when [`Users::signs_up`] allows it): a
    /// response here answers instead (a user already connected is sent to their page, say).
    /// Default: none, the flow starts.
    fn before_start(
        &self,
        _request: &HttpRequest,
        _user: Option<&U::Id>,
    ) -> impl Future<Output = Result<Option<HttpResponse>, FlowErrorOf<U, S>>> {
        async { Ok(None) }
    }

    /// Segment said yes; the install is not stored yet. An `Err` aborts it, with a reason the
    /// failure page shows ([`FlowError::Aborted`]). Default: every install is taken.
    fn before_save(
        &self,
        _request: &HttpRequest,
        _user: &U::Id,
        _install: &InstallToken,
    ) -> impl Future<Output = Result<(), String>> {
        async { Ok(()) }
    }

    /// The install is stored for `user`: the response. `landing` is where the flow was asked
    /// to return (the start route's `return_to`), else the builder's
    /// [`landing`](crate::Builder::landing). Default: a redirect (303) there.
    fn installed(
        &self,
        _request: &HttpRequest,
        _user: &U::Id,
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
        _user: Option<&U::Id>,
        error: FlowErrorOf<U, S>,
    ) -> impl Future<Output = HttpResponse> {
        let response = PlainPages::failure(&error);
        async { response }
    }

    /// The origin (`scheme://host[:port]`) the browser used to reach `request`: the start
    /// route moves a browser that is not on the redirect URL's origin there first (see
    /// [`Builder::move_to_callback_host`](crate::Builder::move_to_callback_host)). Default:
    /// actix-web's `ConnectionInfo`, which believes a proxy's `Forwarded` and `X-Forwarded-*`
    /// headers; an app that knows which proxies to believe says so here.
    fn browser_origin(&self, request: &HttpRequest) -> String {
        let info = request.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    }

    /// Something happened (for metrics). Default: nothing.
    fn event(&self, _event: Event) {}
}

/// The defaults of every hook: no branding, no chrome, a plain page for a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainPages;

impl<U: Users, S: InstallStore<U::Id>> Hooks<U, S> for PlainPages {}

/// The plain failure page: the error's status, what happened, what to do, and a way back.
#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><p>{{ message }}</p>{% if let Some(hint) = hint %}<p>{{ hint }}</p>{% endif %}
<p><a href="/">Back to the site</a></p></body></html>
"#
)]
struct FailurePage<'a> {
    title: &'a str,
    message: String,
    hint: Option<&'a str>,
}

impl PlainPages {
    /// The page [`Hooks::failed`] shows by default, with [`FlowError::status`]: what happened
    /// and, for Segment's failures, the [`Advice`] for them.
    pub fn failure<U: Display, S: Display>(error: &FlowError<U, S>) -> HttpResponse {
        let advice = error.advice();
        let (title, hint) = match error {
            FlowError::Provider { .. } if error.is_denial() => (
                "Not connected",
                Some("You chose not to connect Segment. Nothing was installed."),
            ),
            _ => (advice.title, advice.hint),
        };
        // Store and login failures are ours: their details stay in the log.
        let message = match error {
            FlowError::Store(_) | FlowError::Users(_) => {
                tracing::error!(%error, "the install flow failed");
                "Something failed on our side. Please try again.".to_owned()
            }
            FlowError::Provider {
                error: code,
                description,
                ..
            } => match Advice::meaning(code, description.as_deref()) {
                Some(meaning) => meaning.to_owned(),
                None => error.to_string(),
            },
            other => other.to_string(),
        };
        let page = FailurePage {
            title,
            message,
            hint,
        };
        HttpResponse::build(advice.status)
            .content_type(ContentType::html())
            .body(page.render().unwrap_or_else(|_| title.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segment_client::SegmentError;
    use std::convert::Infallible;

    async fn page(error: FlowError<Infallible, Infallible>) -> (u16, String) {
        let response = PlainPages::failure(&error);
        let status = response.status().as_u16();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Segment's failures get the advice for their kind; a denial its own words.
    #[actix_web::test]
    async fn the_default_page_advises_on_segments_failures() {
        let credentials = FlowError::Segment(SegmentError::OAuth {
            error: "invalid_client".into(),
            description: None,
        });
        let (status, body) = page(credentials).await;
        assert_eq!(status, 502);
        assert!(body.contains("CLIENT_ID and CLIENT_SECRET"), "{body}");
        let scope = FlowError::Provider {
            error: "invalid_scope".into(),
            description: None,
            hint: None,
        };
        let (_, body) = page(scope).await;
        assert!(body.contains("refused the scope"), "{body}");
        assert!(body.contains("SEGMENT_SCOPE"), "{body}");
        let denied = FlowError::Provider {
            error: "access_denied".into(),
            description: None,
            hint: None,
        };
        let (status, body) = page(denied).await;
        assert_eq!(status, 403);
        assert!(body.contains("You chose not to connect Segment"), "{body}");
    }
}
