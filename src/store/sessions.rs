//! Browser sessions on the server: actix-session's [`SessionStore`], over the app's database.
//!
//! The cookie carries only the session id (64 random characters, signed and encrypted by
//! actix-session on top). The database keeps the id's SHA-256, never the id, and the session's
//! entries sealed. A session ends:
//! - when it is deleted: logging out deletes it, so a copied cookie is dead at once;
//! - after [`SessionLimits::idle`] without a request;
//! - [`SessionLimits::absolute`] after it began. Login renews the id, which begins a new one.
//!
//! A request that changes nothing writes nothing, except that the time of last use is moved
//! forward at most every [`SessionLimits::touch_interval_ms`] (at most once a minute).

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use chrono::Utc;
use rand::distr::{Alphanumeric, SampleString};

use super::db::Db;
use super::keys::hash;
use super::queries::queries;
use crate::config::SessionLimits;
use crate::crypto::Sealer;

type State = HashMap<String, String>;

/// The sessions table, as actix-session's store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlSessionStore {
    db: Arc<Db>,
    sealer: Sealer,
    limits: SessionLimits,
}

/// Now, as the session stores count time: Unix time in milliseconds.
pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// What a session's entries are sealed for: its own row.
fn state_row(id_hash: &str) -> String {
    format!("sessions/{id_hash}")
}

impl SqlSessionStore {
    /// Made by [`super::Store::sessions`], over the store's database.
    pub(super) fn new(db: Arc<Db>, sealer: Sealer, limits: SessionLimits) -> SqlSessionStore {
        SqlSessionStore { db, sealer, limits }
    }

    fn seal(&self, state: &State, id_hash: &str) -> Result<Vec<u8>, serde_json::Error> {
        let json = serde_json::to_vec(state)?;
        Ok(self.sealer.seal(&json, &state_row(id_hash)))
    }

    async fn insert(&self, state: &State) -> Result<SessionKey, anyhow::Error> {
        let id = Alphanumeric.sample_string(&mut rand::rng(), 64);
        let id_hash = hash(&id);
        let sealed = self.seal(state, &id_hash)?;
        queries!(self.db, |q| q.insert_session(id_hash, sealed, now_ms()))?;
        Ok(SessionKey::try_from(id)?)
    }

    /// Deletes every session that has ended. Returns how many.
    pub async fn remove_expired(&self) -> Result<u64, sqlx::Error> {
        let (idle_before, begun_before) = self.limits.ended_before(now_ms());
        queries!(self.db, |q| q
            .remove_ended_sessions(idle_before, begun_before))
    }

    /// How many sessions are stored (ended or not).
    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        queries!(self.db, |q| q.session_count())
    }

    async fn row(&self, id_hash: &str) -> Result<Option<(Vec<u8>, i64, i64)>, sqlx::Error> {
        queries!(self.db, |q| q.session(id_hash.to_owned()))
    }

    async fn remove(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        queries!(self.db, |q| q.remove_session(id_hash.to_owned()))
    }

    /// Moves the session's last use to now, with new entries if `sealed` is given. `false`
    /// if there is no such session (any more).
    async fn touch(&self, id_hash: &str, sealed: Option<Vec<u8>>) -> Result<bool, sqlx::Error> {
        queries!(self.db, |q| q.touch_session(
            id_hash.to_owned(),
            sealed,
            now_ms()
        ))
    }
}

impl SessionStore for SqlSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let id_hash = hash(key.as_ref());
        let row = self
            .row(&id_hash)
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        let Some((sealed, created, last_seen)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        let ended = self.limits.have_ended(created, last_seen, now);
        // Sealed under another key (SESSION_KEY changed) reads as no session, like an ended one.
        let state = (!ended)
            .then(|| self.sealer.open(&sealed, &state_row(&id_hash)).ok())
            .flatten()
            .and_then(|json| serde_json::from_slice::<State>(&json).ok());
        let Some(state) = state else {
            self.remove(&id_hash)
                .await
                .map_err(|e| LoadError::Other(e.into()))?;
            return Ok(None);
        };
        if now - last_seen >= self.limits.touch_interval_ms() {
            self.touch(&id_hash, None)
                .await
                .map_err(|e| LoadError::Other(e.into()))?;
        }
        Ok(Some(state))
    }

    async fn save(
        &self,
        state: State,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        self.insert(&state).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let id_hash = hash(key.as_ref());
        let sealed = self
            .seal(&state, &id_hash)
            .map_err(|e| UpdateError::Serialization(e.into()))?;
        let updated = self
            .touch(&id_hash, Some(sealed))
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if !updated {
            // Deleted meanwhile (a logout in another tab): never bring it back under its old id.
            return self.insert(&state).await.map_err(UpdateError::Other);
        }
        Ok(key)
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        self.touch(&hash(key.as_ref()), None).await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.remove(&hash(key.as_ref())).await?;
        Ok(())
    }
}

/// Where the sessions are: the database (the default) or Redis (`REDIS_URL`). The one store
/// the session middleware is given: an enum, because actix-session's `SessionMiddleware` is
/// generic over one store type and its `SessionStore` trait cannot be a `dyn` object.
#[derive(Clone)]
pub enum Sessions {
    Database(SqlSessionStore),
    Redis(super::RedisSessions),
}

impl Sessions {
    /// Whether the session store answers (for `/readyz`): Redis' `PING`. The database's own
    /// check covers the other case.
    pub async fn ping(&self) -> Result<(), anyhow::Error> {
        match self {
            Sessions::Database(_) => Ok(()),
            Sessions::Redis(redis) => redis.ping().await,
        }
    }

    /// Deletes the sessions that have ended, where that takes a sweep (Redis expires its own).
    pub async fn remove_expired(&self) -> Result<u64, sqlx::Error> {
        match self {
            Sessions::Database(sessions) => sessions.remove_expired().await,
            Sessions::Redis(_) => Ok(0),
        }
    }
}

/// The entry a session holds when its store could not be read: actix-session answers a store
/// that fails with an opaque 500 from outside every middleware that could draw a page (it has
/// no request to answer with), so the failure is reported in the session, and the app's
/// `web::session::require_store` turns it into the "sign-in is unavailable" page (503). The
/// session is then left unchanged, so nothing is written back.
pub const STORE_UNAVAILABLE: &str = "_store_unavailable";

impl SessionStore for Sessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let loaded = match self {
            Sessions::Database(s) => s.load(key).await,
            Sessions::Redis(s) => s.load(key).await,
        };
        match loaded {
            Err(LoadError::Other(error)) => {
                tracing::error!(%error, "the session store failed");
                Ok(Some(State::from([(
                    STORE_UNAVAILABLE.to_owned(),
                    "true".to_owned(),
                )])))
            }
            other => other,
        }
    }

    async fn save(
        &self,
        state: State,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            Sessions::Database(s) => s.save(state, ttl).await,
            Sessions::Redis(s) => s.save(state, ttl).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            Sessions::Database(s) => s.update(key, state, ttl).await,
            Sessions::Redis(s) => s.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(
        &self,
        key: &SessionKey,
        ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        match self {
            Sessions::Database(s) => s.update_ttl(key, ttl).await,
            Sessions::Redis(s) => s.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            Sessions::Database(s) => s.delete(key).await,
            Sessions::Redis(s) => s.delete(key).await,
        }
    }
}

/// The stories every session store must pass, the database's and Redis' alike; each store's
/// tests add what is particular to where it keeps its sessions.
#[cfg(test)]
pub(crate) mod stories {
    use super::*;
    use std::time::Duration;

    pub fn state(pairs: &[(&str, &str)]) -> State {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub const TTL: actix_web::cookie::time::Duration = actix_web::cookie::time::Duration::DAY;

    /// Short limits, for [`ends_at_its_limits`].
    pub const LIMITS: SessionLimits = SessionLimits {
        idle: Duration::from_millis(400),
        absolute: Duration::from_millis(1500),
    };

    /// A session is saved (and `inspect`ed, by its id, where it is stored), loaded, updated
    /// under the same id, and deleted; an update after the delete (another tab, another
    /// instance) makes a new session, never the old id.
    pub async fn saved_updated_and_deleted(
        sessions: &impl SessionStore,
        inspect: impl AsyncFn(&str),
    ) {
        let key = sessions
            .save(state(&[("install", "\"installs/1\"")]), &TTL)
            .await
            .unwrap();
        let id = key.as_ref().to_owned();
        assert_eq!(id.len(), 64);
        inspect(&id).await;

        let loaded = sessions.load(&key).await.unwrap().unwrap();
        assert_eq!(loaded["install"], "\"installs/1\"");
        let key = sessions
            .update(key, state(&[("install", "\"installs/2\"")]), &TTL)
            .await
            .unwrap();
        assert_eq!(key.as_ref(), id, "an update keeps the id");
        let loaded = sessions.load(&key).await.unwrap().unwrap();
        assert_eq!(loaded["install"], "\"installs/2\"");
        sessions.delete(&key).await.unwrap();
        assert_eq!(sessions.load(&key).await.unwrap(), None);

        let copy = SessionKey::try_from(id.clone()).unwrap();
        let renewed = sessions
            .update(copy, state(&[("a", "1")]), &TTL)
            .await
            .unwrap();
        assert_ne!(renewed.as_ref(), id);
        let copy = SessionKey::try_from(id).unwrap();
        assert_eq!(sessions.load(&copy).await.unwrap(), None);
    }

    /// With [`LIMITS`]: used every 200 ms, a session lives past its idle limit, up to its
    /// absolute one. Returns another session, left alone past its idle limit and not loaded
    /// since (the caller checks that it has ended).
    pub async fn ends_at_its_limits(sessions: &impl SessionStore) -> SessionKey {
        let key = sessions.save(state(&[("a", "1")]), &TTL).await.unwrap();
        let mut alive = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if sessions.load(&key).await.unwrap().is_none() {
                break;
            }
            alive += 1;
        }
        assert!((3..=7).contains(&alive), "alive for {alive} loads");

        let idle = sessions.save(state(&[("a", "1")]), &TTL).await.unwrap();
        assert!(sessions.load(&idle).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{store_test, stored};
    use super::stories::{self, LIMITS, TTL, state};
    use super::*;

    /// The migration that keeps sessions in one b-tree keeps every session there was.
    #[tokio::test]
    async fn sessions_stored_before_the_one_tree_migration_are_kept() {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for earlier in [
            include_str!("../../migrations/legacy/sqlite/20261124000001_accounts_and_installs.sql"),
            include_str!("../../migrations/legacy/sqlite/20261124000002_server_side_state.sql"),
            include_str!("../../migrations/legacy/sqlite/20261124000003_refresh_lease.sql"),
            include_str!("../../migrations/legacy/sqlite/20261201000001_partner_user_id.sql"),
            "INSERT INTO sessions VALUES ('aa', x'0102', 1, 2), ('bb', x'03', 3, 4)",
            include_str!("../../migrations/legacy/sqlite/20261201000002_sessions_one_tree.sql"),
        ] {
            conn.execute(sqlx::raw_sql(earlier)).await.unwrap();
        }
        let kept: Vec<(String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT id_hash, state, created_at, last_seen_at FROM sessions ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            kept,
            [
                ("aa".into(), vec![1, 2], 1, 2),
                ("bb".into(), vec![3], 3, 4)
            ]
        );
        // One tree: no rowid, no index of its own besides the key.
        let rowid = sqlx::query("SELECT rowid FROM sessions")
            .fetch_all(&mut conn)
            .await;
        assert!(rowid.is_err());
        let indexes: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(indexes, 0);
    }

    store_test!(
        a_session_is_stored_by_hash_sealed_and_ends_when_deleted,
        |store, _dir| {
            let sessions = store.sessions(SessionLimits::default());
            stories::saved_updated_and_deleted(&sessions, async |id: &str| {
                let sealed: Vec<u8> = stored(
                    &store,
                    "SELECT state FROM segment_sessions WHERE id_hash = $1",
                    &hash(id),
                )
                .await;
                assert!(
                    !sealed.windows(8).any(|w| w == b"installs"),
                    "state in clear"
                );
            })
            .await;
        }
    );

    store_test!(
        a_session_ends_after_its_idle_and_absolute_limits,
        |store, _dir| {
            let sessions = store.sessions(LIMITS);
            let idle = stories::ends_at_its_limits(&sessions).await;
            // The clean-up removes what has ended.
            assert_eq!(sessions.remove_expired().await.unwrap(), 1);
            assert_eq!(sessions.load(&idle).await.unwrap(), None);
            assert_eq!(sessions.count().await.unwrap(), 0);
        }
    );

    store_test!(
        a_session_sealed_under_another_key_reads_as_none,
        |store, dir| {
            let sessions = store.sessions(SessionLimits::default());
            let key = sessions.save(state(&[("a", "1")]), &TTL).await.unwrap();
            let other = crate::store::Store::open(&dir.1, &crate::crypto::MasterKey::generate())
                .await
                .unwrap()
                .sessions(SessionLimits::default());
            assert_eq!(other.load(&key).await.unwrap(), None);
        }
    );
}
