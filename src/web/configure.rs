//! The Configure page: a form generated from the destination's catalog schema, so a partner
//! whose destination needs more than an API key changes nothing but their slug.
//!
//! `GET /destination/configure` reads the catalog entry and the destination, and shows one
//! control per setting, filled in. `POST /destination/configure` checks every answer first
//! (nothing reaches Segment until the whole form is valid), then sends one update with the
//! changed settings, or creates the destination with them when it does not exist yet.
//!
//! The API key setting is the app's own: Enable puts the partner's key there, and Segment
//! delivers with it. The page says so and whether Segment still holds that key; a blank or
//! unchanged field keeps it, and another value is sent only with the box that confirms it
//! ticked (`web/api_key.rs`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::api_key::{REPLACE_MANAGED_KEY, guard_managed_key, managed_key};
use super::enable::{Api, Enable};
use super::error::WebError;
use super::extract::{DestinationTarget, Target, WritableTarget};
use super::login::CurrentAccount;
use super::pages::{ConfigurePage, Layout, ManagedKeyView, render, see_other};
use super::session::{FlashKind, TypedSession};
use super::settings_form::{self, Field};
use super::state::{Partner, Site};
use crate::segment::{
    API_KEY_SETTING, CatalogDestination, ConfigValue, ConnectionMode, Destination,
    DestinationChange, DestinationName, DestinationSlug,
};

/// `GET /destination/configure`
pub async fn show(
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    DestinationTarget(target): DestinationTarget,
) -> Result<HttpResponse, WebError> {
    let slug = &partner.destination_slug;
    let (catalog, destination) = load(&mut target.api(&enable), slug, &target.destination).await?;
    partner.learn_display_name(&catalog.display_name);
    let current = current_values(&partner, &target.account, &catalog, destination.as_ref()).await?;
    let managed = managed_key(&partner, &target.account, &catalog, destination.as_ref()).await?;
    let fields = settings_form::fields(&catalog.settings, &current);
    let page = page(
        Layout::with_forms(site.sandbox, &session),
        slug,
        &target,
        &catalog,
        destination.as_ref(),
        fields,
        managed,
        None,
    );
    render(&page)
}

/// `POST /destination/configure`
pub async fn save(
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let submitted: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let slug = &partner.destination_slug;
    let mut api = target.api(&enable);
    let (catalog, destination) = load(&mut api, slug, &target.destination).await?;
    let current = current_values(&partner, &target.account, &catalog, destination.as_ref()).await?;
    let managed = managed_key(&partner, &target.account, &catalog, destination.as_ref()).await?;
    let mut answers = settings_form::read(&catalog.settings, &current, &submitted);
    if let Some((key, _)) = &managed {
        let confirmed = submitted
            .iter()
            .any(|(name, _)| name == REPLACE_MANAGED_KEY);
        guard_managed_key(&mut answers, &current, key, confirmed);
    }

    if !answers.is_valid() {
        let problem = match answers.error_count() {
            1 => "One setting needs fixing; nothing was sent to Segment.".to_owned(),
            n => format!("{n} settings need fixing; nothing was sent to Segment."),
        };
        let error_count = answers.error_count();
        let page = page(
            Layout::with_forms(site.sandbox, &session),
            slug,
            &target,
            &catalog,
            destination.as_ref(),
            answers.fields,
            managed,
            Some(problem),
        );
        tracing::info!(errors = error_count, "configure form refused");
        return Ok(HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY)
            .content_type(ContentType::html())
            .body(page.render()?));
    }

    let sent = send(&mut api, &target, destination.is_some(), &answers, &current).await?;
    let message = match sent {
        None => {
            session.flash(
                FlashKind::Info,
                "Nothing changed, so nothing was sent to Segment.",
            )?;
            return Ok(see_other("/destination/configure"));
        }
        Some(Sent::Updated {
            count,
            replaced_key,
        }) => format!(
            "Saved {count} setting{}.{}",
            if count == 1 { "" } else { "s" },
            if replaced_key && managed.is_some() {
                " Segment now delivers with the key you typed, not the one this app manages: \
                 Push my API key again puts it back."
            } else {
                ""
            }
        ),
        Some(Sent::Created) => "The destination was created with these settings, disabled: \
                                Enable it on the destination page when you are ready."
            .to_owned(),
    };
    session.flash(FlashKind::Success, message)?;
    Ok(see_other("/destination/configure"))
}

/// What saving sent to Segment.
enum Sent {
    /// The destination's settings were updated: how many, and whether the API key was one.
    Updated { count: usize, replaced_key: bool },
    /// The destination was made with the settings, disabled.
    Created,
}

/// Sends the form's settings: the changed ones to the destination, or all of them in a new
/// (disabled) destination when `exists` is false. `None`: nothing changed, nothing was sent.
async fn send(
    api: &mut Api<'_>,
    target: &Target,
    exists: bool,
    answers: &settings_form::Answers,
    current: &BTreeMap<String, Value>,
) -> Result<Option<Sent>, WebError> {
    let (source, name) = (&target.source, &target.destination);
    let config = |values: BTreeMap<String, Value>| -> Vec<ConfigValue> {
        values
            .into_iter()
            .map(|(setting, value)| ConfigValue {
                name: name.setting(&setting),
                value,
            })
            .collect()
    };
    if !exists {
        let fields = &DestinationChange {
            enabled: Some(false),
            connection_mode: Some(ConnectionMode::Cloud),
            config: Some(config(answers.merged(current))),
        };
        api.call(|segment, token| async move {
            segment
                .create_destination(&token, source, name, fields)
                .await
        })
        .await
        .map_err(WebError::call(
            "creating the destination with these settings",
        ))?;
        return Ok(Some(Sent::Created));
    }
    let changes = answers.changes(current);
    if changes.is_empty() {
        return Ok(None);
    }
    let (count, replaced_key) = (changes.len(), changes.contains_key(API_KEY_SETTING));
    let change = &DestinationChange {
        config: Some(config(changes)),
        ..Default::default()
    };
    api.call(
        |segment, token| async move { segment.update_destination(&token, name, change).await },
    )
    .await
    .map_err(WebError::call("saving the destination's settings"))?;
    Ok(Some(Sent::Updated {
        count,
        replaced_key,
    }))
}

/// The catalog entry and the destination `name`, fetched together.
async fn load(
    api: &mut Api<'_>,
    slug: &DestinationSlug,
    name: &DestinationName,
) -> Result<(CatalogDestination, Option<Destination>), WebError> {
    api.call(|segment, token| async move {
        let (catalog, destination) = tokio::join!(
            segment.get_catalog_destination(&token, slug),
            segment.get_destination(&token, name),
        );
        Ok((catalog?, destination?))
    })
    .await
    .map_err(WebError::call(
        "reading the destination and its catalog entry",
    ))
}

/// The destination's stored values by setting name. Before the destination exists, the API key
/// the partner provisioned counts as stored, so creating it from this page carries the key.
async fn current_values(
    partner: &Partner,
    account: &CurrentAccount,
    catalog: &CatalogDestination,
    destination: Option<&Destination>,
) -> Result<BTreeMap<String, Value>, WebError> {
    Ok(match destination {
        Some(destination) => destination
            .config
            .iter()
            .map(|entry| (entry.setting().to_owned(), entry.value.clone()))
            .collect(),
        None if catalog.takes_api_key() => {
            let key = partner.api_key(account).await?;
            BTreeMap::from([(API_KEY_SETTING.to_owned(), Value::from(key.expose()))])
        }
        None => BTreeMap::new(),
    })
}

// The page's parts, as the handlers have them.
#[allow(clippy::too_many_arguments)]
fn page(
    layout: Layout,
    slug: &DestinationSlug,
    target: &Target,
    catalog: &CatalogDestination,
    destination: Option<&Destination>,
    fields: Vec<Field>,
    managed: Option<(String, ManagedKeyView)>,
    problem: Option<String>,
) -> ConfigurePage {
    let mut fields = fields;
    if managed.is_some() {
        for field in fields.iter_mut().filter(|f| f.setting == API_KEY_SETTING) {
            field.managed = true;
        }
    }
    let (mut current, deprecated): (Vec<Field>, Vec<Field>) =
        fields.into_iter().partition(|f| !f.deprecated);
    // Required settings first; otherwise the catalog's order.
    current.sort_by_key(|f| !f.required);
    ConfigurePage {
        layout,
        display_name: if catalog.display_name.is_empty() {
            slug.to_string()
        } else {
            catalog.display_name.clone()
        },
        source: target.source.to_string(),
        exists: destination.is_some(),
        enabled: destination.is_some_and(|d| d.enabled),
        read_only: !target.install.scope.can_write(),
        scope: target.install.scope.to_string(),
        fields: current,
        deprecated,
        managed: managed.map(|(_, view)| view),
        problem,
    }
}
