//! The flows list as HAR 1.2: the analysis's HAR export ([`phonehome_analyze::export_har`])
//! over the input's events, kept to the flows a filter matched (their exchanges, blocks and
//! connections; the capture's first and last records).

use phonehome_record::{ConnId, FlowId};

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use phonehome_analyze::{Event, ExportError};

/// Which events of the input go into the HAR.
struct Keep {
    flows: HashSet<FlowId>,
    /// The connections of the flows kept so far (a `conn` record follows its flows).
    conns: HashSet<ConnId>,
}

impl Keep {
    fn keeps(&mut self, event: &Event) -> bool {
        match event {
            Event::Header(_) | Event::End(_) => true,
            Event::Exchange(x) => {
                let keep = self.flows.contains(&x.flow);
                if let (true, Some(conn)) = (keep, x.conn) {
                    self.conns.insert(conn);
                }
                keep
            }
            Event::Blocked(b) => b.flow.is_some_and(|f| self.flows.contains(&f)),
            Event::Conn(c) => self.conns.contains(&c.conn),
            _ => false,
        }
    }
}

/// Writes the HAR of `flows` of the input at `path` to `out`.
///
/// # Errors
/// As [`phonehome_analyze::export_har`]: an I/O error writing, or the input's first error.
pub(crate) fn write_har(
    path: &Path,
    flows: HashSet<FlowId>,
    out: impl Write,
) -> Result<(), ExportError> {
    let mut keep = Keep {
        flows,
        conns: HashSet::new(),
    };
    let events = phonehome_analyze::open(path)?;
    let kept = events.filter(|event| match event {
        Ok(event) => keep.keeps(event),
        Err(_) => true,
    });
    phonehome_analyze::export_har(kept, out)
}

/// The HAR of `flows` as a JSON value (the exported file embeds it).
///
/// # Errors
/// As [`write_har`].
pub(crate) fn har_value(
    path: &Path,
    flows: HashSet<FlowId>,
) -> Result<serde_json::Value, ExportError> {
    let mut text = Vec::new();
    write_har(path, flows, &mut text)?;
    serde_json::from_slice(&text).map_err(ExportError::from)
}
