//! Install tokens that never go stale.
//!
//! The flow library (`enable_with_segment`) refreshes them; this is the app's side. The newest
//! token of each install lives in the store, next to the install (sealed), not in the
//! session. Install tokens live about an hour, and minting a new one (the install token
//! API) retires the previous one at once. So:
//! - before a call, a token that expires within a minute is replaced;
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

use actix_web::web;
use enable_with_segment::TokenError;

use super::enable::{Enable, store_error};
use super::error::WebError;
use super::login::CurrentAccount;
use crate::secret::InstallAccessToken;
use crate::segment::{InstallToken, SegmentError};

/// Runs Segment calls for an install with a token that works ([`Tokens::with_install`]): the
/// flow library's refresh, with the app's error page.
pub struct Tokens {
    enable: web::Data<Enable>,
}

impl Tokens {
    pub fn new(enable: web::Data<Enable>) -> Tokens {
        Tokens { enable }
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
        self.enable
            .with_token(&account.id(), install, call)
            .await
            .map_err(|error| match error {
                TokenError::NotConnected => WebError::NotConnected,
                TokenError::RefreshBusy => WebError::RefreshBusy,
                TokenError::Refused(reason) => WebError::InstallRefused(reason),
                TokenError::Segment(error) => WebError::segment(doing)(error),
                TokenError::Store(error) => store_error(error),
            })
    }
}
