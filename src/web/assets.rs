//! The stylesheet and the icon, compiled in so the app runs from any directory.

use actix_web::HttpResponse;
use actix_web::http::header;

/// `GET /static/style.css`
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}

/// `GET /static/favicon.svg` (and `/favicon.ico`, for clients that ask for it anyway).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("../../static/favicon.svg"))
}
