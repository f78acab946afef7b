//! The identity service's rules: consent, authorization codes (single use, 10 minutes, bound
//! to the redirect URI and the PKCE challenge), installs (one per App and workspace) and the
//! install tokens minted for them.

use super::*;

impl World {
    /// Records the user's consent and returns the authorization code for the redirect.
    pub fn grant(
        &mut self,
        redirect_uri: &str,
        workspace: &str,
        source: Option<String>,
        code_challenge: Option<String>,
    ) -> Secret {
        let now = Utc::now();
        self.grants
            .retain(|_, g| g.expires_at > now - CODE_LIFETIME);
        let code = random_token(24);
        self.saw_secret(code.clone());
        self.grants.insert(
            code.clone(),
            Grant {
                client_id: self.app.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                workspace: workspace.to_owned(),
                source,
                code_challenge,
                expires_at: now + CODE_LIFETIME,
                used: false,
                owner: None,
            },
        );
        self.log("consent given: authorization code issued", 302);
        Secret::new(code)
    }

    /// The browser that gave the consent behind `code`: the install it makes is theirs.
    pub fn consented_by(&mut self, code: &Secret, visitor: Visitor) {
        if let Some(grant) = self.grants.get_mut(code.expose()) {
            grant.owner = Some(visitor);
        }
    }

    /// The install `install_id`, if `viewer` may act on it (its own, or a script's).
    pub fn install_for(&self, install_id: u64, viewer: Option<&Visitor>) -> Option<&Install> {
        self.installs
            .get(&install_id)
            .filter(|install| install.is_for(viewer))
    }

    /// Whether the destination `name` is `viewer`'s to act on: made by one of its installs, or
    /// by no install a browser owns.
    pub fn destination_is_for(&self, name: &str, viewer: Option<&Visitor>) -> bool {
        self.destinations.get(name).is_some_and(|d| {
            d.created_by
                .and_then(|id| self.installs.get(&id))
                .is_none_or(|install| install.is_for(viewer))
        })
    }

    /// `POST /oauth2/token` with `grant_type=authorization_code`, once the client is known.
    pub fn exchange_code(&mut self, request: &CodeExchange) -> Result<Value, OAuthError> {
        let result = self.try_exchange_code(request);
        match &result {
            Ok(_) => self.log("code exchanged for an install token", 200),
            Err(e) => self.log(
                &format!("code exchange refused: {}", e.description),
                e.status,
            ),
        }
        result
    }

    fn try_exchange_code(&mut self, request: &CodeExchange) -> Result<Value, OAuthError> {
        if let Some(verifier) = &request.code_verifier {
            self.saw_secret(verifier.clone());
        }
        let malformed = |what: &str| {
            OAuthError::new(
                400,
                "invalid_request",
                format!(
                    "The request is missing a required parameter, includes an invalid parameter \
                     value, includes a parameter more than once, or is otherwise malformed. {what}"
                ),
            )
        };
        match request.grant_type.as_deref() {
            Some("authorization_code") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    "Only the authorization_code grant is supported.",
                ));
            }
            None => return Err(malformed("The grant_type is missing.")),
        }
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| malformed("The code is missing."))?;
        let invalid_grant = |why: &str| OAuthError::new(400, "invalid_grant", why.to_owned());
        let grant = self
            .grants
            .get_mut(code)
            .ok_or_else(|| invalid_grant("The authorization code is not valid."))?;
        if grant.used {
            return Err(invalid_grant(
                "The authorization code has already been used.",
            ));
        }
        // A code is spent by any attempt to use it, good or bad (RFC 6749 §10.5).
        grant.used = true;
        let grant = grant.clone();
        if grant.expires_at <= Utc::now() {
            return Err(invalid_grant("The authorization code has expired."));
        }
        if grant.client_id != self.app.client_id {
            return Err(invalid_grant(
                "The authorization code was issued to another client.",
            ));
        }
        if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(malformed(
                "The redirect_uri does not match the one used in the authorization request.",
            ));
        }
        check_pkce(
            grant.code_challenge.as_deref(),
            request.code_verifier.as_deref(),
        )
        .map_err(invalid_grant)?;
        let workspace = grant.workspace.clone();
        if self
            .installs
            .values()
            .any(|i| i.client_id == grant.client_id && i.workspace == workspace)
        {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "install already exists",
            ));
        }
        let id = self.add_install(workspace, grant.source.clone(), grant.owner.clone());
        Ok(self.mint_token(id, true))
    }

    fn add_install(
        &mut self,
        workspace: String,
        source: Option<String>,
        owner: Option<Visitor>,
    ) -> u64 {
        let id = self.next_install;
        self.next_install += 1;
        let install = Install {
            id,
            client_id: self.app.client_id.clone(),
            app_name: self.app.name.clone(),
            scope: self.app.scope.clone(),
            workspace,
            source,
            create_time: Utc::now(),
            tokens_minted: 0,
            owner,
        };
        self.installs.insert(id, install);
        id
    }

    /// Installs the App on `workspace` as if someone had done it earlier (another user of the
    /// partner's app, or a connection the app has lost): the next code exchange for it meets
    /// "install already exists". Returns the install's id.
    pub fn install_earlier(&mut self, workspace: &str, source: Option<String>) -> u64 {
        let id = self.add_install(workspace.to_owned(), source, None);
        self.log(
            &format!("installs/{id} made on workspaces/{workspace}"),
            200,
        );
        id
    }

    /// The install a token (live or expired) belongs to.
    pub fn install_of(&self, token: &str) -> Option<u64> {
        self.tokens.get(token).map(|record| record.install_id)
    }

    /// A new token for the install: Segment's token shape. Earlier tokens stop working.
    fn mint_token(&mut self, install_id: u64, with_sources: bool) -> Value {
        self.tokens.retain(|_, t| t.install_id != install_id);
        let token = format!("{}.{}", random_token(32), random_token(32));
        self.saw_secret(token.clone());
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                install_id,
                expires_at: Utc::now() + Duration::seconds(self.token_lifetime_secs),
            },
        );
        let Some(install) = self.installs.get_mut(&install_id) else {
            return Value::Null;
        };
        install.tokens_minted += 1;
        let mut body = json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime_secs,
            "scope": install.scope.to_string(),
            "app_name": install.app_name,
            "install_name": install.name(),
            "workspace_names": [format!("workspaces/{}", install.workspace)],
        });
        if with_sources && let Some(source) = &install.source {
            body["source_names"] = json!([format!(
                "workspaces/{}/sources/{}",
                install.workspace, source
            )]);
        }
        body
    }

    /// `GET /v1beta/installs/{id}/token`, once the client is known.
    pub fn refresh_token(&mut self, install_id: &str) -> Result<Value, ApiError> {
        let install = install_id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.installs.get(&id))
            .filter(|i| i.client_id == self.app.client_id)
            .ok_or_else(|| ApiError::not_found("install not found"))?;
        let id = install.id;
        self.refreshes += 1;
        self.log(&format!("install token refreshed for installs/{id}"), 200);
        Ok(self.mint_token(id, false))
    }

    /// Removes an install and its tokens, as a workspace owner does in Segment's settings.
    /// The destinations it created stay.
    pub fn uninstall(&mut self, install_id: u64) -> bool {
        let removed = self.installs.remove(&install_id).is_some();
        if removed {
            self.tokens.retain(|_, t| t.install_id != install_id);
            // What the App set up goes with it (a sandbox simplification: the next install on
            // the workspace, perhaps someone else's, starts clean).
            self.destinations
                .retain(|_, d| d.created_by != Some(install_id));
            self.log(
                &format!("installs/{install_id} uninstalled from the workspace"),
                200,
            );
        }
        removed
    }

    /// Makes every token of the install expire now (to show what a stale token does).
    pub fn expire_tokens(&mut self, install_id: u64) {
        let past = Utc::now() - Duration::seconds(1);
        for token in self
            .tokens
            .values_mut()
            .filter(|t| t.install_id == install_id)
        {
            token.expires_at = past;
        }
    }
}

/// A code issued for a PKCE challenge is exchanged only with its verifier (RFC 7636 §4.6).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    let Some(challenge) = challenge else {
        return Ok(());
    };
    let verifier = verifier.ok_or("The PKCE code_verifier is missing.")?;
    if pkce_s256(verifier) != challenge {
        return Err("The PKCE code_verifier does not match the challenge.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_world;
    use super::*;

    const REDIRECT: &str = "http://localhost:8888/auth/segment/callback";

    fn exchange(code: &Secret, verifier: Option<&str>) -> CodeExchange {
        CodeExchange {
            grant_type: Some("authorization_code".into()),
            code: Some(code.expose().to_owned()),
            redirect_uri: Some(REDIRECT.into()),
            code_verifier: verifier.map(str::to_owned),
        }
    }

    #[test]
    fn a_code_works_once() {
        let mut world = test_world("destination/clearbrain");
        let code = world.grant(REDIRECT, "acme", Some("javascript".into()), None);
        let token = world.exchange_code(&exchange(&code, None)).unwrap();
        assert_eq!(
            token["source_names"][0],
            "workspaces/acme/sources/javascript"
        );
        let again = world.exchange_code(&exchange(&code, None)).unwrap_err();
        assert_eq!(again.error, "invalid_grant");
    }

    #[test]
    fn a_code_is_bound_to_its_redirect_uri_and_spent_by_a_bad_attempt() {
        let mut world = test_world("workspace");
        let code = world.grant(REDIRECT, "acme", None, None);
        let mut elsewhere = exchange(&code, None);
        elsewhere.redirect_uri = Some("http://evil.example/callback".into());
        assert_eq!(
            world.exchange_code(&elsewhere).unwrap_err().error,
            "invalid_request"
        );
        assert_eq!(
            world
                .exchange_code(&exchange(&code, None))
                .unwrap_err()
                .error,
            "invalid_grant",
            "the code survived a bad attempt"
        );
    }

    #[test]
    fn pkce_needs_the_verifier_of_the_challenge() {
        let mut world = test_world("workspace");
        let challenge = pkce_s256("the-right-verifier-0123456789-0123456789-abc");
        let code = world.grant(REDIRECT, "acme", None, Some(challenge.clone()));
        let wrong = world
            .exchange_code(&exchange(&code, Some("another-verifier")))
            .unwrap_err();
        assert_eq!(wrong.error, "invalid_grant");
        let code = world.grant(REDIRECT, "acme", None, Some(challenge));
        world
            .exchange_code(&exchange(
                &code,
                Some("the-right-verifier-0123456789-0123456789-abc"),
            ))
            .unwrap();
    }

    #[test]
    fn an_app_installs_once_per_workspace_until_uninstalled() {
        let mut world = test_world("workspace");
        world.add_workspace("globex", "Globex").unwrap();
        let code = world.grant(REDIRECT, "acme", None, None);
        world.exchange_code(&exchange(&code, None)).unwrap();
        let code = world.grant(REDIRECT, "acme", None, None);
        let twice = world.exchange_code(&exchange(&code, None)).unwrap_err();
        assert_eq!(twice.description, "install already exists");
        let code = world.grant(REDIRECT, "globex", None, None);
        world.exchange_code(&exchange(&code, None)).unwrap();
    }
}
