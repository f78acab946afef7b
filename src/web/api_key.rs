//! The API key this app manages in the destination: Enable pushes the partner's key into the
//! destination's API key setting, and Segment delivers the customer's events with it. Here:
//! what Segment holds against that key (for the destination and Monitor pages), Configure's
//! view and guard of the setting, and `POST /destination/api-key`, which puts the key back.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::enable::Enable;
use super::error::WebError;
use super::extract::WritableTarget;
use super::health::HealthCache;
use super::login::CurrentAccount;
use super::pages::{ManagedKeyView, label, see_other};
use super::session::{FlashKind, TypedSession};
use super::settings_form::Answers;
use super::state::Partner;
use crate::secret::mask;
use crate::segment::{API_KEY_SETTING, CatalogDestination, Destination};
use crate::store::hash_key;

/// The box that confirms replacing the API key this app manages.
pub const REPLACE_MANAGED_KEY: &str = "replace_managed_key";

/// The API key this app manages in the destination (the one Enable pushes), and what Segment
/// holds there; `None` when the destination has no API key setting.
pub async fn managed_key(
    partner: &Partner,
    account: &CurrentAccount,
    catalog: &CatalogDestination,
    destination: Option<&Destination>,
) -> Result<Option<(String, ManagedKeyView)>, WebError> {
    if !catalog.takes_api_key() {
        return Ok(None);
    }
    let key = partner.api_key(account).await?.expose().to_owned();
    let in_segment = destination.and_then(Destination::api_key);
    let view = ManagedKeyView {
        whose: if partner.pushes_override() {
            "the demo's key (DESTINATION_API_KEY)"
        } else {
            "your API key with us"
        },
        masked: mask(&key),
        exists: destination.is_some(),
        holds_it: in_segment == Some(key.as_str()),
        other: in_segment
            .filter(|held| !held.is_empty() && *held != key)
            .map(mask),
    };
    Ok(Some((key, view)))
}

/// A new value in the managed key's field is refused unless the box confirms it; a blank field,
/// the same value, or the managed key itself goes through.
pub fn guard_managed_key(
    answers: &mut Answers,
    current: &BTreeMap<String, Value>,
    key: &str,
    confirmed: bool,
) {
    let typed = answers.changes(current).remove(API_KEY_SETTING);
    let replaces = typed.is_some_and(|value| value.as_str() != Some(key));
    if confirmed || !replaces {
        return;
    }
    if let Some(field) = answers
        .fields
        .iter_mut()
        .find(|f| f.setting == API_KEY_SETTING)
    {
        field.error = Some(
            "This replaces the API key this app manages, and we refuse events sent with another \
             key (Monitor then shows them discarded with 401). Tick the box below to replace it \
             anyway, or leave the field blank to keep it."
                .to_owned(),
        );
    }
}

/// What the page can say about Segment's credential test of the key in the destination: the
/// key Segment holds is compared (by hash) with the account's current one, and the account
/// records when `GET /api/v1/me` last passed with it.
pub fn credential_status(
    partner: &Partner,
    account: &CurrentAccount,
    destination: &Destination,
) -> Option<(&'static str, String)> {
    let in_segment = destination.api_key()?.to_owned();
    if let Some(key) = partner.override_key() {
        return Some(if key.expose() == in_segment {
            (
                "info",
                "The API key is the demo override (DESTINATION_API_KEY), not your account's."
                    .into(),
            )
        } else {
            (
                "error",
                "The API key in Segment is not the demo override (DESTINATION_API_KEY): it was \
                 replaced. Push my API key again puts the override back."
                    .into(),
            )
        });
    }
    if hash_key(&in_segment) != account.account.api_key_hash {
        return Some((
            "error",
            "The API key in Segment is not your current key (it was replaced), so Segment's \
             credential test fails with it, and we refuse the events sent with it. Push my API \
             key again puts yours back."
                .into(),
        ));
    }
    Some(match account.account.key_verified_at {
        Some(at) => (
            "success",
            format!(
                "Segment verified your API key ({} UTC).",
                at.format("%H:%M:%S")
            ),
        ),
        None => ("info", "Segment has not tested your API key yet.".into()),
    })
}

/// The form of `POST /destination/api-key`: which page to come back to.
#[derive(Deserialize)]
pub struct PushKeyForm {
    #[serde(default)]
    back: String,
}

/// `POST /destination/api-key`: puts the API key this app manages back into the destination
/// (after someone replaced it on Configure or in Segment), and changes nothing else.
pub async fn push_key(
    health: web::Data<HealthCache>,
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
    form: web::Form<PushKeyForm>,
) -> Result<HttpResponse, WebError> {
    let back = if form.back == "configure" {
        "/destination/configure"
    } else {
        "/destination"
    };
    let api_key = partner.api_key(&target.account).await?;
    let updated = target
        .api(&enable)
        .put_api_key(&partner.destination_slug, api_key.expose())
        .await
        .map_err(WebError::call(
            "putting your API key back into the destination",
        ))?;
    health.forget(&target.destination);
    match updated {
        Some(updated) => session.flash(
            FlashKind::Success,
            format!(
                "Your API key is back in {}: Segment delivers with it again.",
                label(&updated)
            ),
        )?,
        None => session.flash(
            FlashKind::Error,
            "There is no destination yet: Enable creates it with your API key.",
        )?,
    }
    Ok(see_other(back))
}
