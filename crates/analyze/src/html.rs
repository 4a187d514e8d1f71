//! The report as one self-contained HTML file: the Markdown report rendered (CommonMark with
//! tables), inline CSS, and an inline SVG timeline of requests per host. No scripts, no
//! external assets, no links: it opens anywhere and makes no request of its own.

use std::fmt::Write as _;

use crate::report::Report;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1b1f24}\
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top}\
th{background:#f6f8fa;text-align:left}code,pre{font-family:ui-monospace,monospace;background:#f6f8fa}pre{padding:.5rem;overflow:auto}\
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}\
svg text{font:11px ui-monospace,monospace;fill:#1b1f24}blockquote{border-left:4px solid #d4a72c;margin:0;padding:.2rem 1rem;background:#fff8c5}";

/// Renders `report` as a self-contained HTML document.
pub fn render(report: &Report) -> String {
    let markdown = crate::markdown::render(report);
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let parser = pulldown_cmark::Parser::new_ext(&markdown, options).map(|event| match event {
        // Raw HTML in the input (a header value, a path) is shown as text, never interpreted.
        pulldown_cmark::Event::Html(html) | pulldown_cmark::Event::InlineHtml(html) => {
            pulldown_cmark::Event::Text(html)
        }
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    let mut out = String::with_capacity(body.len() + 8192);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>phonehome report: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&report.setup.input)
    );
    // The title first, then the chart, then the rest of the report.
    let (title, rest) = body
        .split_once("</h1>\n")
        .map_or(("", body.as_str()), |(title, rest)| (title, rest));
    if !title.is_empty() {
        out.push_str(title);
        out.push_str("</h1>\n");
    }
    out.push_str(&timeline_svg(report));
    out.push_str(rest);
    out.push_str("</body></html>\n");
    out
}

/// Requests per host over time: one row per host, one bar per time bucket.
fn timeline_svg(report: &Report) -> String {
    let t = &report.timeline;
    if t.hosts.is_empty() {
        return String::new();
    }
    let span_ms = t
        .hosts
        .iter()
        .map(|h| h.origin_ms + h.bucket_ms * h.counts.len() as i64)
        .max()
        .unwrap_or(1)
        .max(1);
    let label_w = 260.0;
    let plot_w = 880.0;
    let row_h = 22.0;
    let height = row_h * t.hosts.len() as f64 + 30.0;
    let max = t
        .hosts
        .iter()
        .flat_map(|h| h.counts.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<h2>Requests per host over time</h2><svg role=\"img\" \
         width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\">",
        w = label_w + plot_w + 10.0
    );
    for (row, host) in t.hosts.iter().enumerate() {
        let y = row as f64 * row_h + 4.0;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\">{}</text><line x1=\"{label_w}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d0d7de\"/>",
            y + 14.0,
            escape(&truncate(&host.host, 36)),
            label_w + plot_w,
            y + row_h - 3.0,
            y + row_h - 3.0
        );
        for (i, count) in host.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let start = host.origin_ms + host.bucket_ms * i as i64;
            let x = label_w + plot_w * start as f64 / span_ms as f64;
            let w = (plot_w * host.bucket_ms as f64 / span_ms as f64).max(1.5);
            let h = ((row_h - 5.0) * f64::from(*count) / f64::from(max)).max(2.0);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#0969da\"><title>{}: {count}</title></rect>",
                y + row_h - 3.0 - h,
                escape(&host.host)
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{label_w}\" y=\"{:.1}\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.1} s</text></svg>",
        height - 4.0,
        label_w + plot_w,
        height - 4.0,
        span_ms as f64 / 1000.0
    );
    svg
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
