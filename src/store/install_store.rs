//! The store as the flow library's [`InstallStore`]: installs are the account's rows in
//! `installs`, with their sealed tokens; a token refresh takes the row's lease, so one instance
//! refreshes and the others wait for its token.

use std::time::Duration;

use enable_with_segment::{InstallStore, StoreError as LibraryError};

use super::{Store, StoreError, StoredInstall};
use crate::segment::{InstallName, InstallToken};

/// A store failure, as the library carries it (the web layer downcasts it back).
fn failed(error: StoreError) -> LibraryError {
    match error {
        StoreError::NotYours(_) => LibraryError::HeldByAnotherUser,
        other => LibraryError::failed(other),
    }
}

impl Store {
    /// The account's install `name`, connected, with its newest token.
    async fn connected(
        &self,
        account_id: i64,
        name: &InstallName,
    ) -> Result<Option<(StoredInstall, InstallToken)>, StoreError> {
        let Some(stored) = self
            .install(account_id, name)
            .await?
            .filter(StoredInstall::is_connected)
        else {
            return Ok(None);
        };
        let token = self.install_token(&stored)?;
        Ok(Some((stored, token)))
    }
}

/// Accounts are known by their id.
impl InstallStore<i64> for Store {
    async fn save(&self, account_id: &i64, install: &InstallToken) -> Result<(), LibraryError> {
        let saved = self
            .save_install(*account_id, install)
            .await
            .map_err(failed)?;
        for old in saved.superseded {
            tracing::info!(install = %old, new = %install.install_name, "a stored install was superseded by a new install on its workspace");
        }
        Ok(())
    }

    async fn fetch(&self, account_id: &i64) -> Result<Option<InstallToken>, LibraryError> {
        let installs = self.installs(*account_id).await.map_err(failed)?;
        installs
            .iter()
            .find(|stored| stored.is_connected())
            .map(|stored| self.install_token(stored).map_err(failed))
            .transpose()
    }

    async fn fetch_install(
        &self,
        account_id: &i64,
        name: &InstallName,
    ) -> Result<Option<InstallToken>, LibraryError> {
        let found = self.connected(*account_id, name).await.map_err(failed)?;
        Ok(found.map(|(_, token)| token))
    }

    async fn delete(&self, account_id: &i64, name: &InstallName) -> Result<(), LibraryError> {
        // Disconnected, not deleted: the account can use it again after "already installed".
        self.disconnect(*account_id, name).await.map_err(failed)?;
        Ok(())
    }

    async fn try_refresh_lease(
        &self,
        account_id: &i64,
        seen: &InstallToken,
        lease: Duration,
    ) -> Result<bool, LibraryError> {
        // The row as it is now: if its token is no longer the one seen, another refresh just
        // finished. The lease's UPDATE checks the row's token again, against this read.
        let Some((stored, now)) = self
            .connected(*account_id, &seen.install_name)
            .await
            .map_err(failed)?
        else {
            return Ok(false);
        };
        if now.access_token != seen.access_token {
            return Ok(false);
        }
        self.take_refresh_lease(&stored, lease)
            .await
            .map_err(failed)
    }

    async fn save_token(&self, account_id: &i64, token: &InstallToken) -> Result<(), LibraryError> {
        Store::save_token(self, *account_id, token)
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn end_refresh_lease(
        &self,
        account_id: &i64,
        name: &InstallName,
    ) -> Result<(), LibraryError> {
        Store::end_refresh_lease(self, *account_id, name)
            .await
            .map_err(failed)
    }

    async fn refused(
        &self,
        account_id: &i64,
        name: &InstallName,
        reason: &str,
    ) -> Result<(), LibraryError> {
        self.mark_attention(*account_id, name, reason)
            .await
            .map_err(failed)
    }
}
