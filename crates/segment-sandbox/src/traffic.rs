//! The events the sandbox "delivers" to each destination, so that its delivery metrics have
//! something to show.
//!
//! Traffic is a pure function of the destination's name, the minute, and what the destination
//! was doing then (its [`DeliveryState`] history): the same minute always holds the same
//! events, so a reload shows the same history, and time adds new minutes without changing old
//! ones. A minute counts once it is over.
//!
//! - **Off** (disabled, or not created yet): nothing.
//! - **Delivering**: 15 to 49 events a minute (a daily wave, busiest at noon UTC), now and then
//!   a few retried, about one minute in fifty with one event discarded as `400 Bad Request`.
//! - **Rejected** (the partner's API refused the destination's API key, as the credential test
//!   found): every event discarded as `401 Unauthorized`.

use chrono::{DateTime, Utc};

/// The discard reasons the sandbox gives.
pub const BAD_REQUEST: &str = "400 Bad Request";
/// See [`BAD_REQUEST`]: the partner's API refused the key.
pub const UNAUTHORIZED: &str = "401 Unauthorized";

/// What a destination does with its source's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Disabled: no events go out.
    Off,
    /// Enabled with a key the partner's API takes: events arrive.
    Delivering,
    /// Enabled, but the partner's API refuses the key: events are discarded (401).
    Rejected,
}

/// Since when a destination has been in each state, oldest first.
pub type History = Vec<(DateTime<Utc>, DeliveryState)>;

/// One minute's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Events that reached the partner.
    pub delivered: u64,
    /// Events tried again.
    pub retried: u64,
    /// Events given up on with 400.
    pub discarded_bad_request: u64,
    /// Events given up on with 401.
    pub discarded_unauthorized: u64,
    /// The minute's median and 95th percentile time to success, in ms (0 without deliveries).
    pub p50_ms: u64,
    /// See `p50_ms`.
    pub p95_ms: u64,
}

impl Minute {
    /// Events given up on, for any reason.
    pub fn discarded(&self) -> u64 {
        self.discarded_bad_request + self.discarded_unauthorized
    }
}

/// A number that looks random but is the same for the same inputs (splitmix64).
fn mix(seed: u64, minute: i64, salt: u64) -> u64 {
    let mut z = seed ^ (minute as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of a destination's traffic: its name, hashed (FNV-1a).
pub fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The day's wave: how many more events than at midnight UTC a minute of the day has (0 to 20,
/// most at noon). Worked out once.
fn wave(minute_of_day: usize) -> u64 {
    static WAVE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let wave = WAVE.get_or_init(|| {
        (0..1440)
            .map(|m| {
                let of_day = m as f64 / 1440.0;
                (10.0 * (1.0 - (std::f64::consts::TAU * of_day).cos())) as u8
            })
            .collect()
    });
    u64::from(wave[minute_of_day % 1440])
}

/// The events of `minute` (minutes since 1970) in `state`: 15 to 49, more in the UTC afternoon
/// than at night (a day's wave, plus noise).
pub fn minute(seed: u64, minute: i64, state: DeliveryState) -> Minute {
    let events = 15 + mix(seed, minute, 1) % 15 + wave(minute.rem_euclid(1440) as usize);
    match state {
        DeliveryState::Off => Minute::default(),
        DeliveryState::Rejected => Minute {
            discarded_unauthorized: events,
            ..Minute::default()
        },
        DeliveryState::Delivering => {
            let bad = u64::from(mix(seed, minute, 2).is_multiple_of(50));
            let retried = if mix(seed, minute, 3).is_multiple_of(8) {
                1 + mix(seed, minute, 4) % 3
            } else {
                0
            };
            Minute {
                delivered: events - bad,
                retried,
                discarded_bad_request: bad,
                discarded_unauthorized: 0,
                p50_ms: 120 + mix(seed, minute, 5) % 80,
                p95_ms: 450 + mix(seed, minute, 6) % 300,
            }
        }
    }
}

/// Calls `f` with every minute from `start` that is over by `end` (as minutes since 1970) and
/// its events, in order. Minutes before the history begins, and minutes while the destination
/// was off, hold nothing and are skipped.
pub fn each_minute(
    name: &str,
    history: &History,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    mut f: impl FnMut(i64, Minute),
) {
    let seed = seed(name);
    let begin = start.timestamp().div_euclid(60) + i64::from(start.timestamp().rem_euclid(60) != 0);
    let stop = end.timestamp().div_euclid(60);
    // A minute takes the state in force at its middle: the state of a change at second < 30 of
    // a minute already, of one at second >= 30 from the next minute on.
    let first_minute = |since: DateTime<Utc>| (since.timestamp() + 29).div_euclid(60);
    for (i, (since, state)) in history.iter().enumerate() {
        if *state == DeliveryState::Off {
            continue;
        }
        let from = first_minute(*since).max(begin);
        let until = history
            .get(i + 1)
            .map_or(stop, |(next, _)| first_minute(*next))
            .min(stop);
        for m in from..until {
            f(m, minute(seed, m, *state));
        }
    }
}

/// Every minute from `start` that is over by `end`, with its start (for tests).
#[cfg(test)]
fn minutes(
    name: &str,
    history: &History,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Minute)> {
    let mut all = Vec::new();
    each_minute(name, history, start, end, |m, minute| {
        all.push((DateTime::from_timestamp(m * 60, 0).unwrap(), minute));
    });
    all
}

/// The totals of a run of minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events that reached the partner.
    pub delivered: u64,
    /// Events tried again.
    pub retried: u64,
    /// Events given up on with 400.
    pub discarded_bad_request: u64,
    /// Events given up on with 401.
    pub discarded_unauthorized: u64,
    /// Delivery-weighted sums of the minutes' percentiles (divide by `delivered`).
    p50_weighted: u64,
    p95_weighted: u64,
}

impl Totals {
    /// Adds one minute's events.
    pub fn add(&mut self, minute: &Minute) {
        self.delivered += minute.delivered;
        self.retried += minute.retried;
        self.discarded_bad_request += minute.discarded_bad_request;
        self.discarded_unauthorized += minute.discarded_unauthorized;
        self.p50_weighted += minute.p50_ms * minute.delivered;
        self.p95_weighted += minute.p95_ms * minute.delivered;
    }

    /// Events given up on, for any reason.
    pub fn discarded(&self) -> u64 {
        self.discarded_bad_request + self.discarded_unauthorized
    }

    /// The time to success over the minutes: their percentiles, weighted by deliveries (an
    /// approximation the sandbox makes; Segment's are over the events themselves).
    pub fn p50_ms(&self) -> u64 {
        self.p50_weighted.checked_div(self.delivered).unwrap_or(0)
    }

    /// See [`Totals::p50_ms`]: the 95th percentile.
    pub fn p95_ms(&self) -> u64 {
        self.p95_weighted.checked_div(self.delivered).unwrap_or(0)
    }
}

/// The totals of every minute from `start` over by `end`.
pub fn totals(name: &str, history: &History, start: DateTime<Utc>, end: DateTime<Utc>) -> Totals {
    let mut totals = Totals::default();
    each_minute(name, history, start, end, |_, minute| totals.add(&minute));
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn traffic_is_the_same_on_every_reading() {
        let history = vec![(at("2026-11-24T08:00:00Z"), DeliveryState::Delivering)];
        let (start, end) = (at("2026-11-24T08:00:00Z"), at("2026-11-24T09:00:00Z"));
        let first = totals("d", &history, start, end);
        assert_eq!(first, totals("d", &history, start, end));
        assert!(
            first.delivered >= 60 * 19 && first.delivered <= 60 * 44,
            "{first:?}"
        );
        // Later readings add minutes and change none of the old ones.
        let later = totals("d", &history, start, at("2026-11-24T09:30:00Z"));
        assert!(later.delivered > first.delivered);
        let split = totals("d", &history, start, at("2026-11-24T08:30:00Z")).delivered
            + totals("d", &history, at("2026-11-24T08:30:00Z"), end).delivered;
        assert_eq!(split, first.delivered);
        // Another destination has other traffic.
        assert_ne!(first, totals("e", &history, start, end));
    }

    #[test]
    fn nothing_while_off_and_only_401s_while_rejected() {
        let history = vec![
            (at("2026-11-24T08:00:00Z"), DeliveryState::Delivering),
            (at("2026-11-24T08:10:00Z"), DeliveryState::Off),
            (at("2026-11-24T08:20:00Z"), DeliveryState::Rejected),
        ];
        let range = |a: &str, b: &str| totals("d", &history, at(a), at(b));
        assert_eq!(
            range("2026-11-24T07:00:00Z", "2026-11-24T08:00:00Z"),
            Totals::default()
        );
        assert_eq!(
            range("2026-11-24T08:10:00Z", "2026-11-24T08:20:00Z"),
            Totals::default()
        );
        let rejected = range("2026-11-24T08:20:00Z", "2026-11-24T08:30:00Z");
        assert_eq!(rejected.delivered, 0);
        assert_eq!(rejected.discarded_bad_request, 0);
        assert!(rejected.discarded_unauthorized >= 150);
        let delivering = range("2026-11-24T08:00:00Z", "2026-11-24T08:10:00Z");
        assert_eq!(delivering.discarded_unauthorized, 0);
        assert!(delivering.p50_ms() >= 120 && delivering.p95_ms() >= 450);
    }

    #[test]
    fn only_minutes_that_are_over_count() {
        let history = vec![(at("2026-11-24T08:00:00Z"), DeliveryState::Delivering)];
        let none = minutes(
            "d",
            &history,
            at("2026-11-24T08:00:00Z"),
            at("2026-11-24T08:00:59Z"),
        );
        assert_eq!(none.len(), 0);
        let one = minutes(
            "d",
            &history,
            at("2026-11-24T08:00:00Z"),
            at("2026-11-24T08:01:00Z"),
        );
        assert_eq!(one.len(), 1);
        // A window that starts mid-minute begins with the next whole one.
        let mid = minutes(
            "d",
            &history,
            at("2026-11-24T08:00:30Z"),
            at("2026-11-24T08:02:00Z"),
        );
        assert_eq!(mid.len(), 1);
        // No history: nothing at all.
        let never = minutes(
            "d",
            &Vec::new(),
            at("2026-11-24T08:00:00Z"),
            at("2026-11-24T09:00:00Z"),
        );
        assert!(never.is_empty());
    }
}
