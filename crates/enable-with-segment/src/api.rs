//! The Config API for a stored install, with a token that works: [`ConfigApi`], from
//! [`EnableWithSegment::config_api`] (the user's install, for a background job) or
//! [`EnableWithSegment::config_api_with`] (an install your page already read, with
//! [`EnableWithSegment::current_install`] say). It borrows the [`EnableWithSegment`]: a job on
//! `tokio::spawn` owns a clone of it (cheap: clones share everything).
//!
//! Install tokens live about an hour, and minting a new one (the install token API) retires the
//! previous one at once. So:
//! - before a call, a token that expires within [`REFRESH_MARGIN`] is replaced;
//! - a call refused with 401 ("malformed token") gets one replacement and one retry;
//! - replacements take turns per install: a request that waited reads the store first, and
//!   uses the token another request stored meanwhile. In a process the turns are a lock per
//!   install; across instances, the store's refresh lease
//!   ([`InstallStore::try_refresh_lease`]), taken by one and waited for by the others, lapsing
//!   after [`refresh_lease`] (at least [`REFRESH_LEASE`], and longer than a call to Segment may
//!   take). The refresh is cut off before its lease lapses, and its token is stored only while
//!   the lease is still its own ([`InstallStore::save_refreshed`]). Two refreshes racing would
//!   leave one request holding a token the other had already retired;
//! - a refresh Segment refuses (401, 403, 404) marks the install refused
//!   ([`InstallStore::refused`]) and never deletes it (the crate's "Refused installs" says what
//!   happens next).
//!
//! Every future here is `Send`: a job on `tokio::spawn` can hold a [`ConfigApi`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};
use segment_client::secret::AccessToken;
use segment_client::{
    ErrorKind, InstallName, InstallToken, SegmentClient, SegmentError, SourceName,
};

use crate::EnableWithSegment;
use crate::error::CallError;
use crate::hooks::{Event, Hooks, RefreshOutcome};
use crate::store::{Install, InstallStore};
use crate::users::Users;

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);
/// The shortest a refresh holds the install's lease; a lease nobody ended (an instance that
/// stopped mid-refresh) lapses then. See [`refresh_lease`].
pub const REFRESH_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long before its lease lapses a refresh is cut off, so that it ends (and stores its
/// token) while the lease is still its own.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a refresh holds the install's lease, given the longest a call to Segment may take
/// (`SEGMENT_TIMEOUT_MS`): [`REFRESH_LEASE`], or that call and a margin if it is longer, so
/// that a slow refresh is never still running when another instance may take the lease.
pub fn refresh_lease(call_timeout: std::time::Duration) -> std::time::Duration {
    REFRESH_LEASE.max(call_timeout + LEASE_MARGIN + LEASE_MARGIN)
}
/// How often a request waiting for another instance's refresh looks for its token.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

type Turn = Arc<tokio::sync::Mutex<()>>;

/// What waiting for an install's refresh lease came to.
enum Leased {
    /// Another refresh stored this token meanwhile: use it.
    Another(InstallToken),
    /// The lease is ours until `until`, for the token `newest`.
    Ours {
        newest: InstallToken,
        until: chrono::DateTime<Utc>,
    },
}

/// One lock per install, which its refreshes in this process take turns on.
#[derive(Default)]
pub(crate) struct Turns {
    installs: Mutex<HashMap<InstallName, Turn>>,
}

impl Turns {
    fn turn(&self, install: &InstallName) -> Turn {
        let mut installs = self.installs.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the locks nobody holds or waits for.
        installs.retain(|_, turn| Arc::strong_count(turn) > 1);
        installs.entry(install.clone()).or_default().clone()
    }
}

fn expiring(token: &InstallToken) -> bool {
    token.is_expired(Utc::now() + REFRESH_MARGIN)
}

/// Segment refused to mint a token for the install: it was uninstalled, or the App's
/// credentials are not accepted. Anything else is an ordinary upstream failure.
fn is_refusal(error: &SegmentError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::TokenRejected | ErrorKind::NotAllowed | ErrorKind::NotFound
    )
}

/// The Config API for one user's install, with a token that works (see the module's
/// documentation): from [`EnableWithSegment::config_api`] or
/// [`EnableWithSegment::config_api_with`].
pub struct ConfigApi<'a, S, U: Users, H> {
    pub(crate) enable: &'a EnableWithSegment<S, U, H>,
    user: U::Id,
    install: InstallToken,
    /// The source whose destinations the actions are about: the install's, or the one given.
    pub(crate) source: Option<SourceName>,
}

/// The error of a [`ConfigApi`] call for users `U` and store `S`.
pub(crate) type ErrorOf<S, U> = CallError<<S as InstallStore<<U as Users>::Id>>::Error>;

impl<'a, S, U, H> ConfigApi<'a, S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U, S>,
{
    /// The install, with the token last used.
    pub fn install(&self) -> &InstallToken {
        &self.install
    }

    /// The source the destination actions work on: the install's (`destination/<slug>`
    /// scopes), or the one given to [`ConfigApi::on_source`].
    pub fn source(&self) -> Option<&SourceName> {
        self.source.as_ref()
    }

    /// Works on `source`'s destinations: for a `workspace` or `workspace:read` install, whose
    /// token names no source (your page lets the customer pick one of the workspace's).
    pub fn on_source(mut self, source: SourceName) -> Self {
        self.source = Some(source);
        self
    }

    /// Runs `call` with the Segment client and a token that works: refreshed first if it is
    /// about to expire, and once more (with one retry) if Segment refuses it. The token is
    /// given by value, so the future `call` makes owns it:
    /// `api.call(|segment, token| async move { segment.get_workspace(&token, &name).await })`.
    pub async fn call<T, F, Fut>(&mut self, call: F) -> Result<T, ErrorOf<S, U>>
    where
        F: Fn(&'a SegmentClient, AccessToken) -> Fut,
        Fut: Future<Output = Result<T, SegmentError>>,
    {
        let segment = &self.enable.inner.segment;
        if expiring(&self.install) {
            self.install = self.enable.newer_token(&self.user, &self.install).await?;
        }
        match call(segment, self.install.access_token.clone()).await {
            Err(error) if error.kind() == ErrorKind::TokenRejected => {
                tracing::info!(install = %self.install.install_name, "Segment refused the install token; refreshing once");
                self.install = self.enable.newer_token(&self.user, &self.install).await?;
                call(segment, self.install.access_token.clone())
                    .await
                    .map_err(CallError::Segment)
            }
            other => other.map_err(CallError::Segment),
        }
    }
}

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U, S>,
{
    /// The Config API for `user`'s install: their most recently used one that is connected and
    /// not refused by Segment. This is what a background job asks for: an install Segment
    /// refused is skipped (no call to Segment for it), see the crate's "Refused installs".
    /// `Ok(None)`: the user holds no such install.
    pub async fn config_api(
        &self,
        user: &U::Id,
    ) -> Result<Option<ConfigApi<'_, S, U, H>>, ErrorOf<S, U>> {
        let installs = self.installs(user).await.map_err(CallError::Store)?;
        Ok(installs
            .into_iter()
            .find(Install::is_usable)
            .map(|install| self.config_api_with(user, install.token)))
    }

    /// The Config API for `user`'s `install`, which your page read already
    /// ([`EnableWithSegment::current_install`], say). A refused install is tried: the first
    /// call attempts one refresh, and a token Segment mints clears the mark.
    pub fn config_api_with(&self, user: &U::Id, install: InstallToken) -> ConfigApi<'_, S, U, H> {
        let source = install.source().cloned();
        ConfigApi {
            enable: self,
            user: user.clone(),
            install,
            source,
        }
    }

    /// The install a page shows `user`: their most recently used connected one, refused by
    /// Segment or not (the page then says so, and [`EnableWithSegment::config_api_with`] on it
    /// tries again). `None`: they hold no connected install.
    pub async fn current_install(&self, user: &U::Id) -> Result<Option<Install>, S::Error> {
        self.inner.store.current_install(user).await
    }

    /// `user`'s installs, connected or not, refused or not, most recently used first.
    pub async fn installs(&self, user: &U::Id) -> Result<Vec<Install>, S::Error> {
        self.inner.store.installs(user).await
    }

    /// `user`'s install `name`, whatever its state.
    pub async fn install(
        &self,
        user: &U::Id,
        name: &InstallName,
    ) -> Result<Option<Install>, S::Error> {
        self.inner.store.install(user, name).await
    }

    /// Disconnects `user`'s install `name` ([`InstallStore::disconnect`]): your
    /// "Disconnect" button. It forgets the install here (no token is kept, no call is made for
    /// it); the App stays installed on the workspace in Segment until a workspace owner removes
    /// it there, and its destination keeps running. The install stays listed as the user's
    /// (disconnected): after Segment's "already installed", [`EnableWithSegment::reconnect`]
    /// takes it back. `false`: the user holds no install of that name.
    pub async fn uninstall(&self, user: &U::Id, name: &InstallName) -> Result<bool, S::Error> {
        self.inner.store.disconnect(user, name).await
    }

    /// Takes `user`'s disconnected install `name` back into use (its next call mints a token).
    /// `None`: the user holds no install of that name.
    pub async fn reconnect(
        &self,
        user: &U::Id,
        name: &InstallName,
    ) -> Result<Option<Install>, S::Error> {
        let Some(install) = self.inner.store.install(user, name).await? else {
            return Ok(None);
        };
        if install.is_connected() {
            return Ok(Some(install));
        }
        self.inner.store.save(user, &install.token).await?;
        self.inner.store.install(user, name).await
    }

    /// A token to use instead of `stale`: the one another request stored meanwhile, if it is
    /// good, else a new one from Segment, stored for everyone. One refresh per install at a
    /// time (see the module's documentation).
    async fn newer_token(
        &self,
        user: &U::Id,
        stale: &InstallToken,
    ) -> Result<InstallToken, ErrorOf<S, U>> {
        let turn = self.inner.turns.turn(&stale.install_name);
        let _turn = turn.lock().await;
        let lease = refresh_lease(self.inner.segment.call_timeout());
        match self.take_lease(user, stale, lease).await? {
            Leased::Another(token) => Ok(token),
            Leased::Ours { newest, until } => self.refresh(user, &newest, until, lease).await,
        }
    }

    /// The install's refresh lease for `lease` (waiting while another holds it, at most that
    /// long), or the token another refresh stored meanwhile.
    async fn take_lease(
        &self,
        user: &U::Id,
        stale: &InstallToken,
        lease: std::time::Duration,
    ) -> Result<Leased, ErrorOf<S, U>> {
        let store = &self.inner.store;
        let name = &stale.install_name;
        let waited_enough = Instant::now() + lease;
        loop {
            let newest = store
                .install(user, name)
                .await
                .map_err(CallError::Store)?
                .filter(Install::is_connected)
                .ok_or(CallError::NotConnected)?
                .token;
            if newest.access_token != stale.access_token && !expiring(&newest) {
                self.inner
                    .hooks
                    .event(Event::Refresh(RefreshOutcome::UsedAnother));
                return Ok(Leased::Another(newest));
            }
            let until = Utc::now() + lease;
            let ours = store
                .try_refresh_lease(user, &newest, until)
                .await
                .map_err(CallError::Store)?;
            if ours {
                return Ok(Leased::Ours { newest, until });
            }
            if Instant::now() >= waited_enough {
                return Err(CallError::RefreshBusy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// A new token for `newest` from Segment, while holding its lease (taken until `until`):
    /// stored for everyone, or the install marked refused.
    async fn refresh(
        &self,
        user: &U::Id,
        newest: &InstallToken,
        until: chrono::DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<InstallToken, ErrorOf<S, U>> {
        let store = &self.inner.store;
        let name = &newest.install_name;
        // The refresh ends before its lease lapses: no other instance refreshes meanwhile.
        let cut_off = lease.saturating_sub(LEASE_MARGIN);
        let Ok(refreshed) =
            tokio::time::timeout(cut_off, self.inner.segment.refresh_install_token(newest)).await
        else {
            // Cut off: Segment may still mint a token for it, so the lease is left to lapse
            // rather than ended, and no other refresh starts before then.
            self.inner
                .hooks
                .event(Event::Refresh(RefreshOutcome::Failed));
            return Err(CallError::Segment(SegmentError::Unreachable {
                timed_out: true,
                detail: format!(
                    "the token refresh took longer than {} s, its share of the lease",
                    cut_off.as_secs()
                ),
            }));
        };
        match refreshed {
            Ok(fresh) => {
                // Storing the token ends the lease; a refresh that lost its lease stores
                // nothing (another refresh's token follows).
                if !store
                    .save_refreshed(user, &fresh, until)
                    .await
                    .map_err(CallError::Store)?
                {
                    let connected = store
                        .install(user, name)
                        .await
                        .map_err(CallError::Store)?
                        .is_some_and(|install| install.is_connected());
                    if !connected {
                        return Err(CallError::NotConnected);
                    }
                    tracing::warn!(install = %name, "a token refresh outlived its lease; its token is not stored");
                    return Err(CallError::RefreshBusy);
                }
                tracing::info!(install = %fresh.install_name, "install token refreshed");
                self.inner
                    .hooks
                    .event(Event::Refresh(RefreshOutcome::Refreshed));
                Ok(fresh)
            }
            Err(error) if is_refusal(&error) => {
                let reason = error.message();
                tracing::warn!(install = %name, user = ?user, %reason, "Segment refused to mint a token; the install is marked refused");
                store
                    .refused(user, name, &reason)
                    .await
                    .map_err(CallError::Store)?;
                self.inner
                    .hooks
                    .event(Event::Refresh(RefreshOutcome::Refused));
                Err(CallError::Refused(reason))
            }
            Err(error) => {
                store
                    .end_refresh_lease(user, name)
                    .await
                    .map_err(CallError::Store)?;
                self.inner
                    .hooks
                    .event(Event::Refresh(RefreshOutcome::Failed));
                Err(CallError::Segment(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Span;

    /// The lease outlasts the longest call to Segment with room to store its token: a
    /// 60 s SEGMENT_TIMEOUT_MS gets a 70 s lease (the refresh is cut off at 65 s), never the
    /// 30 s that let a second instance refresh while the first was still waiting.
    #[test]
    fn the_lease_is_tied_to_the_call_timeout() {
        assert_eq!(refresh_lease(Span::from_secs(15)), REFRESH_LEASE);
        assert_eq!(refresh_lease(Span::from_millis(250)), REFRESH_LEASE);
        assert_eq!(refresh_lease(Span::from_secs(60)), Span::from_secs(70));
        for timeout in [1, 15, 25, 60, 600] {
            let lease = refresh_lease(Span::from_secs(timeout));
            assert!(lease.saturating_sub(LEASE_MARGIN) > Span::from_secs(timeout));
        }
    }
}
