//! The sandbox's destination catalog: the captured entries in `catalog/*.json` (Segment's own
//! settings schemas), served as they are, and read just enough to check config values the way
//! Segment does (unknown setting, wrong type, value not among a SELECT's options).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::redact::is_secret_setting;

const ENTRIES: &[&str] = &[
    include_str!("catalog/adobe-analytics.json"),
    include_str!("catalog/airship.json"),
    include_str!("catalog/clearbrain.json"),
    include_str!("catalog/eloqua.json"),
    include_str!("catalog/google-analytics.json"),
    include_str!("catalog/uservoice.json"),
    include_str!("catalog/yellowhammer.json"),
];

/// One setting's schema, as far as the sandbox checks it.
#[derive(Debug, Clone, Deserialize)]
pub struct SettingSchema {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub select_validators: Option<SelectValidators>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SelectValidators {
    #[serde(default)]
    pub select_options: Vec<String>,
}

impl SettingSchema {
    /// Checks a value's JSON type against the setting's type.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let kind = self.kind.as_str();
        let fits = match kind {
            "STRING" | "PASSWORD" | "MULTI_LINE_STRING" | "COLOR" | "SELECT" => value.is_string(),
            "BOOLEAN" => value.is_boolean(),
            "NUMBER" => value.is_number(),
            "LIST" => value.is_array(),
            "MAP" => value.is_object(),
            // MIXED settings take any JSON; unknown future types are let through.
            _ => !value.is_null(),
        };
        if !fits {
            return Err(format!("a {kind} setting cannot take the value {value}"));
        }
        if let (Some(select), Some(chosen)) = (&self.select_validators, value.as_str())
            && !select.select_options.is_empty()
            && !select.select_options.iter().any(|o| o == chosen)
        {
            return Err(format!(
                "{chosen:?} is not one of the options {:?}",
                select.select_options
            ));
        }
        Ok(())
    }

    /// Masked in the inspector: PASSWORD settings, and `apiKey`, where partners' keys go.
    pub fn is_secret(&self) -> bool {
        is_secret_setting(&self.name, &self.kind, "apiKey")
    }
}

/// A catalog entry: the JSON served as it is, and its parsed top-level settings.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub display_name: String,
    pub json: Value,
    settings: Vec<SettingSchema>,
}

impl CatalogEntry {
    fn from_json(json: Value) -> Result<(String, CatalogEntry), String> {
        #[derive(Deserialize)]
        struct Head {
            name: String,
            display_name: String,
            settings: Vec<SettingSchema>,
        }
        let head: Head = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
        let slug = head
            .name
            .strip_prefix("catalog/destinations/")
            .ok_or_else(|| format!("catalog name {:?} has the wrong shape", head.name))?
            .to_owned();
        Ok((
            slug,
            CatalogEntry {
                display_name: head.display_name,
                json,
                settings: head.settings,
            },
        ))
    }

    pub fn setting(&self, name: &str) -> Option<&SettingSchema> {
        self.settings.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
/// The destinations the sandbox's catalog serves, captured from Segment's.
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
}

impl Catalog {
    /// The captured entries, plus an API-key-only entry for `extra_slug` when the catalog does
    /// not have it (a partner trying the sandbox with their own, unpublished destination).
    pub fn load(extra_slug: Option<&str>) -> Catalog {
        let mut entries = BTreeMap::new();
        for text in ENTRIES {
            // The entries are compiled in and covered by a test; a bad one is skipped, not fatal.
            match serde_json::from_str(text)
                .map_err(|e| e.to_string())
                .and_then(CatalogEntry::from_json)
            {
                Ok((slug, entry)) => {
                    entries.insert(slug, entry);
                }
                Err(error) => {
                    tracing::error!(%error, "skipping a catalog entry the sandbox cannot read")
                }
            }
        }
        if let Some(slug) = extra_slug
            && !entries.contains_key(slug)
            && let Ok((slug, entry)) = CatalogEntry::from_json(api_key_only_entry(slug))
        {
            tracing::info!(%slug, "the sandbox catalog has no such destination; serving an API-key-only entry for it");
            entries.insert(slug, entry);
        }
        Catalog { entries }
    }

    /// The entry for `slug`, if the catalog has it.
    pub fn get(&self, slug: &str) -> Option<&CatalogEntry> {
        self.entries.get(slug)
    }

    /// Every slug in the catalog.
    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

fn api_key_only_entry(slug: &str) -> Value {
    json!({
        "name": format!("catalog/destinations/{slug}"),
        "display_name": slug,
        "description": "A destination the sandbox does not know; it stands in with one API key setting.",
        "status": "PUBLIC",
        "components": [{"type": "CLOUD"}],
        "settings": [{
            "name": "apiKey",
            "display_name": "API Key",
            "type": "STRING",
            "deprecated": false,
            "required": true,
            "string_validators": {"regexp": ""},
            "description": "The API key of this customer's account.",
            "settings": []
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_loads() {
        let catalog = Catalog::load(None);
        let slugs: Vec<&str> = catalog.slugs().collect();
        assert_eq!(slugs.len(), ENTRIES.len(), "{slugs:?}");
        assert!(
            catalog
                .get("clearbrain")
                .unwrap()
                .setting("apiKey")
                .is_some()
        );
    }

    #[test]
    fn unknown_slugs_get_an_api_key_entry() {
        let catalog = Catalog::load(Some("my-destination"));
        let entry = catalog.get("my-destination").unwrap();
        assert!(entry.setting("apiKey").unwrap().is_secret());
    }

    #[test]
    fn values_are_checked_by_type_and_options() {
        let catalog = Catalog::load(None);
        let ga = catalog.get("google-analytics").unwrap();
        let boolean = ga.settings.iter().find(|s| s.kind == "BOOLEAN").unwrap();
        assert!(boolean.check(&json!(true)).is_ok());
        assert!(boolean.check(&json!("true")).is_err());
        let select = catalog
            .entries
            .values()
            .flat_map(|e| e.settings.iter())
            .find(|s| s.kind == "SELECT" && s.select_validators.is_some())
            .unwrap();
        let option = select.select_validators.as_ref().unwrap().select_options[0].clone();
        assert!(select.check(&json!(option)).is_ok());
        assert!(select.check(&json!("surely-not-an-option")).is_err());
    }
}
