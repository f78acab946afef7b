//! The app's pages: one struct per template in `templates/`, and the layout every page shares
//! (the sandbox marker, the flash message, the log-out button). Handlers fill these in; the
//! templates only show what they are given. Also the redirect every action ends with.

use actix_web::HttpResponse;
use actix_web::http::header::{self, ContentType};
use askama::Template;

use super::error::WebError;
use super::session::{Flash, TypedSession};
use super::settings_form::{Field, Widget};

/// A redirect that makes the browser GET `location` (also after a POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// What `base.html` needs.
pub struct Layout {
    /// Show the "Sandbox" marker and the link to the inspector.
    pub sandbox: bool,
    pub flash: Option<Flash>,
    /// The visitor has an install in their session (shows "Log out").
    pub connected: bool,
    /// The session's CSRF token, put in every POST form.
    pub csrf: String,
}

impl Layout {
    /// The layout for a page with forms, taking the flash message out of the session. The
    /// session's CSRF token is made if it has none, which starts a session.
    pub fn with_forms(sandbox: bool, session: &TypedSession) -> Layout {
        Layout {
            sandbox,
            flash: session.take_flash(),
            connected: session.is_connected(),
            // Without a token the page still shows; its forms are then refused, not broken.
            csrf: session
                .csrf_token()
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
        }
    }

    /// The layout for a page a visitor without an account may see (the home page): it makes no
    /// CSRF token, so viewing it stores nothing; a session that has a token passes it on.
    pub fn without_forms(sandbox: bool, session: &TypedSession) -> Layout {
        Layout {
            sandbox,
            flash: session.take_flash(),
            connected: session.is_connected(),
            csrf: session
                .existing_csrf_token()
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
        }
    }

    /// The layout for pages drawn without the session (error pages).
    pub fn bare(sandbox: bool) -> Layout {
        Layout {
            sandbox,
            flash: None,
            connected: false,
            csrf: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
    /// The destination's display name, or its slug until it is known.
    pub display_name: String,
    /// The visitor's partner account, if they have one yet.
    pub account: Option<AccountView>,
    pub scope: String,
    /// The workspace of the install in use, if any.
    pub connected_workspace: Option<String>,
}

/// The account, as the home page shows it.
pub struct AccountView {
    pub id: i64,
    pub key_prefix: String,
    /// A key made or replaced just now, shown in full this once.
    pub new_key: Option<String>,
    /// The account has a stored install (offer "Connect another workspace").
    pub has_installs: bool,
}

/// `GET /account` for a visitor without an account.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
}

/// The install, as the destination page shows it (never the token).
pub struct InstallView {
    pub install_name: String,
    pub workspace: String,
    pub source: String,
    pub scope: String,
    pub expires: String,
    pub can_write: bool,
    /// The source was picked in this app (wider scopes), so it can be changed.
    pub source_is_picked: bool,
}

/// One setting's current value; secret values come masked.
pub struct SettingView {
    pub label: String,
    pub setting: String,
    pub value: String,
}

/// The destination's live state on the source.
pub struct DestinationView {
    /// "Not created", "Enabled" or "Disabled".
    pub status: &'static str,
    /// CSS class of the status badge.
    pub status_class: &'static str,
    pub exists: bool,
    pub enabled: bool,
    pub display_name: String,
    pub name: String,
    pub connection_mode: String,
    pub settings: Vec<SettingView>,
    pub updated: String,
    /// What is known of Segment's credential test of the API key: (CSS class, sentence).
    pub credential: Option<(&'static str, String)>,
    /// Segment holds another key than the one this app manages: offer to push it again.
    pub key_replaced: bool,
}

#[derive(Template)]
#[template(path = "destination.html")]
pub struct DestinationPage {
    pub layout: Layout,
    pub install: InstallView,
    /// `None` when Segment could not be asked (see `attention`).
    pub destination: Option<DestinationView>,
    /// Segment refused to mint a token for the install: what it said.
    pub attention: Option<String>,
    pub sandbox: bool,
    /// "Airship" (the slug until a catalog read said its name).
    pub display_name: String,
    /// How the destination's deliveries went in the last 24 h, from Segment's summary.
    pub health: Option<super::health::HealthLine>,
}

/// A source to pick from (wider scopes only).
pub struct SourceChoice {
    pub name: String,
    pub slug: String,
    pub catalog_name: String,
}

#[derive(Template)]
#[template(path = "sources.html")]
pub struct SourcesPage {
    pub layout: Layout,
    pub workspace: String,
    pub scope: String,
    pub sources: Vec<SourceChoice>,
    /// The destination's display name, or its slug until it is known.
    pub display_name: String,
}

#[derive(Template)]
#[template(path = "configure.html")]
pub struct ConfigurePage {
    pub layout: Layout,
    pub display_name: String,
    pub source: String,
    pub exists: bool,
    pub enabled: bool,
    /// `workspace:read`: the form is shown, disabled, with no Save button.
    pub read_only: bool,
    pub scope: String,
    pub fields: Vec<Field>,
    /// Deprecated settings, shown collapsed after the others.
    pub deprecated: Vec<Field>,
    /// The API key this app manages in the destination, when it has an API key setting.
    pub managed: Option<ManagedKeyView>,
    /// Why the form came back (field errors), shown above it.
    pub problem: Option<String>,
}

/// The API key this app manages, as Configure shows it (never in full).
pub struct ManagedKeyView {
    /// Whose key it is, in words.
    pub whose: &'static str,
    pub masked: String,
    /// The destination exists (a key can be pushed into it).
    pub exists: bool,
    /// Segment holds this very key.
    pub holds_it: bool,
    /// Segment holds another key: masked.
    pub other: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub offer_restart: bool,
    /// The same address again, when the failure is passing and the request was a GET.
    pub try_again: Option<String>,
    /// Offer the destination page (the error came from one of its pages or actions).
    pub back_to_destination: bool,
}

/// How a message names a destination: its display name, else "The destination".
pub fn label(destination: &crate::segment::Destination) -> String {
    if destination.display_name.is_empty() {
        "The destination".to_owned()
    } else {
        destination.display_name.clone()
    }
}

/// Renders a page as a 200 HTML response.
pub fn render(page: &impl Template) -> Result<HttpResponse, WebError> {
    let html = page.render()?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(html))
}

/// One of the ranges the Monitor page offers.
pub struct RangeLink {
    /// `/destination/monitor?range=1h` (and the destination, when one was named).
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// One total of the Monitor page, by Segment's display name.
pub struct TotalView {
    pub label: String,
    pub value: String,
}

/// One discard reason, with what the customer can do about it.
pub struct ReasonView {
    pub reason: String,
    pub count: String,
    pub advice: String,
    /// The partner's API refused the key: offer Enable, which pushes the current one.
    pub offers_enable: bool,
}

/// Why the Monitor page has no numbers to show, and what that means.
pub struct PanelView {
    pub title: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "monitor.html")]
pub struct MonitorPage {
    pub layout: Layout,
    /// The destination's display name (or its slug), its status and its source.
    pub display_name: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub source: String,
    /// Asked about by name, from the workspace view (not necessarily the partner's own).
    pub named: bool,
    pub ranges: Vec<RangeLink>,
    /// "the last 24 h (Nov 23 11:00 to Nov 24 10:17 UTC)".
    pub window: String,
    pub panel: Option<PanelView>,
    /// Delivered, retried, discarded, then any other count Segment sends.
    pub totals: Vec<TotalView>,
    pub success_rate: Option<String>,
    /// Time to success, p50 and p95.
    pub timings: Vec<TotalView>,
    pub chart: Option<super::chart::Chart>,
    /// Why the chart could not be drawn (the totals may still be there).
    pub chart_problem: Option<String>,
    pub reasons: Vec<ReasonView>,
    /// What the destination page says of the key in Segment: (CSS class, sentence).
    pub credential: Option<(&'static str, String)>,
    pub can_write: bool,
    /// The range shown (`1h`, `24h`, `7d`), for the sandbox's time buttons to come back to.
    pub range: &'static str,
    /// Sandbox mode, the partner's own destination: offer to let time pass for it.
    pub demo_clock: bool,
}

/// One destination of the workspace view.
pub struct WorkspaceRow {
    pub name: String,
    pub display_name: String,
    /// The source's slug.
    pub source: String,
    pub enabled: bool,
    /// `None`: Segment gave no numbers for it.
    pub delivered: Option<String>,
    pub discarded: Option<String>,
    /// The share of finished events discarded, for the order (worst first).
    pub discard_rate: Option<f64>,
    pub discard_percent: String,
    /// Its own Monitor view.
    pub monitor: String,
}

#[derive(Template)]
#[template(path = "workspace_monitor.html")]
pub struct WorkspaceMonitorPage {
    pub layout: Layout,
    pub workspace: String,
    pub scope: String,
    pub ranges: Vec<RangeLink>,
    /// "the last 24 h".
    pub range: &'static str,
    pub rows: Vec<WorkspaceRow>,
    /// Why the numbers are missing, when they are.
    pub problem: Option<PanelView>,
}

/// `GET /destination/remove`: Remove asks first.
#[derive(Template)]
#[template(path = "remove.html")]
pub struct RemovePage {
    pub layout: Layout,
    pub display_name: String,
    pub source: String,
}

/// One of the account's installs, offered after Segment's "already installed".
pub struct InstallChoice {
    pub name: String,
    pub workspace: String,
    pub connected: bool,
}

/// Segment says the App is installed on the workspace picked; which one it was, it does not
/// say. The account's own installs, to pick from.
#[derive(Template)]
#[template(path = "already_installed.html")]
pub struct AlreadyInstalledPage {
    pub layout: Layout,
    pub installs: Vec<InstallChoice>,
}
