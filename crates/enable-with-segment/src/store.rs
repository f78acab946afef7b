//! Where installs are kept: the [`InstallStore`] trait you implement over your database, and
//! [`MemoryStore`], one that keeps them in memory (for examples and tests).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use segment_client::{InstallName, InstallToken};

use crate::error::StoreError;

/// Keeps each user's installs, with their newest token. The library calls [`save`] when a flow
/// succeeds, [`fetch`] and [`fetch_install`] when a token is needed, [`delete`] on
/// [`EnableWithSegment::uninstall`](crate::EnableWithSegment::uninstall), and the refresh
/// methods around a token refresh.
///
/// Only the first four are required. The refresh methods' defaults suit a store that one
/// process owns: refreshes then take turns on a lock in the process. A store shared by several
/// instances implements [`try_refresh_lease`] (a lease on the install's row, say, taken by one
/// instance and lapsing after `lease`) so that a token is refreshed once across all of them;
/// the others wait for it, reading [`fetch_install`].
///
/// Futures are `Send`, so a background job (`tokio::spawn`) can get tokens too.
///
/// [`save`]: InstallStore::save
/// [`fetch`]: InstallStore::fetch
/// [`fetch_install`]: InstallStore::fetch_install
/// [`delete`]: InstallStore::delete
/// [`try_refresh_lease`]: InstallStore::try_refresh_lease
pub trait InstallStore<Id>: Send + Sync + 'static {
    /// Keeps `install` for `user`, replacing any install of the same name. Returns
    /// [`StoreError::HeldByAnotherUser`] if another user holds it.
    fn save(
        &self,
        user: &Id,
        install: &InstallToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's install (their newest connected one, if they hold several).
    fn fetch(
        &self,
        user: &Id,
    ) -> impl Future<Output = Result<Option<InstallToken>, StoreError>> + Send;

    /// The user's connected install by `name`, with the newest token stored for it.
    fn fetch_install(
        &self,
        user: &Id,
        name: &InstallName,
    ) -> impl Future<Output = Result<Option<InstallToken>, StoreError>> + Send;

    /// Forgets the user's install `name` (the user disconnected it).
    fn delete(
        &self,
        user: &Id,
        name: &InstallName,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the right to refresh the token of the install `seen` for `lease`, unless another
    /// holder has it or the stored token is no longer `seen`'s (another refresh just finished:
    /// its token is the one to use). Check both in one step (one `UPDATE … WHERE`), so that no
    /// refresh can slip between them. Default: always `true` (one process: the library's lock
    /// already takes turns).
    fn try_refresh_lease(
        &self,
        _user: &Id,
        _seen: &InstallToken,
        _lease: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(true) }
    }

    /// Keeps a refreshed token, which ends the lease. Default: [`InstallStore::save`].
    fn save_token(
        &self,
        user: &Id,
        token: &InstallToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.save(user, token)
    }

    /// A refresh failed for a passing reason: end the lease so that the next request tries.
    fn end_refresh_lease(
        &self,
        _user: &Id,
        _name: &InstallName,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// Segment refused to mint a token for the install (`reason`): uninstalled, or the App's
    /// credentials are wrong. Mark it for the user's attention; the library never deletes it
    /// (a mistyped `CLIENT_SECRET` must not wipe your customers' installs). Default: nothing.
    fn refused(
        &self,
        _user: &Id,
        _name: &InstallName,
        _reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// Installs kept in this process's memory, newest last per user: for examples, tests and
/// single-process demos. Everything is lost when the process stops.
#[derive(Debug)]
pub struct MemoryStore<Id> {
    installs: Mutex<HashMap<Id, Vec<InstallToken>>>,
}

impl<Id> Default for MemoryStore<Id> {
    fn default() -> Self {
        MemoryStore {
            installs: Mutex::new(HashMap::new()),
        }
    }
}

impl<Id: Eq + Hash + Clone + Send + Sync + 'static> MemoryStore<Id> {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Id, Vec<InstallToken>>) -> T) -> T {
        f(&mut self.installs.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<Id: Eq + Hash + Clone + Send + Sync + 'static> InstallStore<Id> for MemoryStore<Id> {
    async fn save(&self, user: &Id, install: &InstallToken) -> Result<(), StoreError> {
        self.with(|all| {
            let held_elsewhere = all.iter().any(|(other, installs)| {
                other != user
                    && installs
                        .iter()
                        .any(|i| i.install_name == install.install_name)
            });
            if held_elsewhere {
                return Err(StoreError::HeldByAnotherUser);
            }
            let installs = all.entry(user.clone()).or_default();
            installs.retain(|i| i.install_name != install.install_name);
            installs.push(install.clone());
            Ok(())
        })
    }

    async fn fetch(&self, user: &Id) -> Result<Option<InstallToken>, StoreError> {
        Ok(self.with(|all| all.get(user).and_then(|i| i.last().cloned())))
    }

    async fn fetch_install(
        &self,
        user: &Id,
        name: &InstallName,
    ) -> Result<Option<InstallToken>, StoreError> {
        Ok(self.with(|all| {
            all.get(user)
                .and_then(|i| i.iter().find(|i| &i.install_name == name).cloned())
        }))
    }

    async fn delete(&self, user: &Id, name: &InstallName) -> Result<(), StoreError> {
        self.with(|all| {
            if let Some(installs) = all.get_mut(user) {
                installs.retain(|i| &i.install_name != name);
            }
        });
        Ok(())
    }
}
