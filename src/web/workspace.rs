//! `GET /workspace/monitor`: every destination on the consented workspace, worst first (by the
//! share of events discarded), each linking to its own Monitor view. Only the `workspace` and
//! `workspace:read` scopes see a workspace; a `destination/<slug>` install is told why not.
//!
//! Calls to Segment: the workspace's sources, then each source's destinations (at once), then
//! one `batchGetSummary` per 50 destinations. A failure of the summaries leaves the list
//! standing, without numbers, and says why.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use futures_util::future::try_join_all;

use super::chart::count;
use super::enable::Enable;
use super::error::WebError;
use super::extract::Connected;
use super::monitor::{MonitorParams, panel, range_links, range_of};
use super::pages::{Layout, WorkspaceMonitorPage, WorkspaceRow, render};
use super::session::TypedSession;
use super::state::Site;
use crate::segment::delivery::{DeliverySummary, MetricsRange, Window};
use crate::segment::secret::AccessToken;
use crate::segment::{
    Destination, DestinationName, SegmentClient, SegmentError, SourceName, WorkspaceName,
};

/// How many destinations one `batchGetSummary` names.
const BATCH: usize = 50;

/// `GET /workspace/monitor`
pub async fn show(
    enable: web::Data<Enable>,
    site: web::Data<Site>,
    session: TypedSession,
    Connected { account, install }: Connected,
    query: web::Query<MonitorParams>,
) -> Result<HttpResponse, WebError> {
    if install.scope.names_a_source() {
        return Err(WebError::OneDestinationOnly(install.scope.to_string()));
    }
    let workspace = &install
        .workspace()
        .cloned()
        .ok_or_else(|| WebError::BadRequest("the install token names no workspace".into()))?;
    let scope = install.scope.to_string();
    let range = range_of(query.range.as_deref())?;
    let window = &range.window(Utc::now());
    let (destinations, summaries) =
        enable
            .config_api_with(&account.id(), install)
            .call(|segment, token| async move {
                read_workspace(segment, &token, workspace, window).await
            })
            .await
            .map_err(WebError::call(
                "reading the workspace's destinations and their delivery metrics",
            ))?;
    let (summaries, problem) = match summaries {
        Ok(summaries) => (summaries, None),
        Err(error) => (Vec::new(), Some(panel(&error))),
    };
    let mut rows: Vec<WorkspaceRow> = destinations
        .iter()
        .map(|d| row(d, summaries.iter().find(|s| s.name == d.name), range))
        .collect();
    // Worst first: the largest share discarded; those without numbers last.
    rows.sort_by(|a, b| {
        b.discard_rate
            .unwrap_or(-1.0)
            .total_cmp(&a.discard_rate.unwrap_or(-1.0))
            .then_with(|| a.name.cmp(&b.name))
    });
    render(&WorkspaceMonitorPage {
        layout: Layout::with_forms(site.sandbox, &session),
        workspace: workspace.to_string(),
        scope,
        ranges: range_links("/workspace/monitor?range=", range),
        range: range.label(),
        rows,
        problem,
    })
}

/// Every destination of the workspace (its sources listed, then each source's destinations),
/// and their delivery summaries, asked for in batches of [`BATCH`]: the summaries' failure is
/// the page's to show beside the destinations.
async fn read_workspace(
    segment: &SegmentClient,
    token: &AccessToken,
    workspace: &WorkspaceName,
    window: &Window,
) -> Result<(Vec<Destination>, Result<Vec<DeliverySummary>, SegmentError>), SegmentError> {
    let sources = segment.list_sources(token, workspace).await?;
    let names: Vec<SourceName> = sources
        .iter()
        .filter_map(|s| SourceName::parse(&s.name).ok())
        .collect();
    let lists = try_join_all(
        names
            .iter()
            .map(|source| segment.list_destinations(token, source)),
    )
    .await?;
    let destinations: Vec<Destination> = lists.into_iter().flatten().collect();
    let named: Vec<DestinationName> = destinations
        .iter()
        .filter_map(|d| DestinationName::parse(&d.name).ok())
        .collect();
    let mut summaries = Vec::new();
    for batch in named.chunks(BATCH) {
        match segment
            .workspace_delivery_summaries(token, workspace, batch, window)
            .await
        {
            Ok(found) => summaries.extend(found),
            Err(error) => return Ok((destinations, Err(error))),
        }
    }
    Ok((destinations, Ok(summaries)))
}

/// One destination's line.
fn row(
    destination: &Destination,
    summary: Option<&DeliverySummary>,
    range: MetricsRange,
) -> WorkspaceRow {
    let link: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("destination", &destination.name)
        .append_pair("range", range.as_str())
        .finish();
    let finished = summary.map(|s| s.delivered() + s.discarded());
    WorkspaceRow {
        name: destination.name.clone(),
        display_name: if destination.display_name.is_empty() {
            destination
                .name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            destination.display_name.clone()
        },
        source: destination
            .parent
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        enabled: destination.enabled,
        delivered: summary.map(|s| count(s.delivered())),
        discarded: summary.map(|s| count(s.discarded())),
        discard_rate: summary
            .zip(finished)
            .filter(|(_, finished)| *finished > 0.0)
            .map(|(s, finished)| s.discarded() / finished),
        discard_percent: match (summary, finished) {
            (Some(s), Some(finished)) if finished > 0.0 => {
                super::chart::percent(s.discarded() / finished)
            }
            (Some(_), _) => "no events".to_owned(),
            (None, _) => "—".to_owned(),
        },
        monitor: format!("/destination/monitor?{link}"),
    }
}
