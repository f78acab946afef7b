//! Sending a call to Segment: one shared HTTP client with bounded waits, a cap on calls in
//! flight, and the retry rules (a GET after a transient failure; any call after a 429, as long
//! as its `Retry-After` ends before the call's own deadline).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::sync::SemaphorePermit;

use crate::{SegmentClient, SegmentError};

/// Bounds on every upstream call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long to wait for a connection.
    pub connect: Duration,
    /// How long a call may take in all, waiting for a free slot included.
    pub total: Duration,
    /// How many calls may be in flight at once. More wait for a slot: this bounds the
    /// connections (and their memory) a burst of visitors opens to Segment, and spares Segment
    /// the burst.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
            max_in_flight: 32,
        }
    }
}

/// The HTTP client for upstream calls, one for the whole app (a `reqwest::Client` is a handle to
/// one connection pool, shared by every worker): no redirects (a token endpoint that redirects
/// is an SSRF risk, and Segment's API never needs them), and bounded waits.
pub fn http_client(limits: &Limits) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect)
        .timeout(limits.total)
        .pool_max_idle_per_host(limits.max_in_flight)
        .user_agent(concat!(
            "segment-partnerapp-rust/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
}

/// How many times a GET is tried again after a connection error, a timeout or a 5xx.
const MAX_RETRIES: u32 = 2;
/// The wait before each retry.
const BACKOFF: [Duration; MAX_RETRIES as usize] =
    [Duration::from_millis(100), Duration::from_millis(300)];

impl SegmentClient {
    /// Sends the request `build` makes. A GET is idempotent, so it is tried again (at most
    /// [`MAX_RETRIES`] times, after a short wait) when Segment could not be reached, was too
    /// slow or failed with a 5xx. Anything else is sent once: retrying a write blindly could
    /// apply it twice. A 429 was not applied, so any call is tried again after the wait its
    /// `Retry-After` asks for, when that wait ends before the call's own deadline.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, SegmentError> {
        let retries = if method == Method::GET {
            MAX_RETRIES
        } else {
            0
        };
        let deadline = Instant::now() + self.wait;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.send_once(build()).await;
            self.count(endpoint, started, result.as_ref().err().map(|f| &f.error));
            let failed = match result {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            let wait = match failed.retry_after {
                Some(wait) if Instant::now() + wait < deadline => wait,
                Some(_) => return Err(failed.error),
                None if attempt < retries && failed.error.is_transient() => {
                    BACKOFF[attempt as usize]
                }
                None => return Err(failed.error),
            };
            if attempt == MAX_RETRIES {
                return Err(failed.error);
            }
            tracing::warn!(%method, error = %failed.error, retry = attempt + 1, wait_ms = wait.as_millis() as u64, "Segment call failed; trying again");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// A slot for one call, waited for at most the total timeout.
    pub(crate) async fn permit(&self) -> Result<SemaphorePermit<'_>, SegmentError> {
        match tokio::time::timeout(self.wait, self.in_flight.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(SegmentError::Unreachable {
                timed_out: true,
                detail: "too many calls to Segment were already in flight".to_owned(),
            }),
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failed> {
        let _permit = self.permit().await?;
        let response = request
            .send()
            .await
            .map_err(|e| SegmentError::from_transport(&e))?;
        let status = response.status();
        let retry_after = (status == reqwest::StatusCode::TOO_MANY_REQUESTS)
            .then(|| retry_after(response.headers()))
            .flatten();
        let body = response
            .bytes()
            .await
            .map_err(|e| SegmentError::from_transport(&e))?;
        if !status.is_success() {
            return Err(Failed {
                error: SegmentError::from_api_response(status.as_u16(), &body),
                retry_after,
            });
        }
        // An empty success body (e.g. a DELETE) reads as JSON `null`.
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &body
        };
        serde_json::from_slice(body).map_err(|e| {
            SegmentError::BadResponse(format!("the answer is not what was expected: {e}")).into()
        })
    }
}

/// One failed attempt, and the wait Segment asked for before the next (a 429's `Retry-After`).
struct Failed {
    error: SegmentError,
    retry_after: Option<Duration>,
}

impl From<SegmentError> for Failed {
    fn from(error: SegmentError) -> Failed {
        Failed {
            error,
            retry_after: None,
        }
    }
}

/// A `Retry-After` in seconds (the form Segment sends; an HTTP date is not waited for).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_is_read_in_seconds() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            retry_after(&headers)
        };
        assert_eq!(with("1"), Some(Duration::from_secs(1)));
        assert_eq!(with(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(with("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
