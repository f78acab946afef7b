//! Installs that outlive the session: saved with the account after the callback, and taken
//! back (a token re-minted from the install name) when the visitor returns without a session,
//! when Segment answers "install already exists", or when the app has restarted.

use super::AppState;
use super::account::CurrentAccount;
use super::error::WebError;
use super::session::TypedSession;
use crate::accounts::StoredInstall;
use crate::segment::{InstallName, InstallToken, SourceName};

/// Puts a token for the account's most recently used install (that Segment still knows) into
/// the session. `None`: the account has no install left. Installs Segment no longer knows
/// (uninstalled there) are forgotten on the way.
pub async fn resume(
    state: &AppState,
    session: &TypedSession,
    account: &CurrentAccount,
) -> Result<Option<InstallToken>, WebError> {
    let installs = state
        .store
        .installs(account.account.id)
        .await
        .map_err(WebError::store)?;
    for stored in installs {
        match mint(state, &stored).await {
            Ok(Some(token)) => {
                session.log_in(&token)?;
                state
                    .store
                    .touch_install(&stored.install_name)
                    .await
                    .map_err(WebError::store)?;
                tracing::info!(install = %token.install_name, account = account.account.id, "install resumed from the store");
                return Ok(Some(token));
            }
            Ok(None) => {
                tracing::info!(install = %stored.install_name, "Segment no longer knows a stored install; forgetting it");
                state
                    .store
                    .forget_install(account.account.id, &stored.install_name)
                    .await
                    .map_err(WebError::store)?;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

/// A token for a stored install; `None` when Segment refuses (the install is gone).
async fn mint(state: &AppState, stored: &StoredInstall) -> Result<Option<InstallToken>, WebError> {
    let name = InstallName::parse(&stored.install_name)
        .map_err(|reason| WebError::Store(format!("a stored install name is bad: {reason}")))?;
    let sources: Vec<SourceName> = stored
        .source
        .as_deref()
        .and_then(|s| SourceName::parse(s).ok())
        .into_iter()
        .collect();
    match state.segment.mint_install_token(&name, &sources).await {
        Ok(token) => Ok(Some(token)),
        Err(error) if matches!(error.status(), Some(401 | 403 | 404)) => Ok(None),
        Err(error) => Err(WebError::segment(
            "re-minting a token for your stored install",
        )(error)),
    }
}
