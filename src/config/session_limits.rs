//! When a server-side session ends, decided in one place for both session stores (the
//! database's, `store::sessions`, and Redis', `store::redis_sessions`).

use std::time::Duration;

/// When a server-side session ends: after `idle` without a request, and `absolute` after it
/// began (at login, since the id is renewed there), whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Milliseconds, as the session stores count time (Unix time in ms).
fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl SessionLimits {
    /// Whether a session begun at `created` and last used at `last_seen` has ended at `now`
    /// (all Unix time in milliseconds). Both session stores decide it here.
    pub fn have_ended(&self, created: i64, last_seen: i64, now: i64) -> bool {
        now.saturating_sub(last_seen) >= ms(self.idle)
            || now.saturating_sub(created) >= ms(self.absolute)
    }

    /// How long a session last used at `last_seen` and begun at `created` has left: until its
    /// idle limit, cut at its absolute one (milliseconds, never negative).
    pub fn left_ms(&self, created: i64, last_seen: i64) -> i64 {
        created
            .saturating_add(ms(self.absolute))
            .saturating_sub(last_seen)
            .min(ms(self.idle))
            .max(0)
    }

    /// How stale the recorded last use may get before a request moves it: a sixteenth of the
    /// idle limit, at most a minute, which is as precise as the idle limit needs to be.
    pub fn touch_interval_ms(&self) -> i64 {
        ms((self.idle / 16).min(Duration::from_secs(60)))
    }

    /// The times before which a session has ended, at `now`: last used before the first, or
    /// begun before the second.
    pub fn ended_before(&self, now: i64) -> (i64, i64) {
        (now - ms(self.idle), now - ms(self.absolute))
    }
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}
