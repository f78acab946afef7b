//! Segment's Event Delivery Metrics: whether the events of a source reach the partner's
//! destination (delivered, retried, discarded and why, time to success).
//!
//! **Every shape here is an assumption.** Segment's docs list an Event Delivery Metrics service
//! in the Config API and public clients name its paths, but its parameters and bodies are not
//! published; these follow what Segment's newer Public API documents for its own delivery
//! metrics. This module is the
//! one place that knows them: the paths, the query parameters and their limits, the metric
//! names and the JSON of a summary and a time series. A partner who sees Segment's real answer
//! changes this file and nothing else; the web layer reads only the types below.
//!
//! - `GET {dest}/metrics:getSummary` → [`DeliverySummary`] ([`SegmentClient::delivery_summary`])
//! - `GET {dest}/metrics:batchGet?names=…` → [`Series`] ([`SegmentClient::delivery_series`])
//! - `GET {workspace}/event-delivery-metrics:batchGetSummary?names=…` → one summary per
//!   destination ([`SegmentClient::workspace_delivery_summaries`])
//!
//! Each takes `start_time`, `end_time` (RFC 3339) and a `granularity` (`MINUTE`, `HOUR`, `DAY`);
//! Segment is assumed to refuse a range longer than 4 hours at `MINUTE`, 7 days at `HOUR` or
//! 14 days at `DAY` (400), which [`MetricsRange::window`] never asks for.

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use reqwest::Method;
use serde::Deserialize;

use super::{DestinationName, SegmentClient, SegmentError, WorkspaceName};
use crate::secret::AccessToken;

/// The metric of events that reached the destination.
pub const DELIVERED: &str = "successes";
/// Events Segment tried again after a failure (they may still be delivered).
pub const RETRIED: &str = "retried";
/// Events Segment gave up on: they never reached the partner. Comes with a breakdown by reason.
pub const DISCARDED: &str = "discarded";
/// How long delivered events took to get through, median and 95th percentile (ms).
pub const TIME_TO_SUCCESS_P50: &str = "time_to_success_p50";
/// See [`TIME_TO_SUCCESS_P50`]: the 95th percentile.
pub const TIME_TO_SUCCESS_P95: &str = "time_to_success_p95";
/// The discard reason Segment gives when the partner's API refused the key in the settings.
pub const UNAUTHORIZED_REASON: &str = "401 Unauthorized";

/// How fine the buckets of a time series are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One bucket a minute.
    Minute,
    /// One bucket an hour.
    Hour,
    /// One bucket a day.
    Day,
}

impl Granularity {
    /// As the query string spells it (`MINUTE`, `HOUR`, `DAY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "MINUTE",
            Granularity::Hour => "HOUR",
            Granularity::Day => "DAY",
        }
    }

    /// One bucket.
    pub fn bucket(self) -> Duration {
        match self {
            Granularity::Minute => Duration::minutes(1),
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
        }
    }

    /// The longest range Segment serves at this granularity.
    pub fn longest_range(self) -> Duration {
        match self {
            Granularity::Minute => Duration::hours(4),
            Granularity::Hour => Duration::days(7),
            Granularity::Day => Duration::days(14),
        }
    }
}

/// The ranges the Monitor page offers (`?range=1h|24h|7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsRange {
    /// The last hour, by the minute.
    LastHour,
    #[default]
    /// The last 24 hours, by the hour.
    LastDay,
    /// The last 7 days, by the day.
    LastWeek,
}

impl MetricsRange {
    /// Every range, shortest first.
    pub const ALL: [MetricsRange; 3] = [
        MetricsRange::LastHour,
        MetricsRange::LastDay,
        MetricsRange::LastWeek,
    ];

    /// The range `value` (`1h`, `24h`, `7d`) names, if any.
    pub fn parse(value: &str) -> Option<MetricsRange> {
        MetricsRange::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// What the query string says: `1h`, `24h`, `7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsRange::LastHour => "1h",
            MetricsRange::LastDay => "24h",
            MetricsRange::LastWeek => "7d",
        }
    }

    /// How the page says it: "the last hour".
    pub fn label(self) -> &'static str {
        match self {
            MetricsRange::LastHour => "the last hour",
            MetricsRange::LastDay => "the last 24 h",
            MetricsRange::LastWeek => "the last 7 days",
        }
    }

    /// How long the range is.
    pub fn length(self) -> Duration {
        match self {
            MetricsRange::LastHour => Duration::hours(1),
            MetricsRange::LastDay => Duration::hours(24),
            MetricsRange::LastWeek => Duration::days(7),
        }
    }

    /// One bucket a minute for the last hour, an hour for the last day, a day for the last week.
    pub fn granularity(self) -> Granularity {
        match self {
            MetricsRange::LastHour => Granularity::Minute,
            MetricsRange::LastDay => Granularity::Hour,
            MetricsRange::LastWeek => Granularity::Day,
        }
    }

    /// The window to ask for, ending at `now`: it starts on a bucket boundary, so that it holds
    /// exactly `length / bucket` buckets (the last one still filling), and it is never longer
    /// than the granularity allows.
    pub fn window(self, now: DateTime<Utc>) -> Window {
        let granularity = self.granularity();
        let bucket = granularity.bucket();
        let current = now.duration_trunc(bucket).unwrap_or(now);
        // The query says times to the second: an end cut down to its second would drop the
        // current bucket during its first second (Segment would send one point fewer than the
        // page has buckets), so the end is rounded up to the next second instead.
        let end = now.duration_round_up(Duration::seconds(1)).unwrap_or(now);
        Window {
            start: current - self.length() + bucket,
            end,
            granularity,
        }
    }
}

/// A time range and the granularity of its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first bucket's start.
    pub start: DateTime<Utc>,
    /// Where the window ends (not included).
    pub end: DateTime<Utc>,
    /// How long each bucket is.
    pub granularity: Granularity,
}

impl Window {
    /// The start of every bucket, oldest first.
    pub fn buckets(&self) -> Vec<DateTime<Utc>> {
        let bucket = self.granularity.bucket();
        let mut starts = Vec::new();
        let mut at = self.start;
        while at < self.end && starts.len() < 10_000 {
            starts.push(at);
            at += bucket;
        }
        starts
    }

    fn query(&self, names: &[String]) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for name in names {
            query.append_pair("names", name);
        }
        query
            .append_pair("start_time", &time(self.start))
            .append_pair("end_time", &time(self.end))
            .append_pair("granularity", self.granularity.as_str())
            .finish()
    }
}

/// One discard reason and how many events it took.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reason {
    /// The reason, as Segment says it (`401 Unauthorized`).
    pub reason: String,
    /// How many events.
    pub value: f64,
}

/// One total of a summary. Names other than the five this module names may appear: they are
/// shown by their display name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricTotal {
    /// The metric's name (`successes`, `discarded`, …).
    pub name: String,
    #[serde(default)]
    /// Segment's label for it.
    pub display_name: String,
    /// The total over the window.
    pub value: f64,
    #[serde(default)]
    /// Its unit (`ms` for the times), if any.
    pub unit: Option<String>,
    #[serde(default)]
    /// For discards: how many each reason took.
    pub breakdown: Vec<Reason>,
}

impl MetricTotal {
    /// How pages name it: Segment's display name, else `fallback`.
    pub fn label_or(&self, fallback: &str) -> String {
        if self.display_name.is_empty() {
            fallback.to_owned()
        } else {
            self.display_name.clone()
        }
    }
}

/// The totals of one destination over a window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliverySummary {
    /// The destination's full name.
    pub name: String,
    #[serde(default)]
    /// One total per metric.
    pub metrics: Vec<MetricTotal>,
}

impl DeliverySummary {
    /// The total of the metric `name`, if Segment sent it.
    pub fn metric(&self, name: &str) -> Option<&MetricTotal> {
        self.metrics.iter().find(|m| m.name == name)
    }

    fn count(&self, name: &str) -> f64 {
        self.metric(name).map_or(0.0, |m| m.value)
    }

    /// Events that reached the destination (0 if not sent).
    pub fn delivered(&self) -> f64 {
        self.count(DELIVERED)
    }

    /// Events tried again (0 if not sent).
    pub fn retried(&self) -> f64 {
        self.count(RETRIED)
    }

    /// Events given up on (0 if not sent).
    pub fn discarded(&self) -> f64 {
        self.count(DISCARDED)
    }

    /// The share of the events that reached the partner, of those Segment finished with
    /// (delivered or discarded); `None` when there were none.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.delivered() + self.discarded();
        (finished > 0.0).then(|| self.delivered() / finished)
    }

    /// The discards by reason, the largest first.
    pub fn discard_reasons(&self) -> Vec<Reason> {
        let mut reasons = self
            .metric(DISCARDED)
            .map(|m| m.breakdown.clone())
            .unwrap_or_default();
        reasons.sort_by(|a, b| b.value.total_cmp(&a.value));
        reasons
    }
}

/// One bucket of a time series: its start, and its value (0 when nothing happened).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Point {
    /// The bucket's start.
    pub time: DateTime<Utc>,
    /// Its value.
    pub value: f64,
}

/// One metric over a window, bucket by bucket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    /// `{destination}/metrics/{metric}`.
    pub name: String,
    #[serde(default)]
    /// Segment's label for the metric.
    pub display_name: String,
    #[serde(default)]
    /// Every bucket of the window, oldest first.
    pub points: Vec<Point>,
}

impl Series {
    /// The metric's short name (`successes`).
    pub fn metric(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }
}

/// The full name of one of a destination's metrics.
pub fn metric_name(destination: &DestinationName, metric: &str) -> String {
    format!("{destination}/metrics/{metric}")
}

impl SegmentClient {
    /// The destination's totals over `window`.
    pub async fn delivery_summary(
        &self,
        token: &AccessToken,
        destination: &DestinationName,
        window: &Window,
    ) -> Result<DeliverySummary, SegmentError> {
        #[derive(Deserialize)]
        struct Answer {
            summary: DeliverySummary,
        }
        let path = format!("{destination}/metrics:getSummary?{}", window.query(&[]));
        let answer: Answer = self
            .call("delivery_summary", Method::GET, &path, token, None::<&()>)
            .await?;
        Ok(answer.summary)
    }

    /// The destination's `metrics` (short names: [`DELIVERED`], [`DISCARDED`], …), bucket by
    /// bucket over `window`, in one call.
    pub async fn delivery_series(
        &self,
        token: &AccessToken,
        destination: &DestinationName,
        metrics: &[&str],
        window: &Window,
    ) -> Result<Vec<Series>, SegmentError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            metrics: Vec<Series>,
        }
        let names: Vec<String> = metrics
            .iter()
            .map(|m| metric_name(destination, m))
            .collect();
        let path = format!("{destination}/metrics:batchGet?{}", window.query(&names));
        let answer: Answer = self
            .call("delivery_series", Method::GET, &path, token, None::<&()>)
            .await?;
        Ok(answer.metrics)
    }

    /// The totals of several destinations of `workspace` over `window`, in one call (wider
    /// scopes only). Destinations that do not exist are left out of the answer.
    pub async fn workspace_delivery_summaries(
        &self,
        token: &AccessToken,
        workspace: &WorkspaceName,
        destinations: &[DestinationName],
        window: &Window,
    ) -> Result<Vec<DeliverySummary>, SegmentError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            summaries: Vec<DeliverySummary>,
        }
        let names: Vec<String> = destinations.iter().map(|d| d.to_string()).collect();
        let path = format!(
            "{workspace}/event-delivery-metrics:batchGetSummary?{}",
            window.query(&names)
        );
        let answer: Answer = self
            .call(
                "workspace_delivery_summaries",
                Method::GET,
                &path,
                token,
                None::<&()>,
            )
            .await?;
        Ok(answer.summaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_asks_for_a_window_segment_serves() {
        let now: DateTime<Utc> = "2026-11-24T10:17:42Z".parse().unwrap();
        for range in MetricsRange::ALL {
            let window = range.window(now);
            assert!(window.end - window.start <= window.granularity.longest_range());
            let expected = range.length().num_seconds() / window.granularity.bucket().num_seconds();
            assert_eq!(window.buckets().len() as i64, expected, "{range:?}");
            assert_eq!(MetricsRange::parse(range.as_str()), Some(range));
        }
        let hour = MetricsRange::LastHour.window(now);
        assert_eq!(
            hour.start,
            "2026-11-24T09:18:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(hour.granularity, Granularity::Minute);
        assert_eq!(MetricsRange::parse("30d"), None);
        assert_eq!(MetricsRange::parse("1H"), None);
    }

    /// In the first second of a minute the current minute is still a bucket, on the page and
    /// in the query Segment reads (whose times are whole seconds).
    #[test]
    fn the_current_bucket_is_asked_for_in_its_first_second() {
        let now: DateTime<Utc> = "2026-11-24T10:17:00.400Z".parse().unwrap();
        let hour = MetricsRange::LastHour.window(now);
        assert_eq!(hour.buckets().len(), 60);
        assert!(
            hour.query(&[])
                .ends_with("&end_time=2026-11-24T10%3A17%3A01Z&granularity=MINUTE")
        );
    }

    #[test]
    fn the_query_names_the_window_and_the_metrics() {
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let window = MetricsRange::LastDay.window(now);
        let query = window.query(&["a/metrics/successes".into()]);
        assert_eq!(
            query,
            "names=a%2Fmetrics%2Fsuccesses&start_time=2026-11-23T11%3A00%3A00Z\
             &end_time=2026-11-24T10%3A00%3A00Z&granularity=HOUR"
        );
    }

    /// The summary of SEGMENT-API.md section 7 reads, and an unknown metric is kept.
    #[test]
    fn a_summary_reads_as_documented() {
        let body = serde_json::json!({"summary": {
        "name": "workspaces/ws/sources/js/destinations/clearbrain",
        "start_time": "2026-11-23T10:00:00Z", "end_time": "2026-11-24T10:00:00Z",
        "metrics": [
            {"name": "successes", "display_name": "Delivered", "value": 1180},
            {"name": "retried", "display_name": "Retried", "value": 42},
            {"name": "discarded", "display_name": "Discarded", "value": 9,
             "breakdown": [{"reason": "400 Bad Request", "value": 2}, {"reason": "401 Unauthorized", "value": 7}]},
            {"name": "time_to_success_p50", "display_name": "Time to success (p50)", "value": 180, "unit": "ms"},
            {"name": "something_new", "display_name": "Something new", "value": 3.5}
        ]}});
        #[derive(Deserialize)]
        struct Answer {
            summary: DeliverySummary,
        }
        let summary = serde_json::from_value::<Answer>(body).unwrap().summary;
        assert_eq!(summary.delivered(), 1180.0);
        assert_eq!(summary.retried(), 42.0);
        assert_eq!(summary.discarded(), 9.0);
        assert_eq!(summary.success_rate(), Some(1180.0 / 1189.0));
        assert_eq!(summary.discard_reasons()[0].reason, UNAUTHORIZED_REASON);
        assert_eq!(summary.metric("something_new").unwrap().value, 3.5);
        let empty = DeliverySummary {
            name: "x".into(),
            metrics: Vec::new(),
        };
        assert_eq!(empty.success_rate(), None);
    }

    #[test]
    fn a_series_reads_as_documented() {
        let series: Series = serde_json::from_value(serde_json::json!({
            "name": "workspaces/ws/sources/js/destinations/clearbrain/metrics/successes",
            "display_name": "Delivered", "unit": "count", "granularity": "HOUR",
            "points": [{"time": "2026-11-24T08:00:00Z", "value": 51}, {"time": "2026-11-24T09:00:00Z", "value": 47}]
        }))
        .unwrap();
        assert_eq!(series.metric(), DELIVERED);
        assert_eq!(series.points.len(), 2);
        assert_eq!(series.points[1].value, 47.0);
    }
}
