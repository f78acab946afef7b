//! The one error page: a middleware that turns every [`WebError`] a handler returns into the
//! HTML page (status, title, message, hint, as [`WebError::shown`] decides) and logs it once.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::error::WebError;
use super::pages::{ErrorPage, Layout};
use super::state::Site;

/// Middleware: turns every `WebError` into the HTML error page, and logs it once.
pub async fn error_pages(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let Some(error) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>())
    else {
        return Ok(response.map_into_left_body());
    };
    let sandbox = response
        .request()
        .app_data::<web::Data<Site>>()
        .is_some_and(|site| site.sandbox);
    let shown = error.shown(sandbox);
    let status = shown.status;
    // The path as routing saw it (percent-encoded letters decoded).
    let path = response.request().match_info().as_str().to_owned();
    // The way back: the same page again when Segment's failure is passing (a GET only: a form
    // is not sent twice behind the visitor's back; never the sign-in's callback, whose address
    // holds a single-use code), and the destination from the pages about it.
    let try_again = (shown.passes
        && response.request().method() == actix_web::http::Method::GET
        && !path.starts_with("/auth/"))
    .then(|| response.request().uri().to_string());
    let back_to_destination = path.starts_with("/destination/") || path.starts_with("/workspace/");
    if status.is_server_error() {
        tracing::error!(%status, %path, %error, "request failed");
    } else {
        tracing::warn!(%status, %path, %error, "request refused");
    }
    let page = ErrorPage {
        layout: Layout::bare(sandbox),
        status: status.as_u16(),
        title: shown.title,
        message: shown.message,
        hint: shown.hint,
        offer_restart: shown.offers_restart,
        try_again,
        back_to_destination,
    };
    let html = match page.render() {
        Ok(html) => html,
        Err(render_error) => {
            tracing::error!(%render_error, "the error page failed to render");
            return Ok(response.map_into_left_body());
        }
    };
    let (request, replaced) = response.into_parts();
    let mut page = HttpResponse::build(status);
    page.content_type(ContentType::html());
    // The cookies the replaced response set still go (the callback clears its flow's cookie
    // whichever way the flow ended).
    for cookie in replaced.headers().get_all(header::SET_COOKIE) {
        page.append_header((header::SET_COOKIE, cookie.clone()));
    }
    Ok(ServiceResponse::new(request, page.body(html)).map_into_right_body())
}
