//! The detail pane's side of the tool-call join ([`crate::cause`]): starting it once the
//! capture has been read, giving the open detail its verdict, and `w`, the jump from a caused
//! flow to the LLM call that asked for it.

use super::{App, FlowsState};
use crate::cause::{Cause, CauseIndex, Verdict};

/// Starts the join once the index has read the capture to its end, and gives the open
/// detail its verdict when the join finishes. Whether the detail changed.
pub(crate) fn refresh(flows: &mut FlowsState, fold_depth: usize) -> bool {
    if flows.causes.is_none() {
        let read = {
            let data = flows.index.lock();
            data.done || data.end.is_some()
        };
        if read {
            flows.causes = Some(CauseIndex::start(&flows.index.path));
        }
    }
    let (Some(causes), Some(d)) = (&flows.causes, &mut flows.detail) else {
        return false;
    };
    let Some(conn) = d.conn else {
        return false;
    };
    if d.cause != Verdict::Pending || !causes.ready() {
        return false;
    }
    d.cause = causes.of_conn(conn).attributed(d.detail.process_known());
    d.detail.set_cause(d.cause.text(), fold_depth);
    true
}

impl App {
    /// `w` in a flow's detail: to the LLM call whose answer asked for the tool call that
    /// caused the flow's connection, opened on its conversation at that call (the filters are
    /// cleared when they hide it).
    pub(crate) fn go_to_cause(&mut self) {
        let Some(flows) = &mut self.flows else {
            return;
        };
        let Some(detail) = &flows.detail else {
            return;
        };
        let cause = match &detail.cause {
            Verdict::Caused(cause) => cause.clone(),
            other => {
                self.message = Some(format!("cause: {}", other.text()));
                return;
            }
        };
        let find = |flows: &FlowsState| {
            let data = flows.index.lock();
            let row = data.iter().position(|r| r.flow() == Some(cause.llm_flow))?;
            flows.visible.iter().position(|&i| i == row)
        };
        if find(flows).is_none() {
            flows.search.clear();
            flows.body_search = None;
            flows.body_matches = None;
            flows.host = None;
            flows.process = None;
            flows.kind = crate::filter::Kind::All;
            self.options.include_meta = true;
            flows.seen = None;
            self.refresh();
        }
        let Some(flows) = &mut self.flows else {
            return;
        };
        let Some(at) = find(flows) else {
            self.message = Some(format!(
                "LLM call flow {} is not in the list",
                cause.llm_flow
            ));
            return;
        };
        flows.selected = at;
        flows.tail = false;
        flows.detail = None;
        self.open_detail();
        self.show_call(&cause);
    }

    /// Opens the LLM tab of the detail on the line that names the call (its id, else name).
    fn show_call(&mut self, cause: &Cause) {
        let Some(d) = self.flows.as_mut().and_then(|f| f.detail.as_mut()) else {
            return;
        };
        let Some(tab) = d.detail.tabs.iter().position(|t| t.name == "LLM") else {
            return;
        };
        d.tab = tab;
        let needle = cause.id.as_deref().unwrap_or(&cause.tool);
        d.cursor = d.detail.tabs[tab]
            .lines
            .iter()
            .position(|line| crate::json::plain(line).contains(needle))
            .unwrap_or(0);
        d.scroll = d.cursor.saturating_sub(2);
        self.message = Some(format!(
            "tool call {} {}",
            cause.tool,
            cause.id.as_deref().unwrap_or_default()
        ));
    }
}
