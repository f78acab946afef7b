//! Install tokens that never go stale.
//!
//! Install tokens live about an hour, and minting a new one (the install token API) retires the
//! previous one at once. So:
//! - before a call, a token that expires within [`REFRESH_MARGIN`] is replaced;
//! - a call refused with 401 ("malformed token") gets one replacement and one retry;
//! - replacements are single-flight per install: requests that need one at the same moment
//!   wait for the first, and all use its result. Two refreshes racing would leave one request
//!   holding a token the other had already retired.
//!
//! The new token is written back into the session, so the next request starts with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};

use super::AppState;
use super::error::WebError;
use super::session::TypedSession;
use crate::secret::Secret;
use crate::segment::{InstallName, InstallToken, SegmentClient, SegmentError};

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);

type Slot = Arc<tokio::sync::Mutex<Option<InstallToken>>>;

/// The newest token minted for each install, each behind the lock its refreshes take turns on.
#[derive(Default)]
pub struct TokenKeeper {
    installs: Mutex<HashMap<InstallName, Slot>>,
}

fn expiring(token: &InstallToken) -> bool {
    token.is_expired(Utc::now() + REFRESH_MARGIN)
}

impl TokenKeeper {
    fn slot(&self, install: &InstallName) -> Slot {
        let mut installs = self.installs.lock().unwrap_or_else(|p| p.into_inner());
        // Forget installs nobody is refreshing whose newest token has expired anyway.
        installs.retain(|_, slot| {
            Arc::strong_count(slot) > 1
                || slot
                    .try_lock()
                    .map(|newest| newest.as_ref().is_some_and(|t| !t.is_expired(Utc::now())))
                    .unwrap_or(true)
        });
        installs.entry(install.clone()).or_default().clone()
    }

    /// A token for `current` that is good for at least [`REFRESH_MARGIN`].
    pub async fn fresh(
        &self,
        segment: &SegmentClient,
        current: &InstallToken,
    ) -> Result<InstallToken, SegmentError> {
        if !expiring(current) {
            return Ok(current.clone());
        }
        self.replace(segment, current).await
    }

    /// A token to use instead of `stale`: the one another request minted meanwhile, if any,
    /// else a new one. One refresh per install at a time.
    pub async fn replace(
        &self,
        segment: &SegmentClient,
        stale: &InstallToken,
    ) -> Result<InstallToken, SegmentError> {
        let slot = self.slot(&stale.install_name);
        let mut newest = slot.lock().await;
        if let Some(token) = newest.as_ref()
            && token.access_token != stale.access_token
            && !expiring(token)
        {
            return Ok(token.clone());
        }
        let fresh = segment.refresh_install_token(stale).await?;
        tracing::info!(install = %fresh.install_name, "install token refreshed");
        *newest = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Segment refused the token itself (as opposed to the request).
fn is_unauthorized(error: &SegmentError) -> bool {
    error.status() == Some(401)
        || error
            .message()
            .to_ascii_lowercase()
            .contains("malformed token")
}

impl AppState {
    /// Runs a Segment `call` for this session's install with a token that works: refreshed
    /// first if it is about to expire, and once more (with one retry) if Segment refuses it.
    /// `doing` says what the call is for, on the error page.
    pub async fn with_install<T>(
        &self,
        session: &TypedSession,
        install: &mut InstallToken,
        doing: &'static str,
        call: impl AsyncFn(&Secret) -> Result<T, SegmentError>,
    ) -> Result<T, WebError> {
        let fresh = self
            .tokens
            .fresh(&self.segment, install)
            .await
            .map_err(|error| refresh_failed(session, error))?;
        self.adopt(session, install, fresh).await?;
        match call(&install.access_token).await {
            Err(error) if is_unauthorized(&error) => {
                tracing::info!(install = %install.install_name, "Segment refused the install token; refreshing once");
                let fresh = self
                    .tokens
                    .replace(&self.segment, install)
                    .await
                    .map_err(|error| refresh_failed(session, error))?;
                self.adopt(session, install, fresh).await?;
                call(&install.access_token).await.map_err(|error| {
                    if is_unauthorized(&error) {
                        install_gone(session, error)
                    } else {
                        WebError::segment(doing)(error)
                    }
                })
            }
            other => other.map_err(WebError::segment(doing)),
        }
    }

    /// Keeps a new token, in the request and in the session, and notes the refresh with the
    /// stored install.
    async fn adopt(
        &self,
        session: &TypedSession,
        install: &mut InstallToken,
        fresh: InstallToken,
    ) -> Result<(), WebError> {
        if fresh.access_token != install.access_token {
            *install = fresh;
            session.update_install(install)?;
            self.store
                .touch_install(install.install_name.as_str())
                .await
                .map_err(WebError::store)?;
        }
        Ok(())
    }
}

/// A refresh that Segment refuses means the install is gone (uninstalled, or the App's
/// credentials changed); anything else is an ordinary upstream failure.
fn refresh_failed(session: &TypedSession, error: SegmentError) -> WebError {
    match error.status() {
        Some(401 | 403 | 404) => install_gone(session, error),
        _ => WebError::segment("refreshing the install token")(error),
    }
}

/// Segment no longer knows the install: the session forgets it too, so the next page offers
/// to connect again.
fn install_gone(session: &TypedSession, error: SegmentError) -> WebError {
    session.forget_install();
    WebError::InstallGone(error.message())
}
