//! An App's settings from the environment, under the names the partner app reads:
//! `CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URL`, `SEGMENT_ID_URL`, `SEGMENT_API_URL`,
//! `DESTINATION_SLUG` and `SEGMENT_SCOPE`. For a program that wants no settings code of its own
//! (the library's example); the partner app reads the same names with more checks.

use url::Url;

use crate::secret::ClientSecret;
use crate::{AppCredentials, DestinationSlug, Limits, SegmentClient, SegmentScope, SegmentUrls};

/// Where Segment's identity service is, unless `SEGMENT_ID_URL` says otherwise.
pub const DEFAULT_ID_URL: &str = "https://id.segmentapis.com";
/// Where Segment's Config API is, unless `SEGMENT_API_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://platform.segmentapis.com";

/// A setting that is missing or cannot be read: its name, and why.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingError {
    /// The variable's name.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The App, Segment's URLs and the partner's destination, as the environment gives them.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Segment's base URLs (`SEGMENT_ID_URL`, `SEGMENT_API_URL`; Segment's own by default).
    pub urls: SegmentUrls,
    /// The App (`CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URL`, `SEGMENT_SCOPE`), with PKCE.
    pub app: AppCredentials,
    /// The partner's destination (`DESTINATION_SLUG`, `clearbrain` by default).
    pub destination: DestinationSlug,
}

impl AppSettings {
    /// Reads the process environment. `CLIENT_ID`, `CLIENT_SECRET` and `REDIRECT_URL` are
    /// required; `SEGMENT_SCOPE` is `destination/{DESTINATION_SLUG}` unless set.
    pub fn from_env() -> Result<AppSettings, SettingError> {
        AppSettings::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the settings through `lookup` (a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AppSettings, SettingError> {
        let required = |name: &'static str| {
            lookup(name).ok_or(SettingError {
                name,
                reason: "is not set".to_owned(),
            })
        };
        let url = |name: &'static str, value: String| {
            Url::parse(&value).map_err(|e| SettingError {
                name,
                reason: format!("{e}"),
            })
        };
        let id = url(
            "SEGMENT_ID_URL",
            lookup("SEGMENT_ID_URL").unwrap_or(DEFAULT_ID_URL.into()),
        )?;
        let api = url(
            "SEGMENT_API_URL",
            lookup("SEGMENT_API_URL").unwrap_or(DEFAULT_API_URL.into()),
        )?;
        let bad = |name: &'static str| {
            move |reason: &str| SettingError {
                name,
                reason: reason.to_owned(),
            }
        };
        let destination = DestinationSlug::parse(
            &lookup("DESTINATION_SLUG").unwrap_or_else(|| "clearbrain".to_owned()),
        )
        .map_err(bad("DESTINATION_SLUG"))?;
        let scope = match lookup("SEGMENT_SCOPE") {
            Some(scope) => SegmentScope::parse(&scope).map_err(bad("SEGMENT_SCOPE"))?,
            None => SegmentScope::Destination(destination.clone()),
        };
        Ok(AppSettings {
            urls: SegmentUrls {
                authorize_base: id.clone(),
                token_base: id,
                api_base: api,
            },
            app: AppCredentials {
                client_id: required("CLIENT_ID")?,
                client_secret: ClientSecret::new(required("CLIENT_SECRET")?),
                redirect_url: url("REDIRECT_URL", required("REDIRECT_URL")?)?,
                scope,
                pkce: true,
            },
            destination,
        })
    }

    /// A client for this App, with default [`Limits`]. It fails only if the HTTP client cannot
    /// be built (a `reqwest::Error`: no TLS roots on the machine, say).
    pub fn client(&self) -> Result<SegmentClient, reqwest::Error> {
        let limits = Limits::default();
        Ok(SegmentClient::new(
            crate::http_client(&limits)?,
            self.urls.clone(),
            self.app.clone(),
            &limits,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<AppSettings, SettingError> {
        AppSettings::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const APP: [(&str, &str); 3] = [
        ("CLIENT_ID", "id"),
        ("CLIENT_SECRET", "secret"),
        (
            "REDIRECT_URL",
            "http://localhost:8080/auth/segment/callback",
        ),
    ];

    #[test]
    fn defaults_are_segments_own_and_the_destinations_scope() {
        let settings = read(&APP).unwrap();
        assert_eq!(
            settings.urls.api_base.as_str(),
            "https://platform.segmentapis.com/"
        );
        assert_eq!(settings.app.scope.to_string(), "destination/clearbrain");
        let mut vars = APP.to_vec();
        vars.push(("DESTINATION_SLUG", "airship"));
        assert_eq!(
            read(&vars).unwrap().app.scope.to_string(),
            "destination/airship"
        );
    }

    #[test]
    fn a_missing_or_bad_setting_is_named() {
        assert_eq!(read(&APP[..2]).unwrap_err().name, "REDIRECT_URL");
        let mut vars = APP.to_vec();
        vars.push(("SEGMENT_SCOPE", "everything"));
        assert_eq!(read(&vars).unwrap_err().name, "SEGMENT_SCOPE");
        // The secret never appears in an error.
        let mut vars = APP.to_vec();
        vars.push(("SEGMENT_API_URL", "not a url"));
        let error = read(&vars).unwrap_err().to_string();
        assert!(
            error.starts_with("SEGMENT_API_URL") && !error.contains("secret"),
            "{error}"
        );
    }
}
