//! Your destination on the customer's source, in one call each: its status, Enable (create or
//! update it with your API key), Disable, Remove, and putting your API key back. Each is a
//! method of [`ConfigApi`], on the install's source (or the one given to
//! [`ConfigApi::on_source`]), with the token handling every call there gets.

use segment_client::{
    CatalogDestination, CatalogSetting, ConfigValue, ConnectionMode, Destination,
    DestinationChange, DestinationName, DestinationSlug,
};

use crate::api::{ConfigApi, ErrorOf};
use crate::error::CallError;
use crate::hooks::Hooks;
use crate::store::InstallStore;
use crate::users::Users;

/// Your destination's state on the source.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DestinationStatus {
    /// There is none: Enable creates it.
    NotCreated,
    /// It exists and Segment sends it data.
    Enabled(Destination),
    /// It exists, with its settings, and Segment sends it nothing.
    Disabled(Destination),
}

impl DestinationStatus {
    /// `Not created`, `Enabled` or `Disabled`: what a page says.
    pub fn label(&self) -> &'static str {
        match self {
            DestinationStatus::NotCreated => "Not created",
            DestinationStatus::Enabled(_) => "Enabled",
            DestinationStatus::Disabled(_) => "Disabled",
        }
    }

    /// The destination, if it exists.
    pub fn destination(&self) -> Option<&Destination> {
        match self {
            DestinationStatus::NotCreated => None,
            DestinationStatus::Enabled(d) | DestinationStatus::Disabled(d) => Some(d),
        }
    }

    fn of(destination: Option<Destination>) -> DestinationStatus {
        match destination {
            None => DestinationStatus::NotCreated,
            Some(d) if d.enabled => DestinationStatus::Enabled(d),
            Some(d) => DestinationStatus::Disabled(d),
        }
    }
}

/// What [`ConfigApi::enable_destination`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Enabled {
    /// The destination as Segment has it now.
    pub destination: Destination,
    /// It was created (else it existed and was updated).
    pub created: bool,
    /// Required settings it has no value for. When there are any, your key went in but the
    /// destination stays disabled: the customer fills them in (your settings page), then
    /// Enable again turns it on. Nothing is guessed.
    pub missing: Vec<CatalogSetting>,
    /// The destination's catalog entry (its display name, the schema of its settings).
    pub catalog: CatalogDestination,
}

impl Enabled {
    /// Segment sends the destination data now (no required setting is missing).
    pub fn is_enabled(&self) -> bool {
        self.destination.enabled
    }
}

impl<'a, S, U, H> ConfigApi<'a, S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U, S>,
{
    /// The full name of your destination `slug` on the source.
    pub fn destination_name(
        &self,
        slug: &DestinationSlug,
    ) -> Result<DestinationName, ErrorOf<S, U>> {
        let source = self.source.as_ref().ok_or(CallError::NoSource)?;
        Ok(source.destination(slug))
    }

    /// Your destination `slug` on the source, as the Config API has it: `None` if it is not
    /// created there.
    pub async fn destination(
        &mut self,
        slug: &DestinationSlug,
    ) -> Result<Option<Destination>, ErrorOf<S, U>> {
        let name = &self.destination_name(slug)?;
        self.call(|segment, token| async move { segment.get_destination(&token, name).await })
            .await
    }

    /// Whether your destination `slug` is created on the source, and enabled.
    pub async fn destination_status(
        &mut self,
        slug: &DestinationSlug,
    ) -> Result<DestinationStatus, ErrorOf<S, U>> {
        self.destination(slug).await.map(DestinationStatus::of)
    }

    /// Enable: your destination `slug` on the source, created or updated, in cloud mode, with
    /// `api_key` in its API key setting (when its catalog entry has one), and enabled, unless
    /// a required setting has no value ([`Enabled::missing`]: then it is kept disabled). Reads
    /// the catalog entry and the destination at once, then makes one write.
    pub async fn enable_destination(
        &mut self,
        slug: &DestinationSlug,
        api_key: Option<&str>,
    ) -> Result<Enabled, ErrorOf<S, U>> {
        let name = &self.destination_name(slug)?;
        let source = &name.source();
        self.call(|segment, token| async move {
            let (catalog, existing) = tokio::join!(
                segment.get_catalog_destination(&token, slug),
                segment.get_destination(&token, name),
            );
            let (catalog, existing) = (catalog?, existing?);
            let mut missing: Vec<CatalogSetting> = catalog
                .missing_required(existing.as_ref())
                .into_iter()
                .cloned()
                .collect();
            let key_setting = catalog
                .settings
                .iter()
                .find(|s| s.name == segment_client::API_KEY_SETTING);
            let key_held = existing.as_ref().and_then(Destination::api_key).is_some();
            if let Some(setting) = key_setting.filter(|s| s.required)
                && api_key.is_none()
                && !key_held
            {
                missing.push(setting.clone());
            }
            let config = match (key_setting, api_key) {
                (Some(_), Some(key)) => vec![ConfigValue {
                    name: name.api_key_setting(),
                    value: key.into(),
                }],
                _ => Vec::new(),
            };
            let change = DestinationChange {
                enabled: Some(missing.is_empty()),
                connection_mode: Some(ConnectionMode::Cloud),
                config: Some(config),
            };
            let (destination, created) = match existing {
                None => match segment
                    .create_destination(&token, source, name, &change)
                    .await
                {
                    Ok(created) => (created, true),
                    // Created meanwhile (another tab): update it instead.
                    Err(error) if error.is_already_exists() => (
                        segment.update_destination(&token, name, &change).await?,
                        false,
                    ),
                    Err(error) => return Err(error),
                },
                Some(_) => (
                    segment.update_destination(&token, name, &change).await?,
                    false,
                ),
            };
            Ok(Enabled {
                destination,
                created,
                missing,
                catalog,
            })
        })
        .await
    }

    /// Disable: your destination `slug` keeps its settings and gets no more data. `None`: it is
    /// not created.
    pub async fn disable_destination(
        &mut self,
        slug: &DestinationSlug,
    ) -> Result<Option<Destination>, ErrorOf<S, U>> {
        let change = DestinationChange {
            enabled: Some(false),
            ..Default::default()
        };
        self.update_existing(slug, change).await
    }

    /// Puts `api_key` back into your destination's API key setting (after someone replaced it
    /// in Segment), changing nothing else. `None`: it is not created.
    pub async fn put_api_key(
        &mut self,
        slug: &DestinationSlug,
        api_key: &str,
    ) -> Result<Option<Destination>, ErrorOf<S, U>> {
        let name = self.destination_name(slug)?;
        let change = DestinationChange {
            config: Some(vec![ConfigValue {
                name: name.api_key_setting(),
                value: api_key.into(),
            }]),
            ..Default::default()
        };
        self.update_existing(slug, change).await
    }

    /// Remove: deletes your destination `slug` from the source (the install stays). `false`:
    /// there was none.
    pub async fn remove_destination(
        &mut self,
        slug: &DestinationSlug,
    ) -> Result<bool, ErrorOf<S, U>> {
        let name = &self.destination_name(slug)?;
        self.call(|segment, token| async move {
            match segment.delete_destination(&token, name).await {
                Ok(()) => Ok(true),
                Err(error) if error.is_not_found() => Ok(false),
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Applies `change` to your destination `slug`, if it exists.
    async fn update_existing(
        &mut self,
        slug: &DestinationSlug,
        change: DestinationChange,
    ) -> Result<Option<Destination>, ErrorOf<S, U>> {
        let name = &self.destination_name(slug)?;
        let change = &change;
        self.call(|segment, token| async move {
            segment
                .update_existing_destination(&token, name, change)
                .await
        })
        .await
    }
}
