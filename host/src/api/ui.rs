//! The web dashboard at `/ui`: static files compiled into the binary
//! (`host/ui/`, plain HTML, CSS and JavaScript modules; nothing to build),
//! served without a token because they hold no data. The pages ask for the
//! token, keep it in the browser's storage and call the API with it in the
//! `Authorization` header; it never appears in a URL. `/` sends a browser
//! there.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::{ApiError, ApiErrorCode, AppState};

/// Every file of the dashboard: its name under `/ui/`, its media type and
/// its text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("../../ui/index.html")),
    ("style.css", CSS, include_str!("../../ui/style.css")),
    ("app.js", JS, include_str!("../../ui/app.js")),
    ("api.js", JS, include_str!("../../ui/api.js")),
    ("dom.js", JS, include_str!("../../ui/dom.js")),
    ("actions.js", JS, include_str!("../../ui/actions.js")),
    ("charts.js", JS, include_str!("../../ui/charts.js")),
    ("overview.js", JS, include_str!("../../ui/overview.js")),
    ("tasks.js", JS, include_str!("../../ui/tasks.js")),
    ("task.js", JS, include_str!("../../ui/task.js")),
    ("providers.js", JS, include_str!("../../ui/providers.js")),
    ("routes.js", JS, include_str!("../../ui/routes.js")),
    ("keys.js", JS, include_str!("../../ui/keys.js")),
    ("playground.js", JS, include_str!("../../ui/playground.js")),
    ("icon.svg", SVG, include_str!("../../ui/icon.svg")),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Scripts, styles and connections only from this server; images also as
/// `data:` URLs (a task's input images); no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Outside the OpenAPI document: these are pages, not the API.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(|| async { asset("index.html") }))
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
        .route("/ui/{file}", get(ui_file))
}

async fn ui_file(Path(file): Path<String>) -> Response {
    asset(&file)
}

fn asset(name: &str) -> Response {
    let Some((_, media_type, text)) = ASSETS.iter().find(|(n, ..)| *n == name) else {
        return ApiError::new(
            ApiErrorCode::NotFound,
            format!("the dashboard has no file {name:?}"),
        )
        .into_response();
    };
    let mut response = (StatusCode::OK, *text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    // The files change with the binary: a browser asks again each time and
    // gets them from the same process that answers its API calls.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_module_the_pages_import_is_served() {
        for (name, _, text) in ASSETS {
            for line in text.lines() {
                let Some(from) = line.split(" from \"./").nth(1) else {
                    continue;
                };
                let module = from.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|(n, ..)| *n == module),
                    "{name} imports {module}, which is not served"
                );
            }
        }
    }
}
