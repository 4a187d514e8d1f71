//! The join in words, for `phonehome llm`: under an LLM call, each tool call its answer asked
//! for, the processes it ran, their connections and requests.

use phonehome_record::FlowId;

use super::{Causes, ToolCall};

/// The lines under LLM call `flow` (empty when its answer asked for no tool call):
///
/// ```text
///   tool call toolu_A · Bash: curl -s http://127.0.0.1:9/a · result in flow 9
///     ran curl (pid 201, under 200) · conn 3 to 127.0.0.1:9 · flows 2 · matched by argv
///   tool call toolu_B · Bash: ls · result in flow 9
///     no connection
/// ```
pub fn under_call(causes: &Causes, flow: FlowId) -> String {
    let mut out = String::new();
    for call in causes.of_flow(flow) {
        out.push_str(&call_line(call));
        if call.caused.is_empty() {
            out.push_str("    no connection\n");
        }
        for c in &call.caused {
            let under = if c.parents.is_empty() {
                String::new()
            } else {
                let pids: Vec<String> = c.parents.iter().map(u32::to_string).collect();
                format!(", under {}", pids.join(" < "))
            };
            let flows = if c.flows.is_empty() {
                "no HTTP request".to_owned()
            } else {
                let ids: Vec<String> = c.flows.iter().map(FlowId::to_string).collect();
                format!("flows {}", ids.join(", "))
            };
            let also = if c.also.is_empty() {
                String::new()
            } else {
                format!(" (or {})", c.also.join(", "))
            };
            out.push_str(&format!(
                "    ran {} (pid {}{under}) · conn {} to {}:{} · {flows} · matched by {}{also}\n",
                c.process,
                c.pid,
                c.conn,
                c.host,
                c.port,
                c.method.as_str()
            ));
        }
    }
    out
}

fn call_line(call: &ToolCall) -> String {
    let mut line = format!("  tool call {}", call.label());
    if call.id.is_some() {
        line.push_str(&format!(" · {}", call.name));
    }
    if let Some(command) = &call.command {
        line.push_str(&format!(": {}", one_line(command)));
    }
    match call.result_flow {
        Some(flow) => line.push_str(&format!(" · result in flow {flow}")),
        None => line.push_str(" · no result seen"),
    }
    line.push('\n');
    line
}

/// A command on one line, cut at 160 characters.
fn one_line(command: &str) -> String {
    let flat = command.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}
