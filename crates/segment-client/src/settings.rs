//! The settings a partner app shares with Segment, read in one place: `SEGMENT_ID_URL`,
//! `SEGMENT_API_URL`, `DESTINATION_SLUG`, `SEGMENT_SCOPE`, and what every URL setting must be.
//! [`AppSettings`] reads them with `CLIENT_ID`, `CLIENT_SECRET` and `REDIRECT_URL`, for a
//! program that wants no settings code of its own (the library's template); the partner app's
//! own settings read these same ones through [`segment_urls`], [`destination_and_scope`] and
//! [`http_url`], and add its own.

use url::Url;

use crate::secret::ClientSecret;
use crate::{AppCredentials, DestinationSlug, Limits, SegmentClient, SegmentScope, SegmentUrls};

/// Where Segment's identity service is, unless `SEGMENT_ID_URL` says otherwise.
pub const DEFAULT_ID_URL: &str = "https://id.segmentapis.com";
/// Where Segment's Config API is, unless `SEGMENT_API_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://platform.segmentapis.com";
/// The partner's destination, unless `DESTINATION_SLUG` says otherwise.
pub const DEFAULT_DESTINATION: &str = "clearbrain";

/// A setting that is missing or cannot be read: its name, the value (when there is one) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}{}: {reason}", value.as_ref().map(|v| format!(" is not valid ({v:?})")).unwrap_or_default())]
pub struct SettingError {
    /// The variable's name.
    pub name: &'static str,
    /// Its value, if it has one (never a secret's: those are not parsed here).
    pub value: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

/// `value` as the URL setting `name`: an http:// or https:// URL with a host.
pub fn http_url(name: &'static str, value: &str) -> Result<Url, SettingError> {
    let bad = |reason: String| SettingError {
        name,
        value: Some(value.to_owned()),
        reason,
    };
    let url = Url::parse(value).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            "expected an http:// or https:// URL with a host".to_owned()
        ));
    }
    Ok(url)
}

/// Segment's base URLs: `SEGMENT_ID_URL` (the identity service) and `SEGMENT_API_URL` (the
/// Config API), Segment's own unless set.
pub fn segment_urls(lookup: &impl Fn(&str) -> Option<String>) -> Result<SegmentUrls, SettingError> {
    let id = lookup("SEGMENT_ID_URL").unwrap_or_else(|| DEFAULT_ID_URL.to_owned());
    let id = http_url("SEGMENT_ID_URL", &id)?;
    let api = lookup("SEGMENT_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let api = http_url("SEGMENT_API_URL", &api)?;
    Ok(SegmentUrls {
        authorize_base: id.clone(),
        token_base: id,
        api_base: api,
    })
}

/// The partner's destination (`DESTINATION_SLUG`, [`DEFAULT_DESTINATION`] unless set) and the
/// App's scope (`SEGMENT_SCOPE`, `destination/<DESTINATION_SLUG>` unless set).
pub fn destination_and_scope(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(DestinationSlug, SegmentScope), SettingError> {
    let invalid = |name: &'static str, value: &str| {
        let value = value.to_owned();
        move |reason: &str| SettingError {
            name,
            value: Some(value),
            reason: reason.to_owned(),
        }
    };
    let slug = lookup("DESTINATION_SLUG").unwrap_or_else(|| DEFAULT_DESTINATION.to_owned());
    let destination = DestinationSlug::parse(&slug).map_err(invalid("DESTINATION_SLUG", &slug))?;
    let scope = match lookup("SEGMENT_SCOPE") {
        Some(scope) => SegmentScope::parse(&scope).map_err(invalid("SEGMENT_SCOPE", &scope))?,
        None => SegmentScope::Destination(destination.clone()),
    };
    Ok((destination, scope))
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
                value: None,
                reason: "is not set".to_owned(),
            })
        };
        let urls = segment_urls(&lookup)?;
        let (destination, scope) = destination_and_scope(&lookup)?;
        Ok(AppSettings {
            urls,
            app: AppCredentials {
                client_id: required("CLIENT_ID")?,
                client_secret: ClientSecret::new(required("CLIENT_SECRET")?),
                redirect_url: http_url("REDIRECT_URL", &required("REDIRECT_URL")?)?,
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
