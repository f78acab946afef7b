//! Which install a request may use: the one its session names, **if the visitor's account
//! holds it**. This is the one place that turns a session into an install, so ownership is
//! checked on every page, write, refresh and resume.
//!
//! A visitor whose session names no install (a new browser session, an expired one, a restarted
//! app) is given their account's most recently used install back, without asking Segment: its
//! newest token is in the store.

use super::error::WebError;
use super::login::CurrentAccount;
use super::session::TypedSession;
use crate::store::{Store, StoredInstall};

/// The install this request may use. `None`: not connected. A session naming an install the
/// account does not hold (another visitor's, or a disconnected one) is logged and forgotten.
pub async fn current(
    store: &Store,
    session: &TypedSession,
    account: &CurrentAccount,
) -> Result<Option<StoredInstall>, WebError> {
    let Some(name) = session.install_name()? else {
        return resume(store, session, account).await;
    };
    // Usually looked up with the account already; else (the session changed since) now.
    let stored = match account
        .in_use
        .as_ref()
        .filter(|stored| stored.install_name == name)
    {
        Some(stored) => Some(stored.clone()),
        None => store
            .install(account.id(), &name)
            .await
            .map_err(WebError::store)?,
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
    store: &Store,
    session: &TypedSession,
    account: &CurrentAccount,
) -> Result<Option<StoredInstall>, WebError> {
    let Some(stored) = latest(store, account, StoredInstall::is_connected).await? else {
        return Ok(None);
    };
    session.log_in(&stored.install_name)?;
    tracing::info!(install = %stored.install_name, account = account.id(), "install resumed from the store");
    Ok(Some(stored))
}

/// Uses `name`, if the account holds it (connected again if it was disconnected). `None`: the
/// account holds no such install.
pub async fn choose(
    store: &Store,
    session: &TypedSession,
    account: &CurrentAccount,
    name: &crate::segment::InstallName,
) -> Result<Option<StoredInstall>, WebError> {
    let Some(stored) = store
        .install(account.id(), name)
        .await
        .map_err(WebError::store)?
    else {
        tracing::warn!(install = %name, account = account.id(), "asked to use an install this account does not hold");
        return Ok(None);
    };
    if !stored.is_connected() {
        store
            .reconnect(account.id(), &stored.install_name)
            .await
            .map_err(WebError::store)?;
    }
    session.log_in(&stored.install_name)?;
    tracing::info!(install = %stored.install_name, account = account.id(), "the visitor picked their install");
    Ok(Some(stored))
}

/// The account's most recently used install that `wanted` accepts.
async fn latest(
    store: &Store,
    account: &CurrentAccount,
    wanted: impl Fn(&StoredInstall) -> bool,
) -> Result<Option<StoredInstall>, WebError> {
    let installs = store
        .installs(account.id())
        .await
        .map_err(WebError::store)?;
    Ok(installs.into_iter().find(|stored| wanted(stored)))
}
