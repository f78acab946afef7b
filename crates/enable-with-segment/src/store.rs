//! Where installs are kept: the [`InstallStore`] trait, what it keeps ([`Install`]), and
//! [`MemoryStore`], a store in this process's memory (for tests and examples). The durable one,
//! on SQLite or Postgres, is `sql::SqlStore`; [`contract`](crate::contract)
//! checks any store against the rules below.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use segment_client::secret::AccessToken;
use segment_client::{InstallName, InstallToken};

/// One of a user's installs, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Install {
    /// The newest token, with the install's name, workspace and source. For a disconnected
    /// install (or a token the store could not read back) it is empty and expired, so its
    /// first use mints a new one.
    pub token: InstallToken,
    /// When the user first stored it.
    pub created_at: DateTime<Utc>,
    /// When it was last saved or given a new token: a user's installs are listed by it, most
    /// recent first.
    pub used_at: DateTime<Utc>,
    /// Segment refused to mint a token for it (see the crate's "Refused installs").
    pub refused: Option<Refusal>,
    /// The user disconnected it ([`EnableWithSegment::uninstall`](crate::EnableWithSegment::uninstall)):
    /// it is not used, but remembered as theirs.
    pub disconnected_at: Option<DateTime<Utc>>,
}

/// Why and since when Segment refuses to mint tokens for an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Segment's answer, in its words (no secret in it).
    pub reason: String,
    /// When it first refused.
    pub at: DateTime<Utc>,
}

impl Install {
    /// A connected install with `token`, first stored at `created_at` and used then.
    pub fn new(token: InstallToken, created_at: DateTime<Utc>) -> Install {
        Install {
            token,
            created_at,
            used_at: created_at,
            refused: None,
            disconnected_at: None,
        }
    }

    /// The install's name (`installs/7`).
    pub fn name(&self) -> &InstallName {
        &self.token.install_name
    }

    /// In use: not disconnected.
    pub fn is_connected(&self) -> bool {
        self.disconnected_at.is_none()
    }

    /// What a background job works on: connected, and not refused by Segment.
    pub fn is_usable(&self) -> bool {
        self.is_connected() && self.refused.is_none()
    }

    /// The token without its secret, expired: what a disconnected install, or one whose token
    /// cannot be read back, holds.
    pub fn without_token(mut token: InstallToken) -> InstallToken {
        token.access_token = AccessToken::new(String::new());
        token.expires_at = DateTime::<Utc>::UNIX_EPOCH;
        token
    }
}

/// What [`InstallStore::save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Saved {
    /// The install is the user's, with this token.
    Kept {
        /// Older installs of the same App on the same workspace, removed: Segment installs an
        /// App once per workspace, so a new install there means the old one was uninstalled.
        superseded: Vec<InstallName>,
    },
    /// Another user holds an install of that name: nothing was changed.
    HeldByAnotherUser,
}

/// Keeps each user's installs, with their newest token.
///
/// The library calls [`save`](InstallStore::save) when a flow succeeds,
/// [`installs`](InstallStore::installs) and [`install`](InstallStore::install) when a token is
/// needed or a page lists them, [`disconnect`](InstallStore::disconnect) on
/// [`EnableWithSegment::uninstall`](crate::EnableWithSegment::uninstall), and the others around
/// a token refresh. Every call names the user: a user only ever reaches their own installs.
///
/// Six methods are required. The refresh lease's defaults suit a store that one process owns
/// (refreshes then take turns on a lock in the process); a store shared by several instances
/// implements [`try_refresh_lease`](InstallStore::try_refresh_lease),
/// [`save_refreshed`](InstallStore::save_refreshed) and
/// [`end_refresh_lease`](InstallStore::end_refresh_lease) so that a token is refreshed once
/// across all of them. [`contract::check`](crate::contract::check) tests a store against every
/// rule here; [`MemoryStore`] and `sql::SqlStore` pass it.
///
/// Futures are `Send`, so a background job on `tokio::spawn` can use the store.
pub trait InstallStore<Id>: Send + Sync + 'static {
    /// What fails in the store (a database error, say): it reaches your hooks as
    /// [`FlowError::Store`](crate::FlowError::Store) and your calls as
    /// [`CallError::Store`](crate::CallError::Store).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Keeps `install` for `user` (a flow just finished, or a disconnected install was taken
    /// back): its token replaced, connected, no longer refused, `used_at` now, `created_at`
    /// kept. If another user holds an install of that name: nothing changes,
    /// [`Saved::HeldByAnotherUser`]. Other installs of the same App (`app_name`) on the same
    /// workspace, whoever holds them, are removed ([`Saved::Kept`]'s `superseded`).
    fn save(
        &self,
        user: &Id,
        install: &InstallToken,
    ) -> impl Future<Output = Result<Saved, Self::Error>> + Send;

    /// The user's installs, connected or not, refused or not, most recently used first.
    fn installs(&self, user: &Id)
    -> impl Future<Output = Result<Vec<Install>, Self::Error>> + Send;

    /// The user's install `name`, whatever its state; `None` if they hold none by that name.
    /// Default: looked for in [`InstallStore::installs`].
    fn install(
        &self,
        user: &Id,
        name: &InstallName,
    ) -> impl Future<Output = Result<Option<Install>, Self::Error>> + Send {
        let installs = self.installs(user);
        async move {
            Ok(installs
                .await?
                .into_iter()
                .find(|install| install.name() == name))
        }
    }

    /// The install a page shows `user`: their most recently used connected one, refused by
    /// Segment or not. Default: the first connected one of [`InstallStore::installs`].
    fn current_install(
        &self,
        user: &Id,
    ) -> impl Future<Output = Result<Option<Install>, Self::Error>> + Send {
        let installs = self.installs(user);
        async move { Ok(installs.await?.into_iter().find(Install::is_connected)) }
    }

    /// The user disconnected the install: it is no longer used and its token is dropped, but it
    /// stays listed as theirs (`disconnected_at`), so that after Segment's "already installed"
    /// they can take it back. `false` if the user holds no install of that name.
    fn disconnect(
        &self,
        user: &Id,
        name: &InstallName,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Keeps a token just minted for the user's connected install (a refresh): the token
    /// replaced, `used_at` now, the refusal cleared, the refresh lease ended. `false` (and
    /// nothing changed) if the user holds no connected install of that name.
    fn save_token(
        &self,
        user: &Id,
        token: &InstallToken,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Segment refused to mint a token for the install (`reason`): it was uninstalled, or the
    /// App's credentials are wrong. Mark it ([`Install::refused`], kept from the first refusal)
    /// and end the refresh lease; never delete it (a mistyped `CLIENT_SECRET` must not wipe
    /// your customers' installs).
    fn refused(
        &self,
        user: &Id,
        name: &InstallName,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Marks the flow `state` as used: `true` the first time, `false` ever after, for every
    /// instance that shares the store (one atomic insert, never a read and a write). The
    /// callback asks before anything else, so a saved copy of a browser's flow cookie never
    /// finishes a second flow. Remember it until `until` (the flow's end: no callback comes
    /// later); forget it after. Nothing is kept for a visitor who never reaches the callback.
    fn use_state(
        &self,
        state: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Takes the right to refresh the token of the install `seen` until `until`, unless
    /// another holder has it or the stored token is no longer `seen`'s (another refresh just
    /// finished: its token is the one to use). Check both in one step (one `UPDATE … WHERE`),
    /// so that no refresh can slip between them; a lease nobody ended lapses at `until`, which
    /// is also the lease's mark: its holder saves with it
    /// ([`save_refreshed`](InstallStore::save_refreshed)). Default: always `true` (one process:
    /// the library's lock already takes turns).
    fn try_refresh_lease(
        &self,
        _user: &Id,
        _seen: &InstallToken,
        _until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        async { Ok(true) }
    }

    /// Keeps the token a refresh minted, as [`save_token`](InstallStore::save_token) does, but
    /// only while that refresh still holds the lease it took until `lease`: not lapsed, and not
    /// taken since by another (one `UPDATE … WHERE`). `false`, and nothing changed, otherwise:
    /// a refresh that outlived its lease must not overwrite the one that followed it. Default:
    /// [`save_token`](InstallStore::save_token) (one process: no lease to lose).
    fn save_refreshed(
        &self,
        user: &Id,
        token: &InstallToken,
        _lease: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.save_token(user, token)
    }

    /// A refresh failed for a passing reason: end the lease so that the next request tries.
    /// Default: nothing.
    fn end_refresh_lease(
        &self,
        _user: &Id,
        _name: &InstallName,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }
}

/// Installs kept in this process's memory: for examples, tests and single-process demos. It
/// keeps every rule of [`InstallStore`], the refresh lease included. Everything is lost when
/// the process stops.
#[derive(Debug)]
pub struct MemoryStore<Id> {
    installs: Mutex<HashMap<InstallName, Held<Id>>>,
    /// Flow states used, until when they are remembered.
    used_states: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// An install, whose it is, and its refresh lease.
#[derive(Debug)]
struct Held<Id> {
    user: Id,
    install: Install,
    lease_until: Option<DateTime<Utc>>,
}

impl<Id> Default for MemoryStore<Id> {
    fn default() -> Self {
        MemoryStore {
            installs: Mutex::new(HashMap::new()),
            used_states: Mutex::new(HashMap::new()),
        }
    }
}

impl<Id: Eq + Hash + Clone + Send + Sync + 'static> MemoryStore<Id> {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<InstallName, Held<Id>>) -> T) -> T {
        f(&mut self.installs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The user's install `name`, to change.
    fn users<'a>(
        all: &'a mut HashMap<InstallName, Held<Id>>,
        user: &Id,
        name: &InstallName,
    ) -> Option<&'a mut Held<Id>> {
        all.get_mut(name).filter(|held| &held.user == user)
    }
}

impl<Id: Eq + Hash + Clone + Send + Sync + 'static> InstallStore<Id> for MemoryStore<Id> {
    type Error = std::convert::Infallible;

    async fn save(&self, user: &Id, token: &InstallToken) -> Result<Saved, Self::Error> {
        let now = Utc::now();
        Ok(self.with(|all| {
            let name = &token.install_name;
            if all.get(name).is_some_and(|held| &held.user != user) {
                return Saved::HeldByAnotherUser;
            }
            let superseded: Vec<InstallName> = all
                .values()
                .map(|held| &held.install.token)
                .filter(|other| {
                    &other.install_name != name
                        && other.app_name == token.app_name
                        && other.workspace() == token.workspace()
                })
                .map(|other| other.install_name.clone())
                .collect();
            for old in &superseded {
                all.remove(old);
            }
            let held = all.entry(name.clone()).or_insert_with(|| Held {
                user: user.clone(),
                install: Install::new(token.clone(), now),
                lease_until: None,
            });
            let created_at = held.install.created_at;
            let mut token = token.clone();
            // The install token API does not repeat the source: keep the one known.
            if token.source_names.is_empty() {
                token.source_names = held.install.token.source_names.clone();
            }
            held.install = Install::new(token, created_at);
            held.install.used_at = now;
            Saved::Kept { superseded }
        }))
    }

    async fn installs(&self, user: &Id) -> Result<Vec<Install>, Self::Error> {
        let mut installs: Vec<Install> = self.with(|all| {
            all.values()
                .filter(|held| &held.user == user)
                .map(|held| held.install.clone())
                .collect()
        });
        installs.sort_by_key(|install| std::cmp::Reverse(install.used_at));
        Ok(installs)
    }

    async fn disconnect(&self, user: &Id, name: &InstallName) -> Result<bool, Self::Error> {
        Ok(self.with(|all| {
            let Some(held) = Self::users(all, user, name) else {
                return false;
            };
            held.install.disconnected_at = Some(Utc::now());
            held.install.token = Install::without_token(held.install.token.clone());
            held.lease_until = None;
            true
        }))
    }

    async fn save_token(&self, user: &Id, token: &InstallToken) -> Result<bool, Self::Error> {
        Ok(self.with(|all| {
            let Some(held) = Self::users(all, user, &token.install_name) else {
                return false;
            };
            if !held.install.is_connected() {
                return false;
            }
            let sources = held.install.token.source_names.clone();
            held.install.token = token.clone();
            if held.install.token.source_names.is_empty() {
                held.install.token.source_names = sources;
            }
            held.install.used_at = Utc::now();
            held.install.refused = None;
            held.lease_until = None;
            true
        }))
    }

    async fn refused(
        &self,
        user: &Id,
        name: &InstallName,
        reason: &str,
    ) -> Result<(), Self::Error> {
        self.with(|all| {
            if let Some(held) = Self::users(all, user, name) {
                held.install.refused.get_or_insert_with(|| Refusal {
                    reason: reason.to_owned(),
                    at: Utc::now(),
                });
                held.lease_until = None;
            }
        });
        Ok(())
    }

    async fn use_state(&self, state: &str, until: DateTime<Utc>) -> Result<bool, Self::Error> {
        let mut used = self.used_states.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        used.retain(|_, kept_until| *kept_until > now);
        Ok(used.insert(state.to_owned(), until).is_none())
    }

    async fn try_refresh_lease(
        &self,
        user: &Id,
        seen: &InstallToken,
        until: DateTime<Utc>,
    ) -> Result<bool, Self::Error> {
        let now = Utc::now();
        Ok(self.with(|all| {
            let Some(held) = Self::users(all, user, &seen.install_name) else {
                return false;
            };
            let free = held.lease_until.is_none_or(|lapses| lapses < now);
            if !free || held.install.token.access_token != seen.access_token {
                return false;
            }
            held.lease_until = Some(until);
            true
        }))
    }

    async fn save_refreshed(
        &self,
        user: &Id,
        token: &InstallToken,
        lease: DateTime<Utc>,
    ) -> Result<bool, Self::Error> {
        let held = self.with(|all| {
            Self::users(all, user, &token.install_name)
                .is_some_and(|held| held.lease_until == Some(lease) && lease >= Utc::now())
        });
        if !held {
            return Ok(false);
        }
        self.save_token(user, token).await
    }

    async fn end_refresh_lease(&self, user: &Id, name: &InstallName) -> Result<(), Self::Error> {
        self.with(|all| {
            if let Some(held) = Self::users(all, user, name) {
                held.lease_until = None;
            }
        });
        Ok(())
    }
}
