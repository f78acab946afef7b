//! Install tokens that never go stale, for a request or a background job alike.
//!
//! Install tokens live about an hour, and minting a new one retires the previous one at once.
//! So, for each call made for a stored install:
//! - a token that expires within [`REFRESH_MARGIN`] is replaced first;
//! - a call refused with 401 gets one replacement and one retry;
//! - replacements take turns per install: a request that waited reads the store first and uses
//!   the token another request stored meanwhile. In a process the turns are a lock per install;
//!   across instances, the store's refresh lease ([`InstallStore::try_refresh_lease`]), taken by
//!   one and waited for by the others, lapsing after [`REFRESH_LEASE`]. Two refreshes racing
//!   would leave one request holding a token the other had already retired.
//! - a refresh Segment refuses (401, 403, 404) is reported to the store
//!   ([`InstallStore::refused`]) and never deletes the install.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};
use segment_client::secret::InstallAccessToken;
use segment_client::{
    Destination, DestinationSlug, ErrorKind, InstallName, InstallToken, SegmentClient, SegmentError,
};

use crate::EnableWithSegment;
use crate::error::TokenError;
use crate::hooks::{Event, Hooks};
use crate::store::InstallStore;
use crate::users::Users;

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);
/// How long a refresh may hold the install's lease (longer than a call to Segment may take,
/// 15 s by default); a lease nobody ended (an instance that stopped mid-refresh) lapses then.
pub const REFRESH_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a request waiting for another instance's refresh looks for its token.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

type Turn = Arc<tokio::sync::Mutex<()>>;

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

/// The Config API for one user's install, with a token that works: from
/// [`EnableWithSegment::config_api`].
pub struct ConfigApi<'a, S, U: Users, H> {
    enable: &'a EnableWithSegment<S, U, H>,
    user: U::Id,
    install: InstallToken,
}

impl<S, U, H> ConfigApi<'_, S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U::Id>,
{
    /// The install, with the token last used.
    pub fn install(&self) -> &InstallToken {
        &self.install
    }

    /// The destination `slug` (yours) on the install's source, as the Config API has it:
    /// `Ok(None)` if it is not created there, or if the install names no source.
    pub async fn destination(
        &mut self,
        slug: &DestinationSlug,
    ) -> Result<Option<Destination>, TokenError> {
        let Some(name) = self.install.source().map(|source| source.destination(slug)) else {
            return Ok(None);
        };
        self.call(async |segment, token| segment.get_destination(token, &name).await)
            .await
    }

    /// Runs `call` with the Segment client and a token that works (see
    /// [`EnableWithSegment::with_token`]).
    pub async fn call<T>(
        &mut self,
        call: impl AsyncFn(&SegmentClient, &InstallAccessToken) -> Result<T, SegmentError>,
    ) -> Result<T, TokenError> {
        let segment = &self.enable.inner.segment;
        self.enable
            .with_token(&self.user, &mut self.install, async |token| {
                call(segment, token).await
            })
            .await
    }
}

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U::Id>,
{
    /// The Config API for `user`'s install ([`InstallStore::fetch`]): works from a request
    /// handler or a background job alike. `Ok(None)`: the user holds no install.
    pub async fn config_api(
        &self,
        user: &U::Id,
    ) -> Result<Option<ConfigApi<'_, S, U, H>>, TokenError> {
        let install = self
            .inner
            .store
            .fetch(user)
            .await
            .map_err(TokenError::Store)?;
        Ok(install.map(|install| ConfigApi {
            enable: self,
            user: user.clone(),
            install,
        }))
    }

    /// Runs a Segment `call` for `user`'s `install` with a token that works: refreshed first if
    /// it is about to expire, and once more (with one retry) if Segment refuses it. `install`
    /// ends holding the token used.
    pub async fn with_token<T>(
        &self,
        user: &U::Id,
        install: &mut InstallToken,
        call: impl AsyncFn(&InstallAccessToken) -> Result<T, SegmentError>,
    ) -> Result<T, TokenError> {
        if expiring(install) {
            *install = self.newer_token(user, install).await?;
        }
        match call(&install.access_token).await {
            Err(error) if error.kind() == ErrorKind::TokenRejected => {
                tracing::info!(install = %install.install_name, "Segment refused the install token; refreshing once");
                *install = self.newer_token(user, install).await?;
                call(&install.access_token)
                    .await
                    .map_err(TokenError::Segment)
            }
            other => other.map_err(TokenError::Segment),
        }
    }

    /// A token to use instead of `stale`: the one another request stored meanwhile, if it is
    /// good, else a new one from Segment, stored for everyone. One refresh per install at a
    /// time (see the module's documentation).
    async fn newer_token(
        &self,
        user: &U::Id,
        stale: &InstallToken,
    ) -> Result<InstallToken, TokenError> {
        let name = &stale.install_name;
        let turn = self.inner.turns.turn(name);
        let _turn = turn.lock().await;
        let waited_enough = Instant::now() + REFRESH_LEASE;
        let newest = loop {
            let newest = self
                .inner
                .store
                .fetch_install(user, name)
                .await
                .map_err(TokenError::Store)?
                .ok_or(TokenError::NotConnected)?;
            if newest.access_token != stale.access_token && !expiring(&newest) {
                self.inner.hooks.event(Event::Refresh("used_another"));
                return Ok(newest);
            }
            let ours = self
                .inner
                .store
                .try_refresh_lease(user, &newest, REFRESH_LEASE)
                .await
                .map_err(TokenError::Store)?;
            if ours {
                break newest;
            }
            if Instant::now() >= waited_enough {
                return Err(TokenError::RefreshBusy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        };
        match self.inner.segment.refresh_install_token(&newest).await {
            Ok(fresh) => {
                // Storing the token ends the lease.
                self.inner
                    .store
                    .save_token(user, &fresh)
                    .await
                    .map_err(TokenError::Store)?;
                tracing::info!(install = %fresh.install_name, "install token refreshed");
                self.inner.hooks.event(Event::Refresh("refreshed"));
                Ok(fresh)
            }
            Err(error) if is_refusal(&error) => {
                let reason = error.message();
                tracing::warn!(install = %name, user = ?user, %reason, "Segment refused to mint a token; the install is marked as needing attention");
                self.inner
                    .store
                    .refused(user, name, &reason)
                    .await
                    .map_err(TokenError::Store)?;
                self.inner.hooks.event(Event::Refresh("refused"));
                Err(TokenError::Refused(reason))
            }
            Err(error) => {
                self.inner
                    .store
                    .end_refresh_lease(user, name)
                    .await
                    .map_err(TokenError::Store)?;
                self.inner.hooks.event(Event::Refresh("failed"));
                Err(TokenError::Segment(error))
            }
        }
    }

    /// Forgets `user`'s install `name` ([`InstallStore::delete`]): call it from your
    /// "Disconnect" button. The install stays in Segment until the customer removes the App
    /// there.
    pub async fn uninstall(&self, user: &U::Id, name: &InstallName) -> Result<(), TokenError> {
        self.inner
            .store
            .delete(user, name)
            .await
            .map_err(TokenError::Store)
    }
}
