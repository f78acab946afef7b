//! The two routes: start (to Segment's consent screen) and callback (the code exchanged, the
//! install stored).

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use segment_client::InstallToken;
use segment_client::secret::AuthorizationCode;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::EnableWithSegment;
use crate::cookie::PendingFlow;
use crate::error::{FlowError, FlowErrorOf};
use crate::hooks::{Event, FlowOutcome, Hooks};
use crate::store::{InstallStore, Saved};
use crate::users::{NewUser, Users};

/// The query of the start route. Other parameters are kept (through a host move) and ignored.
#[derive(Debug, Deserialize)]
struct StartParams {
    /// A path on this site to come back to when the install is stored.
    return_to: Option<String>,
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

/// `return_to` if it is a path on this site (`/settings?tab=segment`): never another origin
/// (`//evil.example`, `https://…`, `/\evil.example`), so the flow cannot be made an open
/// redirect.
fn same_origin_path(return_to: &str) -> Option<&str> {
    let path_only = return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.contains('\\')
        && !return_to.chars().any(char::is_control);
    path_only.then_some(return_to)
}

/// How a callback ended, before its page: the user and install, or why not.
type Finished<U, S> = Result<(<U as Users>::Id, InstallToken), FlowErrorOf<U, S>>;

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U, S>,
{
    /// The start route's answer to `request`: a fresh `state` and PKCE verifier in the flow's
    /// cookie, and a redirect to Segment's consent screen. A `return_to` path in the query
    /// (same site only) is where [`Hooks::installed`] lands. Mounted by
    /// [`EnableWithSegment::configure`]; call it yourself to route it your own way.
    pub async fn start(&self, request: &HttpRequest) -> HttpResponse {
        let hooks = &self.inner.hooks;
        let params = match web_query::<StartParams, U, S>(request) {
            Ok(params) => params,
            Err(error) => return hooks.failed(request, None, error).await,
        };
        let user = match self.inner.users.signed_in(request).await {
            Ok(user) => user,
            Err(error) => return hooks.failed(request, None, FlowError::Users(error)).await,
        };
        let moved = params.moved.as_deref() == Some("1");
        // The flow's cookie belongs to the host the browser used, and Segment sends the browser
        // back to the redirect URL's host: if they differ (localhost vs 127.0.0.1), the callback
        // would arrive without it. Move the browser there first, once.
        if !moved && let Some(elsewhere) = self.on_another_host(request) {
            return see_other(&elsewhere);
        }
        match hooks.before_start(request, user.as_ref()).await {
            Ok(Some(answer)) => return answer,
            Ok(None) => {}
            Err(error) => return hooks.failed(request, user.as_ref(), error).await,
        }
        if user.is_none() && !self.inner.users.signs_up() {
            let error = match (moved, &self.inner.callback_origin) {
                (true, Some(origin)) => FlowError::SignInOnCallbackHost {
                    origin: origin.clone(),
                },
                _ => FlowError::SignInFirst,
            };
            return hooks.failed(request, None, error).await;
        }
        let return_to = match params.return_to.as_deref().map(same_origin_path) {
            None => None,
            Some(Some(path)) => Some(path.to_owned()),
            Some(None) => {
                return hooks
                    .failed(request, user.as_ref(), FlowError::BadReturnTo)
                    .await;
            }
        };
        let authorization = self.inner.segment.authorization_request();
        let pending = PendingFlow {
            state: authorization.state,
            pkce_verifier: authorization.pkce_verifier,
            started_at: Utc::now(),
            user,
            return_to,
        };
        hooks.event(Event::FlowStarted);
        let mut response = see_other(authorization.url.as_str());
        // A cookie of ours always has a valid name and value.
        let _ = response.add_cookie(&self.inner.cookie.seal(&pending));
        response
    }

    /// Where to send a browser that reached the start route on another origin than the
    /// redirect URL's, if [`Builder::move_to_callback_host`](crate::Builder::move_to_callback_host)
    /// is on: the same path and query there, marked as moved.
    fn on_another_host(&self, request: &HttpRequest) -> Option<String> {
        let callback = self.inner.callback_origin.as_ref()?;
        let browser = self.inner.hooks.browser_origin(request);
        if browser.eq_ignore_ascii_case(callback) {
            return None;
        }
        tracing::info!(
            from = %browser,
            to = %callback,
            "the browser opened the start route on another origin than the redirect URL's, \
             where Segment will send it back: moving it there first. A login cookie of {browser} \
             does not reach {callback}: serve and open the app at {callback}"
        );
        let query = match request.query_string() {
            "" => "moved=1".to_owned(),
            query => format!("{query}&moved=1"),
        };
        Some(format!("{callback}{}?{query}", request.path()))
    }

    /// The callback's answer to `request`: the code exchanged for an install token, the install
    /// stored for the user who started the flow, then [`Hooks::installed`]; or
    /// [`Hooks::failed`]. This browser's flow is used up however it ends (its cookie cleared);
    /// a callback for another `state` leaves it as it was.
    pub async fn callback(&self, request: &HttpRequest) -> HttpResponse {
        let hooks = &self.inner.hooks;
        let signed_in = match self.inner.users.signed_in(request).await {
            Ok(user) => user,
            Err(error) => return hooks.failed(request, None, FlowError::Users(error)).await,
        };
        // Only this browser's own flow is answered and used up: a link with another `state`
        // (or none) leaves the pending flow as it was.
        let flow = web_query::<CallbackParams, U, S>(request).and_then(|params| {
            let flow = self.this_browsers_flow(request, params.state.as_deref())?;
            Ok((flow, params))
        });
        let (flow, params) = match flow {
            Ok(flow) => flow,
            Err(error) => return hooks.failed(request, signed_in.as_ref(), error).await,
        };
        // The state works once on the server's side too, across instances: a saved copy of
        // the flow's cookie finishes nothing.
        let until = flow.started_at + crate::FLOW_LIFETIME;
        let first_use = match self.inner.store.use_state(flow.state.secret(), until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FlowError::NoFlow),
            Err(error) => Err(FlowError::Store(error)),
        };
        if let Err(error) = first_use {
            let mut response = hooks.failed(request, signed_in.as_ref(), error).await;
            let _ = response.add_cookie(&self.inner.cookie.removal());
            return response;
        }
        let landing = flow.return_to.clone();
        let mut new_user_cookie = None;
        let finished = self
            .finish(
                request,
                flow,
                signed_in.clone(),
                params,
                &mut new_user_cookie,
            )
            .await;
        let mut response = match finished {
            Ok((user, install)) => {
                hooks.event(Event::FlowEnded(FlowOutcome::Installed));
                let landing = landing.as_deref().unwrap_or(&self.inner.landing);
                hooks.installed(request, &user, &install, landing).await
            }
            Err(error) => {
                let outcome = if error.is_denial() {
                    FlowOutcome::Denied
                } else {
                    FlowOutcome::Failed
                };
                hooks.event(Event::FlowEnded(outcome));
                hooks.failed(request, signed_in.as_ref(), error).await
            }
        };
        // The flow's `state` works once, however it ended.
        let _ = response.add_cookie(&self.inner.cookie.removal());
        if let Some(cookie) = new_user_cookie {
            let _ = response.add_cookie(&cookie);
        }
        response
    }

    /// The flow this browser started, if the callback's `state` is its own. A link with
    /// another `state` (or none) is refused whatever else it carries: Segment's error is shown
    /// only for the flow it belongs to.
    fn this_browsers_flow(
        &self,
        request: &HttpRequest,
        returned: Option<&str>,
    ) -> Result<PendingFlow<U::Id>, FlowErrorOf<U, S>> {
        let flow: PendingFlow<U::Id> = self.inner.cookie.open(request).ok_or(FlowError::NoFlow)?;
        let matches: bool = returned
            .unwrap_or_default()
            .as_bytes()
            .ct_eq(flow.state.secret().as_bytes())
            .into();
        if matches {
            Ok(flow)
        } else {
            Err(FlowError::StateMismatch)
        }
    }

    /// The callback's work for this browser's own flow. A user made by
    /// [`Users::sign_up`] leaves their cookie in `new_user_cookie`, for the response.
    async fn finish(
        &self,
        request: &HttpRequest,
        flow: PendingFlow<U::Id>,
        signed_in: Option<U::Id>,
        params: CallbackParams,
        new_user_cookie: &mut Option<Cookie<'static>>,
    ) -> Finished<U, S> {
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
        if user.is_none() {
            self.may_sign_up(request).await?;
        }
        let install = match self
            .inner
            .segment
            .exchange_code(code, flow.pkce_verifier)
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
        let user = self
            .keep(request, user, &install, new_user_cookie)
            .await
            .map_err(|cause| {
                let workspace = install
                    .workspace()
                    .map_or_else(|| "its workspace".to_owned(), |w| w.as_str().to_owned());
                tracing::warn!(
                    install = %install.install_name,
                    %workspace,
                    "Segment installed the App and this app did not keep the install: it stays in Segment until a workspace owner uninstalls it"
                );
                FlowError::NotKept {
                    workspace,
                    cause: Box::new(cause),
                }
            })?;
        Ok((user, install))
    }

    /// Whether a visitor nobody is signed in as may get a user. Asked before the exchange:
    /// once Segment has installed the App, a refusal leaves the install behind in Segment.
    async fn may_sign_up(&self, request: &HttpRequest) -> Result<(), FlowErrorOf<U, S>> {
        if !self.inner.users.signs_up() {
            return Err(FlowError::SignInFirst);
        }
        self.inner
            .users
            .may_sign_up(request)
            .await
            .map_err(FlowError::Users)
    }

    /// Segment said yes: the install is kept for `user`, or for the user
    /// [`Users::sign_up`] makes now, unless [`Hooks::before_save`] or the store refuses.
    async fn keep(
        &self,
        request: &HttpRequest,
        user: Option<U::Id>,
        install: &InstallToken,
        new_user_cookie: &mut Option<Cookie<'static>>,
    ) -> Result<U::Id, FlowErrorOf<U, S>> {
        let user = match user {
            Some(user) => user,
            None => {
                let NewUser { id, cookie } = self
                    .inner
                    .users
                    .sign_up(request)
                    .await
                    .map_err(FlowError::Users)?
                    .ok_or(FlowError::SignInFirst)?;
                *new_user_cookie = cookie;
                id
            }
        };
        self.inner
            .hooks
            .before_save(request, &user, install)
            .await
            .map_err(FlowError::Aborted)?;
        let saved = self
            .inner
            .store
            .save(&user, install)
            .await
            .map_err(FlowError::Store)?;
        match saved {
            Saved::HeldByAnotherUser => Err(FlowError::InstalledElsewhere),
            Saved::Kept { superseded } => {
                for old in superseded {
                    tracing::info!(install = %old, new = %install.install_name, "a stored install was superseded by a new install on its workspace");
                }
                Ok(user)
            }
        }
    }
}

/// The request's query as `T`.
fn web_query<T: serde::de::DeserializeOwned, U: Users, S: InstallStore<U::Id>>(
    request: &HttpRequest,
) -> Result<T, FlowErrorOf<U, S>> {
    actix_web::web::Query::<T>::from_query(request.query_string())
        .map(|q| q.into_inner())
        .map_err(|error| FlowError::BadQuery(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn return_to_is_a_path_on_this_site_only() {
        for ok in ["/", "/settings", "/settings?tab=segment#top", "/a//b"] {
            assert_eq!(same_origin_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "settings",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\nLocation: https://evil.example",
        ] {
            assert_eq!(same_origin_path(bad), None, "{bad:?}");
        }
    }
}
