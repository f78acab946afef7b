//! The verdicts: a table for people, `--json` and `--junit` for CI.

use std::fmt::Write as _;

use askama::Template;
use serde::Serialize;

/// A scenario's verdict (the OpenID conformance suite's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// It met the criterion.
    Passed,
    /// It did not: the exit status is 1.
    Failed,
    /// It works, with something Segment's docs advise against.
    Warning,
    /// It was not run (the reason is in the detail).
    Skipped,
}

impl Status {
    /// As the table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Failed => "FAILED",
            Status::Warning => "WARNING",
            Status::Skipped => "SKIPPED",
        }
    }
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The scenario (`install`, `state-missing`, …).
    pub id: &'static str,
    /// Its verdict.
    pub status: Status,
    /// The evidence, in one line.
    pub detail: String,
    /// What it takes to pass.
    pub criterion: &'static str,
    /// How long it ran.
    pub seconds: f64,
}

/// How many of each verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// PASSED
    pub passed: usize,
    /// FAILED
    pub failed: usize,
    /// WARNING
    pub warning: usize,
    /// SKIPPED
    pub skipped: usize,
}

/// Every result of a run, in the order run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The results.
    pub results: Vec<Outcome>,
}

#[derive(Template)]
#[template(path = "conform/junit.xml")]
struct Junit<'a> {
    report: &'a Report,
    counts: Counts,
    seconds: String,
}

impl Report {
    /// How many of each verdict.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for result in &self.results {
            *match result.status {
                Status::Passed => &mut counts.passed,
                Status::Failed => &mut counts.failed,
                Status::Warning => &mut counts.warning,
                Status::Skipped => &mut counts.skipped,
            } += 1;
        }
        counts
    }

    /// The verdict of scenario `id`, if it ran.
    pub fn status(&self, id: &str) -> Option<Status> {
        self.results.iter().find(|r| r.id == id).map(|r| r.status)
    }

    /// The summary table: scenario, status, evidence; then the counts.
    pub fn table(&self) -> String {
        let width = self
            .results
            .iter()
            .map(|r| r.id.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut table = format!("{:width$}  {:7}  evidence\n", "scenario", "status");
        for result in &self.results {
            let _ = writeln!(
                table,
                "{:width$}  {:7}  {}",
                result.id,
                result.status.as_str(),
                result.detail
            );
        }
        let counts = self.counts();
        let _ = writeln!(
            table,
            "\n{} scenarios: {} passed, {} failed, {} warnings, {} skipped",
            self.results.len(),
            counts.passed,
            counts.failed,
            counts.warning,
            counts.skipped
        );
        table
    }

    /// `--json`: `{"scenarios": [{id, status, detail, criterion, seconds}], "counts": {…}}`.
    pub fn json(&self) -> String {
        let value = serde_json::json!({ "scenarios": self.results, "counts": self.counts() });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    /// `--junit`: one test case per scenario; a FAILED one has a `<failure>`, a SKIPPED one
    /// `<skipped>`, a WARNING passes with the warning in its output.
    pub fn junit(&self) -> String {
        let seconds: f64 = self.results.iter().map(|r| r.seconds).sum();
        let junit = Junit {
            report: self,
            counts: self.counts(),
            seconds: format!("{seconds:.3}"),
        };
        junit.render().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let outcome = |id, status, detail: &str| Outcome {
            id,
            status,
            detail: detail.to_owned(),
            criterion: "what it takes",
            seconds: 0.25,
        };
        Report {
            results: vec![
                outcome("install", Status::Passed, "1 token call"),
                outcome("pkce", Status::Warning, "no code_challenge"),
                outcome(
                    "state-missing",
                    Status::Failed,
                    "the code was exchanged <&\">",
                ),
                outcome("token-expired", Status::Skipped, "needs --probe"),
            ],
        }
    }

    #[test]
    fn the_reports_say_the_same() {
        let report = report();
        assert_eq!(
            report.counts(),
            Counts {
                passed: 1,
                failed: 1,
                warning: 1,
                skipped: 1
            }
        );
        let table = report.table();
        assert!(
            table.contains("state-missing  FAILED   the code was exchanged"),
            "{table}"
        );
        assert!(table.ends_with("4 scenarios: 1 passed, 1 failed, 1 warnings, 1 skipped\n"));
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["scenarios"][2]["status"], "FAILED");
        assert_eq!(json["scenarios"][2]["id"], "state-missing");
        assert_eq!(json["counts"]["warning"], 1);
        let junit = report.junit();
        assert!(
            junit.contains(r#"tests="4" failures="1" skipped="1""#),
            "{junit}"
        );
        assert!(
            junit.contains(r#"<failure message="the code was exchanged &#60;&#38;&#34;&#62;">"#)
                || junit
                    .contains(r#"<failure message="the code was exchanged &lt;&amp;&quot;&gt;">"#),
            "{junit}"
        );
        assert!(
            junit.contains(r#"<skipped message="needs --probe"/>"#),
            "{junit}"
        );
    }
}
