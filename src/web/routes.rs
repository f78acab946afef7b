//! Every route, with its handler and what it is for, in one table: [`ROUTES`] (the
//! `route_table!` below), which the router, the property test and the guide follow. Also what
//! the metrics call a route.

use actix_web::{HttpResponse, web};

use super::enable::Enable;
use super::error::WebError;
use super::{
    account, api_key, assets, auth, configure, destination, home, monitor, operations, workspace,
};

/// Writes the router and [`ROUTES`] from one table, so the two cannot disagree. A `flow` line
/// is a route the flow library mounts (`Enable::configure`), listed for the metrics and the
/// guide.
macro_rules! route_table {
    ($($method:ident $path:literal $(=> $handler:path)? : $what:literal;)*) => {
        /// Every route of the app: method, path and what it is. The router is made from the same
        /// table; the property test fuzzes every route in it, and a test checks that the guide's
        /// route table lists exactly these.
        pub const ROUTES: &[Route] = &[$(Route {
            method: route_table!(@name $method),
            path: $path,
            what: $what,
        }),*];

        /// Mounts every route: the app's, and the install flow's (the flow library's).
        pub fn routes(cfg: &mut web::ServiceConfig, enable: &Enable) {
            enable.configure(cfg);
            $(route_table!(@route cfg $method $path $($handler)?);)*
            cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
                WebError::BadRequest(format!("the query string cannot be read: {error}")).into()
            }))
            .app_data(
                // The same limit as every body (`security::MAX_FORM_BYTES`): a larger form is a 413
                // from the payload limit, never a 400 from here.
                web::FormConfig::default()
                    .limit(super::security::MAX_FORM_BYTES)
                    .error_handler(|error, _| {
                        WebError::BadRequest(format!("the form cannot be read: {error}")).into()
                    }),
            );
        }
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
    (@name flow) => { "GET" };
    (@route $cfg:ident flow $path:literal) => {};
    (@route $cfg:ident $method:ident $path:literal $handler:path) => {
        $cfg.route($path, web::$method().to($handler));
    };
}

/// One route of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
}

route_table! {
    get "/" => home::show: "what this app is, and Enable with Segment";
    flow "/auth/segment": "starts the install: off to Segment's consent screen (the flow library's)";
    flow "/auth/segment/callback": "Segment's redirect back: the code exchanged, the install kept (the flow library's)";
    post "/installs/use" => auth::use_install: "uses one of the account's installs (after \"already installed\")";
    post "/logout" => auth::logout: "Log out: ends the session (this browser keeps its account)";
    get "/account" => account::show: "offers a demo account";
    post "/account" => account::create: "makes the demo account and shows its API key once";
    post "/account/rotate-key" => account::rotate_key: "Replace API key";
    post "/account/forget" => account::forget: "Forget this account (this browser's demo account)";
    get "/api/v1/me" => account::me: "the partner API Segment's credential test calls";
    get "/destination" => destination::show: "the destination on the consented source, and its actions";
    get "/destination/sources" => destination::sources: "the source picker (wider scopes)";
    post "/destination/source" => destination::choose_source: "picks the source to manage (wider scopes)";
    post "/destination/enable" => destination::enable: "Enable: creates or updates the destination, with the API key";
    post "/destination/disable" => destination::disable: "Disable";
    post "/destination/api-key" => api_key::push_key: "Push my API key again (the key this app manages)";
    get "/destination/remove" => destination::confirm_remove: "Remove asks first";
    post "/destination/remove" => destination::remove: "Remove the destination";
    post "/destination/disconnect" => destination::disconnect: "Disconnect: the app stops using the install";
    get "/destination/monitor" => monitor::show: "Monitor: delivered, retried and discarded events, with a chart";
    post "/destination/monitor/later" => monitor::later: "sandbox mode: An hour / A day / A week later on Monitor";
    get "/destination/configure" => configure::show: "the settings form, from the catalog";
    post "/destination/configure" => configure::save: "saves the changed settings";
    get "/workspace/monitor" => workspace::show: "every destination on the workspace, worst first (wider scopes)";
    get "/healthz" => operations::healthz: "the process answers";
    get "/readyz" => operations::readyz: "the database (and Redis) answer";
    get "/static/style.css" => assets::stylesheet: "the stylesheet";
    get "/static/favicon.svg" => assets::favicon: "the icon";
    get "/favicon.ico" => assets::favicon: "the icon, where browsers look for it";
}

/// Anything else: the error page's 404.
pub async fn not_found(request: actix_web::HttpRequest) -> Result<HttpResponse, WebError> {
    use actix_web::HttpMessage;
    request.extensions_mut().insert(Unmatched);
    Err(WebError::NotFound)
}

/// Set on a request that no route matched (the default service answered it).
pub struct Unmatched;

/// The route a request took, for the metrics and the log: one of [`ROUTES`]' paths (the app's
/// routes are all plain paths, so the path is the pattern), `/sandbox` for any of the sandbox's,
/// or `None`, whatever the request's path. The path is the one routing saw (with
/// percent-encoded letters decoded, so `/destin%61tion` is `/destination`). Cheaper than
/// actix-web's `match_pattern()`, which matches the path against every route again.
pub fn route_label(request: &actix_web::HttpRequest) -> Option<&'static str> {
    use actix_web::HttpMessage;
    if request.extensions().get::<Unmatched>().is_some() {
        return None;
    }
    let path = request.match_info().as_str();
    if path == "/sandbox" || path.starts_with("/sandbox/") {
        return Some("/sandbox");
    }
    ROUTES
        .iter()
        .find(|route| route.path == path)
        .map(|route| route.path)
}

#[cfg(test)]
mod tests {
    use super::ROUTES;

    /// The flow's lines are where the flow library mounts its routes for the app's redirect URL.
    #[test]
    fn the_flow_lines_are_the_flow_librarys_paths() {
        let callback = crate::config::CALLBACK_PATH;
        let start = callback.rsplit_once('/').map(|(folder, _)| folder);
        assert!(ROUTES.iter().any(|r| r.path == callback));
        assert!(ROUTES.iter().any(|r| Some(r.path) == start));
    }

    /// The guide's route table (`docs/architecture.md`) lists exactly the routes of
    /// [`ROUTES`], in its order.
    #[test]
    fn the_guide_lists_every_route() {
        let guide = include_str!("../../docs/architecture.md");
        let table = guide
            .split("## Routes")
            .nth(1)
            .expect("the guide has a Routes section");
        let listed: Vec<(String, String)> = table
            .lines()
            .skip_while(|line| !line.starts_with("| method"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].to_owned(), cells[2].trim_matches('`').to_owned())
            })
            .collect();
        let routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(listed, routes, "the guide's route table is not the app's");
    }
}
