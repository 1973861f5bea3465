//! `GET /dashboard` and `GET /dashboard/{asset}`: the operator's page, a hand-written
//! single-page app embedded in the binary (`assets/dashboard/`).
//!
//! The page holds no data: every number on it comes from the admin API, which the page calls
//! with the key the operator types in (kept in the tab's `sessionStorage`, sent as a Bearer
//! header, never in a URL). Its files are served with a strict Content-Security-Policy (its own
//! scripts, styles and images only; connections to this origin only; no framing), an `ETag` and
//! `Cache-Control: no-cache`, so a browser revalidates and an upgrade is seen at once.

use std::sync::LazyLock;

use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use sha2::{Digest, Sha256};

use super::ctx::Ctx;
use crate::app::App;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response};

/// The page's policy: nothing from another origin, no inline script or style, no framing, no
/// form posts anywhere (the sign-in form is handled by the script).
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its name under `/dashboard/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page itself, at `/dashboard`.
const INDEX: Asset = Asset {
    name: "",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../../assets/dashboard/index.html"),
};

/// The files the page loads, at `/dashboard/{name}`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/chart.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/dashboard/icon.svg"),
    },
];

/// The strong validator of each file (the index first, then [`ASSETS`] in order): a hash of
/// its bytes, computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(ASSETS)
        .map(|a| {
            let digest = Sha256::digest(a.bytes);
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        })
        .collect()
});

impl App {
    /// `GET /dashboard`.
    pub(super) fn dashboard_page(&self, ctx: &Ctx<'_>) -> HttpResponse {
        serve(&INDEX, &ETAGS[0], ctx)
    }

    /// `GET /dashboard/{asset}`: an embedded file, or 404.
    pub(super) fn dashboard_asset(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let name = alistach_api::path_parameter("/dashboard/{asset}", ctx.path)
            .ok_or(HttpError::NotFound)?;
        let (i, asset) = ASSETS
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == name)
            .ok_or(HttpError::NotFound)?;
        Ok(serve(asset, &ETAGS[i + 1], ctx))
    }
}

/// The file, or 304 when the client's `If-None-Match` names its current validator.
fn serve(asset: &Asset, etag: &HeaderValue, ctx: &Ctx<'_>) -> HttpResponse {
    let fresh = ctx
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag.to_str().unwrap_or_default()
        });
    let mut resp = if fresh {
        body_response(StatusCode::NOT_MODIFIED, asset.content_type, &b""[..])
    } else {
        body_response(StatusCode::OK, asset.content_type, asset.bytes)
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    resp
}
