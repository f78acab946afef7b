//! Install tokens that never go stale.
//!
//! The newest token of each install lives in the store, next to the install (sealed), not in
//! the session. Install tokens live about an hour, and minting a new one (the install token
//! API) retires the previous one at once. So:
//! - before a call, a token that expires within [`REFRESH_MARGIN`] is replaced;
//! - a call refused with 401 ("malformed token") gets one replacement and one retry;
//! - replacements take turns per install: a request that waited reads the store first, and uses
//!   the token another request minted meanwhile. Two refreshes racing would leave one request
//!   holding a token the other had already retired. In a process the turns are a lock per
//!   install name; across the processes that share the database, a refresh lease on the
//!   install's row (taken by one, waited for by the others, lapsing after `REFRESH_LEASE`).
//! - a refresh Segment refuses (401, 403, 404) marks the install as needing attention and says
//!   so on the page. It never deletes the install: a mistyped `CLIENT_SECRET` must not wipe the
//!   customers' installs. The next token Segment mints clears the mark.
//!
//! Tokens are minted only for installs the current account holds: the install is read from the
//! store through the account before anything is sent to Segment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};

use super::error::WebError;
use super::login::CurrentAccount;
use crate::metrics::Metrics;
use crate::secret::InstallAccessToken;
use crate::segment::{ErrorKind, InstallName, InstallToken, SegmentClient, SegmentError};
use crate::store::Store;

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::seconds(60);
/// How long a refresh may hold the install's lease (longer than a call to Segment may take,
/// 15 s by default); a lease nobody ended (an instance that stopped mid-refresh) lapses then.
const REFRESH_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a request waiting for another instance's refresh looks for its token.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

type Turn = Arc<tokio::sync::Mutex<()>>;

/// Runs Segment calls for an install with a token that works ([`Tokens::with_install`]).
pub struct Tokens {
    segment: SegmentClient,
    store: Store,
    metrics: Metrics,
    turns: Turns,
}

/// One lock per install, which its refreshes take turns on.
#[derive(Default)]
struct Turns {
    installs: Mutex<HashMap<InstallName, Turn>>,
}

fn expiring(token: &InstallToken) -> bool {
    token.is_expired(Utc::now() + REFRESH_MARGIN)
}

impl Turns {
    fn turn(&self, install: &InstallName) -> Turn {
        let mut installs = self.installs.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the locks nobody holds or waits for.
        installs.retain(|_, turn| Arc::strong_count(turn) > 1);
        installs.entry(install.clone()).or_default().clone()
    }
}

/// Segment refused the token itself (as opposed to the request).
fn is_unauthorized(error: &SegmentError) -> bool {
    error.kind() == ErrorKind::TokenRejected
}

/// Segment refused to mint a token for the install: it was uninstalled, or the App's
/// credentials are not accepted. Anything else is an ordinary upstream failure.
fn is_refusal(error: &SegmentError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::TokenRejected | ErrorKind::NotAllowed | ErrorKind::NotFound
    )
}

impl Tokens {
    pub fn new(segment: SegmentClient, store: Store, metrics: Metrics) -> Tokens {
        Tokens {
            segment,
            store,
            metrics,
            turns: Turns::default(),
        }
    }

    /// Runs a Segment `call` for the account's install with a token that works: refreshed
    /// first if it is about to expire, and once more (with one retry) if Segment refuses it.
    /// `install` ends holding the token used. `doing` says what the call is for, on the error
    /// page.
    pub async fn with_install<T>(
        &self,
        account: &CurrentAccount,
        install: &mut InstallToken,
        doing: &'static str,
        call: impl AsyncFn(&InstallAccessToken) -> Result<T, SegmentError>,
    ) -> Result<T, WebError> {
        if expiring(install) {
            *install = self.newer_token(account, install).await?;
        }
        match call(&install.access_token).await {
            Err(error) if is_unauthorized(&error) => {
                tracing::info!(install = %install.install_name, "Segment refused the install token; refreshing once");
                *install = self.newer_token(account, install).await?;
                call(&install.access_token)
                    .await
                    .map_err(WebError::segment(doing))
            }
            other => other.map_err(WebError::segment(doing)),
        }
    }

    /// A token to use instead of `stale`: the one another request stored meanwhile, if it is
    /// good, else a new one from Segment, stored for everyone. One refresh per install at a
    /// time: in this process the requests take turns on a lock; across processes the one that
    /// takes the install's refresh lease refreshes, and the others wait for its token.
    async fn newer_token(
        &self,
        account: &CurrentAccount,
        stale: &InstallToken,
    ) -> Result<InstallToken, WebError> {
        let name = &stale.install_name;
        let turn = self.turns.turn(&stale.install_name);
        let _turn = turn.lock().await;
        let waited_enough = Instant::now() + REFRESH_LEASE;
        let newest = loop {
            let stored = self
                .store
                .install(account.id(), name)
                .await
                .map_err(WebError::store)?
                .filter(|stored| stored.is_connected())
                .ok_or(WebError::NotConnected)?;
            let newest = self.store.install_token(&stored).map_err(WebError::store)?;
            if newest.access_token != stale.access_token && !expiring(&newest) {
                self.metrics.refresh("used_another");
                return Ok(newest);
            }
            let ours = self
                .store
                .take_refresh_lease(&stored, REFRESH_LEASE)
                .await
                .map_err(WebError::store)?;
            if ours {
                break newest;
            }
            if Instant::now() >= waited_enough {
                return Err(WebError::RefreshBusy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        };
        match self.segment.refresh_install_token(&newest).await {
            Ok(fresh) => {
                // Storing the token ends the lease.
                self.store
                    .save_token(account.id(), &fresh)
                    .await
                    .map_err(WebError::store)?;
                tracing::info!(install = %fresh.install_name, "install token refreshed");
                self.metrics.refresh("refreshed");
                Ok(fresh)
            }
            Err(error) if is_refusal(&error) => {
                let reason = error.message();
                tracing::warn!(install = %name, account = account.id(), %reason, "Segment refused to mint a token; the install is marked as needing attention");
                self.store
                    .mark_attention(account.id(), name, &reason)
                    .await
                    .map_err(WebError::store)?;
                self.metrics.refresh("refused");
                Err(WebError::InstallRefused(reason))
            }
            Err(error) => {
                self.store
                    .end_refresh_lease(account.id(), name)
                    .await
                    .map_err(WebError::store)?;
                self.metrics.refresh("failed");
                Err(WebError::segment("refreshing the install token")(error))
            }
        }
    }
}
