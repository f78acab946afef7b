//! Browser sessions in Redis (`REDIS_URL`): actix-session's [`RedisSessionStore`], with the
//! same guarantees as the database store ([`super::sessions`]):
//! - Redis' key is `partnerapp:session:` and the SHA-256 of the session id, never the id, so
//!   someone who can read Redis cannot take over a session;
//! - the entries are sealed (AES-256-GCM, keyed from `SESSION_KEY`);
//! - a session ends after [`SessionLimits::idle`] without a request (Redis expires the key) and
//!   [`SessionLimits::absolute`] after it began, whichever comes first;
//! - logging out deletes the key: every instance sees it gone on its next request.
//!
//! What this module adds to actix-session's store is the envelope: the sealed entries, when the
//! session began and when it was last used (moved forward at most every
//! [`SessionLimits::touch_interval_ms`], as in the database); and a time limit on
//! every call, which the store lacks: with Redis gone, a request fails in [`TIMEOUT`] with
//! [`Unavailable`] (the "sign-in is unavailable" page) instead of waiting for Redis.
//!
//! The connections are deadpool-redis' pool, shared by every worker, as actix-session takes it
//! (`RedisSessionStore::builder_pooled`): a connection is made when one is needed, within the
//! timeout, so the first request after Redis comes back is served at once.

use std::collections::HashMap;

use actix_session::storage::{
    LoadError, RedisSessionStore, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::cookie::time::Duration as TtlDuration;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;

use super::keys::hash;
use super::sessions::now_ms;
use crate::config::SessionLimits;
use crate::crypto::Sealer;

type State = HashMap<String, String>;

const CREATED: &str = "created";
const SEEN: &str = "seen";
const SEALED: &str = "sealed";
/// What the entries are sealed for (they cannot be bound to the id: actix-session picks it
/// after sealing).
const SEALED_FOR: &str = "redis-sessions";

/// How long a connection to Redis, or an answer, may take before it counts as failed.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Redis did not answer in time, or refused: the sessions cannot be read or written now.
#[derive(Debug, thiserror::Error)]
#[error("the session store (Redis) is unavailable while {doing}: {reason}")]
pub struct Unavailable {
    pub doing: &'static str,
    pub reason: String,
}

/// The sessions, in Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisSessions {
    /// actix-session's store, on the pool.
    store: RedisSessionStore,
    /// The same pool, for `PING` (`/readyz`).
    pool: deadpool_redis::Pool,
    sealer: Sealer,
    limits: SessionLimits,
}

/// `call`, within [`TIMEOUT`]; its failure, or no answer in time, is [`Unavailable`] (and logged).
async fn bounded<T, E: Into<anyhow::Error>>(
    doing: &'static str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, anyhow::Error> {
    let failed = |reason: String| {
        tracing::error!(%reason, "the session store (Redis) failed while {doing}");
        anyhow::Error::new(Unavailable { doing, reason })
    };
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(failed(error.into().to_string())),
        Err(_) => Err(failed(format!("no answer in {} s", TIMEOUT.as_secs()))),
    }
}

/// What a session's envelope says.
struct Envelope {
    created: i64,
    seen: i64,
    sealed: Vec<u8>,
}

impl Envelope {
    fn read(entries: &State) -> Option<Envelope> {
        Some(Envelope {
            created: entries.get(CREATED)?.parse().ok()?,
            seen: entries.get(SEEN)?.parse().ok()?,
            sealed: BASE64.decode(entries.get(SEALED)?).ok()?,
        })
    }

    fn entries(&self) -> State {
        HashMap::from([
            (CREATED.to_owned(), self.created.to_string()),
            (SEEN.to_owned(), self.seen.to_string()),
            (SEALED.to_owned(), BASE64.encode(&self.sealed)),
        ])
    }
}

/// What to say about a Redis URL in a message: host, port and database, never a password.
pub fn describe(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => format!(
            "Redis at {}:{}{}",
            url.host_str().unwrap_or("localhost"),
            url.port().unwrap_or(6379),
            url.path()
        ),
        Err(_) => "Redis (REDIS_URL is not a URL)".to_owned(),
    }
}

impl RedisSessions {
    /// Connects to Redis at `url` (`redis://…`, or `rediss://…` for TLS).
    pub async fn connect(
        url: &str,
        sealer: Sealer,
        limits: SessionLimits,
    ) -> Result<RedisSessions, anyhow::Error> {
        let mut config = deadpool_redis::Config::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig {
            max_size: 16,
            timeouts: deadpool_redis::Timeouts {
                wait: Some(TIMEOUT),
                create: Some(TIMEOUT),
                recycle: Some(TIMEOUT),
            },
            ..Default::default()
        });
        let pool = config.create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
        let store = RedisSessionStore::builder_pooled(pool.clone())
            .cache_keygen(|id| format!("partnerapp:session:{}", hash(id)))
            .build()
            .await?;
        let sessions = RedisSessions {
            store,
            pool,
            sealer,
            limits,
        };
        // A Redis that is down or refuses the password fails start-up here, with its reason.
        sessions.ping().await?;
        Ok(sessions)
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), anyhow::Error> {
        let call = async {
            let mut conn = self.pool.get().await?;
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        };
        match tokio::time::timeout(TIMEOUT, call).await {
            Ok(answer) => answer,
            Err(_) => Err(anyhow::anyhow!("no answer in {} s", TIMEOUT.as_secs())),
        }
    }

    /// How long Redis keeps a session last used at `seen`: its idle limit, cut at its absolute
    /// one (at least a second, which is what Redis counts in).
    fn ttl(&self, envelope: &Envelope) -> TtlDuration {
        let left = self.limits.left_ms(envelope.created, envelope.seen);
        TtlDuration::seconds((left / 1000).max(1))
    }

    fn seal(&self, state: &State) -> Result<Vec<u8>, serde_json::Error> {
        Ok(self.sealer.seal(&serde_json::to_vec(state)?, SEALED_FOR))
    }

    /// The session's envelope and entries, if it has not ended. An ended or unreadable session
    /// (sealed under another `SESSION_KEY`) is deleted.
    async fn open(&self, key: &SessionKey) -> Result<Option<(Envelope, State)>, LoadError> {
        let loaded = bounded("reading a session", self.store.load(key))
            .await
            .map_err(LoadError::Other)?;
        let Some(entries) = loaded else {
            return Ok(None);
        };
        let now = now_ms();
        let opened = Envelope::read(&entries)
            .filter(|envelope| !self.limits.have_ended(envelope.created, envelope.seen, now))
            .and_then(|envelope| {
                let json = self.sealer.open(&envelope.sealed, SEALED_FOR).ok()?;
                let state = serde_json::from_slice::<State>(&json).ok()?;
                Some((envelope, state))
            });
        if opened.is_none() {
            bounded("deleting an ended session", self.store.delete(key))
                .await
                .map_err(LoadError::Other)?;
        }
        Ok(opened)
    }
}

impl SessionStore for RedisSessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let Some((mut envelope, state)) = self.open(key).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if now - envelope.seen >= self.limits.touch_interval_ms() {
            envelope.seen = now;
            // If the key expired since it was read, this makes a session nobody holds the id
            // of, which Redis expires in turn: nothing to undo.
            let same = SessionKey::try_from(key.as_ref().to_owned())
                .map_err(|e| LoadError::Other(e.into()))?;
            let ttl = self.ttl(&envelope);
            bounded(
                "moving a session's last use forward",
                self.store.update(same, envelope.entries(), &ttl),
            )
            .await
            .map_err(LoadError::Other)?;
        }
        Ok(Some(state))
    }

    async fn save(&self, state: State, _ttl: &TtlDuration) -> Result<SessionKey, SaveError> {
        let now = now_ms();
        let envelope = Envelope {
            created: now,
            seen: now,
            sealed: self
                .seal(&state)
                .map_err(|e| SaveError::Serialization(e.into()))?,
        };
        let ttl = self.ttl(&envelope);
        bounded(
            "saving a new session",
            self.store.save(envelope.entries(), &ttl),
        )
        .await
        .map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &TtlDuration,
    ) -> Result<SessionKey, UpdateError> {
        let Some((mut envelope, _)) = self.open(&key).await.map_err(|e| match e {
            LoadError::Deserialization(e) => UpdateError::Serialization(e),
            LoadError::Other(e) => UpdateError::Other(e),
        })?
        else {
            // Deleted meanwhile (a logout in another tab, on any instance): never bring it back
            // under its old id.
            return self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            });
        };
        envelope.seen = now_ms();
        envelope.sealed = self
            .seal(&state)
            .map_err(|e| UpdateError::Serialization(e.into()))?;
        let ttl = self.ttl(&envelope);
        bounded(
            "saving a session",
            self.store.update(key, envelope.entries(), &ttl),
        )
        .await
        .map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, key: &SessionKey, _ttl: &TtlDuration) -> Result<(), anyhow::Error> {
        // Loading moves the last use forward when it is due.
        self.load(key).await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        bounded("ending a session", self.store.delete(key)).await
    }
}

/// The same stories as the database store's tests, on the Redis at `REDIS_TEST_URL` (set at
/// build time; reported as ignored otherwise).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::store::sessions::stories::{self, TTL, state};

    fn url() -> String {
        std::env::var("REDIS_TEST_URL").expect("REDIS_TEST_URL names the Redis for these tests")
    }

    async fn sessions(key: &MasterKey, limits: SessionLimits) -> RedisSessions {
        RedisSessions::connect(&url(), key.sealer(), limits)
            .await
            .expect("the Redis at REDIS_TEST_URL answers")
    }

    async fn raw(key: &str) -> Option<String> {
        let mut conn = redis::Client::open(url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    #[cfg_attr(not(redis_tests), ignore = "set REDIS_TEST_URL to run it on Redis")]
    async fn a_session_is_stored_by_hash_sealed_and_ends_when_deleted() {
        let sessions = sessions(&MasterKey::generate(), SessionLimits::default()).await;
        sessions.ping().await.unwrap();
        stories::saved_updated_and_deleted(&sessions, async |id: &str| {
            assert_eq!(raw(id).await, None, "the id itself is a key in Redis");
            let stored = raw(&format!("partnerapp:session:{}", hash(id)))
                .await
                .expect("the session is under the id's hash");
            assert!(!stored.contains("installs"), "state in clear: {stored}");
        })
        .await;
    }

    #[tokio::test]
    #[cfg_attr(not(redis_tests), ignore = "set REDIS_TEST_URL to run it on Redis")]
    async fn a_session_ends_after_its_idle_and_absolute_limits() {
        let sessions = sessions(&MasterKey::generate(), stories::LIMITS).await;
        let idle = stories::ends_at_its_limits(&sessions).await;
        assert_eq!(sessions.load(&idle).await.unwrap(), None);
    }

    #[tokio::test]
    #[cfg_attr(not(redis_tests), ignore = "set REDIS_TEST_URL to run it on Redis")]
    async fn a_session_sealed_under_another_key_reads_as_none_and_instances_agree() {
        let key = MasterKey::generate();
        let (one, two) = (
            sessions(&key, SessionLimits::default()).await,
            sessions(&key, SessionLimits::default()).await,
        );
        let session = one.save(state(&[("a", "1")]), &TTL).await.unwrap();
        assert!(
            two.load(&session).await.unwrap().is_some(),
            "another instance"
        );
        two.delete(&session).await.unwrap();
        assert_eq!(
            one.load(&session).await.unwrap(),
            None,
            "logout on the other"
        );

        let session = one.save(state(&[("a", "1")]), &TTL).await.unwrap();
        let other = sessions(&MasterKey::generate(), SessionLimits::default()).await;
        assert_eq!(other.load(&session).await.unwrap(), None);
    }

    #[test]
    fn descriptions_never_hold_the_password() {
        let said = describe("redis://:hunter2@cache.internal:6380/2");
        assert_eq!(said, "Redis at cache.internal:6380/2");
    }
}
