//! The page's assets (assets/: HTML, CSS, vanilla JavaScript, embedded at build time; no
//! build step, nothing fetched from elsewhere) and the two ways of putting them together:
//! linked from the served page, or inlined into the exported file with the hashes of the
//! inline script and style in its Content-Security-Policy.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

const PAGE: &str = include_str!("../assets/index.html");
pub(crate) const STYLE: &str = include_str!("../assets/app.css");

/// The scripts, in the order the page loads them: (URL path, text).
pub(crate) const SCRIPTS: [(&str, &str); 10] = [
    ("render.js", include_str!("../assets/render.js")),
    ("data.js", include_str!("../assets/data.js")),
    ("overview.js", include_str!("../assets/overview.js")),
    ("flows.js", include_str!("../assets/flows.js")),
    ("detail.js", include_str!("../assets/detail.js")),
    (
        "conversations.js",
        include_str!("../assets/conversations.js"),
    ),
    ("telemetry.js", include_str!("../assets/telemetry.js")),
    ("processes.js", include_str!("../assets/processes.js")),
    ("diff.js", include_str!("../assets/diff.js")),
    ("app.js", include_str!("../assets/app.js")),
];

/// The served page's policy: its own origin only, no inline script or style, no framing.
pub(crate) const SERVED_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The served page: the assets linked by relative URLs (under the token's path).
pub(crate) fn served_page() -> String {
    let scripts: String = SCRIPTS
        .iter()
        .map(|(name, _)| format!("<script src=\"{name}\"></script>\n"))
        .collect();
    PAGE.replace("<!--HEAD-->", "<link rel=\"stylesheet\" href=\"app.css\">")
        .replace("<!--DATA-->", "")
        .replace("<!--SCRIPTS-->", &scripts)
}

/// The exported page: style and script inline, `data` (JSON) in a script of type
/// `application/json`, and a policy that allows exactly that inline style and script and no
/// connection at all.
pub(crate) fn file_page(data: &str) -> String {
    let script: String = SCRIPTS.iter().map(|(_, text)| *text).collect();
    let csp = format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; img-src data:; \
         connect-src 'none'; base-uri 'none'; form-action 'none'",
        hash(&script),
        hash(STYLE)
    );
    let head = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n<style>{STYLE}</style>"
    );
    // `<` escaped so that no `</script>` inside the data ends its element early.
    let data = data.replace('<', "\\u003c");
    PAGE.replace("<!--HEAD-->", &head)
        .replace(
            "<!--DATA-->",
            &format!("<script type=\"application/json\" id=\"data\">{data}</script>"),
        )
        .replace("<!--SCRIPTS-->", &format!("<script>{script}</script>"))
}

/// A CSP source expression for inline text: `sha256-` and the base64 of its SHA-256.
fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The asset at `name` (a path under the token): its content type and text.
pub(crate) fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    if name == "app.css" {
        return Some(("text/css; charset=utf-8", STYLE));
    }
    SCRIPTS
        .iter()
        .find(|(path, _)| *path == name)
        .map(|(_, text)| ("text/javascript; charset=utf-8", *text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_page_hashes_what_it_inlines_and_escapes_its_data() {
        let page = file_page(r#"{"a":"</script><script>alert(1)</script>"}"#);
        assert!(page.contains(&hash(STYLE)));
        assert_eq!(page.matches("</script>").count(), 2, "data and script only");
        assert!(page.contains("connect-src 'none'"));
        let served = served_page();
        assert!(!served.contains("<style>"));
        assert!(served.contains("<script src=\"app.js\"></script>"));
    }
}
