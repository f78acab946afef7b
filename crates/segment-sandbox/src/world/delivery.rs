//! The Event Delivery Metrics rules, as this project assumes them (`segment/delivery.rs`):
//! the query's window and its limits, which metrics and destinations a caller may ask for, and
//! the bodies of a summary and a time series, from the traffic `sandbox::traffic` simulates.

use chrono::DurationRound;

use super::*;
use crate::traffic::{self, DeliveryState, Totals};

/// The metrics a destination has, with their display names.
pub const METRICS: [(&str, &str); 5] = [
    ("successes", "Delivered"),
    ("retried", "Retried"),
    ("discarded", "Discarded"),
    ("time_to_success_p50", "Time to success (p50)"),
    ("time_to_success_p95", "Time to success (p95)"),
];
/// How many names one batch call may carry.
pub const MAX_NAMES: usize = 50;
/// How many answers [`World::metrics_sent`] keeps.
const SENT_LEN: usize = 16;

/// What a metrics query asks for.
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub granularity: Option<String>,
    /// `names`, repeated.
    pub names: Vec<String>,
}

impl MetricsQuery {
    /// The query string's parameters (`names` may repeat).
    pub fn parse(query: &str) -> MetricsQuery {
        let mut parsed = MetricsQuery::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "start_time" => parsed.start_time = Some(value.into_owned()),
                "end_time" => parsed.end_time = Some(value.into_owned()),
                "granularity" => parsed.granularity = Some(value.into_owned()),
                "names" => parsed.names.push(value.into_owned()),
                _ => {}
            }
        }
        parsed
    }
}

/// A checked window: its bounds and bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub granularity: &'static str,
    pub bucket: Duration,
}

impl MetricsWindow {
    /// The window a query asks for, by the limits: at most 4 hours at `MINUTE`, 7 days at
    /// `HOUR`, 14 days at `DAY`; by default the 24 hours before `now`, by the hour.
    pub fn of(query: &MetricsQuery, now: DateTime<Utc>) -> Result<MetricsWindow, ApiError> {
        let time =
            |field: &str, value: &Option<String>| -> Result<Option<DateTime<Utc>>, ApiError> {
                value
                    .as_deref()
                    .map(|v| {
                        DateTime::parse_from_rfc3339(v)
                            .map(|t| t.with_timezone(&Utc))
                            .map_err(|_| {
                                ApiError::bad_request(format!(
                                    "invalid argument: {field} {v:?} is not an RFC 3339 time"
                                ))
                            })
                    })
                    .transpose()
            };
        let end = time("end_time", &query.end_time)?.unwrap_or(now);
        let start = time("start_time", &query.start_time)?.unwrap_or(end - Duration::hours(24));
        let (granularity, bucket, longest) = match query.granularity.as_deref().unwrap_or("HOUR") {
            "MINUTE" => ("MINUTE", Duration::minutes(1), Duration::hours(4)),
            "HOUR" => ("HOUR", Duration::hours(1), Duration::days(7)),
            "DAY" => ("DAY", Duration::days(1), Duration::days(14)),
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid argument: granularity {other:?} is not MINUTE, HOUR or DAY"
                )));
            }
        };
        if start >= end {
            return Err(ApiError::bad_request(
                "invalid argument: start_time must be before end_time",
            ));
        }
        if end - start > longest {
            return Err(ApiError::bad_request(format!(
                "invalid argument: the range may be at most {} hours at {granularity}",
                longest.num_hours()
            )));
        }
        Ok(MetricsWindow {
            start,
            end,
            granularity,
            bucket,
        })
    }

    /// The start of every bucket, oldest first.
    fn buckets(&self) -> Vec<DateTime<Utc>> {
        let mut starts = Vec::new();
        let mut at = self.start;
        while at < self.end {
            starts.push(at);
            at += self.bucket;
        }
        starts
    }
}

/// What the destination does now: nothing while disabled, every event refused while the
/// partner's API refused its key at the last credential test.
pub fn delivery_state(destination: &StoredDestination) -> DeliveryState {
    if !destination.enabled {
        DeliveryState::Off
    } else if destination.key_accepted == Some(false) {
        DeliveryState::Rejected
    } else {
        DeliveryState::Delivering
    }
}

/// How much of its source's recent traffic a destination starts with: the sandbox plays the
/// source as sending for hours already, so Monitor has something to show the moment the
/// destination is enabled (a demo should not wait an hour, nor have to rewind a week).
pub const WARM_START: Duration = Duration::hours(3);

/// Writes down, from `now`, the state the destination is in now (if it changed). The first
/// time it receives events, its history starts [`WARM_START`] earlier; a change within a
/// minute of that (the credential test's verdict on the key) is the state it started in.
pub fn note_delivery(destination: &mut StoredDestination, now: DateTime<Utc>) {
    let state = delivery_state(destination);
    let history = &mut destination.history;
    if history.last().map(|(_, s)| *s) == Some(state) {
        return;
    }
    let never_received = history.iter().all(|(_, s)| *s == DeliveryState::Off);
    let just_warmed = match history.as_slice() {
        [(since, first)] => {
            *first != DeliveryState::Off && now - (*since + WARM_START) < Duration::minutes(1)
        }
        _ => false,
    };
    if state != DeliveryState::Off && never_received {
        *history = vec![(now - WARM_START, state)];
    } else if just_warmed && state != DeliveryState::Off {
        history[0].1 = state;
    } else {
        history.push((now, state));
    }
}

fn value_of(metric: &str, totals: &Totals) -> u64 {
    match metric {
        "successes" => totals.delivered,
        "retried" => totals.retried,
        "discarded" => totals.discarded(),
        "time_to_success_p50" => totals.p50_ms(),
        _ => totals.p95_ms(),
    }
}

fn summary_body(destination: &StoredDestination, window: &MetricsWindow) -> Value {
    let totals = traffic::totals(
        &destination.name(),
        &destination.history,
        window.start,
        window.end,
    );
    let metrics: Vec<Value> = METRICS
        .iter()
        .map(|(metric, display_name)| {
            let mut body = json!({
                "name": metric,
                "display_name": display_name,
                "value": value_of(metric, &totals),
            });
            if metric.starts_with("time_to_success") {
                body["unit"] = "ms".into();
            }
            if *metric == "discarded" {
                let breakdown: Vec<Value> = [
                    (traffic::UNAUTHORIZED, totals.discarded_unauthorized),
                    (traffic::BAD_REQUEST, totals.discarded_bad_request),
                ]
                .into_iter()
                .filter(|(_, value)| *value > 0)
                .map(|(reason, value)| json!({ "reason": reason, "value": value }))
                .collect();
                body["breakdown"] = breakdown.into();
            }
            body
        })
        .collect();
    json!({
        "name": destination.name(),
        "start_time": timestamp(window.start),
        "end_time": timestamp(window.end),
        "metrics": metrics,
    })
}

fn series_body(destination: &StoredDestination, metric: &str, window: &MetricsWindow) -> Value {
    let starts = window.buckets();
    let mut buckets = vec![Totals::default(); starts.len()];
    let bucket_seconds = window.bucket.num_seconds().max(1);
    let start = window.start.timestamp();
    traffic::each_minute(
        &destination.name(),
        &destination.history,
        window.start,
        window.end,
        |m, minute| {
            let index = ((m * 60 - start).div_euclid(bucket_seconds)) as usize;
            if let Some(bucket) = buckets.get_mut(index) {
                bucket.add(&minute);
            }
        },
    );
    let display_name = METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map_or(metric, |(_, d)| d);
    let points: Vec<Value> = starts
        .iter()
        .zip(&buckets)
        .map(|(at, totals)| json!({ "time": timestamp(*at), "value": value_of(metric, totals) }))
        .collect();
    json!({
        "name": format!("{}/metrics/{metric}", destination.name()),
        "display_name": display_name,
        "unit": if metric.starts_with("time_to_success") { "ms" } else { "count" },
        "granularity": window.granularity,
        "points": points,
    })
}

impl World {
    /// The destination the metrics are asked about, if it exists and has metrics.
    fn measured(&self, name: &str) -> Result<&StoredDestination, ApiError> {
        let destination = self
            .destinations
            .get(name)
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))?;
        if destination.connection_mode == "DEVICE" {
            return Err(ApiError::new(
                501,
                12,
                "unimplemented: event delivery metrics are available for cloud-mode destinations only",
            ));
        }
        Ok(destination)
    }

    /// Keeps a copy of an answer, for tests that compare a page with what was sent.
    fn sent(&mut self, body: &Value) {
        if self.metrics_sent.len() == SENT_LEN {
            self.metrics_sent.pop_front();
        }
        self.metrics_sent.push_back(body.clone());
    }

    /// `GET {dest}/metrics`: the series the destination has.
    pub fn list_metrics(&self, name: &str) -> Result<Value, ApiError> {
        self.measured(name)?;
        let metrics: Vec<Value> = METRICS
            .iter()
            .map(|(m, d)| json!({ "name": format!("{name}/metrics/{m}"), "display_name": d }))
            .collect();
        Ok(json!({ "metrics": metrics }))
    }

    /// `GET {dest}/metrics:getSummary`
    pub fn delivery_summary(
        &mut self,
        name: &str,
        query: &MetricsQuery,
    ) -> Result<Value, ApiError> {
        let window = MetricsWindow::of(query, Utc::now())?;
        let body = json!({ "summary": summary_body(self.measured(name)?, &window) });
        self.sent(&body);
        Ok(body)
    }

    /// `GET {dest}/metrics/{metric}` (one series) and `GET {dest}/metrics:batchGet` (the
    /// series `names` lists, full names).
    pub fn delivery_series(
        &mut self,
        name: &str,
        metrics: &[String],
        query: &MetricsQuery,
        batch: bool,
    ) -> Result<Value, ApiError> {
        let window = MetricsWindow::of(query, Utc::now())?;
        let destination = self.measured(name)?;
        if metrics.is_empty() || metrics.len() > MAX_NAMES {
            return Err(ApiError::bad_request(format!(
                "invalid argument: names must list 1 to {MAX_NAMES} metrics"
            )));
        }
        let mut series = Vec::new();
        for metric in metrics {
            let short = metric
                .strip_prefix(&format!("{name}/metrics/"))
                .unwrap_or(metric);
            if !METRICS.iter().any(|(m, _)| *m == short) {
                return Err(ApiError::not_found(format!("metric {metric} not found")));
            }
            series.push(series_body(destination, short, &window));
        }
        let body = if batch {
            json!({ "metrics": series })
        } else {
            series.pop().unwrap_or_default()
        };
        self.sent(&body);
        Ok(body)
    }

    /// `GET {workspace}/event-delivery-metrics:batchGetSummary`: one summary for each named
    /// destination that exists and has metrics. Only the workspace scopes may ask.
    pub fn workspace_delivery_summaries(
        &mut self,
        install: &Install,
        workspace: &str,
        query: &MetricsQuery,
    ) -> Result<Value, ApiError> {
        if let Scope::Destination(_) = install.scope {
            return Err(ApiError::forbidden(format!(
                "the scope {} cannot read the workspace's delivery metrics: batchGetSummary needs \
                 workspace:read or workspace",
                install.scope
            )));
        }
        self.authorize(install, Access::Read, workspace, None, None)?;
        let window = MetricsWindow::of(query, Utc::now())?;
        if query.names.is_empty() || query.names.len() > MAX_NAMES {
            return Err(ApiError::bad_request(format!(
                "invalid argument: names must list 1 to {MAX_NAMES} destinations"
            )));
        }
        let prefix = format!("workspaces/{workspace}/");
        let mut summaries = Vec::new();
        for name in &query.names {
            if !name.starts_with(&prefix) {
                return Err(ApiError::forbidden(format!(
                    "{name} is not on workspaces/{workspace}"
                )));
            }
            if let Ok(destination) = self.measured(name) {
                summaries.push(summary_body(destination, &window));
            }
        }
        let body = json!({ "summaries": summaries });
        self.sent(&body);
        Ok(body)
    }

    /// The destinations that deliver (or refuse) events and have a key the partner's API can
    /// be asked about: the credential test runs again for them before metrics are read, so
    /// that a key replaced on the partner's side shows as 401 discards.
    pub fn keys_to_retest(&self, names: &[String], now: DateTime<Utc>) -> Vec<String> {
        names
            .iter()
            .filter(|name| {
                self.destinations.get(*name).is_some_and(|d| {
                    d.enabled
                        && d.key_tested_at
                            .is_none_or(|at| now - at >= self.key_retest_after)
                })
            })
            .filter(|name| self.credential_test_target(name).is_some())
            .cloned()
            .collect()
    }

    /// Moves the destination's delivery history `by` into the past, as if that much time had
    /// passed since each change (for demos and tests: a week of traffic at once).
    pub fn age_history(&mut self, name: &str, by: Duration) -> Result<(), ApiError> {
        let destination = self
            .destinations
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))?;
        for (since, _) in &mut destination.history {
            *since -= by;
        }
        destination.create_time -= by;
        Ok(())
    }

    /// The destination's totals over the last 24 hours by the hour (from the start of the
    /// hour 23 hours ago to `now`: the window a 24-hour range at `HOUR` asks for), for the
    /// inspector.
    pub fn last_day(&self, destination: &StoredDestination, now: DateTime<Utc>) -> Totals {
        let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        traffic::totals(
            &destination.name(),
            &destination.history,
            hour - Duration::hours(23),
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_world;
    use super::*;

    const NAME: &str = "workspaces/acme/sources/javascript/destinations/clearbrain";

    fn world_with_destination(enabled: bool) -> World {
        let mut world = test_world("workspace");
        let body =
            json!({"destination": {"name": NAME, "enabled": enabled, "connection_mode": "CLOUD"}});
        world
            .create_destination("acme", "javascript", &body)
            .unwrap();
        world.age_history(NAME, Duration::hours(2)).unwrap();
        world
    }

    fn query(pairs: &[(&str, &str)]) -> MetricsQuery {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        MetricsQuery::parse(&query)
    }

    #[test]
    fn windows_keep_to_the_limits() {
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let at = |d: Duration| timestamp(now - d);
        let ok = |pairs: &[(&str, &str)]| MetricsWindow::of(&query(pairs), now);
        assert_eq!(ok(&[]).unwrap().granularity, "HOUR");
        let four_hours = at(Duration::hours(4));
        assert!(ok(&[("start_time", &four_hours), ("granularity", "MINUTE")]).is_ok());
        let five_hours = at(Duration::hours(5));
        let refused = ok(&[("start_time", &five_hours), ("granularity", "MINUTE")]).unwrap_err();
        assert_eq!(refused.status, 400);
        let eight_days = at(Duration::days(8));
        assert!(ok(&[("start_time", &eight_days)]).is_err());
        assert!(ok(&[("start_time", &eight_days), ("granularity", "DAY")]).is_ok());
        assert!(ok(&[("granularity", "WEEK")]).is_err());
        assert!(ok(&[("start_time", "yesterday")]).is_err());
        let later = timestamp(now + Duration::hours(1));
        assert!(ok(&[("start_time", &later)]).is_err());
    }

    #[test]
    fn the_summary_and_the_series_add_up() {
        let mut world = world_with_destination(true);
        let end = Utc::now();
        let (start, end) = (timestamp(end - Duration::hours(3)), timestamp(end));
        let q = query(&[
            ("start_time", &start),
            ("end_time", &end),
            ("granularity", "MINUTE"),
        ]);
        let summary = world.delivery_summary(NAME, &q).unwrap();
        let delivered = summary["summary"]["metrics"][0]["value"].as_u64().unwrap();
        assert!(delivered > 100 * 15, "two hours of traffic: {delivered}");
        let series = world
            .delivery_series(NAME, &["successes".into()], &q, false)
            .unwrap();
        let points = series["points"].as_array().unwrap();
        assert_eq!(points.len(), 180);
        let sum: u64 = points.iter().map(|p| p["value"].as_u64().unwrap()).sum();
        assert_eq!(sum, delivered);
        assert_eq!(world.metrics_sent.len(), 2);
    }

    #[test]
    fn a_disabled_destination_delivers_nothing_and_a_refused_key_discards_everything() {
        let mut world = world_with_destination(false);
        let summary = world
            .delivery_summary(NAME, &MetricsQuery::default())
            .unwrap();
        assert_eq!(summary["summary"]["metrics"][0]["value"], 0);
        let mut world = world_with_destination(true);
        let destination = world.destinations.get_mut(NAME).unwrap();
        destination.key_accepted = Some(false);
        note_delivery(destination, Utc::now());
        world.age_history(NAME, Duration::minutes(30)).unwrap();
        let summary = world
            .delivery_summary(NAME, &MetricsQuery::default())
            .unwrap();
        let discarded = &summary["summary"]["metrics"][2];
        assert_eq!(discarded["breakdown"][0]["reason"], traffic::UNAUTHORIZED);
        assert!(discarded["breakdown"][0]["value"].as_u64().unwrap() >= 29 * 15);
    }

    #[test]
    fn what_may_be_asked() {
        let mut world = world_with_destination(true);
        let missing = "workspaces/acme/sources/ios/destinations/clearbrain";
        assert_eq!(
            world
                .delivery_summary(missing, &MetricsQuery::default())
                .unwrap_err()
                .status,
            404
        );
        let unknown = world.delivery_series(NAME, &["nope".into()], &MetricsQuery::default(), true);
        assert_eq!(unknown.unwrap_err().status, 404);
        world.destinations.get_mut(NAME).unwrap().connection_mode = "DEVICE".into();
        let device = world
            .delivery_summary(NAME, &MetricsQuery::default())
            .unwrap_err();
        assert_eq!((device.status, device.code), (501, 12));
    }

    #[test]
    fn only_the_workspace_scopes_read_the_workspace() {
        let mut world = world_with_destination(true);
        let install = |scope: &str| Install {
            id: 1,
            client_id: String::new(),
            app_name: String::new(),
            scope: Scope::parse(scope).unwrap(),
            workspace: "acme".into(),
            source: Some("javascript".into()),
            create_time: Utc::now(),
            tokens_minted: 1,
            owner: None,
        };
        let q = query(&[
            ("names", NAME),
            ("names", "workspaces/acme/sources/ios/destinations/x"),
        ]);
        let body = world
            .workspace_delivery_summaries(&install("workspace:read"), "acme", &q)
            .unwrap();
        assert_eq!(body["summaries"].as_array().unwrap().len(), 1);
        let refused = world
            .workspace_delivery_summaries(&install("destination/clearbrain"), "acme", &q)
            .unwrap_err();
        assert_eq!(refused.status, 403);
        let other = query(&[("names", "workspaces/other/sources/ios/destinations/x")]);
        let refused = world
            .workspace_delivery_summaries(&install("workspace"), "acme", &other)
            .unwrap_err();
        assert_eq!(refused.status, 403);
    }
}
