//! A destination's settings as an HTML form, generated from its catalog schema, and the form's
//! answers checked and turned back into typed JSON values.
//!
//! Pure functions, no I/O: [`fields`] draws the form from the schema and the current values;
//! [`read`] checks a submitted form the way Segment would (required, type, `regexp`, min/max,
//! select options, MAP rules) and keeps what the user typed for the re-rendered form;
//! [`Answers::changes`] says which values to send.
//!
//! | setting type        | form control                        | JSON value           |
//! |---------------------|-------------------------------------|----------------------|
//! | STRING, COLOR       | text input                          | string               |
//! | PASSWORD, or a name with key/secret/token/password | password input, never pre-filled, blank keeps | string |
//! | MULTI_LINE_STRING   | textarea                            | string               |
//! | BOOLEAN             | checkbox                            | bool                 |
//! | NUMBER              | number input with min/max           | number               |
//! | SELECT              | select of the options               | string               |
//! | LIST                | textarea, one value per line        | array of strings     |
//! | MAP                 | textarea, one `key=value` per line  | object of strings    |
//! | MIXED (and unknown) | JSON textarea                       | any JSON             |

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use regex::Regex;
use serde_json::{Map, Value};

use super::description::{self, Part};
use crate::secret::is_secret_setting;
use crate::segment::{API_KEY_SETTING, CatalogSetting, MapRules};

/// Form fields are named `setting.<name>`, so no setting can collide with other form fields.
pub const FIELD_PREFIX: &str = "setting.";

/// The control a setting gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Widget {
    Text,
    Color,
    Secret,
    TextArea,
    Checkbox,
    Number,
    Select,
    List,
    Map,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectOption {
    pub value: String,
    pub selected: bool,
}

/// One setting, ready for the template.
#[derive(Debug, Clone)]
pub struct Field {
    pub setting: String,
    pub input_name: String,
    pub label: String,
    pub kind: String,
    pub description: Vec<Part>,
    pub required: bool,
    pub deprecated: bool,
    pub widget: Widget,
    /// The text shown in the control (never a secret's value).
    pub value: String,
    /// Checkbox state.
    pub checked: bool,
    /// A secret has a stored value (the control stays empty).
    pub is_set: bool,
    pub min: Option<String>,
    pub max: Option<String>,
    pub options: Vec<SelectOption>,
    /// How to fill the control in, for the types that need saying.
    pub help: Option<String>,
    pub error: Option<String>,
    /// The entries of a MIXED setting, described under it.
    pub children: Vec<Field>,
    /// The app fills this setting in itself (the partner's API key): the control says so, and
    /// a new value needs the box that confirms it (see `web/configure.rs`).
    pub managed: bool,
}

/// The form for `settings`, filled in with the `current` values.
pub fn fields(settings: &[CatalogSetting], current: &BTreeMap<String, Value>) -> Vec<Field> {
    settings
        .iter()
        .map(|setting| {
            let mut field = blank_field(setting);
            if let Some(value) = current.get(&setting.name) {
                fill(&mut field, value);
            }
            field
        })
        .collect()
}

fn widget(setting: &CatalogSetting) -> Widget {
    if is_secret_setting(&setting.name, &setting.kind, API_KEY_SETTING) {
        return Widget::Secret;
    }
    match setting.kind.as_str() {
        "STRING" => Widget::Text,
        "COLOR" => Widget::Color,
        "PASSWORD" => Widget::Secret,
        "MULTI_LINE_STRING" => Widget::TextArea,
        "BOOLEAN" => Widget::Checkbox,
        "NUMBER" => Widget::Number,
        "SELECT" => Widget::Select,
        "LIST" => Widget::List,
        "MAP" => Widget::Map,
        _ => Widget::Json,
    }
}

fn blank_field(setting: &CatalogSetting) -> Field {
    let widget = widget(setting);
    let (min, max) = setting.number_range();
    let help = match widget {
        Widget::List => Some("One value per line.".to_owned()),
        Widget::Map => Some(map_help(&setting.map_rules())),
        Widget::Json => Some("JSON.".to_owned()),
        Widget::Color => Some("A CSS color, such as #3b4cca.".to_owned()),
        _ => None,
    };
    Field {
        setting: setting.name.clone(),
        input_name: format!("{FIELD_PREFIX}{}", setting.name),
        label: if setting.display_name.is_empty() {
            setting.name.clone()
        } else {
            setting.display_name.clone()
        },
        kind: setting.kind.clone(),
        description: description::parse(&setting.description),
        required: setting.required,
        deprecated: setting.deprecated,
        widget,
        value: String::new(),
        checked: false,
        is_set: false,
        min: min.map(number_text),
        max: max.map(number_text),
        options: setting
            .select_options()
            .into_iter()
            .map(|value| SelectOption {
                value,
                selected: false,
            })
            .collect(),
        help,
        error: None,
        children: setting.settings.iter().map(blank_field).collect(),
        managed: false,
    }
}

fn map_help(rules: &MapRules) -> String {
    let mut help = "One key=value per line.".to_owned();
    if let Some(prefix) = &rules.prefix {
        let range = match (rules.min, rules.max) {
            (Some(min), Some(max)) => format!(
                "{prefix}{} to {prefix}{}",
                number_text(min),
                number_text(max)
            ),
            _ => format!("{prefix}1, {prefix}2, …"),
        };
        help.push_str(&format!(
            " Values are {range} (a bare number gets the {prefix} prefix)."
        ));
    }
    if !rules.options.is_empty() {
        help.push_str(&format!(
            " Values are one of: {}.",
            rules.options.join("  ")
        ));
    }
    help
}

/// Shows a stored value in the field's control.
fn fill(field: &mut Field, value: &Value) {
    match field.widget {
        Widget::Secret => field.is_set = !value.is_null() && value != "",
        Widget::Checkbox => field.checked = value.as_bool().unwrap_or(false),
        Widget::Select => {
            let chosen = value.as_str().unwrap_or_default();
            for option in &mut field.options {
                option.selected = option.value == chosen;
            }
            field.value = chosen.to_owned();
        }
        Widget::List => {
            field.value = match value {
                Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join("\n"),
                other => plain(other),
            }
        }
        Widget::Map => {
            field.value = match value {
                Value::Object(entries) => entries
                    .iter()
                    .map(|(k, v)| format!("{k}={}", plain(v)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => plain(other),
            }
        }
        Widget::Json => {
            field.value = serde_json::to_string_pretty(value).unwrap_or_default();
        }
        _ => field.value = plain(value),
    }
}

/// A value as text: strings as they are, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A checked form: the fields as the user filled them (with errors), and each setting's answer.
#[derive(Debug)]
pub struct Answers {
    pub fields: Vec<Field>,
    /// `None`: left empty (for a secret: keep what is stored).
    values: BTreeMap<String, Option<Value>>,
    kinds: BTreeMap<String, (String, Widget)>,
}

impl Answers {
    pub fn is_valid(&self) -> bool {
        self.fields.iter().all(|f| f.error.is_none())
    }

    pub fn error_count(&self) -> usize {
        self.fields.iter().filter(|f| f.error.is_some()).count()
    }

    /// Every setting's value after this submit: `current`, with what was filled in on top.
    /// An emptied field clears the value where the type has an empty form (text, list, map);
    /// an empty secret keeps what is stored.
    pub fn merged(&self, current: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        let mut merged = current.clone();
        for (setting, answer) in &self.values {
            let (kind, widget) = &self.kinds[setting];
            match answer {
                // An unchecked box over a boolean never set: it stays unset (false to Segment).
                Some(Value::Bool(false))
                    if *widget == Widget::Checkbox && !merged.contains_key(setting) => {}
                Some(value) => {
                    merged.insert(setting.clone(), value.clone());
                }
                None if *widget == Widget::Secret => {}
                None => {
                    if merged.contains_key(setting) {
                        match empty_value(kind) {
                            Some(empty) => merged.insert(setting.clone(), empty),
                            None => merged.remove(setting),
                        };
                    }
                }
            }
        }
        merged
    }

    /// The settings whose value this submit changes, with their new values.
    pub fn changes(&self, current: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        self.merged(current)
            .into_iter()
            .filter(|(setting, value)| current.get(setting) != Some(value))
            .collect()
    }
}

/// What "no value" is for a type that has one.
fn empty_value(kind: &str) -> Option<Value> {
    match kind {
        "STRING" | "PASSWORD" | "MULTI_LINE_STRING" | "COLOR" => Some(Value::String(String::new())),
        "LIST" => Some(Value::Array(Vec::new())),
        "MAP" => Some(Value::Object(Map::new())),
        _ => None,
    }
}

/// Checks a submitted form (`name=value` pairs) against the schema.
pub fn read(
    settings: &[CatalogSetting],
    current: &BTreeMap<String, Value>,
    submitted: &[(String, String)],
) -> Answers {
    let mut answers = Answers {
        fields: Vec::new(),
        values: BTreeMap::new(),
        kinds: BTreeMap::new(),
    };
    for setting in settings {
        let mut field = blank_field(setting);
        if let Some(value) = current.get(&setting.name) {
            fill(&mut field, value);
        }
        let input: Vec<&str> = submitted
            .iter()
            .filter(|(name, _)| *name == field.input_name)
            .map(|(_, value)| value.as_str())
            .collect();
        let raw = input.last().copied();
        // Keep what the user typed, for the re-rendered form (never a secret).
        match field.widget {
            Widget::Secret => {}
            Widget::Checkbox => field.checked = raw.is_some(),
            Widget::Select => {
                let chosen = raw.unwrap_or_default();
                for option in &mut field.options {
                    option.selected = option.value == chosen;
                }
                field.value = chosen.to_owned();
            }
            _ => field.value = raw.unwrap_or_default().replace("\r\n", "\n"),
        }
        let answer = if input.len() > 1 {
            Err("Given more than once.".to_owned())
        } else {
            parse(setting, field.widget, raw)
        };
        let answer = answer.and_then(|value| {
            let missing = value.is_none() && !(field.widget == Widget::Secret && field.is_set);
            if setting.required && missing {
                Err("Required.".to_owned())
            } else {
                Ok(value)
            }
        });
        match answer {
            Ok(value) => {
                answers.values.insert(setting.name.clone(), value);
            }
            Err(error) => field.error = Some(error),
        }
        answers
            .kinds
            .insert(setting.name.clone(), (setting.kind.clone(), field.widget));
        answers.fields.push(field);
    }
    answers
}

/// One control's text as a typed value; `None` when left empty.
fn parse(
    setting: &CatalogSetting,
    widget: Widget,
    raw: Option<&str>,
) -> Result<Option<Value>, String> {
    let text = raw.unwrap_or_default().replace("\r\n", "\n");
    match widget {
        Widget::Checkbox => match raw {
            None => Ok(Some(Value::Bool(false))),
            Some("true" | "on") => Ok(Some(Value::Bool(true))),
            Some(other) => Err(format!("{other:?} is not a checkbox value.")),
        },
        Widget::Text | Widget::Color | Widget::Secret => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            check_pattern(setting.string_pattern(), text)?;
            Ok(Some(Value::String(text.to_owned())))
        }
        Widget::TextArea => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            check_pattern(setting.string_pattern(), &text)?;
            Ok(Some(Value::String(text)))
        }
        Widget::Number => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let number: f64 = text
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("{text:?} is not a number."))?;
            let (min, max) = setting.number_range();
            if let Some(min) = min.filter(|min| number < *min) {
                return Err(format!("At least {}.", number_text(min)));
            }
            if let Some(max) = max.filter(|max| number > *max) {
                return Err(format!("At most {}.", number_text(max)));
            }
            Ok(Some(number_value(number)))
        }
        Widget::Select => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let options = setting.select_options();
            if !options.is_empty() && !options.iter().any(|o| o == text) {
                return Err(format!("{text:?} is not one of the choices."));
            }
            Ok(Some(Value::String(text.to_owned())))
        }
        Widget::List => {
            let items: Vec<Value> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_owned()))
                .collect();
            Ok((!items.is_empty()).then_some(Value::Array(items)))
        }
        Widget::Map => parse_map(&setting.map_rules(), &text),
        Widget::Json => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("Not valid JSON: {e}."))
        }
    }
}

fn parse_map(rules: &MapRules, text: &str) -> Result<Option<Value>, String> {
    let mut entries = Map::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let line_no = number + 1;
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("Line {line_no} has no '=': write key=value."))?;
        let (key, mut value) = (key.trim(), value.trim().to_owned());
        if key.is_empty() {
            return Err(format!("Line {line_no} has no key."));
        }
        if entries.contains_key(key) {
            return Err(format!("The key {key:?} is given twice."));
        }
        if let Some(prefix) = &rules.prefix {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                value = format!("{prefix}{value}");
            }
            let n: Option<f64> = value
                .strip_prefix(prefix.as_str())
                .and_then(|n| n.parse().ok());
            let in_range = n.is_some_and(|n| {
                rules.min.is_none_or(|min| n >= min) && rules.max.is_none_or(|max| n <= max)
            });
            if !in_range {
                return Err(format!(
                    "Line {line_no}: {value:?} is not {}.",
                    map_help_range(rules, prefix)
                ));
            }
        }
        if !rules.options.is_empty() && !rules.options.contains(&value) {
            return Err(format!(
                "Line {line_no}: {value:?} is not one of {}.",
                rules.options.join("  ")
            ));
        }
        check_pattern(rules.regexp.as_deref(), &value)
            .map_err(|e| format!("Line {line_no}: {e}"))?;
        entries.insert(key.to_owned(), Value::String(value));
    }
    Ok((!entries.is_empty()).then_some(Value::Object(entries)))
}

fn map_help_range(rules: &MapRules, prefix: &str) -> String {
    match (rules.min, rules.max) {
        (Some(min), Some(max)) => format!(
            "{prefix}{} to {prefix}{}",
            number_text(min),
            number_text(max)
        ),
        _ => format!("{prefix} followed by a number"),
    }
}

fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// A catalog pattern said in words, for the patterns catalogs use: lengths, digits only,
/// letters and digits, a URL. `None`: no words for it (the page then shows the pattern as a
/// technical detail).
pub fn pattern_in_words(pattern: &str) -> Option<String> {
    let length = |body: &str| -> Option<String> {
        let inner = body.strip_prefix(".{")?.strip_suffix('}')?;
        match inner.split_once(',') {
            Some((min, "")) => Some(format!("at least {min} characters long")),
            Some((min, max)) => Some(format!("{min} to {max} characters long")),
            None => Some(format!("exactly {inner} characters long")),
        }
    };
    let body = pattern.strip_prefix('^')?.strip_suffix('$')?;
    match body {
        r"\d+" | "[0-9]+" => Some("digits only".to_owned()),
        r"\d*" | "[0-9]*" => Some("digits only, or empty".to_owned()),
        "[a-zA-Z0-9]+" | "[A-Za-z0-9]+" => Some("letters and digits only".to_owned()),
        "[a-zA-Z0-9_-]+" | "[A-Za-z0-9_-]+" => Some("letters, digits, '-' and '_' only".to_owned()),
        _ if body.starts_with("https?://") || body.starts_with("(https?)://") => {
            Some("a URL starting with http:// or https://".to_owned())
        }
        _ if body.starts_with("https://") => Some("a URL starting with https://".to_owned()),
        _ => length(body),
    }
}

/// Checks `text` against a catalog pattern. Patterns are written for JavaScript; one that Rust's
/// engine cannot compile is skipped (and logged once), so it can never break the page.
fn check_pattern(pattern: Option<&str>, text: &str) -> Result<(), String> {
    let Some(pattern) = pattern else {
        return Ok(());
    };
    match Regex::new(pattern) {
        Ok(regex) if regex.is_match(text) => Ok(()),
        Ok(_) => Err(match pattern_in_words(pattern) {
            Some(words) => format!("Must be {words}."),
            None => format!(
                "Does not have the form this setting expects (technical detail: it must match \
                 {pattern})."
            ),
        }),
        Err(error) => {
            static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
            let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
            if warned.insert(pattern.to_owned()) {
                tracing::warn!(%pattern, %error, "skipping a catalog pattern this app cannot compile");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn setting(value: Value) -> CatalogSetting {
        serde_json::from_value(value).unwrap()
    }

    fn submit(
        settings: &[CatalogSetting],
        current: &BTreeMap<String, Value>,
        form: &[(&str, &str)],
    ) -> Answers {
        let pairs: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (format!("{FIELD_PREFIX}{k}"), v.to_string()))
            .collect();
        read(settings, current, &pairs)
    }

    fn schema() -> Vec<CatalogSetting> {
        vec![
            setting(
                json!({"name": "trackingId", "type": "STRING", "required": true,
                           "string_validators": {"regexp": "^UA-\\d+-\\d+$"}}),
            ),
            setting(json!({"name": "apiSecret", "type": "PASSWORD"})),
            setting(json!({"name": "anonymize", "type": "BOOLEAN"})),
            setting(
                json!({"name": "sampleRate", "type": "NUMBER", "number_validators": {"min": 1, "max": 100}}),
            ),
            setting(
                json!({"name": "mode", "type": "SELECT", "select_validators": {"select_options": ["a", "b"]}}),
            ),
            setting(json!({"name": "ignored", "type": "LIST"})),
            setting(json!({"name": "dimensions", "type": "MAP",
                           "map_validators": {"regexp": "", "min": 0, "max": 20, "map_prefix": "dimension", "select_options": []}})),
            setting(json!({"name": "events", "type": "MIXED",
                           "settings": [{"name": "event", "type": "STRING", "required": true}]})),
        ]
    }

    #[test]
    fn the_form_has_a_control_per_setting_prefilled_except_secrets() {
        let current: BTreeMap<String, Value> = [
            ("trackingId", json!("UA-1-2")),
            ("apiSecret", json!("do-not-show-me")),
            ("anonymize", json!(true)),
            ("sampleRate", json!(50)),
            ("mode", json!("b")),
            ("ignored", json!(["x", "y"])),
            ("dimensions", json!({"plan": "dimension3"})),
            ("events", json!([{"event": "Signed Up"}])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let form = fields(&schema(), &current);
        let widgets: Vec<Widget> = form.iter().map(|f| f.widget).collect();
        assert_eq!(
            widgets,
            [
                Widget::Text,
                Widget::Secret,
                Widget::Checkbox,
                Widget::Number,
                Widget::Select,
                Widget::List,
                Widget::Map,
                Widget::Json
            ]
        );
        assert_eq!(form[0].value, "UA-1-2");
        assert!(form[1].is_set && form[1].value.is_empty());
        assert!(form[2].checked);
        assert_eq!(
            (form[3].min.as_deref(), form[3].max.as_deref()),
            (Some("1"), Some("100"))
        );
        assert!(form[4].options[1].selected);
        assert_eq!(form[5].value, "x\ny");
        assert_eq!(form[6].value, "plan=dimension3");
        assert!(form[7].value.contains("Signed Up"));
        assert_eq!(form[7].children[0].setting, "event");
    }

    #[test]
    fn valid_answers_become_typed_values() {
        let answers = submit(
            &schema(),
            &BTreeMap::new(),
            &[
                ("trackingId", " UA-123-4 "),
                ("apiSecret", "s3cret"),
                ("anonymize", "true"),
                ("sampleRate", "25"),
                ("mode", "a"),
                ("ignored", "one\r\n\r\ntwo\n"),
                ("dimensions", "plan=3\nage = dimension20"),
                ("events", "[{\"event\": \"Signed Up\"}]"),
            ],
        );
        assert!(
            answers.is_valid(),
            "{:?}",
            answers.fields.iter().map(|f| &f.error).collect::<Vec<_>>()
        );
        let changes = answers.changes(&BTreeMap::new());
        assert_eq!(changes["trackingId"], json!("UA-123-4"));
        assert_eq!(changes["apiSecret"], json!("s3cret"));
        assert_eq!(changes["anonymize"], json!(true));
        assert_eq!(changes["sampleRate"], json!(25));
        assert_eq!(changes["mode"], json!("a"));
        assert_eq!(changes["ignored"], json!(["one", "two"]));
        assert_eq!(
            changes["dimensions"],
            json!({"plan": "dimension3", "age": "dimension20"})
        );
        assert_eq!(changes["events"], json!([{"event": "Signed Up"}]));
    }

    #[test]
    fn each_bad_answer_gets_its_own_message_and_keeps_the_input() {
        let answers = submit(
            &schema(),
            &BTreeMap::new(),
            &[
                ("trackingId", "GA-nope"),
                ("anonymize", "maybe"),
                ("sampleRate", "1000"),
                ("mode", "c"),
                ("dimensions", "plan=dimension21\nno-equals"),
                ("events", "{not json"),
            ],
        );
        assert!(!answers.is_valid());
        let errors: BTreeMap<&str, &str> = answers
            .fields
            .iter()
            .filter_map(|f| f.error.as_deref().map(|e| (f.setting.as_str(), e)))
            .collect();
        assert!(
            errors["trackingId"].contains("technical detail"),
            "{errors:?}"
        );
        assert!(errors["anonymize"].contains("checkbox"));
        assert_eq!(errors["sampleRate"], "At most 100.");
        assert!(errors["mode"].contains("not one of the choices"));
        assert!(
            errors["dimensions"].contains("dimension0 to dimension20"),
            "{errors:?}"
        );
        assert!(errors["events"].starts_with("Not valid JSON"));
        assert_eq!(answers.error_count(), 6);
        assert_eq!(answers.fields[0].value, "GA-nope", "the input was not kept");

        let required = submit(&schema(), &BTreeMap::new(), &[]);
        assert_eq!(required.fields[0].error.as_deref(), Some("Required."));
        let twice = read(
            &schema(),
            &BTreeMap::new(),
            &[
                ("setting.trackingId".into(), "UA-1-1".into()),
                ("setting.trackingId".into(), "UA-2-2".into()),
            ],
        );
        assert!(
            twice.fields[0]
                .error
                .as_deref()
                .unwrap()
                .contains("more than once")
        );
    }

    #[test]
    fn blank_secrets_keep_the_stored_value_and_cleared_fields_clear() {
        let current: BTreeMap<String, Value> = [
            ("trackingId", json!("UA-1-2")),
            ("apiSecret", json!("stored-secret")),
            ("ignored", json!(["x"])),
            ("sampleRate", json!(10)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let answers = submit(
            &schema(),
            &current,
            &[("trackingId", "UA-1-2"), ("apiSecret", ""), ("ignored", "")],
        );
        assert!(answers.is_valid());
        let changes = answers.changes(&current);
        assert!(
            !changes.contains_key("apiSecret"),
            "a blank secret overwrote the stored one"
        );
        assert!(
            !changes.contains_key("trackingId"),
            "an unchanged value is sent"
        );
        assert_eq!(changes["ignored"], json!([]));
        // A number has no empty form: clearing it is not a change Segment can take.
        assert!(!changes.contains_key("sampleRate"));
        assert_eq!(
            answers.merged(&current)["apiSecret"],
            json!("stored-secret")
        );
        // Unchecked boxes are false; false over nothing is no change.
        assert!(!changes.contains_key("anonymize"));
    }

    #[test]
    fn patterns_are_said_in_words() {
        assert_eq!(
            pattern_in_words("^.{8,}$").as_deref(),
            Some("at least 8 characters long")
        );
        assert_eq!(pattern_in_words(r"^\d+$").as_deref(), Some("digits only"));
        assert_eq!(
            pattern_in_words("^[a-zA-Z0-9]+$").as_deref(),
            Some("letters and digits only")
        );
        assert_eq!(
            pattern_in_words("^https?://.+$").as_deref(),
            Some("a URL starting with http:// or https://")
        );
        assert_eq!(
            pattern_in_words("^.{2,5}$").as_deref(),
            Some("2 to 5 characters long")
        );
        assert_eq!(pattern_in_words(r"^UA-\d+-\d+$"), None);
        // Without words, the pattern is only a technical detail.
        let error = check_pattern(Some(r"^UA-\d+-\d+$"), "nope").unwrap_err();
        assert!(error.starts_with("Does not have the form"), "{error}");
        assert!(error.contains("technical detail"), "{error}");
        assert_eq!(
            check_pattern(Some("^.{8,}$"), "short").unwrap_err(),
            "Must be at least 8 characters long."
        );
    }

    #[test]
    fn a_pattern_rust_cannot_compile_is_skipped() {
        let settings = [setting(json!({"name": "x", "type": "STRING",
                                       "string_validators": {"regexp": "^(?<!a)b$"}}))];
        let answers = submit(&settings, &BTreeMap::new(), &[("x", "anything")]);
        assert!(answers.is_valid());
    }

    #[test]
    fn map_options_and_select_values_are_checked() {
        let settings = [setting(json!({"name": "delims", "type": "MAP",
            "map_validators": {"regexp": "", "min": 0, "max": 0, "map_prefix": "", "select_options": ["|", ","]}}))];
        let ok = submit(&settings, &BTreeMap::new(), &[("delims", "list1=|")]);
        assert!(ok.is_valid());
        let bad = submit(&settings, &BTreeMap::new(), &[("delims", "list1=;")]);
        assert!(
            bad.fields[0]
                .error
                .as_deref()
                .unwrap()
                .contains("not one of")
        );
        let twice = submit(&settings, &BTreeMap::new(), &[("delims", "a=|\na=,")]);
        assert!(twice.fields[0].error.as_deref().unwrap().contains("twice"));
    }
}
