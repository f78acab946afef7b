//! The scenarios with the probe page: an expired token, a revoked one, a 429 and an outage.

use std::time::Duration;

use super::Kit;
use super::browser::{Browser, Page, path};
use super::scenarios::{Installed, RECONNECT, Step, Verdict};
use crate::faults::{Endpoint, Fault, FaultKind, RETRY_AFTER_SECS};
use crate::journal::Call;

impl Kit {
    /// An install, and the probe's first call to Segment with it (the endpoint the faults
    /// aim at); SKIPPED without `--probe`.
    pub(super) async fn probed(&self) -> Step<(Installed, Call)> {
        let Some(probe) = &self.target.probe else {
            return Err(Verdict::skipped(
                "needs --probe URL: a page that calls Segment with the signed-in user's install",
            ));
        };
        let installed = self.installed().await?;
        let (page, calls) = self.probe_with_calls(&installed.browser).await?;
        if !page.status.is_success() {
            return Err(Verdict::failed(format!(
                "the probe page ({}) answered {} before anything went wrong",
                path(probe),
                page.status.as_u16()
            )));
        }
        let Some(first) = calls.into_iter().next() else {
            return Err(Verdict::failed(format!(
                "the probe page ({}) made no call to Segment",
                path(probe)
            )));
        };
        Ok((installed, first))
    }

    /// Opens the probe page.
    pub(super) async fn probe(&self, browser: &Browser) -> Step<Page> {
        let probe = self
            .target
            .probe
            .as_ref()
            .ok_or_else(|| Verdict::skipped("no probe"))?;
        browser
            .page(probe)
            .await
            .map_err(|e| Verdict::failed(format!("the probe page: {e}")))
    }

    /// Opens the probe page: the page, and the calls to Segment it made.
    async fn probe_with_calls(&self, browser: &Browser) -> Step<(Page, Vec<Call>)> {
        let mark = self.sandbox.journal_mark();
        let page = self.probe(browser).await?;
        Ok((page, self.sandbox.calls_since(mark)))
    }

    pub(super) async fn token_expired(&self) -> Step<Verdict> {
        let (installed, _) = self.probed().await?;
        self.sandbox.world().expire_tokens(installed.install);
        let (page, calls) = self.probe_with_calls(&installed.browser).await?;
        let status = page.status.as_u16();
        let refreshes: Vec<&Call> = calls
            .iter()
            .filter(|c| c.endpoint == Endpoint::Refresh)
            .collect();
        let Some(refresh) = refreshes.first() else {
            return Ok(Verdict::failed(format!(
                "no refresh: {} calls with the expired token, and the page answered {status}",
                calls.len()
            )));
        };
        if refreshes.len() > 1 {
            return Ok(Verdict::failed(format!(
                "{} refreshes for one expiry",
                refreshes.len()
            )));
        }
        // Called again with the new token, and taken (a 404 is an answer: "not created yet").
        let retried = calls.iter().find(|c| {
            c.seq > refresh.seq
                && c.endpoint != Endpoint::Refresh
                && c.status < 500
                && ![401, 403].contains(&c.status)
        });
        match retried {
            Some(call) if page.status.is_success() && refresh.status == 200 => {
                let rejected = calls
                    .iter()
                    .filter(|c| c.seq < refresh.seq && c.status == 401)
                    .count();
                let before = if rejected > 0 {
                    format!("{rejected} call refused with 401, then ")
                } else {
                    String::new()
                };
                Ok(Verdict::passed(format!(
                    "{before}one refresh; {} {} again: {}; the page answered {status}",
                    call.method, call.path, call.status
                )))
            }
            _ => Ok(Verdict::failed(format!(
                "one refresh ({}), but no call with the new token was taken after it; the page answered {status}",
                refresh.status
            ))),
        }
    }

    pub(super) async fn token_revoked(&self) -> Step<Verdict> {
        let (installed, _) = self.probed().await?;
        // A workspace owner removed the App in Segment.
        self.sandbox.world().uninstall(installed.install);
        let (page, calls) = self.probe_with_calls(&installed.browser).await?;
        let status = page.status.as_u16();
        if calls.len() > 2 {
            return Ok(Verdict::failed(format!(
                "{} calls to Segment after the App was removed: the refused call and at most one \
                 more (a refresh) are enough",
                calls.len()
            )));
        }
        if status >= 500 {
            return Ok(Verdict::failed(format!(
                "the page answered {status}: a removed App is the customer's to reconnect, not \
                 an outage"
            )));
        }
        let start = &self.target.start;
        let links_to_start = page
            .targets()
            .iter()
            .any(|t| t.origin() == start.origin() && t.path() == start.path());
        if !(links_to_start || page.says(&RECONNECT)) {
            return Ok(Verdict::warning(format!(
                "{} calls; the page ({status}) does not ask the user to connect again",
                calls.len()
            )));
        }
        Ok(Verdict::passed(format!(
            "{} call(s) after the revocation; the page ({status}) asks the user to connect again",
            calls.len()
        )))
    }

    pub(super) async fn rate_limited(&self) -> Step<Verdict> {
        let (installed, first) = self.probed().await?;
        self.sandbox.inject(Fault {
            endpoint: first.endpoint,
            method: Some(first.method.clone()),
            kind: FaultKind::Status(429),
            count: 1,
        });
        let (page, calls) = self.probe_with_calls(&installed.browser).await?;
        let status = page.status.as_u16();
        let same: Vec<Call> = calls
            .into_iter()
            .filter(|c| c.method == first.method && c.endpoint == first.endpoint)
            .collect();
        let Some(limited) = same.iter().find(|c| c.status == 429) else {
            return Ok(Verdict::failed(format!(
                "the probe did not call {} {} this time",
                first.method, first.path
            )));
        };
        let wait = Duration::from_secs(RETRY_AFTER_SECS);
        let again: Vec<&Call> = same
            .iter()
            .filter(|c| c.seq > limited.seq && c.path == limited.path)
            .collect();
        if let Some(early) = again
            .first()
            .filter(|c| c.at.duration_since(limited.at) < wait)
        {
            return Ok(Verdict::failed(format!(
                "called {} {} again {} ms after a 429 with Retry-After: {RETRY_AFTER_SECS}",
                early.method,
                early.path,
                early.at.duration_since(limited.at).as_millis()
            )));
        }
        if again.len() > 3 {
            return Ok(Verdict::failed(format!(
                "{} retries after one 429: retries must be bounded",
                again.len()
            )));
        }
        if status >= 500 {
            return Ok(Verdict::failed(format!(
                "the page answered {status}: a 429 is Segment asking to wait, not an outage"
            )));
        }
        let retried = match again.first() {
            Some(call) => format!(
                "called again after {} ms: {}",
                call.at.duration_since(limited.at).as_millis(),
                call.status
            ),
            None => "not called again".to_owned(),
        };
        Ok(Verdict::passed(format!(
            "429 with Retry-After: {RETRY_AFTER_SECS} on {} {}; {retried}; the page answered {status}",
            limited.method, limited.path
        )))
    }

    pub(super) async fn unavailable(&self) -> Step<Verdict> {
        let (installed, first) = self.probed().await?;
        let mut evidence = Vec::new();
        let mut warning = None;
        for (kind, name) in [
            (FaultKind::Status(503), "a 503"),
            (FaultKind::Drop, "a dropped connection"),
        ] {
            self.sandbox.inject(Fault {
                endpoint: first.endpoint,
                method: None,
                kind,
                count: 50,
            });
            let probed = self.probe(&installed.browser).await;
            self.sandbox.world().faults.clear();
            let page = match probed {
                Ok(page) => page,
                Err(verdict) => {
                    return Ok(Verdict::failed(format!("{name}: {}", verdict.detail)));
                }
            };
            let seconds = page.elapsed.as_secs_f64();
            if page.elapsed > Duration::from_secs(10) {
                return Ok(Verdict::failed(format!(
                    "{name}: the page took {seconds:.1} s (at most 10)"
                )));
            }
            let status = page.status.as_u16();
            if !page.says(&["segment"]) {
                warning.get_or_insert(format!(
                    "{name}: the page ({status}) does not say Segment is unavailable"
                ));
            }
            evidence.push(format!("{name}: {status} in {seconds:.1} s"));
        }
        Ok(match warning {
            Some(warning) => Verdict::warning(warning),
            None => Verdict::passed(format!("{}; each page explains", evidence.join("; "))),
        })
    }
}
