//! The Monitor page's chart, drawn on the server: delivered and discarded events per bucket as
//! stacked bars in inline SVG (no script, nothing the Content-Security-Policy refuses: colours
//! come from classes in the stylesheet), with axis labels, a `<title>` per bar, and a text
//! summary for screen readers. `templates/chart.html` draws what [`Chart`] computes.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::segment::delivery::Granularity;

/// The drawing area, in SVG units (the SVG scales to the page's width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One bucket's events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub delivered: f64,
    pub discarded: f64,
}

/// One bucket's bar: the delivered part below, the discarded part on top.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: String,
    pub width: String,
    pub delivered_y: String,
    pub delivered_height: String,
    pub discarded_y: String,
    pub discarded_height: String,
    /// What a pointer (or a screen reader reading the bar) gets: "10:00: 51 delivered, 0
    /// discarded".
    pub label: String,
}

/// A label on an axis, at `at` along it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub at: String,
    pub label: String,
}

/// What `chart.html` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: String,
    pub height: String,
    pub bars: Vec<Bar>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    /// The plot's edges: the axes are drawn along them.
    pub left: String,
    pub right: String,
    pub bottom: String,
    pub label_x: String,
    pub label_y: String,
    /// The chart in words, for screen readers (and anyone).
    pub summary: String,
}

/// A coordinate, short (SVG needs no more than a tenth of a unit here). Integer formatting:
/// a 7-day chart writes a thousand of these.
fn n(value: f64) -> String {
    let tenths = (value * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let (whole, tenth) = (tenths.abs() / 10, tenths.abs() % 10);
    if tenth == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{tenth}")
    }
}

/// `Nov 24 09:00`, without chrono's format machinery (one per bar).
fn when(time: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[(time.month0() as usize).min(11)];
    format!(
        "{month} {} {:02}:{:02}",
        time.day(),
        time.hour(),
        time.minute()
    )
}

/// A count as people read it: `1,180`.
pub fn count(value: f64) -> String {
    let whole = value.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if whole < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// A share as people read it, never rounded up (99.96% is `99.9%`, not `100.0%`).
pub fn percent(share: f64) -> String {
    format!("{:.1}%", (share * 1000.0).floor() / 10.0)
}

/// A scale top that is a round number at least `max`: 1, 2, 5, 10, 20, 50, …
fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let mut step = 1.0;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            if step * factor >= max {
                return step * factor;
            }
        }
        step *= 10.0;
    }
}

fn time_label(time: DateTime<Utc>, granularity: Granularity) -> String {
    match granularity {
        Granularity::Minute | Granularity::Hour if time.format("%H:%M").to_string() == "00:00" => {
            time.format("%b %-d").to_string()
        }
        Granularity::Minute | Granularity::Hour => time.format("%H:%M").to_string(),
        Granularity::Day => time.format("%b %-d").to_string(),
    }
}

impl Chart {
    /// The chart of `buckets` (oldest first), one bar each.
    pub fn new(buckets: &[Bucket], granularity: Granularity) -> Chart {
        let top = nice_top(
            buckets
                .iter()
                .map(|b| b.delivered + b.discarded)
                .fold(0.0, f64::max),
        );
        let plot_width = WIDTH - LEFT - RIGHT;
        let plot_height = HEIGHT - TOP - BOTTOM;
        let slot = plot_width / buckets.len().max(1) as f64;
        let gap = if slot > 4.0 { slot * 0.15 } else { 0.0 };
        let y = |value: f64| HEIGHT - BOTTOM - value / top * plot_height;
        let bars = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let x = LEFT + i as f64 * slot + gap / 2.0;
                let delivered_top = y(b.delivered);
                let discarded_top = y(b.delivered + b.discarded);
                Bar {
                    x: n(x),
                    width: n((slot - gap).max(0.5)),
                    delivered_y: n(delivered_top),
                    delivered_height: n(HEIGHT - BOTTOM - delivered_top),
                    discarded_y: n(discarded_top),
                    discarded_height: n(delivered_top - discarded_top),
                    label: format!(
                        "{} UTC: {} delivered, {} discarded",
                        when(b.start),
                        count(b.delivered),
                        count(b.discarded)
                    ),
                }
            })
            .collect();
        let y_ticks = [0.0, top / 2.0, top]
            .into_iter()
            .map(|value| Tick {
                at: n(y(value)),
                label: count(value),
            })
            .collect();
        // Five labels along the time axis, the first and the last bucket among them.
        let x_ticks = if buckets.is_empty() {
            Vec::new()
        } else {
            let last = buckets.len() - 1;
            let mut picked: Vec<usize> = (0..5).map(|k| k * last / 4).collect();
            picked.dedup();
            picked
                .into_iter()
                .map(|i| Tick {
                    at: n(LEFT + (i as f64 + 0.5) * slot),
                    label: time_label(buckets[i].start, granularity),
                })
                .collect()
        };
        Chart {
            width: n(WIDTH),
            height: n(HEIGHT),
            bars,
            y_ticks,
            x_ticks,
            left: n(LEFT),
            right: n(WIDTH - RIGHT),
            bottom: n(HEIGHT - BOTTOM),
            label_x: n(LEFT - 6.0),
            label_y: n(HEIGHT - BOTTOM + 18.0),
            summary: summary(buckets),
        }
    }
}

/// The chart in one or two sentences.
fn summary(buckets: &[Bucket]) -> String {
    let delivered: f64 = buckets.iter().map(|b| b.delivered).sum();
    let discarded: f64 = buckets.iter().map(|b| b.discarded).sum();
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return "No buckets to show.".to_owned();
    };
    let span = format!(
        "{} bars from {} to {} UTC",
        buckets.len(),
        first.start.format("%b %-d %H:%M"),
        last.start.format("%b %-d %H:%M")
    );
    if delivered + discarded == 0.0 {
        return format!("{span}: no events in any of them.");
    }
    let busiest = buckets
        .iter()
        .max_by(|a, b| (a.delivered + a.discarded).total_cmp(&(b.delivered + b.discarded)))
        .expect("not empty");
    let with_discards = buckets.iter().filter(|b| b.discarded > 0.0).count();
    format!(
        "{span}: {} delivered and {} discarded in all. The busiest bar, {} UTC, holds {} \
         events; {} of the bars hold discarded events.",
        count(delivered),
        count(discarded),
        busiest.start.format("%b %-d %H:%M"),
        count(busiest.delivered + busiest.discarded),
        with_discards
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(values: &[(f64, f64)]) -> Vec<Bucket> {
        let start: DateTime<Utc> = "2026-11-24T08:00:00Z".parse().unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, (delivered, discarded))| Bucket {
                start: start + chrono::Duration::hours(i as i64),
                delivered: *delivered,
                discarded: *discarded,
            })
            .collect()
    }

    #[test]
    fn one_bar_per_bucket_scaled_to_a_round_top() {
        let chart = Chart::new(
            &buckets(&[(40.0, 0.0), (80.0, 10.0), (0.0, 0.0)]),
            Granularity::Hour,
        );
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.y_ticks.last().unwrap().label, "100");
        // The tallest bar: 90 of 100, delivered below discarded.
        let bar = &chart.bars[1];
        let height = |s: &str| s.parse::<f64>().unwrap();
        assert_eq!(height(&bar.delivered_height), 160.0);
        assert_eq!(height(&bar.discarded_height), 20.0);
        assert_eq!(bar.label, "Nov 24 09:00 UTC: 80 delivered, 10 discarded");
        assert_eq!(height(&chart.bars[2].delivered_height), 0.0);
        assert!(chart.summary.contains("120 delivered and 10 discarded"));
        assert!(chart.summary.contains("1 of the bars"));
        assert_eq!(chart.x_ticks.first().unwrap().label, "08:00");
    }

    #[test]
    fn an_empty_chart_says_so() {
        let chart = Chart::new(&buckets(&[(0.0, 0.0), (0.0, 0.0)]), Granularity::Minute);
        assert!(chart.summary.ends_with("no events in any of them."));
        assert_eq!(
            Chart::new(&[], Granularity::Hour).summary,
            "No buckets to show."
        );
    }

    #[test]
    fn counts_read_like_numbers() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1180.0), "1,180");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(11.0), 20.0);
        assert_eq!(nice_top(0.0), 1.0);
    }
}
