//! The partner's destination on the customer's source: `GET /destination` shows the install
//! and the destination's live state; `POST /destination/enable`, `/disable` and `/remove`
//! change it and come back with a flash message. With a `workspace` or `workspace:read` scope
//! the token names no source, so the visitor picks one first (`POST /destination/source`).

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use enable_with_segment::CallError;

use super::api_key::credential_status;
use super::enable::Enable;
use super::error::WebError;
use super::extract::{Connected, Resolved, Target, WritableTarget, not_connected, resolve};
use super::health::{HEALTH_RANGE, HealthCache, line};
use super::installs;
use super::login::CurrentAccount;
use super::pages::{
    DestinationPage, DestinationView, InstallView, Layout, RemovePage, SettingView, SourceChoice,
    SourcesPage, label, render, see_other,
};
use super::session::{FlashKind, TypedSession};
use super::state::{Partner, Site};
use crate::secret::{is_secret_setting, mask};
use crate::segment::{API_KEY_SETTING, Destination, DestinationName, InstallToken, SourceName};

/// `GET /destination`
pub async fn show(
    health: web::Data<HealthCache>,
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    account: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let slug = &partner.destination_slug;
    let target = match resolve(enable.store(), slug, &session, account).await? {
        Resolved::Target(target) => target,
        Resolved::NotConnected => return not_connected(&session),
        Resolved::PickSource(picking) => {
            let (account, install) = *picking;
            let picker = SourcePicker {
                enable: &enable,
                partner: &partner,
                site: &site,
            };
            return picker.show(&session, &account, install).await;
        }
    };
    let name = &target.destination;
    // The health line comes from the cache when it is fresh: then the page costs one call.
    // Otherwise the summary is asked for after the destination, and only if there is one: on
    // a new install there is none yet, and the page costs one call too.
    let cached = health.get(name);
    let summary_wanted = cached.is_none();
    let mut api = target.api(&enable);
    let read = api
        .call(|segment, token| async move {
            let destination = segment.get_destination(&token, name).await?;
            if !summary_wanted || destination.is_none() {
                return Ok((destination, None));
            }
            let window = HEALTH_RANGE.window(Utc::now());
            let summary = segment.delivery_summary(&token, name, &window).await;
            Ok((destination, Some(summary)))
        })
        .await;
    // Segment refusing the install's token is this page's business: it explains, and keeps
    // showing the install.
    let mut health_line = cached;
    let (destination, attention) = match read {
        Ok((destination, summary)) => {
            if let Some(destination) = &destination {
                partner.learn_display_name(&destination.display_name);
            }
            // Metrics that cannot be had leave the line out; the Monitor page explains why.
            if let Some(Ok(summary)) = summary {
                let fresh = line(&summary);
                health.put(name, fresh.clone());
                health_line = Some(fresh);
            }
            if destination.is_none() {
                health_line = None;
            }
            let view = with_credential(&partner, &target, destination.as_ref());
            (Some(view), None)
        }
        Err(CallError::Refused(reason)) => (None, Some(reason)),
        Err(other) => return Err(WebError::call("reading the destination")(other)),
    };
    let mut install = install_view(api.install(), &target.source);
    if attention.is_some() {
        install.expires = "refused by Segment (see below)".to_owned();
    }
    render(&DestinationPage {
        layout: Layout::with_forms(site.sandbox, &session),
        install,
        destination,
        attention,
        sandbox: site.sandbox,
        display_name: partner.display_name(),
        health: health_line,
    })
}

/// The destination as the page shows it, with what Segment's credential test said of the key.
fn with_credential(
    partner: &Partner,
    target: &Target,
    destination: Option<&Destination>,
) -> DestinationView {
    let mut view = destination_view(&target.destination, destination);
    view.credential = destination.and_then(|d| credential_status(partner, &target.account, d));
    view.key_replaced = view
        .credential
        .as_ref()
        .is_some_and(|(class, _)| *class == "error");
    view
}

/// `GET /destination/sources`: the source picker again, to manage another source (wider
/// scopes only; a `destination/<slug>` install has its source fixed).
pub async fn sources(
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    Connected { account, install }: Connected,
) -> Result<HttpResponse, WebError> {
    if install.scope.names_a_source() {
        return Ok(see_other("/destination"));
    }
    let picker = SourcePicker {
        enable: &enable,
        partner: &partner,
        site: &site,
    };
    picker.show(&session, &account, install).await
}

/// The source picker: what it needs, to show the workspace's sources.
struct SourcePicker<'a> {
    enable: &'a Enable,
    partner: &'a Partner,
    site: &'a Site,
}

impl SourcePicker<'_> {
    async fn show(
        &self,
        session: &TypedSession,
        account: &CurrentAccount,
        install: InstallToken,
    ) -> Result<HttpResponse, WebError> {
        let workspace = &install
            .workspace()
            .cloned()
            .ok_or_else(|| WebError::BadRequest("the install token names no workspace".into()))?;
        let scope = install.scope.to_string();
        let sources = self
            .enable
            .config_api_with(&account.id(), install)
            .call(|segment, token| async move { segment.list_sources(&token, workspace).await })
            .await
            .map_err(WebError::call("listing the workspace's sources"))?;
        let sources = sources
            .into_iter()
            .filter_map(|s| {
                let name = SourceName::parse(&s.name).ok()?;
                Some(SourceChoice {
                    slug: name.slug().to_owned(),
                    name: name.to_string(),
                    catalog_name: s.catalog_name,
                })
            })
            .collect();
        render(&SourcesPage {
            layout: Layout::with_forms(self.site.sandbox, session),
            workspace: workspace.to_string(),
            scope,
            sources,
            display_name: self.partner.display_name(),
        })
    }
}

#[derive(Deserialize)]
pub struct SourceForm {
    source: String,
}

/// `POST /destination/source`: remembers the source to manage (wider scopes only).
pub async fn choose_source(
    session: TypedSession,
    Connected { install, .. }: Connected,
    form: web::Form<SourceForm>,
) -> Result<HttpResponse, WebError> {
    if install.scope.names_a_source() {
        return Err(WebError::BadRequest(format!(
            "the scope {} fixes the source at install time",
            install.scope
        )));
    }
    let source = SourceName::parse(&form.source)
        .map_err(|reason| WebError::BadRequest(format!("source: {reason}")))?;
    if Some(&source.workspace()) != install.workspace() {
        return Err(WebError::BadRequest(
            "that source is not on the installed workspace".into(),
        ));
    }
    session.set_source(&source)?;
    Ok(see_other("/destination"))
}

/// `POST /destination/enable`: creates the destination with the partner's API key (when the
/// destination has an `apiKey` setting), enabled; when it already exists, updates API key,
/// enabled and connection mode instead (as Segment's Node example does). A required setting
/// without a value keeps it disabled, and Configure asks for it.
pub async fn enable(
    health: web::Data<HealthCache>,
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
) -> Result<HttpResponse, WebError> {
    let api_key = partner.api_key(&target.account).await?;
    let enabled = target
        .api(&enable)
        .enable_destination(&partner.destination_slug, Some(api_key.expose()))
        .await
        .map_err(WebError::call("enabling the destination"))?;
    partner.learn_display_name(&enabled.catalog.display_name);
    health.forget(&target.destination);
    let destination = &enabled.destination;
    if !enabled.missing.is_empty() {
        let missing: Vec<&str> = enabled
            .missing
            .iter()
            .map(|s| {
                if s.display_name.is_empty() {
                    s.name.as_str()
                } else {
                    s.display_name.as_str()
                }
            })
            .collect();
        let one = missing.len() == 1;
        session.flash(
            FlashKind::Error,
            format!(
                "{} needs {} before it can be enabled: {}. Fill {} in here, save, then click \
                 Enable again. Your API key is in place; the destination stays disabled.",
                label(destination),
                if one { "a setting" } else { "some settings" },
                missing.join(", "),
                if one { "it" } else { "them" },
            ),
        )?;
        return Ok(see_other("/destination/configure"));
    }
    let message = if enabled.created {
        format!(
            "{} was created on {} and enabled.",
            label(destination),
            target.source.slug()
        )
    } else {
        format!(
            "{} already existed: its API key was updated and it is enabled.",
            label(destination)
        )
    };
    session.flash(FlashKind::Success, message)?;
    Ok(see_other("/destination"))
}

/// `POST /destination/disable`: keeps the destination and its settings, stops sending data.
pub async fn disable(
    health: web::Data<HealthCache>,
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
) -> Result<HttpResponse, WebError> {
    let updated = target
        .api(&enable)
        .disable_destination(&partner.destination_slug)
        .await
        .map_err(WebError::call("disabling the destination"))?;
    health.forget(&target.destination);
    match updated {
        Some(updated) => session.flash(
            FlashKind::Success,
            format!("{} is disabled.", label(&updated)),
        )?,
        None => session.flash(
            FlashKind::Error,
            "There is no destination to disable yet: Enable creates it.",
        )?,
    }
    Ok(see_other("/destination"))
}

/// `GET /destination/remove`: what Remove does, and a button to do it (no script needed).
pub async fn confirm_remove(
    site: web::Data<Site>,
    partner: web::Data<Partner>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
) -> Result<HttpResponse, WebError> {
    render(&RemovePage {
        layout: Layout::with_forms(site.sandbox, &session),
        display_name: partner.display_name(),
        source: target.source.to_string(),
    })
}

/// `POST /destination/remove`: deletes the destination from the source. The install stays.
pub async fn remove(
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    session: TypedSession,
    WritableTarget(target): WritableTarget,
) -> Result<HttpResponse, WebError> {
    let removed = target
        .api(&enable)
        .remove_destination(&partner.destination_slug)
        .await
        .map_err(WebError::call("removing the destination"))?;
    if removed {
        let message = format!("The destination was removed from {}.", target.source.slug());
        session.flash(FlashKind::Success, message)?;
    } else {
        session.flash(FlashKind::Info, "There was no destination to remove.")?;
    }
    Ok(see_other("/destination"))
}

fn install_view(install: &InstallToken, source: &SourceName) -> InstallView {
    let minutes = (install.expires_at - Utc::now()).num_minutes();
    let expires = if minutes >= 0 {
        format!(
            "{} (in {minutes} min)",
            install.expires_at.format("%H:%M:%S UTC")
        )
    } else {
        format!("{} (expired)", install.expires_at.format("%H:%M:%S UTC"))
    };
    InstallView {
        install_name: install.install_name.to_string(),
        workspace: install
            .workspace()
            .map(|w| w.to_string())
            .unwrap_or_else(|| source.workspace().to_string()),
        source: source.to_string(),
        scope: install.scope.to_string(),
        expires,
        can_write: install.scope.can_write(),
        source_is_picked: !install.scope.names_a_source(),
    }
}

fn destination_view(name: &DestinationName, destination: Option<&Destination>) -> DestinationView {
    let Some(d) = destination else {
        return DestinationView {
            status: "Not created",
            status_class: "absent",
            exists: false,
            enabled: false,
            display_name: String::new(),
            name: name.to_string(),
            connection_mode: String::new(),
            settings: Vec::new(),
            updated: String::new(),
            credential: None,
            key_replaced: false,
        };
    };
    let settings = d
        .config
        .iter()
        .map(|entry| {
            let setting = entry.setting().to_owned();
            let value = match &entry.value {
                serde_json::Value::String(s)
                    if is_secret_setting(&setting, &entry.kind, API_KEY_SETTING) =>
                {
                    mask(s)
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            SettingView {
                label: if entry.display_name.is_empty() {
                    setting.clone()
                } else {
                    entry.display_name.clone()
                },
                setting,
                value,
            }
        })
        .collect();
    DestinationView {
        status: if d.enabled { "Enabled" } else { "Disabled" },
        status_class: if d.enabled { "enabled" } else { "disabled" },
        exists: true,
        enabled: d.enabled,
        display_name: d.display_name.clone(),
        name: d.name.clone(),
        connection_mode: d.connection_mode.clone().unwrap_or_default(),
        settings,
        updated: d
            .update_time
            .as_deref()
            .map(|at| time_of_day(at, Utc::now()))
            .unwrap_or_default(),
        credential: None,
        key_replaced: false,
    }
}

/// A time Segment gave (RFC 3339) as the app's pages say times: "14:17:36 UTC", with the date
/// in front when it is not today. Segment's own text if it is not a time.
fn time_of_day(at: &str, now: chrono::DateTime<Utc>) -> String {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(at) => {
            let at = at.with_timezone(&Utc);
            if at.date_naive() == now.date_naive() {
                at.format("%H:%M:%S UTC").to_string()
            } else {
                at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            }
        }
        Err(_) => at.to_owned(),
    }
}

/// `POST /destination/disconnect`: this app stops using the install and drops its token
/// (Segment keeps the install): the flow library's `uninstall`. The account stays its holder,
/// so connecting the same workspace again offers it back.
pub async fn disconnect(
    enable: web::Data<Enable>,
    site: web::Data<Site>,
    session: TypedSession,
    account: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let Some(account) = account else {
        return not_connected(&session);
    };
    let Some(install) = installs::current(enable.store(), &session, &account).await? else {
        return not_connected(&session);
    };
    enable
        .uninstall(&account.id(), install.name())
        .await
        .map_err(WebError::installs)?;
    session.forget_install();
    let workspace = install.token.workspace_slug();
    let where_to = if site.sandbox {
        "Uninstall it from the sandbox inspector"
    } else {
        "A workspace owner uninstalls it in the workspace's settings in Segment"
    };
    session.flash(
        FlashKind::Info,
        format!(
            "Disconnected: this app no longer uses its install on {workspace}. The App is still \
             installed in Segment, and its destination keeps running. {where_to} to remove it \
             there; or connect with Segment again to reconnect."
        ),
    )?;
    Ok(see_other("/"))
}

#[cfg(test)]
mod tests {
    use super::time_of_day;
    use chrono::{TimeZone, Utc};

    #[test]
    fn segment_times_read_like_the_other_times() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        assert_eq!(time_of_day("2026-12-02T14:17:36.123Z", now), "14:17:36 UTC");
        assert_eq!(
            time_of_day("2026-12-01T23:59:59+00:00", now),
            "2026-12-01 23:59:59 UTC"
        );
        assert_eq!(time_of_day("yesterday", now), "yesterday");
    }
}
