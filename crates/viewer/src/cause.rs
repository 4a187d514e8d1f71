//! Why a flow's connection was made, for the detail pane: the join of tool calls to the
//! connections they caused (`phonehome_analyze::causes`), worked out on a background thread
//! once the index has read the capture to its end. The join streams the capture (it keeps a
//! few numbers per tool call and per connection that may have been caused, never the records);
//! the viewer keeps only its result.

use phonehome_record::{ConnId, FlowId};

use std::path::Path;
use std::sync::{Arc, Mutex};

use phonehome_analyze::causes::{self, Causes};

/// The join's state.
enum State {
    Working,
    Ready(Causes),
    Failed(String),
}

/// The tool call that caused a connection, as the detail pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The tool's name (`Bash`, `shell`).
    pub tool: String,
    /// The call's id, when its API gives one.
    pub id: Option<String>,
    /// `argv`, `window only`, `ambiguous`.
    pub method: &'static str,
    /// With `ambiguous`: the other calls (ids or names).
    pub also: Vec<String>,
    /// The LLM call whose answer asked for it.
    pub llm_flow: FlowId,
}

/// What the join says of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not worked out yet (the capture is still being read, or the join still runs).
    Pending,
    /// The join failed: why.
    Failed(String),
    /// No tool call caused it.
    Own,
    /// Not joined: the connection's process was not recorded (attribution off or failed, or
    /// a capture from before it), so the join cannot say.
    Unattributed,
    Caused(Cause),
}

/// The join of one capture, run once on a background thread.
pub struct CauseIndex {
    state: Arc<Mutex<State>>,
}

impl CauseIndex {
    /// Starts the join over the capture at `path`.
    pub fn start(path: &Path) -> CauseIndex {
        let state = Arc::new(Mutex::new(State::Working));
        let shared = state.clone();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let result = phonehome_analyze::open(&path).and_then(causes::read);
            let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
            *state = match result {
                Ok(causes) => State::Ready(causes),
                Err(e) => State::Failed(format!("{}: {e}", path.display())),
            };
        });
        CauseIndex { state }
    }

    /// What the join says of connection `conn`.
    pub fn of_conn(&self, conn: ConnId) -> Verdict {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::Working => Verdict::Pending,
            State::Failed(why) => Verdict::Failed(why.clone()),
            State::Ready(causes) => causes.of_conn(conn).map_or(Verdict::Own, |(call, caused)| {
                Verdict::Caused(Cause {
                    tool: call.name.clone(),
                    id: call.id.clone(),
                    method: caused.method.as_str(),
                    also: caused.also.clone(),
                    llm_flow: call.flow,
                })
            }),
        }
    }

    /// Whether the join has finished (or failed).
    pub fn ready(&self) -> bool {
        !matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Working
        )
    }
}

impl Verdict {
    /// `Own` becomes `Unattributed` when the connection's process is not known.
    pub fn attributed(self, process_known: bool) -> Verdict {
        match self {
            Verdict::Own if !process_known => Verdict::Unattributed,
            other => other,
        }
    }

    /// The detail pane's line.
    pub fn text(&self) -> String {
        match self {
            Verdict::Pending => {
                "being worked out (the join reads the capture once it has been read to its end)"
                    .to_owned()
            }
            Verdict::Failed(why) => format!("not known: {why}"),
            Verdict::Own => "the agent's own (no tool call the model asked for made it)".to_owned(),
            Verdict::Unattributed => {
                "not known: the connection's process was not recorded, so it is not joined"
                    .to_owned()
            }
            Verdict::Caused(c) => {
                let mut text =
                    format!(
                    "tool call {}{} · matched by {} · asked for by LLM call flow {} · w: go to it",
                    c.tool,
                    c.id.as_deref().map(|id| format!(" {id}")).unwrap_or_default(),
                    c.method,
                    c.llm_flow,
                );
                if !c.also.is_empty() {
                    text.push_str(&format!(" · or {}", c.also.join(", ")));
                }
                text
            }
        }
    }
}
