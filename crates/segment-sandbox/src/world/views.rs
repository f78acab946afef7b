//! What the inspector shows of the world (and the JSON tests read): a snapshot with every
//! secret masked, and the activity log.

use super::delivery::delivery_state;
use super::*;
use crate::redact::mask;
use crate::traffic::DeliveryState;

/// Everything the inspector shows, secrets masked; served as HTML and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The App.
    pub app: AppView,
    /// The workspaces.
    pub workspaces: Vec<WorkspaceView>,
    /// The installs, with their tokens masked.
    pub installs: Vec<InstallView>,
    /// The destinations, secret settings masked.
    pub destinations: Vec<DestinationView>,
    /// How many times the install token API minted a new token.
    pub refreshes: u64,
    /// How many Config API calls were answered (to count a page's upstream calls).
    pub api_calls: u64,
    /// How many server-to-server tokens were issued.
    pub machine_tokens: u64,
    /// Newest first.
    pub activity: Vec<Activity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub display_name: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub scope: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceView {
    pub name: String,
    pub display_name: String,
    pub owner: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallView {
    pub id: u64,
    pub name: String,
    pub app_name: String,
    pub scope: String,
    pub workspace: String,
    pub source: Option<String>,
    pub create_time: String,
    pub tokens_minted: u32,
    pub tokens: Vec<TokenView>,
    /// The viewer's own (or a script's): shown in full, with its actions.
    pub mine: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub token: String,
    pub expires_at: String,
    pub expired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    pub name: String,
    pub display_name: String,
    pub enabled: bool,
    pub connection_mode: String,
    pub config: Vec<SettingView>,
    pub update_time: String,
    pub credential_test: Option<String>,
    /// What it delivered over the last 24 hours (the simulated traffic): the same totals its
    /// delivery metrics give.
    pub last_day: DeliveryTotalsView,
    /// What it does with events now: `off`, `delivering` or `rejected` (401s).
    pub delivery: &'static str,
    /// Made by the viewer's install (or a script's): shown in full, with its actions.
    pub mine: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryTotalsView {
    pub delivered: u64,
    pub retried: u64,
    pub discarded: u64,
    pub discarded_unauthorized: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingView {
    pub setting: String,
    pub value: String,
}

impl World {
    /// Remembers a code, token or verifier for leak checks, keeping the newest ones.
    pub fn saw_secret(&mut self, secret: String) {
        if self.secrets_seen.len() >= SECRETS_SEEN_LEN {
            self.secrets_seen.drain(..SECRETS_SEEN_LEN / 2);
        }
        self.secrets_seen.push(secret);
    }

    /// Adds a line to the activity log the inspector shows.
    pub fn log(&mut self, what: &str, status: u16) {
        if self.activity.len() == ACTIVITY_LEN {
            self.activity.pop_front();
        }
        self.activity.push_back(Activity {
            time: Utc::now().format("%H:%M:%S").to_string(),
            what: what.to_owned(),
            status,
        });
    }

    /// What the inspector shows `viewer` (a browser; `None`: a script, which sees everything):
    /// tokens and secret values masked, and other visitors' installs and destinations without
    /// names, settings or actions.
    pub fn snapshot(&self, viewer: Option<&Visitor>) -> Snapshot {
        let now = Utc::now();
        Snapshot {
            app: AppView {
                display_name: self.app.display_name.clone(),
                name: self.app.name.clone(),
                client_id: self.app.client_id.clone(),
                client_secret: self.app.client_secret.masked(),
                redirect_uris: self.app.redirect_uris.clone(),
                scope: self.app.scope.to_string(),
            },
            workspaces: self
                .workspaces
                .iter()
                .map(|w| self.workspace_view(w, viewer))
                .collect(),
            installs: self
                .installs
                .values()
                .map(|i| self.install_view(i, viewer))
                .collect(),
            destinations: self
                .destinations
                .values()
                .map(|d| self.destination_view(d, viewer, now))
                .collect(),
            refreshes: self.refreshes,
            api_calls: self.api_calls,
            machine_tokens: self.machine.tokens_issued,
            // Lines about another visitor's workspace or install are theirs too.
            activity: self
                .activity
                .iter()
                .rev()
                .filter(|line| {
                    self.installs
                        .values()
                        .filter(|i| !i.is_for(viewer))
                        .all(|i| {
                            !line.what.contains(&format!("workspaces/{}", i.workspace))
                                && !line.what.contains(&i.name())
                        })
                })
                .cloned()
                .collect(),
        }
    }

    /// An install as `viewer` sees it: in full if it is theirs, else its kind only.
    fn install_view(&self, i: &Install, viewer: Option<&Visitor>) -> InstallView {
        let mine = i.is_for(viewer);
        if !mine {
            return InstallView {
                id: i.id,
                name: "another visitor's install".to_owned(),
                app_name: i.app_name.clone(),
                scope: i.scope.to_string(),
                workspace: String::new(),
                source: None,
                create_time: timestamp(i.create_time),
                tokens_minted: i.tokens_minted,
                tokens: Vec::new(),
                mine,
            };
        }
        InstallView {
            mine,
            id: i.id,
            name: i.name(),
            app_name: i.app_name.clone(),
            scope: i.scope.to_string(),
            workspace: format!("workspaces/{}", i.workspace),
            source: i
                .source
                .as_ref()
                .map(|s| format!("workspaces/{}/sources/{}", i.workspace, s)),
            create_time: timestamp(i.create_time),
            tokens_minted: i.tokens_minted,
            tokens: self
                .tokens
                .iter()
                .filter(|(_, t)| t.install_id == i.id)
                .map(|(token, t)| TokenView {
                    token: mask(token),
                    expires_at: timestamp(t.expires_at),
                    expired: t.expires_at <= Utc::now(),
                })
                .collect(),
        }
    }

    /// A destination as `viewer` sees it: secret settings masked, and another visitor's
    /// without its name or settings.
    fn destination_view(
        &self,
        d: &StoredDestination,
        viewer: Option<&Visitor>,
        now: DateTime<Utc>,
    ) -> DestinationView {
        let mine = self.destination_is_for(&d.name(), viewer);
        let entry = self.catalog.get(&d.slug);
        let config = d
            .config
            .iter()
            .map(|(setting, value)| {
                let secret = entry
                    .and_then(|e| e.setting(setting))
                    .is_some_and(|s| s.is_secret());
                let value = match value {
                    Value::String(s) if secret => mask(s),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                SettingView {
                    setting: setting.clone(),
                    value,
                }
            })
            .collect();
        let totals = self.last_day(d, now);
        DestinationView {
            mine,
            name: if mine {
                d.name()
            } else {
                "another visitor's destination".to_owned()
            },
            display_name: d.display_name.clone(),
            enabled: d.enabled,
            connection_mode: d.connection_mode.clone(),
            config: if mine { config } else { Vec::new() },
            update_time: timestamp(d.update_time),
            credential_test: d.credential_test.clone(),
            last_day: DeliveryTotalsView {
                delivered: totals.delivered,
                retried: totals.retried,
                discarded: totals.discarded(),
                discarded_unauthorized: totals.discarded_unauthorized,
            },
            delivery: match delivery_state(d) {
                DeliveryState::Off => "off",
                DeliveryState::Delivering => "delivering",
                DeliveryState::Rejected => "rejected",
            },
        }
    }

    /// A workspace as `viewer` sees it: another visitor's (made for another browser, or
    /// holding an install that is not the viewer's) without its name, owner or sources.
    fn workspace_view(&self, w: &Workspace, viewer: Option<&Visitor>) -> WorkspaceView {
        let made_for_another = viewer
            .is_some_and(|viewer| w.visitor.as_ref().is_some_and(|visitor| visitor != viewer));
        let theirs = made_for_another
            || self
                .installs
                .values()
                .any(|i| i.workspace == w.slug && !i.is_for(viewer));
        if theirs {
            return WorkspaceView {
                name: String::new(),
                display_name: "another visitor's workspace".to_owned(),
                owner: String::new(),
                sources: Vec::new(),
            };
        }
        WorkspaceView {
            name: w.name(),
            display_name: w.display_name.clone(),
            owner: w.owner_email.clone(),
            sources: w.sources.iter().map(|s| w.source_name(&s.slug)).collect(),
        }
    }
}
