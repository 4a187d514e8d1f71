//! The Telemetry tab of the detail pane: what [`phonehome_analyze::telemetry::decode`] reads
//! from a telemetry request (the same decoding as `phonehome telemetry`), one request at a time.
//!
//! ```text
//! otlp/json · logs · 2 events
//! sent by   demo-agent 1.2.3 · os linux 6.1.0 · runtime nodejs 22.1.0
//! resource  user.id = user-7f3a
//!
//! Identifiers (persistent: they follow you across runs)
//!   user.id = user-7f3a  (by name)
//!
//! Events
//!   2025-01-02T03:04:05.000Z  session.start model=demo-model turns=3
//!   … and 3 more events
//! note: what could not be decoded
//! ```

use phonehome_analyze::telemetry::{FoundBy, Telemetry, TelemetryEvent};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::detail::{heading, note, Tab};
use crate::json;

/// Events shown in the tab; the rest are counted ("… and N more events").
pub const MAX_EVENTS: usize = 200;

/// The tab of a decoded telemetry request; `c` copies its text.
pub fn tab(t: &Telemetry) -> Tab {
    let lines = lines(t);
    let mut payload = Vec::new();
    for line in &lines {
        for span in &line.spans {
            payload.extend_from_slice(span.content.as_bytes());
        }
        payload.push(b'\n');
    }
    Tab {
        name: "Telemetry",
        lines,
        payload,
    }
}

fn lines(t: &Telemetry) -> Vec<Line<'static>> {
    let protocol = t.protocol.map_or("unknown protocol", |p| p.as_str());
    let signal = t.signal.map_or("unknown signal", |s| s.as_str());
    let count = t.events.len();
    let plural = if count == 1 { "" } else { "s" };
    let mut out = vec![heading(format!(
        "{protocol} · {signal} · {count} event{plural}"
    ))];
    let sender = t.resource.sender();
    if !sender.is_empty() {
        out.push(labelled("sent by", vec![Span::raw(sender)]));
    }
    if !t.resource.attributes.is_empty() {
        let pairs = t
            .resource
            .attributes
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect::<Vec<_>>()
            .join(" · ");
        out.push(labelled("resource", vec![Span::raw(pairs)]));
    }
    if !t.identifiers.is_empty() {
        out.push(Line::default());
        out.push(heading(
            "Identifiers (persistent: they follow you across runs)",
        ));
        for id in &t.identifiers {
            let by = match id.found_by {
                FoundBy::Name => "by name",
                FoundBy::Shape => "by shape",
            };
            out.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(id.name.clone(), json::key_style()),
                Span::raw(format!(" = {}", id.value)),
                Span::styled(format!("  ({by})"), dim()),
            ]));
        }
    }
    if !t.events.is_empty() {
        out.push(Line::default());
        out.push(heading("Events"));
        out.extend(t.events.iter().take(MAX_EVENTS).map(event_line));
        if count > MAX_EVENTS {
            out.push(Line::styled(
                format!("  … and {} more events", count - MAX_EVENTS),
                dim(),
            ));
        }
    }
    for why in &t.notes {
        out.push(note(why));
    }
    out
}

/// `  2025-01-02T03:04:05.000Z  session.start  model=demo-model turns=3`; a time the payload
/// did not give is left blank.
fn event_line(event: &TelemetryEvent) -> Line<'static> {
    let time = event
        .time
        .map_or_else(String::new, phonehome_record::timestamp);
    let mut spans = vec![
        Span::styled(format!("  {time:<24}  "), dim()),
        Span::styled(
            event.name.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    for (name, value) in &event.attributes {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(name.clone(), json::key_style()));
        spans.push(Span::raw(format!("={value}")));
    }
    Line::from(spans)
}

fn labelled(label: &str, mut rest: Vec<Span<'static>>) -> Line<'static> {
    rest.insert(0, Span::styled(format!("{label:<10}"), json::key_style()));
    Line::from(rest)
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

#[cfg(test)]
mod tests {
    use phonehome_analyze::telemetry::{self, Telemetry, TelemetryEvent};
    use phonehome_analyze::Exchange;
    use phonehome_record::Record;

    use super::{tab, MAX_EVENTS};

    /// The exchange of a request record POSTing `body` to `url`, decoded as the detail does.
    fn decoded(url: &str, body: &str) -> Telemetry {
        let line = serde_json::json!({
            "type": "request", "ts": "2026-11-21T09:00:00.100Z", "flow": 1, "conn": 1,
            "method": "POST", "url": url, "version": "HTTP/1.1",
            "headers": [["content-type", "application/json"]],
            "body": {"size": body.len(), "encoding": "utf8", "data": body, "truncated": false},
        })
        .to_string();
        let Ok(Record::Request(request)) = Record::from_line(&line) else {
            panic!("not a request record: {line}");
        };
        let exchange = Exchange::from_records(request, None, None);
        telemetry::decode(&exchange).expect("telemetry")
    }

    fn text(t: &Telemetry) -> String {
        String::from_utf8(tab(t).payload).expect("utf-8")
    }

    #[test]
    fn otlp_json_logs() {
        let body = include_str!("../../analyze/tests/fixtures/telemetry/otlp_logs.json");
        let text = text(&decoded("https://collector.test/v1/logs", body));
        for want in [
            "otlp/json · logs · 2 events\n",
            "sent by   demo-agent 1.2.3 · os linux 6.1.0 · runtime nodejs 22.1.0\n",
            "  user.id = user-7f3a  (by name)\n",
            "  app.installation = 0f8fad5b-d9cb-469f-a165-70867728950e  (by shape)\n",
            "  2025-01-02T03:04:05.000Z  session.start ",
            " model=demo-model turns=3\n",
            "  2025-01-02T03:04:06.000Z  turn finished",
            "cached=true",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(text.find("session.start") < text.find("turn finished"));
    }

    #[test]
    fn posthog_batch() {
        let body = include_str!("../../analyze/tests/fixtures/telemetry/posthog_batch.json");
        let text = text(&decoded("https://analytics.internal.test/batch/", body));
        for want in [
            "posthog · events · 2 events\n",
            "sent by   demo-agent 1.2.3 · os Linux 6.1.0 · runtime posthog-node 4.2.0\n",
            "  distinct_id = 9b2c1d5e-0000-4c3a-8e1f-2a3b4c5d6e7f  (by name)\n",
            "  $device_id = d-42  (by name)\n",
            "  2025-01-02T03:04:05.000Z  session_started",
            "model=demo-model",
            "  2025-01-02T03:04:09.000Z  conversation_turn",
            "input_tokens=120",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(!text.contains("more events"), "{text}");
    }

    #[test]
    fn events_beyond_the_cap_are_counted_and_notes_shown() {
        let t = Telemetry {
            events: (0..MAX_EVENTS + 3)
                .map(|i| TelemetryEvent {
                    name: format!("tick{i}"),
                    time: None,
                    attributes: Vec::new(),
                })
                .collect(),
            notes: vec!["request body was cut".to_owned()],
            ..Telemetry::default()
        };
        let text = text(&t);
        assert!(text.starts_with("unknown protocol · unknown signal · 203 events\n"));
        assert!(
            text.contains(&format!("tick{}\n", MAX_EVENTS - 1)),
            "{text}"
        );
        assert!(!text.contains(&format!("tick{}\n", MAX_EVENTS)), "{text}");
        assert!(text.contains("  … and 3 more events\n"), "{text}");
        assert!(text.ends_with("note: request body was cut\n"), "{text}");
    }
}
