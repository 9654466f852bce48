//! The web dashboard: its page at `/` and its assets under `/assets/<version>/`, embedded in
//! the binary.
//!
//! The dashboard is a client of the REST API like any other: it holds no server-side state and
//! reads nothing the API does not show. The page and its assets reveal nothing, so they need no
//! token ([`crate::auth`] lets them pass); the page asks for a token when the API answers 401.
//!
//! Caching: the assets' path holds a version made from their bytes, so they are served with a
//! year's `max-age` and `immutable`; the page itself is served with `no-cache` and an `ETag`, so
//! a browser revalidates it and finds a new version's assets at once.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::routes::resource;

/// The content security policy of the page and its assets: everything from this origin only,
/// no inline script or style, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The path prefix of the assets; the version and the file name follow.
pub(crate) const ASSETS_PREFIX: &str = "/assets/";

/// The page's template: `{{assets}}` becomes the assets' versioned path.
const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// Every asset the page loads: its name under the versioned path, content type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/api.js"),
    ),
    (
        "format.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/format.js"),
    ),
    (
        "jobs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/jobs.js"),
    ),
    (
        "job.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/job.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/overview.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.min.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../assets/favicon.svg"),
    ),
];

/// The page and the assets' version, computed once.
struct Rendered {
    version: String,
    index: String,
    index_etag: String,
}

fn rendered() -> &'static Rendered {
    static RENDERED: OnceLock<Rendered> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, _, bytes) in ASSETS {
            context.update(name.as_bytes());
            context.update(bytes);
        }
        let version = short_hex(context.finish().as_ref());
        let index = INDEX_TEMPLATE.replace("{{assets}}", &format!("{ASSETS_PREFIX}{version}"));
        let index_etag = format!(
            "\"{}\"",
            short_hex(ring::digest::digest(&ring::digest::SHA256, index.as_bytes()).as_ref())
        );
        Rendered {
            version,
            index,
            index_etag,
        }
    })
}

/// The first 16 hex digits of a digest: enough to tell versions apart.
fn short_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The routes of the dashboard.
pub(crate) fn register(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .service(resource("/", "GET").route(web::get().to(index)))
        .service(resource("/assets/{version}/{file}", "GET").route(web::get().to(asset)))
}

/// Whether a `GET` of `path` is the dashboard's (the page or an asset): it needs no token.
pub(crate) fn is_dashboard_path(path: &str) -> bool {
    path == "/" || path.starts_with(ASSETS_PREFIX)
}

fn with_security_headers(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

async fn index(request: HttpRequest) -> HttpResponse {
    let page = rendered();
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == page.index_etag || tag.trim() == "*")
        });
    let mut response = if unchanged {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page.index.clone())
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&page.index_etag) {
        headers.insert(header::ETAG, etag);
    }
    with_security_headers(&mut response);
    response
}

async fn asset(path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (version, file) = path.into_inner();
    let found = ASSETS.iter().find(|(name, _, _)| *name == file);
    let (_, content_type, bytes) = match found {
        Some(asset) if version == rendered().version => asset,
        // Another version's asset (a page from before an upgrade) or no asset at all.
        _ => {
            return Err(ApiError::RouteNotFound {
                path: format!("{ASSETS_PREFIX}{version}/{file}"),
            });
        }
    };
    let mut response = HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(*bytes);
    with_security_headers(&mut response);
    Ok(response)
}
