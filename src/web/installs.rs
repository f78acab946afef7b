//! Which install a request may use: the one its session names, **if the visitor's account
//! holds it**. This is the one place that turns a session into an install, so ownership is
//! checked on every page, write, refresh and resume. (The install store itself only ever
//! answers for the account it is asked about.)
//!
//! A visitor whose session names no install (a new browser session, an expired one, a restarted
//! app) is given their account's most recently used install back, without asking Segment: its
//! newest token is in the store.

use enable_with_segment::{Install, InstallStore};

use super::error::WebError;
use super::login::CurrentAccount;
use super::session::TypedSession;
use crate::store::SqlStore;

/// The install this request may use. `None`: not connected. A session naming an install the
/// account does not hold (another visitor's, or a disconnected one) is logged and forgotten.
pub async fn current(
    installs: &SqlStore,
    session: &TypedSession,
    account: &CurrentAccount,
) -> Result<Option<Install>, WebError> {
    let Some(name) = session.install_name()? else {
        return resume(installs, session, account).await;
    };
    // Usually looked up with the account already; else (the session changed since) now.
    let stored = match account.in_use.as_ref().filter(|i| i.name() == &name) {
        Some(stored) => Some(stored.clone()),
        None => installs
            .install(&account.id(), &name)
            .await
            .map_err(WebError::installs)?,
    };
    match stored {
        Some(stored) if stored.is_connected() => Ok(Some(stored)),
        Some(_) => {
            session.forget_install();
            Ok(None)
        }
        None => {
            tracing::warn!(
                install = %name,
                account = account.id(),
                "the session names an install this account does not hold; treated as not connected"
            );
            session.forget_install();
            Ok(None)
        }
    }
}

/// Puts the account's most recently used connected install into the session. `None`: the
/// account has none.
pub async fn resume(
    installs: &SqlStore,
    session: &TypedSession,
    account: &CurrentAccount,
) -> Result<Option<Install>, WebError> {
    let latest = installs.current_install(&account.id()).await;
    let Some(stored) = latest.map_err(WebError::installs)? else {
        return Ok(None);
    };
    session.log_in(stored.name())?;
    tracing::info!(install = %stored.name(), account = account.id(), "install resumed from the store");
    Ok(Some(stored))
}
