//! Monitor: whether the customer's data reaches the partner. `GET /destination/monitor` shows
//! the destination's delivery totals, a chart of delivered vs discarded per bucket, and the
//! discards by reason with what to do about each, over `?range=1h|24h|7d`.
//!
//! It makes at most three calls to Segment, at once: the destination, its summary and its two
//! series. When the metrics cannot be had (no destination yet, none kept for it, not in the
//! scope, Segment failing or answering something unreadable), the page still shows the
//! destination, with a panel that says why. Segment's shapes are assumed: `segment/delivery.rs`.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::api_key::credential_status;
use super::chart::{Bucket, Chart, count, percent};
use super::enable::Enable;
use super::error::WebError;
use super::extract::{DestinationTarget, MonitorTarget, Target};
use super::health::{HealthCache, line};
use super::pages::{
    Layout, MonitorPage, PanelView, RangeLink, ReasonView, TotalView, label, render, see_other,
};
use super::session::{FlashKind, TypedSession};
use super::state::{DemoClock, Partner, Site};
use crate::segment::delivery::{
    DELIVERED, DISCARDED, DeliverySummary, MetricsRange, RETRIED, Series, TIME_TO_SUCCESS_P50,
    TIME_TO_SUCCESS_P95, UNAUTHORIZED_REASON, Window,
};
use crate::segment::{ErrorKind, SegmentError};

/// The query of `GET /destination/monitor` (its `destination`, if any, is [`MonitorTarget`]'s).
#[derive(Debug, Deserialize)]
pub struct MonitorParams {
    /// `1h`, `24h` (the default) or `7d`.
    pub(super) range: Option<String>,
}

/// The range a query asks for.
pub fn range_of(value: Option<&str>) -> Result<MetricsRange, WebError> {
    match value {
        None | Some("") => Ok(MetricsRange::default()),
        Some(value) => MetricsRange::parse(value).ok_or_else(|| {
            WebError::BadRequest(format!("range {value:?} is not one of 1h, 24h and 7d"))
        }),
    }
}

/// `GET /destination/monitor`
// A handler's arguments are what it uses: each dependency is one of them (`web::state`).
#[allow(clippy::too_many_arguments)]
pub async fn show(
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    health: web::Data<HealthCache>,
    clock: Option<web::Data<DemoClock>>,
    session: TypedSession,
    MonitorTarget { target, named }: MonitorTarget,
    query: web::Query<MonitorParams>,
) -> Result<HttpResponse, WebError> {
    let range = range_of(query.range.as_deref())?;
    let window = &range.window(Utc::now());
    let name = &target.destination;
    let (destination, summary, series) = target
        .api(&enable)
        .call(|segment, token| async move {
            let (destination, summary, series) = tokio::join!(
                segment.get_destination(&token, name),
                segment.delivery_summary(&token, name, window),
                segment.delivery_series(&token, name, &[DELIVERED, DISCARDED], window),
            );
            Ok((destination?, summary, series))
        })
        .await
        .map_err(WebError::call("reading the destination's delivery metrics"))?;
    if range == super::health::HEALTH_RANGE
        && let Ok(summary) = &summary
    {
        health.put(name, line(summary));
    }
    // Enable and the key check are about the partner's destination on the source in use.
    let ours = !named;
    let can_write = target.install.scope.can_write() && ours;
    // The destination's own name once it is read (below); until then the partner's.
    let display_name = if named {
        target.destination.slug().to_owned()
    } else {
        partner.display_name()
    };
    let layout = Layout::with_forms(site.sandbox, &session);
    let mut page = blank_page(layout, display_name, &target, named, range, window);
    page.can_write = can_write;
    let Some(destination) = destination else {
        page.panel = Some(PanelView {
            title: "No destination yet",
            text: format!(
                "There is no destination on {} yet, so there is nothing to monitor. Enable, on \
                 the destination page, creates it; its events show here a minute later.",
                target.source
            ),
        });
        return render(&page);
    };
    page.display_name = label(&destination);
    page.demo_clock = clock.is_some() && ours;
    (page.status, page.status_class) = if destination.enabled {
        ("Enabled", "enabled")
    } else {
        ("Disabled", "disabled")
    };
    if ours {
        page.credential = credential_status(&partner, &target.account, &destination);
    }
    match summary {
        Ok(summary) => fill_summary(&mut page, &summary),
        Err(error) => page.panel = Some(panel(&error)),
    }
    match series {
        Ok(series) if page.panel.is_none() => page.chart = Some(chart(&series, window)),
        Ok(_) => {}
        Err(error) => page.chart_problem = Some(panel(&error).text),
    }
    render(&page)
}

/// The Monitor page before anything is read: its ranges (with the named destination kept in
/// their links), the window, and "Not created".
fn blank_page(
    layout: Layout,
    display_name: String,
    target: &Target,
    named: bool,
    range: MetricsRange,
    window: &Window,
) -> MonitorPage {
    let also = if named {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("destination", target.destination.as_str())
            .finish();
        format!("{query}&")
    } else {
        String::new()
    };
    MonitorPage {
        layout,
        display_name,
        status: "Not created",
        status_class: "absent",
        source: target.source.to_string(),
        named,
        ranges: range_links(&format!("/destination/monitor?{also}range="), range),
        window: describe(range, window),
        panel: None,
        totals: Vec::new(),
        success_rate: None,
        timings: Vec::new(),
        chart: None,
        chart_problem: None,
        reasons: Vec::new(),
        credential: None,
        can_write: false,
        range: range.as_str(),
        demo_clock: false,
    }
}

/// A link to each range: `to` and the range's name (`/workspace/monitor?range=`), the one
/// shown marked.
pub fn range_links(to: &str, shown: MetricsRange) -> Vec<RangeLink> {
    MetricsRange::ALL
        .into_iter()
        .map(|r| RangeLink {
            href: format!("{to}{}", r.as_str()),
            label: r.label(),
            current: r == shown,
        })
        .collect()
}

/// The form of `POST /destination/monitor/later`.
#[derive(Debug, Deserialize)]
pub struct LaterForm {
    /// 1, 24 or 168.
    hours: u32,
    /// The range the page showed, to come back to.
    #[serde(default)]
    range: String,
}

/// `POST /destination/monitor/later` (sandbox mode only): lets an hour, a day or a week pass
/// for the visitor's own destination in the sandbox, so that Monitor shows that much more
/// history; without the sandbox, a 404.
pub async fn later(
    clock: Option<web::Data<DemoClock>>,
    health: web::Data<HealthCache>,
    partner: web::Data<Partner>,
    session: TypedSession,
    DestinationTarget(target): DestinationTarget,
    form: web::Form<LaterForm>,
) -> Result<HttpResponse, WebError> {
    let Some(clock) = clock else {
        return Err(WebError::NotFound);
    };
    let (by, said) = match form.hours {
        1 => (chrono::Duration::hours(1), "An hour"),
        24 => (chrono::Duration::days(1), "A day"),
        168 => (chrono::Duration::weeks(1), "A week"),
        other => {
            return Err(WebError::BadRequest(format!(
                "hours {other} is not one of 1, 24 and 168"
            )));
        }
    };
    let range = range_of(Some(&form.range))?;
    let name = &target.destination;
    if clock.pass(name.as_str(), by) {
        health.forget(name);
        session.flash(
            FlashKind::Info,
            format!(
                "{said} passed for your {} destination in the sandbox: its deliveries of that \
                 time are below.",
                partner.display_name()
            ),
        )?;
    } else {
        session.flash(
            FlashKind::Error,
            "There is no destination to let time pass for yet: Enable creates it.",
        )?;
    }
    Ok(see_other(&format!(
        "/destination/monitor?range={}",
        range.as_str()
    )))
}

/// The range in words, with its bounds.
fn describe(range: MetricsRange, window: &Window) -> String {
    format!(
        "{} ({} to {} UTC)",
        range.label(),
        window.start.format("%b %-d %H:%M"),
        window.end.format("%b %-d %H:%M")
    )
}

/// The totals, the rate, the timings and the discard reasons of `summary`.
fn fill_summary(page: &mut MonitorPage, summary: &DeliverySummary) {
    let shown = |name: &str, fallback: &str| -> TotalView {
        let metric = summary.metric(name);
        TotalView {
            label: metric.map_or_else(|| fallback.to_owned(), |m| m.label_or(fallback)),
            value: count(metric.map_or(0.0, |m| m.value)),
        }
    };
    page.totals = vec![
        shown(DELIVERED, "Delivered"),
        shown(RETRIED, "Retried"),
        shown(DISCARDED, "Discarded"),
    ];
    // Metrics this app does not know: shown by their display name, never a failure.
    let known = [
        DELIVERED,
        RETRIED,
        DISCARDED,
        TIME_TO_SUCCESS_P50,
        TIME_TO_SUCCESS_P95,
    ];
    for other in summary
        .metrics
        .iter()
        .filter(|m| !known.contains(&m.name.as_str()))
    {
        let label = other.label_or(&other.name);
        let unit = other.unit.as_deref().filter(|u| *u != "count");
        page.totals.push(TotalView {
            label,
            value: match unit {
                Some(unit) => format!("{} {unit}", count(other.value)),
                None => count(other.value),
            },
        });
    }
    page.success_rate = summary.success_rate().map(percent);
    page.timings = [
        (TIME_TO_SUCCESS_P50, "Time to success (p50)"),
        (TIME_TO_SUCCESS_P95, "Time to success (p95)"),
    ]
    .into_iter()
    .filter_map(|(name, fallback)| {
        let metric = summary.metric(name)?;
        Some(TotalView {
            label: metric.label_or(fallback),
            value: format!(
                "{} {}",
                count(metric.value),
                metric.unit.as_deref().unwrap_or("ms")
            ),
        })
    })
    .collect();
    page.reasons = summary
        .discard_reasons()
        .into_iter()
        .map(|reason| {
            let unauthorized = reason.reason == UNAUTHORIZED_REASON;
            ReasonView {
                advice: advice(&reason.reason),
                count: count(reason.value),
                reason: reason.reason,
                offers_enable: unauthorized && page.can_write,
            }
        })
        .collect();
}

/// What the customer can do about events discarded for `reason` (Segment's words, as in
/// `401 Unauthorized`).
pub fn advice(reason: &str) -> String {
    let status = reason.split_whitespace().next().unwrap_or_default();
    match status {
        "401" => "Our API did not accept the API key in this destination's settings in Segment: \
                  it is not a key our API knows (it was replaced, or mistyped). Enable pushes \
                  your current key into the destination."
            .to_owned(),
        "403" => "Our API refused these events for your account. Check that your account may \
                  receive data, or contact our support."
            .to_owned(),
        "400" | "422" => "Our API refused these events as malformed. Check the events' \
                          properties against what this destination expects; if they look \
                          right, contact our support with the time of the discards."
            .to_owned(),
        "404" => "Segment could not find our API where it sends the events. This is on our \
                  side: contact our support."
            .to_owned(),
        "429" => "Our API was limiting how fast it accepts events; Segment retried these and \
                  gave up. Fewer events at once, or a higher limit on your plan, helps."
            .to_owned(),
        s if s.starts_with('5') => "Our API failed to take these events; Segment retried and \
                                    gave up. This is on our side: check our status page."
            .to_owned(),
        _ => format!(
            "Segment gave up on these events ({reason}). Contact our support with the time."
        ),
    }
}

/// Why the metrics are not there, in the customer's words.
pub(super) fn panel(error: &SegmentError) -> PanelView {
    let (title, text) = match error.kind() {
        ErrorKind::NotFound => (
            "No metrics yet",
            "Segment has no delivery metrics for this destination yet.".to_owned(),
        ),
        ErrorKind::Unimplemented => (
            "No delivery metrics for this destination",
            "Segment keeps delivery metrics for cloud-mode destinations only: a device-mode \
             destination sends from the browser or the app directly, without Segment seeing \
             the deliveries."
                .to_owned(),
        ),
        ErrorKind::NotAllowed => (
            "Not allowed by the install's scope",
            format!(
                "Segment did not let this install read the destination's delivery metrics: \
                 {}.",
                error.message()
            ),
        ),
        ErrorKind::RateLimited => (
            "Segment asked us to slow down",
            "Too many requests for metrics at once. Reload in a minute.".to_owned(),
        ),
        ErrorKind::Unreachable { .. } => (
            "Segment did not answer",
            "Segment's metrics did not come in time. The destination itself is fine to use; \
             reload to try again."
                .to_owned(),
        ),
        ErrorKind::Unavailable => (
            "Segment had a problem",
            "Segment failed to answer for the metrics (a server error on its side). Reload in \
             a moment."
                .to_owned(),
        ),
        ErrorKind::Unreadable => (
            "Segment's answer could not be read",
            "Segment answered with something this app does not understand. The shapes of the \
             delivery metrics are assumed (segment/delivery.rs); if Segment changed them, that \
             file is the one to change."
                .to_owned(),
        ),
        ErrorKind::TokenRejected => (
            "Segment refused the install token",
            "Reload the page: a fresh token is minted on the next call.".to_owned(),
        ),
        ErrorKind::InstallExists
        | ErrorKind::DestinationExists
        | ErrorKind::InvalidScope
        | ErrorKind::RedirectMismatch
        | ErrorKind::BadCredentials
        | ErrorKind::CodeRejected
        | ErrorKind::AccessDenied
        | ErrorKind::Refused
        | ErrorKind::OAuthRefused => (
            "Segment refused",
            format!("Segment refused to give the metrics: {}.", error.message()),
        ),
    };
    PanelView { title, text }
}

/// The chart of delivered vs discarded, one bar per bucket of `window` (a bucket Segment left
/// out counts as empty).
fn chart(series: &[Series], window: &Window) -> Chart {
    let starts = window.buckets();
    let bucket = window.granularity.bucket().num_seconds().max(1);
    // Each point to its bucket, by its offset from the start.
    let values = |metric: &str| {
        let mut values = vec![0.0; starts.len()];
        for point in series
            .iter()
            .filter(|s| s.metric() == metric)
            .flat_map(|s| &s.points)
        {
            let offset = (point.time - window.start).num_seconds();
            if offset >= 0
                && offset % bucket == 0
                && let Some(value) = values.get_mut((offset / bucket) as usize)
            {
                *value = point.value;
            }
        }
        values
    };
    let (delivered, discarded) = (values(DELIVERED), values(DISCARDED));
    let buckets: Vec<Bucket> = starts
        .into_iter()
        .enumerate()
        .map(|(i, start)| Bucket {
            start,
            delivered: delivered[i],
            discarded: discarded[i],
        })
        .collect();
    Chart::new(&buckets, window.granularity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_strictly() {
        assert_eq!(range_of(None).unwrap(), MetricsRange::LastDay);
        assert_eq!(range_of(Some("1h")).unwrap(), MetricsRange::LastHour);
        assert_eq!(range_of(Some("7d")).unwrap(), MetricsRange::LastWeek);
        assert!(range_of(Some("30d")).is_err());
        assert!(range_of(Some("<script>")).is_err());
    }

    #[test]
    fn every_reason_gets_advice() {
        assert!(advice("401 Unauthorized").contains("Enable pushes your current key"));
        assert!(advice("400 Bad Request").contains("malformed"));
        assert!(advice("503 Service Unavailable").contains("on our side"));
        assert!(advice("timeout").contains("(timeout)"));
    }
}
