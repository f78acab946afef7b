//! Operators' metrics, served at `GET /metrics` in the Prometheus/OpenMetrics text format
//! (prometheus-client, the Prometheus project's own crate):
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `partnerapp_http_requests_total` | `route`, `method`, `status` | requests answered |
//! | `partnerapp_http_request_duration_seconds` | `route` | time to answer them |
//! | `partnerapp_segment_calls_total` | `endpoint`, `outcome` | calls to Segment |
//! | `partnerapp_segment_call_duration_seconds` | `endpoint` | time Segment took |
//! | `partnerapp_token_refreshes_total` | `outcome` | install token refreshes |
//! | `partnerapp_install_flows_started_total` | | visitors sent to Segment's consent screen |
//! | `partnerapp_install_flows_completed_total` | `outcome` | callbacks, by how they ended |
//!
//! `route` is the matched route pattern (`/destination`, never a raw path, so a scan of random
//! URLs makes one `unmatched` series, not thousands). Each app has a registry of its own: no
//! process-wide state, so every instance (and every app in a test) counts only itself.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type Timings<L> = Family<L, Histogram, fn() -> Histogram>;

/// From 0.5 ms to about 4 s, doubling.
fn timings() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Timings<RouteLabels>,
    segment_calls: Family<CallLabels, Counter>,
    segment_seconds: Timings<EndpointLabels>,
    refreshes: Family<OutcomeLabels, Counter>,
    flows_started: Counter,
    flows_completed: Family<OutcomeLabels, Counter>,
}

/// The app's metrics. Cheap to clone: one registry shared by all.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds: Timings<RouteLabels> = Family::new_with_constructor(timings);
        let segment_calls = Family::<CallLabels, Counter>::default();
        let segment_seconds: Timings<EndpointLabels> = Family::new_with_constructor(timings);
        let refreshes = Family::<OutcomeLabels, Counter>::default();
        let flows_started = Counter::default();
        let flows_completed = Family::<OutcomeLabels, Counter>::default();

        let mut registry = Registry::with_prefix("partnerapp");
        registry.register(
            "http_requests",
            "Requests answered, by route pattern, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route pattern",
            request_seconds.clone(),
        );
        registry.register(
            "segment_calls",
            "Calls to Segment, by endpoint and outcome",
            segment_calls.clone(),
        );
        registry.register(
            "segment_call_duration_seconds",
            "Time Segment took to answer, by endpoint",
            segment_seconds.clone(),
        );
        registry.register(
            "token_refreshes",
            "Install token refreshes: refreshed, refused by Segment, failed, or another request's token used",
            refreshes.clone(),
        );
        registry.register(
            "install_flows_started",
            "Visitors sent to Segment's consent screen",
            flows_started.clone(),
        );
        registry.register(
            "install_flows_completed",
            "Install flows that came back: installed, denied, or failed",
            flows_completed.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            requests,
            request_seconds,
            segment_calls,
            segment_seconds,
            refreshes,
            flows_started,
            flows_completed,
        }))
    }

    /// A request answered: its route pattern (`None`: no route matched), method and status.
    /// Every label comes from a closed set, whatever the request: `route` is one of the app's
    /// route patterns or `"unmatched"`, `method` a standard method or `"other"`, `status` a
    /// number (what the server answers).
    pub fn request(
        &self,
        route: Option<&'static str>,
        method: &actix_web::http::Method,
        status: u16,
        seconds: f64,
    ) {
        let route = route.unwrap_or("unmatched");
        self.0
            .request_seconds
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
        self.0
            .requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
    }
}

impl segment_client::CallObserver for Metrics {
    fn segment_call(&self, endpoint: &'static str, outcome: &'static str, seconds: f64) {
        self.0
            .segment_seconds
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
        self.0
            .segment_calls
            .get_or_create(&CallLabels { endpoint, outcome })
            .inc();
    }
}

impl Metrics {
    /// A token refresh ended (`refreshed`, `refused`, `failed`, `used_another`).
    pub fn refresh(&self, outcome: &'static str) {
        self.0
            .refreshes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn flow_started(&self) {
        self.0.flows_started.inc();
    }

    /// A callback ended (`installed`, `denied`, `failed`).
    pub fn flow_completed(&self, outcome: &'static str) {
        self.0
            .flows_completed
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Everything, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.0.registry);
        text
    }
}

/// A request method as a label: a standard one, or `"other"` (a method is any token a client
/// makes up).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;
    use segment_client::CallObserver;

    #[test]
    fn counts_are_rendered_with_their_labels() {
        let metrics = Metrics::new();
        let get = actix_web::http::Method::GET;
        metrics.request(Some("/destination"), &get, 200, 0.001);
        metrics.request(None, &get, 404, 0.001);
        let made_up = actix_web::http::Method::from_bytes(b"FROBNICATE").unwrap();
        metrics.request(None, &made_up, 404, 0.001);
        metrics.segment_call("get_destination", "ok", 0.002);
        metrics.refresh("refreshed");
        metrics.flow_started();
        metrics.flow_completed("installed");
        let text = metrics.render();
        for line in [
            r#"partnerapp_http_requests_total{route="/destination",method="GET",status="200"} 1"#,
            r#"partnerapp_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            r#"partnerapp_http_requests_total{route="unmatched",method="other",status="404"} 1"#,
            r#"partnerapp_segment_calls_total{endpoint="get_destination",outcome="ok"} 1"#,
            r#"partnerapp_token_refreshes_total{outcome="refreshed"} 1"#,
            "partnerapp_install_flows_started_total 1",
            r#"partnerapp_install_flows_completed_total{outcome="installed"} 1"#,
            r#"partnerapp_http_request_duration_seconds_count{route="/destination"} 1"#,
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
    }
}
