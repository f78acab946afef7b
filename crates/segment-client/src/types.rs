//! Segment's nouns, in Segment's words: scopes, resource names, install tokens, destinations,
//! catalog entries.
//!
//! Names are parsed, not validated: once a `SourceName` exists it has the shape
//! `workspaces/{ws}/sources/{src}`, so the client can put it in a URL path as it is.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::AccessToken;

/// One path segment of a resource name: a workspace, source or destination slug.
fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value != "."
        && value != ".."
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The name as Segment spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = &'static str;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

/// A destination's catalog slug, e.g. `clearbrain` or `google-analytics`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DestinationSlug(String);
string_newtype!(DestinationSlug);

impl DestinationSlug {
    /// A catalog slug (`clearbrain`), or why it is not one.
    pub fn parse(value: &str) -> Result<DestinationSlug, &'static str> {
        if is_slug(value) {
            Ok(DestinationSlug(value.to_owned()))
        } else {
            Err("a destination slug is letters, digits, '-', '_' or '.', like `clearbrain`")
        }
    }
}

/// The permission an App asks for; Segment knows exactly three forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SegmentScope {
    /// `destination/<slug>`: one destination on the one source the user picks.
    Destination(DestinationSlug),
    /// `workspace:read`: read everything on one workspace, write nothing.
    WorkspaceRead,
    /// `workspace`: change everything on one workspace.
    Workspace,
}

impl SegmentScope {
    /// A scope as Segment spells it (`destination/clearbrain`, `workspace`, `workspace:read`), or why it is not one.
    pub fn parse(value: &str) -> Result<SegmentScope, &'static str> {
        const FORMS: &str = "expected `destination/<slug>`, `workspace:read` or `workspace`";
        match value {
            "workspace" => Ok(SegmentScope::Workspace),
            "workspace:read" => Ok(SegmentScope::WorkspaceRead),
            other => match other.strip_prefix("destination/") {
                Some(slug) => DestinationSlug::parse(slug)
                    .map(SegmentScope::Destination)
                    .map_err(|_| FORMS),
                None => Err(FORMS),
            },
        }
    }

    /// Whether tokens with this scope may create, change or delete anything.
    pub fn can_write(&self) -> bool {
        !matches!(self, SegmentScope::WorkspaceRead)
    }

    /// Whether the consent screen asks for a source, and the token names it.
    pub fn names_a_source(&self) -> bool {
        matches!(self, SegmentScope::Destination(_))
    }
}

impl fmt::Display for SegmentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentScope::Destination(slug) => write!(f, "destination/{slug}"),
            SegmentScope::WorkspaceRead => f.write_str("workspace:read"),
            SegmentScope::Workspace => f.write_str("workspace"),
        }
    }
}

impl TryFrom<String> for SegmentScope {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SegmentScope::parse(&value)
    }
}

impl From<SegmentScope> for String {
    fn from(value: SegmentScope) -> String {
        value.to_string()
    }
}

/// `workspaces/{workspace}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceName(String);
string_newtype!(WorkspaceName);

impl WorkspaceName {
    /// `workspaces/{slug}`, or why it is not.
    pub fn parse(value: &str) -> Result<WorkspaceName, &'static str> {
        match value.strip_prefix("workspaces/") {
            Some(slug) if is_slug(slug) => Ok(WorkspaceName(value.to_owned())),
            _ => Err("expected a workspace name like `workspaces/acme`"),
        }
    }

    /// The workspace's slug, the last part of its name.
    pub fn slug(&self) -> &str {
        &self.0["workspaces/".len()..]
    }
}

/// `workspaces/{workspace}/sources/{source}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceName(String);
string_newtype!(SourceName);

impl SourceName {
    /// `workspaces/{slug}/sources/{slug}`, or why it is not.
    pub fn parse(value: &str) -> Result<SourceName, &'static str> {
        const SHAPE: &str = "expected a source name like `workspaces/acme/sources/javascript`";
        let (workspace, source) = value.split_once("/sources/").ok_or(SHAPE)?;
        WorkspaceName::parse(workspace).map_err(|_| SHAPE)?;
        if is_slug(source) {
            Ok(SourceName(value.to_owned()))
        } else {
            Err(SHAPE)
        }
    }

    /// The workspace the source is on.
    pub fn workspace(&self) -> WorkspaceName {
        let (workspace, _) = self.0.split_once("/sources/").unwrap_or((&self.0, ""));
        WorkspaceName(workspace.to_owned())
    }

    /// The source's slug, the last part of its name.
    pub fn slug(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The name of the destination with `slug` on this source.
    pub fn destination(&self, slug: &DestinationSlug) -> DestinationName {
        DestinationName(format!("{}/destinations/{}", self.0, slug))
    }
}

/// `workspaces/{workspace}/sources/{source}/destinations/{slug}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DestinationName(String);
string_newtype!(DestinationName);

impl DestinationName {
    /// `…/sources/{slug}/destinations/{slug}`, or why it is not.
    pub fn parse(value: &str) -> Result<DestinationName, &'static str> {
        const SHAPE: &str = "expected a destination name like `workspaces/acme/sources/javascript/destinations/clearbrain`";
        let (source, slug) = value.split_once("/destinations/").ok_or(SHAPE)?;
        let source = SourceName::parse(source).map_err(|_| SHAPE)?;
        let slug = DestinationSlug::parse(slug).map_err(|_| SHAPE)?;
        Ok(source.destination(&slug))
    }

    /// The source the destination is on.
    pub fn source(&self) -> SourceName {
        let (source, _) = self.0.split_once("/destinations/").unwrap_or((&self.0, ""));
        SourceName(source.to_owned())
    }

    /// The destination's catalog slug, the last part of its name.
    pub fn slug(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The full name of one of this destination's settings, as Segment wants it in `config`.
    pub fn setting(&self, setting: &str) -> String {
        format!("{}/config/{}", self.0, setting)
    }
}

/// `installs/{id}`: what Segment created when the user consented. Tokens are re-minted from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstallName(String);
string_newtype!(InstallName);

impl InstallName {
    /// `installs/{id}`, or why it is not.
    pub fn parse(value: &str) -> Result<InstallName, &'static str> {
        match value.strip_prefix("installs/") {
            Some(id) if is_slug(id) => Ok(InstallName(value.to_owned())),
            _ => Err("expected an install name like `installs/7`"),
        }
    }
}

/// What the code exchange (and the install token API) returns: a token tied not to a user but
/// to the App Install, with the workspace and (for `destination/<slug>` scopes) the source the
/// user consented to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallToken {
    /// The bearer of every Config API call for the install.
    pub access_token: AccessToken,
    /// Absolute, so that a token kept in a session knows when it goes stale.
    pub expires_at: DateTime<Utc>,
    /// The scope the install was granted.
    pub scope: SegmentScope,
    /// The App it was minted for (`apps/{id}`).
    pub app_name: String,
    /// The install (`installs/{id}`): what later tokens are minted for.
    pub install_name: InstallName,
    /// The workspace the customer consented on.
    pub workspace_names: Vec<WorkspaceName>,
    /// The source they picked (`destination/<slug>` scopes).
    pub source_names: Vec<SourceName>,
}

impl InstallToken {
    /// The workspace the install is on.
    pub fn workspace(&self) -> Option<&WorkspaceName> {
        self.workspace_names.first()
    }

    /// The source the install is on, for `destination/<slug>` scopes.
    pub fn source(&self) -> Option<&SourceName> {
        self.source_names.first()
    }

    /// The workspace's slug, for sentences ("your workspace" if the token names none).
    pub fn workspace_slug(&self) -> &str {
        self.workspace().map_or("your workspace", |w| w.slug())
    }

    /// Whether the token is expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// How Segment delivers data to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionMode {
    /// From Segment's servers.
    Cloud,
    /// From the customer's devices (the destination's SDK).
    Device,
    /// Not said.
    Unspecified,
}

/// A destination on a source, as the Config API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// The full name: `…/sources/{slug}/destinations/{slug}`.
    pub name: String,
    #[serde(default)]
    /// The source it is on.
    pub parent: String,
    #[serde(default)]
    /// What people call it.
    pub display_name: String,
    #[serde(default)]
    /// Whether Segment sends it data.
    pub enabled: bool,
    #[serde(default)]
    /// `CLOUD`, `DEVICE` or `UNSPECIFIED`, as Segment sent it.
    pub connection_mode: Option<String>,
    #[serde(default)]
    /// Its settings' values.
    pub config: Vec<ConfigEntry>,
    #[serde(default)]
    /// When it was created (RFC 3339).
    pub create_time: Option<String>,
    #[serde(default)]
    /// When it last changed (RFC 3339).
    pub update_time: Option<String>,
}

/// One setting's value on a destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// The full name, ending in `/config/{setting}`.
    pub name: String,
    #[serde(default)]
    /// The setting's label.
    pub display_name: String,
    #[serde(default)]
    /// Its value.
    pub value: serde_json::Value,
    #[serde(default, rename = "type")]
    /// Its type (`STRING`, `PASSWORD`, `BOOLEAN`, …).
    pub kind: String,
}

impl ConfigEntry {
    /// The setting's own name, e.g. `apiKey`.
    pub fn setting(&self) -> &str {
        self.name.rsplit("/config/").next().unwrap_or(&self.name)
    }
}

/// A setting value to write; `name` is the full `…/config/{setting}` path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigValue {
    /// The full `…/config/{setting}` name.
    pub name: String,
    /// The value to write.
    pub value: serde_json::Value,
}

/// A change to a destination. The update mask is derived from the fields that are set, so the
/// mask and the body can never disagree.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationChange {
    /// Turn data on or off.
    pub enabled: Option<bool>,
    /// Change how data is delivered.
    pub connection_mode: Option<ConnectionMode>,
    /// Write these settings.
    pub config: Option<Vec<ConfigValue>>,
}

impl DestinationChange {
    /// The `update_mask.paths` Segment needs to apply this change.
    pub fn update_mask(&self) -> Vec<&'static str> {
        let mut paths = Vec::new();
        if self.enabled.is_some() {
            paths.push("destination.enabled");
        }
        if self.config.is_some() {
            paths.push("destination.config");
        }
        if self.connection_mode.is_some() {
            paths.push("destination.connection_mode");
        }
        paths
    }
}

/// A workspace (wider scopes only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// `workspaces/{slug}`.
    pub name: String,
    #[serde(default)]
    /// What people call it.
    pub display_name: String,
    #[serde(default)]
    /// Segment's id for it.
    pub id: String,
    #[serde(default)]
    /// When it was created (RFC 3339).
    pub create_time: Option<String>,
}

/// A source on a workspace (wider scopes only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `workspaces/{slug}/sources/{slug}`.
    pub name: String,
    #[serde(default)]
    /// What kind of source it is (`catalog/sources/javascript`).
    pub catalog_name: String,
    #[serde(default)]
    /// The workspace it is on.
    pub parent: String,
    #[serde(default)]
    /// When it was created (RFC 3339).
    pub create_time: Option<String>,
}

/// The setting that receives the partner's API key, by Segment's convention for Developer
/// Center destinations. Named here only: the pages ask the types below.
pub const API_KEY_SETTING: &str = "apiKey";

impl CatalogDestination {
    /// Whether the destination has a setting for the partner's API key.
    pub fn takes_api_key(&self) -> bool {
        self.settings.iter().any(|s| s.name == API_KEY_SETTING)
    }
}

impl DestinationName {
    /// The full name of the destination's API key setting.
    pub fn api_key_setting(&self) -> String {
        self.setting(API_KEY_SETTING)
    }
}

impl Destination {
    /// The API key the destination holds in Segment, if it holds one.
    pub fn api_key(&self) -> Option<&str> {
        self.config
            .iter()
            .find(|c| c.setting() == API_KEY_SETTING)?
            .value
            .as_str()
    }
}

/// A destination's catalog entry: its metadata and the schema of its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogDestination {
    /// `catalog/destinations/{slug}`.
    pub name: String,
    #[serde(default)]
    /// What people call it.
    pub display_name: String,
    #[serde(default)]
    /// What it does.
    pub description: String,
    #[serde(default)]
    /// The schema of its settings.
    pub settings: Vec<CatalogSetting>,
}

impl CatalogDestination {
    /// The required settings (other than the partner's key, which Enable pushes) that
    /// `destination` has no value for: Enable must not turn it on without them.
    pub fn missing_required(&self, destination: Option<&Destination>) -> Vec<&CatalogSetting> {
        let has_value = |name: &str| {
            destination.is_some_and(|d| {
                d.config.iter().any(|c| {
                    c.setting() == name
                        && !c.value.is_null()
                        && c.value.as_str().is_none_or(|v| !v.trim().is_empty())
                })
            })
        };
        self.settings
            .iter()
            .filter(|s| s.required && !s.deprecated && s.name != API_KEY_SETTING)
            .filter(|s| !has_value(&s.name))
            .collect()
    }
}

/// One setting in a catalog entry. Validators are kept as Segment sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogSetting {
    /// The setting's name (`apiKey`).
    pub name: String,
    #[serde(default)]
    /// Its label.
    pub display_name: String,
    #[serde(default, rename = "type")]
    /// Its type (`STRING`, `PASSWORD`, `BOOLEAN`, `MAP`, `ARRAY`, …).
    pub kind: String,
    #[serde(default)]
    /// Whether the destination needs a value.
    pub required: bool,
    #[serde(default)]
    /// Whether Segment is phasing it out.
    pub deprecated: bool,
    #[serde(default)]
    /// What it is for.
    pub description: String,
    #[serde(default)]
    /// The settings inside it (a MIXED setting).
    pub settings: Vec<CatalogSetting>,
    #[serde(flatten)]
    /// Its validators, as Segment sends them (`string_validators`, `map_validators`, …).
    pub validators: serde_json::Map<String, serde_json::Value>,
}

/// A MAP setting's rules (`map_validators`); every part may be empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapRules {
    /// Each value must match this (JavaScript syntax), when not empty.
    pub regexp: Option<String>,
    /// Each value is `{prefix}{n}` with `n` within `min..=max` (no upper bound when `max` is 0).
    pub prefix: Option<String>,
    /// The lowest `n`.
    pub min: Option<f64>,
    /// The highest `n` (none when 0).
    pub max: Option<f64>,
    /// Each value must be one of these, when not empty.
    pub options: Vec<String>,
}

impl CatalogSetting {
    fn validator(&self, kind: &str) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.validators.get(kind).and_then(|v| v.as_object())
    }

    /// The pattern a string value must match (`string_validators.regexp`), when there is one.
    /// Written for JavaScript's RegExp engine.
    pub fn string_pattern(&self) -> Option<&str> {
        self.validator("string_validators")
            .and_then(|v| v.get("regexp"))
            .and_then(|r| r.as_str())
            .filter(|r| !r.is_empty())
    }

    /// The bounds of a NUMBER (`number_validators`); a pair of zeros means none.
    pub fn number_range(&self) -> (Option<f64>, Option<f64>) {
        let Some(v) = self.validator("number_validators") else {
            return (None, None);
        };
        let min = v.get("min").and_then(|m| m.as_f64());
        let max = v.get("max").and_then(|m| m.as_f64());
        match (min, max) {
            (Some(min), Some(max)) if min == 0.0 && max == 0.0 => (None, None),
            bounds => bounds,
        }
    }

    /// The choices of a SELECT (`select_validators.select_options`).
    pub fn select_options(&self) -> Vec<String> {
        self.validator("select_validators")
            .and_then(|v| v.get("select_options"))
            .and_then(|o| o.as_array())
            .map(|o| {
                o.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rules of a MAP (`map_validators`).
    pub fn map_rules(&self) -> MapRules {
        let Some(v) = self.validator("map_validators") else {
            return MapRules::default();
        };
        let text = |key: &str| {
            v.get(key)
                .and_then(|x| x.as_str())
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
        };
        let prefix = text("map_prefix");
        let (min, max) = match (
            v.get("min").and_then(|m| m.as_f64()),
            v.get("max").and_then(|m| m.as_f64()),
        ) {
            // A max of 0 means "no bounds" in Segment's catalog.
            (_, Some(0.0)) => (None, None),
            bounds => bounds,
        };
        MapRules {
            regexp: text("regexp"),
            prefix,
            min,
            max,
            options: v
                .get("select_options")
                .and_then(|o| o.as_array())
                .map(|o| {
                    o.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_their_shapes() {
        let source = SourceName::parse("workspaces/acme/sources/javascript").unwrap();
        assert_eq!(source.workspace().as_str(), "workspaces/acme");
        assert_eq!(source.workspace().slug(), "acme");
        assert_eq!(source.slug(), "javascript");
        let dest = source.destination(&DestinationSlug::parse("clearbrain").unwrap());
        assert_eq!(
            dest.as_str(),
            "workspaces/acme/sources/javascript/destinations/clearbrain"
        );
        assert_eq!(
            dest.setting("apiKey"),
            "workspaces/acme/sources/javascript/destinations/clearbrain/config/apiKey"
        );
        assert_eq!(DestinationName::parse(dest.as_str()).unwrap(), dest);
    }

    #[test]
    fn names_refuse_anything_that_could_escape_a_url_path() {
        for bad in [
            "workspaces/acme/sources/../x",
            "workspaces/acme/sources/a/b",
            "workspaces//sources/js",
            "workspaces/acme/sources/js?x=1",
            "workspaces/acme/sources/",
            "sources/js",
        ] {
            assert!(SourceName::parse(bad).is_err(), "{bad}");
        }
        assert!(InstallName::parse("installs/7").is_ok());
        assert!(InstallName::parse("installs/7/../../x").is_err());
        assert!(DestinationSlug::parse("a b").is_err());
    }

    #[test]
    fn update_mask_follows_the_change() {
        let change = DestinationChange {
            enabled: Some(true),
            connection_mode: Some(ConnectionMode::Cloud),
            config: Some(vec![]),
        };
        assert_eq!(
            change.update_mask(),
            [
                "destination.enabled",
                "destination.config",
                "destination.connection_mode"
            ]
        );
        let disable = DestinationChange {
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(disable.update_mask(), ["destination.enabled"]);
    }

    #[test]
    fn catalog_validators_read_as_typed_rules() {
        let setting: CatalogSetting = serde_json::from_value(serde_json::json!({
            "name": "eVars", "type": "MAP",
            "map_validators": {"regexp": "", "min": 0, "max": 250, "map_prefix": "eVar", "select_options": []}
        }))
        .unwrap();
        let rules = setting.map_rules();
        assert_eq!(rules.prefix.as_deref(), Some("eVar"));
        assert_eq!((rules.min, rules.max), (Some(0.0), Some(250.0)));
        assert_eq!(rules.regexp, None);

        let number: CatalogSetting = serde_json::from_value(serde_json::json!({
            "name": "sampleRate", "type": "NUMBER", "number_validators": {"min": 1, "max": 100}
        }))
        .unwrap();
        assert_eq!(number.number_range(), (Some(1.0), Some(100.0)));
        let string: CatalogSetting = serde_json::from_value(serde_json::json!({
            "name": "x", "type": "STRING", "string_validators": {"regexp": ""}
        }))
        .unwrap();
        assert_eq!(string.string_pattern(), None);
        assert!(string.select_options().is_empty());
    }

    #[test]
    fn install_token_keeps_names_typed_through_serde() {
        let json = serde_json::json!({
            "access_token": "tok",
            "expires_at": "2030-01-01T00:00:00Z",
            "scope": "destination/clearbrain",
            "app_name": "apps/1",
            "install_name": "installs/7",
            "workspace_names": ["workspaces/acme"],
            "source_names": ["workspaces/acme/sources/javascript"]
        });
        let token: InstallToken = serde_json::from_value(json).unwrap();
        assert_eq!(token.source().unwrap().slug(), "javascript");
        let bad = serde_json::json!({
            "access_token": "tok", "expires_at": "2030-01-01T00:00:00Z", "scope": "admin",
            "app_name": "apps/1", "install_name": "installs/7",
            "workspace_names": [], "source_names": []
        });
        assert!(serde_json::from_value::<InstallToken>(bad).is_err());
    }
}
