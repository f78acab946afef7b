//! The destination page's one-line health summary ("98.7% delivered in the last 24 h"), from
//! Segment's delivery summary, and the short-lived cache that keeps it from costing the page
//! an upstream call on every view.
//!
//! The cache is per process and only saves calls: an entry lives [`HEALTH_TTL`], so several
//! instances disagree for at most that long, and a restart loses nothing. It holds at most
//! [`HEALTH_ENTRIES`] lines. It is a map behind a lock, on purpose: an age checked when read and
//! a bound that starts over are all it needs, where a cache crate (moka, mini-moka) would bring
//! a dependency tree, eviction threads and policies nothing here uses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::segment::DestinationName;
use crate::segment::delivery::{DeliverySummary, MetricsRange};

/// How long a health line is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(60);
/// How many destinations' lines the cache holds before it starts over.
pub const HEALTH_ENTRIES: usize = 10_000;
/// The range the destination page summarises.
pub const HEALTH_RANGE: MetricsRange = MetricsRange::LastDay;

/// The health line: its CSS class (`success`, `info`, `error`) and its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthLine {
    pub class: &'static str,
    pub sentence: String,
}

/// The line for `summary` over [`HEALTH_RANGE`].
pub fn line(summary: &DeliverySummary) -> HealthLine {
    let range = HEALTH_RANGE.label();
    let Some(rate) = summary.success_rate() else {
        return HealthLine {
            class: "info",
            sentence: format!("No events reached Segment for this destination in {range}."),
        };
    };
    let percent = super::chart::percent(rate);
    let discarded = summary.discarded();
    HealthLine {
        class: if discarded == 0.0 {
            "success"
        } else if rate >= 0.95 {
            "info"
        } else {
            "error"
        },
        sentence: if discarded == 0.0 {
            format!("{percent} delivered in {range}.")
        } else {
            format!(
                "{percent} delivered in {range}; {} discarded.",
                super::chart::count(discarded)
            )
        },
    }
}

/// Health lines by destination, each reused for [`HEALTH_TTL`].
#[derive(Default)]
pub struct HealthCache {
    lines: Mutex<HashMap<DestinationName, (Instant, HealthLine)>>,
}

impl HealthCache {
    /// The line for `destination`, if one was kept less than [`HEALTH_TTL`] ago.
    pub fn get(&self, destination: &DestinationName) -> Option<HealthLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .get(destination)
            .filter(|(at, _)| at.elapsed() < HEALTH_TTL)
            .map(|(_, line)| line.clone())
    }

    pub fn put(&self, destination: &DestinationName, line: HealthLine) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() >= HEALTH_ENTRIES {
            lines.retain(|_, (at, _)| at.elapsed() < HEALTH_TTL);
            if lines.len() >= HEALTH_ENTRIES {
                lines.clear();
            }
        }
        lines.insert(destination.clone(), (Instant::now(), line));
    }

    /// Forgets the line of `destination` (after a change that makes it stale: Enable, Disable).
    pub fn forget(&self, destination: &DestinationName) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.remove(destination);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::delivery::MetricTotal;

    fn summary(delivered: f64, discarded: f64) -> DeliverySummary {
        let metric = |name: &str, value: f64| MetricTotal {
            name: name.into(),
            display_name: String::new(),
            value,
            unit: None,
            breakdown: Vec::new(),
        };
        DeliverySummary {
            name: "d".into(),
            metrics: vec![
                metric("successes", delivered),
                metric("discarded", discarded),
            ],
        }
    }

    #[test]
    fn the_line_says_how_much_got_through() {
        assert_eq!(
            line(&summary(1000.0, 0.0)).sentence,
            "100.0% delivered in the last 24 h."
        );
        let some = line(&summary(987.0, 13.0));
        assert_eq!(
            some.sentence,
            "98.7% delivered in the last 24 h; 13 discarded."
        );
        assert_eq!(some.class, "info");
        // Never rounded up to a rate that was not reached.
        assert!(line(&summary(9999.0, 1.0)).sentence.starts_with("99.9%"));
        assert_eq!(line(&summary(0.0, 40.0)).class, "error");
        assert!(line(&summary(0.0, 0.0)).sentence.starts_with("No events"));
    }

    #[test]
    fn lines_are_kept_for_a_while_and_forgotten_on_demand() {
        let cache = HealthCache::default();
        let name =
            DestinationName::parse("workspaces/acme/sources/javascript/destinations/clearbrain")
                .unwrap();
        assert_eq!(cache.get(&name), None);
        cache.put(&name, line(&summary(1.0, 0.0)));
        assert!(cache.get(&name).is_some());
        cache.forget(&name);
        assert_eq!(cache.get(&name), None);
    }
}
