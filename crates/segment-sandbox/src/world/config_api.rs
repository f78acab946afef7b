//! The Config API's rules: bearer tokens, what each scope may reach, destinations (create,
//! update with an update mask, delete) and their config checked against the catalog, and the
//! credential test.

use super::*;

impl World {
    /// The install behind a bearer token.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Install, ApiError> {
        let malformed = || ApiError::unauthenticated("malformed token");
        let record = bearer
            .and_then(|t| self.tokens.get(t))
            .ok_or_else(malformed)?;
        if record.expires_at <= Utc::now() {
            return Err(malformed());
        }
        self.installs
            .get(&record.install_id)
            .cloned()
            .ok_or_else(malformed)
    }

    /// Whether `install` may touch `workspace` (and, below it, `source` and `slug`).
    pub fn authorize(
        &self,
        install: &Install,
        access: Access,
        workspace: &str,
        source: Option<&str>,
        slug: Option<&str>,
    ) -> Result<(), ApiError> {
        let scope = &install.scope;
        if workspace != install.workspace {
            return Err(ApiError::forbidden(format!(
                "the install has no access to workspaces/{workspace}"
            )));
        }
        match scope {
            Scope::Destination(allowed) => {
                let on_consented_source = source.is_some() && source == install.source.as_deref();
                if !on_consented_source || slug != Some(allowed.as_str()) {
                    return Err(ApiError::forbidden(format!(
                        "the scope {scope} only allows the {allowed} destination on the consented source"
                    )));
                }
            }
            Scope::WorkspaceRead if access == Access::Write => {
                return Err(ApiError::forbidden(
                    "the scope workspace:read cannot change anything",
                ));
            }
            _ => {}
        }
        if let Some(source) = source
            && !self
                .workspace(workspace)
                .is_some_and(|w| w.has_source(source))
        {
            return Err(ApiError::not_found(format!(
                "source workspaces/{workspace}/sources/{source} not found"
            )));
        }
        Ok(())
    }

    /// The Config API's body for the workspace `slug`.
    pub fn workspace_body(&self, slug: &str) -> Result<Value, ApiError> {
        let workspace = self
            .workspace(slug)
            .ok_or_else(|| ApiError::not_found(format!("workspace {slug} not found")))?;
        Ok(json!({
            "name": workspace.name(),
            "display_name": workspace.display_name,
            "id": workspace.id,
            "create_time": timestamp(workspace.create_time),
        }))
    }

    /// The Config API's body listing the sources of workspace `slug`.
    pub fn sources_body(&self, slug: &str) -> Result<Value, ApiError> {
        let workspace = self
            .workspace(slug)
            .ok_or_else(|| ApiError::not_found(format!("workspace {slug} not found")))?;
        let sources: Vec<Value> = workspace
            .sources
            .iter()
            .map(|s| {
                json!({
                    "name": workspace.source_name(&s.slug),
                    "catalog_name": s.catalog_name,
                    "parent": workspace.name(),
                    "write_keys": [format!("wk_{}_{}", workspace.slug, s.slug)],
                    "create_time": timestamp(workspace.create_time),
                })
            })
            .collect();
        Ok(json!({ "sources": sources, "next_page_token": "" }))
    }

    /// The Config API's body for the destination `d`.
    pub fn destination_body(&self, d: &StoredDestination) -> Value {
        let entry = self.catalog.get(&d.slug);
        let config: Vec<Value> = d
            .config
            .iter()
            .map(|(setting, value)| {
                let schema = entry.and_then(|e| e.setting(setting));
                json!({
                    "name": format!("{}/config/{}", d.name(), setting),
                    "display_name": schema.map(|s| s.display_name.as_str()).unwrap_or(setting),
                    "value": value,
                    "type": schema.map(|s| s.kind.to_ascii_lowercase()).unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "name": d.name(),
            "parent": format!("workspaces/{}/sources/{}", d.workspace, d.source),
            "display_name": d.display_name,
            "enabled": d.enabled,
            "connection_mode": d.connection_mode,
            "config": config,
            "create_time": timestamp(d.create_time),
            "update_time": timestamp(d.update_time),
        })
    }

    /// The Config API's body for a destination, or its 404.
    pub fn get_destination(
        &self,
        workspace: &str,
        source: &str,
        slug: &str,
    ) -> Result<Value, ApiError> {
        let name = destination_name(workspace, source, slug);
        self.destinations
            .get(&name)
            .map(|d| self.destination_body(d))
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))
    }

    /// The Config API's body listing a source's destinations.
    pub fn list_destinations(&self, workspace: &str, source: &str) -> Value {
        let destinations: Vec<Value> = self
            .destinations
            .values()
            .filter(|d| d.workspace == workspace && d.source == source)
            .map(|d| self.destination_body(d))
            .collect();
        json!({ "destinations": destinations, "next_page_token": "" })
    }

    /// `POST …/destinations` with `{"destination": {...}}`.
    pub fn create_destination(
        &mut self,
        workspace: &str,
        source: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let destination = body
            .get("destination")
            .ok_or_else(|| ApiError::bad_request("the body needs a \"destination\" object"))?;
        let name = destination
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("destination.name is required"))?;
        let prefix = format!("workspaces/{workspace}/sources/{source}/destinations/");
        let slug = name
            .strip_prefix(&prefix)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "destination.name must be {prefix}<slug>, the source in the path"
                ))
            })?
            .to_owned();
        if self.destinations.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "destination already exists: {name}"
            )));
        }
        let display_name = self
            .catalog
            .get(&slug)
            .map(|e| e.display_name.clone())
            .ok_or_else(|| {
                ApiError::bad_request(format!("unknown destination {slug:?}: not in the catalog"))
            })?;
        let now = Utc::now();
        let mut stored = StoredDestination {
            workspace: workspace.to_owned(),
            source: source.to_owned(),
            slug,
            display_name,
            enabled: false,
            connection_mode: "UNSPECIFIED".into(),
            config: BTreeMap::new(),
            create_time: now,
            update_time: now,
            credential_test: None,
            key_accepted: None,
            key_tested_at: None,
            history: Vec::new(),
            created_by: None,
        };
        self.apply(
            &mut stored,
            destination,
            &["enabled", "connection_mode", "config"],
            true,
        )?;
        delivery::note_delivery(&mut stored, now);
        let body = self.destination_body(&stored);
        self.destinations.insert(name.to_owned(), stored);
        Ok(body)
    }

    /// `PATCH …/destinations/{slug}` with `{"destination": {...}, "update_mask": {"paths": [...]}}`.
    pub fn update_destination(
        &mut self,
        workspace: &str,
        source: &str,
        slug: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let name = destination_name(workspace, source, slug);
        let paths: Vec<&str> = body
            .pointer("/update_mask/paths")
            .and_then(Value::as_array)
            .map(|paths| paths.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(ApiError::bad_request(
                "update_mask.paths is required: say which fields to change",
            ));
        }
        let mut fields = Vec::new();
        for path in &paths {
            match path.strip_prefix("destination.") {
                Some(field @ ("enabled" | "connection_mode" | "config")) => fields.push(field),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "update_mask path {path:?} is not one of destination.enabled, \
                         destination.config, destination.connection_mode"
                    )));
                }
            }
        }
        let destination = body
            .get("destination")
            .ok_or_else(|| ApiError::bad_request("the body needs a \"destination\" object"))?;
        let mut stored = self
            .destinations
            .get(&name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))?;
        self.apply(&mut stored, destination, &fields, false)?;
        let now = Utc::now();
        stored.update_time = now;
        delivery::note_delivery(&mut stored, now);
        let body = self.destination_body(&stored);
        self.destinations.insert(name, stored);
        Ok(body)
    }

    /// Removes a destination, or answers its 404.
    pub fn delete_destination(
        &mut self,
        workspace: &str,
        source: &str,
        slug: &str,
    ) -> Result<Value, ApiError> {
        let name = destination_name(workspace, source, slug);
        self.destinations
            .remove(&name)
            .map(|_| json!({}))
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))
    }

    /// Copies the `fields` of `input` onto `stored`, checking each against the catalog.
    fn apply(
        &self,
        stored: &mut StoredDestination,
        input: &Value,
        fields: &[&str],
        optional: bool,
    ) -> Result<(), ApiError> {
        for field in fields {
            let value = match input.get(*field) {
                Some(value) => value,
                None if optional => continue,
                None => {
                    return Err(ApiError::bad_request(format!(
                        "the update mask names destination.{field} but the body has no {field}"
                    )));
                }
            };
            match *field {
                "enabled" => {
                    stored.enabled = value.as_bool().ok_or_else(|| {
                        ApiError::bad_request("destination.enabled must be a boolean")
                    })?;
                }
                "connection_mode" => {
                    let mode = value.as_str().unwrap_or_default();
                    if !matches!(mode, "CLOUD" | "DEVICE" | "UNSPECIFIED") {
                        return Err(ApiError::bad_request(format!(
                            "destination.connection_mode {value} is not CLOUD, DEVICE or UNSPECIFIED"
                        )));
                    }
                    stored.connection_mode = mode.to_owned();
                }
                _ => self.apply_config(stored, value)?,
            }
        }
        Ok(())
    }

    fn apply_config(&self, stored: &mut StoredDestination, config: &Value) -> Result<(), ApiError> {
        let entries = config
            .as_array()
            .ok_or_else(|| ApiError::bad_request("destination.config must be a list"))?;
        let prefix = format!("{}/config/", stored.name());
        let entry = self.catalog.get(&stored.slug);
        let mut updates = BTreeMap::new();
        for item in entries {
            let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
            let setting = name.strip_prefix(&prefix).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "config entry name {name:?} must be {prefix}<setting>"
                ))
            })?;
            let schema = entry.and_then(|e| e.setting(setting)).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown setting {setting:?} for destination {}",
                    stored.slug
                ))
            })?;
            let value = item.get("value").cloned().unwrap_or(Value::Null);
            schema
                .check(&value)
                .map_err(|why| ApiError::bad_request(format!("setting {setting:?}: {why}")))?;
            updates.insert(setting.to_owned(), value);
        }
        stored.config.extend(updates);
        Ok(())
    }

    /// The `apiKey` of a destination and the URL to test it against, if both are there.
    pub fn credential_test_target(&self, name: &str) -> Option<(String, String)> {
        let url = self.credential_test_url.clone()?;
        let key = self
            .destinations
            .get(name)?
            .config
            .get("apiKey")?
            .as_str()?
            .to_owned();
        Some((url, key))
    }

    /// Notes that `install` created the destination `name`.
    pub fn created_by(&mut self, name: &str, install: u64) {
        if let Some(destination) = self.destinations.get_mut(name) {
            destination.created_by = Some(install);
        }
    }

    /// Records a credential test's outcome on the destination.
    pub fn record_credential_test(&mut self, name: &str, outcome: String, ok: bool) {
        self.log(
            &format!("credential test of {name}: {outcome}"),
            if ok { 200 } else { 401 },
        );
        if let Some(destination) = self.destinations.get_mut(name) {
            destination.credential_test = Some(outcome);
            destination.key_accepted = Some(ok);
            destination.key_tested_at = Some(Utc::now());
            delivery::note_delivery(destination, Utc::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CodeExchange, test_world};
    use super::*;

    const REDIRECT: &str = "http://localhost:8888/auth/segment/callback";

    /// An install on acme (on `source` for a destination scope) and its bearer token.
    fn installed(world: &mut World, source: Option<&str>) -> (Install, String) {
        let code = world.grant(REDIRECT, "acme", source.map(str::to_owned), None);
        let token = world
            .exchange_code(&CodeExchange {
                grant_type: Some("authorization_code".into()),
                code: Some(code.expose().to_owned()),
                redirect_uri: Some(REDIRECT.into()),
                code_verifier: None,
            })
            .unwrap();
        let bearer = token["access_token"].as_str().unwrap().to_owned();
        (world.authenticate(Some(&bearer)).unwrap(), bearer)
    }

    #[test]
    fn a_destination_scope_reaches_its_slug_on_the_consented_source_only() {
        let mut world = test_world("destination/clearbrain");
        let (install, _) = installed(&mut world, Some("javascript"));
        let reach = |source, slug| {
            world
                .authorize(&install, Access::Write, "acme", Some(source), Some(slug))
                .map_err(|e| e.status)
        };
        assert_eq!(reach("javascript", "clearbrain"), Ok(()));
        assert_eq!(reach("javascript", "google-analytics"), Err(403));
        assert_eq!(reach("ios", "clearbrain"), Err(403));
        assert_eq!(
            world
                .authorize(&install, Access::Read, "globex", None, None)
                .map_err(|e| e.status),
            Err(403),
            "another workspace"
        );
    }

    #[test]
    fn workspace_read_reads_and_never_writes() {
        let mut world = test_world("workspace:read");
        let (install, _) = installed(&mut world, None);
        let access = |access| {
            world
                .authorize(
                    &install,
                    access,
                    "acme",
                    Some("javascript"),
                    Some("clearbrain"),
                )
                .map_err(|e| e.status)
        };
        assert_eq!(access(Access::Read), Ok(()));
        assert_eq!(access(Access::Write), Err(403));
    }

    #[test]
    fn tokens_stop_working_when_expired_refreshed_or_uninstalled() {
        let mut world = test_world("workspace");
        let (install, bearer) = installed(&mut world, None);
        let refused = |world: &World, bearer: &str| {
            world
                .authenticate(Some(bearer))
                .map_err(|e| (e.status, e.message))
                .err()
        };
        assert_eq!(
            refused(&world, "made-up"),
            Some((401, "malformed token".into()))
        );

        // Minting a new token retires the old one.
        let fresh = world.refresh_token(&install.id.to_string()).unwrap();
        let fresh = fresh["access_token"].as_str().unwrap().to_owned();
        assert!(
            refused(&world, &bearer).is_some(),
            "the old token still works"
        );
        assert_eq!(refused(&world, &fresh), None);

        world.expire_tokens(install.id);
        assert!(refused(&world, &fresh).is_some(), "an expired token works");

        let newer = world.refresh_token(&install.id.to_string()).unwrap();
        let newer = newer["access_token"].as_str().unwrap().to_owned();
        assert!(world.uninstall(install.id));
        assert!(
            refused(&world, &newer).is_some(),
            "an uninstalled install's token works"
        );
        assert_eq!(
            world
                .refresh_token(&install.name())
                .map_err(|e| e.status)
                .err(),
            Some(404)
        );
    }
}
