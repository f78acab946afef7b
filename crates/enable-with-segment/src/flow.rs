//! The two routes: start (to Segment's consent screen) and callback (the code exchanged, the
//! install stored).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use segment_client::InstallToken;
use segment_client::secret::AuthorizationCode;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::EnableWithSegment;
use crate::cookie::PendingFlow;
use crate::error::{FlowError, StoreError};
use crate::hooks::{Event, Hooks};
use crate::store::InstallStore;
use crate::users::Users;

/// The query of the start route. Other parameters are ignored.
#[derive(Debug, Deserialize)]
struct StartParams {
    /// `1`: the browser was already moved to the callback's host (never move it twice).
    moved: Option<String>,
}

/// What Segment puts on the redirect back: `code` and `state`, or `error`,
/// `error_description`, `error_hint` and `state`.
#[derive(Debug, Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_hint: Option<String>,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U::Id>,
{
    /// The start route's answer to `request`: a fresh `state` and PKCE verifier in the flow's
    /// cookie, and a redirect to Segment's consent screen. Mounted by
    /// [`EnableWithSegment::configure`]; call it yourself to route it your own way.
    pub async fn start(&self, request: &HttpRequest) -> HttpResponse {
        let user = match self.signed_in(request).await {
            Ok(user) => user,
            Err(failed) => return failed,
        };
        match self.inner.hooks.before_start(request, user.as_ref()).await {
            Ok(Some(answer)) => return answer,
            Ok(None) => {}
            Err(error) => return self.inner.hooks.failed(request, user.as_ref(), error).await,
        }
        if user.is_none() && !self.inner.users.signs_up() {
            return self
                .inner
                .hooks
                .failed(request, None, FlowError::SignInFirst)
                .await;
        }
        // The flow's cookie belongs to the host the browser used, and Segment sends the browser
        // back to the redirect URL's host: if they differ (localhost vs 127.0.0.1), the callback
        // would arrive without it. Move the browser there first, once.
        if let Some(elsewhere) = self.on_another_host(request) {
            return see_other(&elsewhere);
        }
        let authorization = self.inner.segment.authorization_request();
        let pending = PendingFlow {
            state: authorization.state,
            pkce_verifier: authorization.pkce_verifier,
            started_at: Utc::now(),
            user,
        };
        self.inner.hooks.event(Event::FlowStarted);
        let mut response = see_other(authorization.url.as_str());
        // A cookie of ours always has a valid name and value.
        let _ = response.add_cookie(&self.inner.cookie.seal(&pending));
        response
    }

    /// Where to send a browser that reached the start route on another host than the redirect
    /// URL's, if [`EnableWithSegment::move_to_callback_host`] is on.
    fn on_another_host(&self, request: &HttpRequest) -> Option<String> {
        let callback = self.inner.callback_origin.as_ref()?;
        let moved =
            web_query::<StartParams>(request).is_ok_and(|q| q.moved.as_deref() == Some("1"));
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let same = callback
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if same || moved {
            return None;
        }
        Some(format!("{callback}{}?moved=1", request.path()))
    }

    /// The callback's answer to `request`: the code exchanged for an install token, the install
    /// stored for the user who started the flow, then [`Hooks::installed`]; or
    /// [`Hooks::failed`]. This browser's flow is used up however it ends (its cookie cleared);
    /// a callback for another `state` leaves it as it was.
    pub async fn callback(&self, request: &HttpRequest) -> HttpResponse {
        let signed_in = match self.signed_in(request).await {
            Ok(user) => user,
            Err(failed) => return failed,
        };
        // Only this browser's own flow is answered and used up: a link with another `state`
        // (or none) leaves the pending flow as it was.
        let flow = web_query::<CallbackParams>(request).and_then(|params| {
            let flow = self.this_browsers_flow(request, params.state.as_deref())?;
            Ok((flow, params))
        });
        let (finished, used_up) = match flow {
            Ok((flow, params)) => (
                self.finish(request, flow, signed_in.clone(), params).await,
                true,
            ),
            Err(error) => (Err(error), false),
        };
        let mut response = match finished {
            Ok((user, install)) => {
                self.inner.hooks.event(Event::FlowEnded("installed"));
                self.inner
                    .hooks
                    .installed(request, &user, &install, &self.inner.landing)
                    .await
            }
            Err(error) => {
                let outcome = if error.is_denial() {
                    "denied"
                } else {
                    "failed"
                };
                self.inner.hooks.event(Event::FlowEnded(outcome));
                self.inner
                    .hooks
                    .failed(request, signed_in.as_ref(), error)
                    .await
            }
        };
        if used_up {
            // The flow's `state` works once, however it ended.
            let _ = response.add_cookie(&self.inner.cookie.removal());
        }
        response
    }

    /// Who is signed in on `request`, or the failure page if the partner's login failed.
    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<U::Id>, HttpResponse> {
        match self.inner.users.signed_in(request).await {
            Ok(user) => Ok(user),
            Err(error) => Err(self
                .inner
                .hooks
                .failed(request, None, FlowError::Users(error))
                .await),
        }
    }

    /// The flow this browser started, if the callback's `state` is its own. A link with
    /// another `state` (or none) is refused whatever else it carries: Segment's error is shown
    /// only for the flow it belongs to.
    fn this_browsers_flow(
        &self,
        request: &HttpRequest,
        returned: Option<&str>,
    ) -> Result<PendingFlow<U::Id>, FlowError> {
        let flow: PendingFlow<U::Id> = self.inner.cookie.open(request).ok_or(FlowError::NoFlow)?;
        let matches: bool = returned
            .unwrap_or_default()
            .as_bytes()
            .ct_eq(flow.state.expose().as_bytes())
            .into();
        if matches {
            Ok(flow)
        } else {
            Err(FlowError::StateMismatch)
        }
    }

    /// The callback's work for this browser's own flow.
    async fn finish(
        &self,
        request: &HttpRequest,
        flow: PendingFlow<U::Id>,
        signed_in: Option<U::Id>,
        params: CallbackParams,
    ) -> Result<(U::Id, InstallToken), FlowError> {
        if let Some(error) = params.error {
            return Err(FlowError::Provider {
                error,
                description: params.error_description,
                hint: params.error_hint,
            });
        }
        if flow.is_expired(Utc::now()) {
            return Err(FlowError::Expired);
        }
        // The install goes to the user who started the flow, and to no other.
        let user = match (flow.user, signed_in) {
            (Some(started_by), Some(now)) if started_by == now => Some(now),
            (Some(_), _) => return Err(FlowError::NoFlow),
            (None, now) => now,
        };
        let code = AuthorizationCode::new(
            params
                .code
                .filter(|c| !c.is_empty())
                .ok_or(FlowError::MissingCode)?,
        );
        let install = match self
            .inner
            .segment
            .exchange_code(&code, flow.pkce_verifier.as_ref())
            .await
        {
            Ok(install) => install,
            Err(error) if error.is_already_exists() => return Err(FlowError::AlreadyInstalled),
            Err(error) => return Err(FlowError::Segment(error)),
        };
        if install.scope.names_a_source() && install.source().is_none() {
            return Err(FlowError::MissingSource(install.scope.to_string()));
        }
        tracing::info!(
            install = %install.install_name,
            workspace = ?install.workspace().map(|w| w.as_str()),
            source = ?install.source().map(|s| s.as_str()),
            scope = %install.scope,
            "install token received"
        );
        // Segment said yes: now a visitor nobody is signed in as is worth a user, if you make
        // them.
        let user = match user {
            Some(user) => user,
            None => self
                .inner
                .users
                .sign_up(request)
                .await
                .map_err(FlowError::Users)?
                .ok_or(FlowError::SignInFirst)?,
        };
        self.inner
            .hooks
            .before_save(request, &user, &install)
            .await
            .map_err(FlowError::Aborted)?;
        self.inner
            .store
            .save(&user, &install)
            .await
            .map_err(|error| match error {
                StoreError::HeldByAnotherUser => FlowError::InstalledElsewhere,
                other => FlowError::Store(other),
            })?;
        Ok((user, install))
    }
}

/// The request's query as `T`.
fn web_query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, FlowError> {
    actix_web::web::Query::<T>::from_query(request.query_string())
        .map(|q| q.into_inner())
        .map_err(|error| FlowError::BadQuery(error.to_string()))
}
