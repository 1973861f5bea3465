//! The `/docs` page: a small HTML shell and the vendored RapiDoc script, so the page works offline.

/// The path the page loads its script from (the `DocsAsset` route).
pub const RAPIDOC_PATH: &str = "/docs/rapidoc-min.js";

/// The vendored RapiDoc version (see `assets/README.md`).
pub const RAPIDOC_VERSION: &str = "9.3.8";

/// The `/docs` page. It loads only [`RAPIDOC_PATH`] and `/openapi.json` from the same origin: no
/// inline script, no CDN, and `load-fonts="false"` so RapiDoc does not fetch web fonts.
pub const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AliStach API</title>
<script type="module" src="/docs/rapidoc-min.js"></script>
</head>
<body>
<rapi-doc
  spec-url="/openapi.json"
  heading-text="AliStach API"
  render-style="read"
  load-fonts="false"
  regular-font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
  mono-font="ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace"
  show-header="true"
  allow-spec-url-load="false"
  allow-spec-file-load="false"
  schema-description-expanded="true"
></rapi-doc>
</body>
</html>
"#;

/// A Content-Security-Policy that lets [`DOCS_HTML`] work and nothing else: scripts and data only
/// from this origin; inline styles because RapiDoc's web components inject `<style>` elements.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// `Content-Type` of [`DOCS_HTML`].
pub const DOCS_HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// `Content-Type` of [`RAPIDOC_JS`].
pub const RAPIDOC_JS_CONTENT_TYPE: &str = "text/javascript; charset=utf-8";

/// RapiDoc's minified script (MIT; notices in `assets/RAPIDOC-LICENSE.txt` and
/// `assets/rapidoc-min.js.LICENSE.txt`).
pub static RAPIDOC_JS: &[u8] = include_bytes!("../assets/rapidoc-min.js");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{RouteId, find};

    #[test]
    fn page_loads_only_same_origin_resources() {
        assert!(DOCS_HTML.contains(r#"src="/docs/rapidoc-min.js""#));
        assert!(DOCS_HTML.contains(r#"spec-url="/openapi.json""#));
        assert!(DOCS_HTML.contains(r#"load-fonts="false""#));
        assert!(
            !DOCS_HTML.contains("http://") && !DOCS_HTML.contains("https://"),
            "no external URL"
        );
        // No inline script: the CSP allows scripts from 'self' only.
        assert_eq!(DOCS_HTML.matches("<script").count(), 1);
        assert!(DOCS_CSP.contains("script-src 'self'") && !DOCS_CSP.contains("unsafe-eval"));
    }

    #[test]
    fn the_paths_the_page_uses_are_routed() {
        assert_eq!(find("GET", RAPIDOC_PATH).unwrap().id, RouteId::DocsAsset);
        assert_eq!(find("GET", "/openapi.json").unwrap().id, RouteId::OpenApi);
        assert_eq!(find("GET", "/docs").unwrap().id, RouteId::Docs);
    }

    #[test]
    fn vendored_script_is_the_recorded_rapidoc_version() {
        assert!(
            RAPIDOC_JS.len() > 100_000,
            "the script looks truncated: {} bytes",
            RAPIDOC_JS.len()
        );
        let head = std::str::from_utf8(&RAPIDOC_JS[..200]).unwrap();
        assert!(
            head.starts_with(&format!("/*! RapiDoc {RAPIDOC_VERSION} ")),
            "{head}"
        );
        assert!(std::str::from_utf8(RAPIDOC_JS).is_ok());
    }
}
