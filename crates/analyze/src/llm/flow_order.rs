//! Putting what is found per flow back in flow order, as flows end, in bounded memory.
//!
//! A capture holds each exchange once its response has ended, so flows end out of order (a
//! long streamed answer ends after the short calls started beside it). An item is handed on
//! once every earlier flow has ended; until then it is held. Flows that never end (a request
//! whose record was never written, an event stream open for the whole session) would hold
//! everything after them, so the held items are bounded: past [`MAX_HELD`] items,
//! [`MAX_HELD_WEIGHT`] bytes or [`MAX_GAPS`] missing flows, the earliest missing flows are given
//! up on. An item of a flow given up on that ends later is handed on when it ends.

use std::collections::{BTreeMap, VecDeque};

use phonehome_record::FlowId;

/// Items held at most while waiting for earlier flows.
const MAX_HELD: usize = 1024;
/// Weight (about the bytes behind them) of the items held at most.
const MAX_HELD_WEIGHT: usize = 8 << 20;
/// Runs of missing flows kept track of at most.
const MAX_GAPS: usize = 4096;

/// Items keyed by the flow they belong to, handed on in flow order.
#[derive(Debug)]
pub(crate) struct FlowOrder<T> {
    /// Every flow below has ended or was given up on.
    next: u64,
    /// Flows at or above `next` that have ended, as runs `start..end`, apart from each other.
    ended: BTreeMap<u64, u64>,
    /// Items waiting for an earlier flow, by flow and arrival (a flow id seen twice keeps both).
    held: BTreeMap<(u64, u64), (T, usize)>,
    held_weight: usize,
    arrivals: u64,
    ready: VecDeque<T>,
}

impl<T> Default for FlowOrder<T> {
    fn default() -> Self {
        Self {
            next: 1,
            ended: BTreeMap::new(),
            held: BTreeMap::new(),
            held_weight: 0,
            arrivals: 0,
            ready: VecDeque::new(),
        }
    }
}

impl<T> FlowOrder<T> {
    /// Flow `flow` has ended, with `item` to hand on for it (`None` when there is nothing to
    /// hand on) weighing `weight` bytes.
    pub(crate) fn end(&mut self, flow: FlowId, item: Option<T>, weight: usize) {
        let FlowId(flow) = flow;
        if flow < self.next {
            self.ready.extend(item);
            return;
        }
        if let Some(item) = item {
            self.arrivals += 1;
            self.held.insert((flow, self.arrivals), (item, weight));
            self.held_weight += weight;
        }
        self.mark_ended(flow);
        self.advance();
        while self.over_bounds() {
            self.give_up();
        }
    }

    /// The next item whose earlier flows have all ended.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.ready.pop_front()
    }

    /// At the end of the input: hands on every item still held, in flow order.
    pub(crate) fn finish(&mut self) {
        self.held_weight = 0;
        let held = std::mem::take(&mut self.held);
        self.ready.extend(held.into_values().map(|(item, _)| item));
    }

    fn over_bounds(&self) -> bool {
        self.held.len() > MAX_HELD
            || self.held_weight > MAX_HELD_WEIGHT
            || self.ended.len() > MAX_GAPS
    }

    /// Adds `flow` to the runs of ended flows, joining it to its neighbours.
    fn mark_ended(&mut self, flow: u64) {
        let mut start = flow;
        let mut end = flow + 1;
        if let Some((&before, &before_end)) = self.ended.range(..=flow).next_back() {
            if before_end > flow {
                return;
            }
            if before_end == flow {
                start = before;
            }
        }
        if let Some(after_end) = self.ended.remove(&end) {
            end = after_end;
        }
        self.ended.insert(start, end);
    }

    /// Moves `next` over the flows that have ended and hands on what they held.
    fn advance(&mut self) {
        while let Some((&start, &end)) = self.ended.first_key_value() {
            if start > self.next {
                break;
            }
            self.next = self.next.max(end);
            self.ended.remove(&start);
        }
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 >= self.next {
                break;
            }
            let (item, weight) = entry.remove();
            self.held_weight -= weight;
            self.ready.push_back(item);
        }
    }

    /// Gives up on the earliest missing flows: up to the first held item, or the first run of
    /// ended flows when nothing is held.
    fn give_up(&mut self) {
        let first_held = self.held.keys().next().map(|(flow, _)| *flow);
        let first_run = self.ended.keys().next().copied();
        let Some(to) = first_held.or(first_run) else {
            return;
        };
        self.next = self.next.max(to);
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ends: &[(u64, Option<&'static str>)]) -> Vec<&'static str> {
        let mut order = FlowOrder::default();
        let mut out = Vec::new();
        for (flow, item) in ends {
            order.end(FlowId(*flow), *item, 1);
            out.extend(std::iter::from_fn(|| order.pop()));
        }
        order.finish();
        out.extend(std::iter::from_fn(|| order.pop()));
        out
    }

    #[test]
    fn items_come_out_in_flow_order_whatever_order_flows_end_in() {
        assert_eq!(
            order(&[
                (2, Some("b")),
                (3, None),
                (1, Some("a")),
                (5, Some("e")),
                (4, None)
            ]),
            ["a", "b", "e"]
        );
    }

    #[test]
    fn an_item_is_handed_on_as_soon_as_earlier_flows_have_ended() {
        let mut order = FlowOrder::default();
        order.end(FlowId(1), None, 0);
        order.end(FlowId(3), Some("c"), 1);
        assert_eq!(order.pop(), None, "flow 2 has not ended");
        order.end(FlowId(2), Some("b"), 1);
        assert_eq!(order.pop(), Some("b"));
        assert_eq!(order.pop(), Some("c"));
        assert_eq!(order.held.len() + order.ended.len(), 0);
    }

    #[test]
    fn a_flow_that_never_ends_holds_no_more_than_the_bounds() {
        let mut order = FlowOrder::default();
        let mut out = Vec::new();
        for flow in 2..=(MAX_HELD as u64 + 10) {
            order.end(FlowId(flow), Some(flow), 1);
            out.extend(std::iter::from_fn(|| order.pop()));
            assert!(order.held.len() <= MAX_HELD);
        }
        assert_eq!(out.first(), Some(&2), "flow 1 given up on");
        order.end(FlowId(1), Some(1), 1);
        out.extend(std::iter::from_fn(|| order.pop()));
        order.finish();
        out.extend(std::iter::from_fn(|| order.pop()));
        assert_eq!(out.len(), MAX_HELD + 10, "nothing lost");
        assert!(out.windows(2).take(MAX_HELD).all(|w| w[0] < w[1]));
    }

    #[test]
    fn heavy_items_are_given_up_on_by_weight() {
        let mut order = FlowOrder::default();
        order.end(FlowId(2), Some("b"), MAX_HELD_WEIGHT);
        assert_eq!(order.pop(), None);
        order.end(FlowId(3), Some("c"), 1);
        assert_eq!(order.pop(), Some("b"));
        assert_eq!(order.pop(), Some("c"));
    }

    #[test]
    fn gaps_are_bounded_and_a_flow_seen_twice_keeps_both_items() {
        let mut order = FlowOrder::<()>::default();
        for flow in 0..(MAX_GAPS as u64 + 5) {
            order.end(FlowId(flow * 2 + 3), None, 0);
        }
        assert!(order.ended.len() <= MAX_GAPS);
        let mut order = FlowOrder::default();
        order.end(FlowId(2), Some("x"), 1);
        order.end(FlowId(2), Some("y"), 1);
        order.end(FlowId(1), None, 0);
        order.finish();
        assert_eq!(
            std::iter::from_fn(|| order.pop()).collect::<Vec<_>>(),
            ["x", "y"]
        );
    }
}
