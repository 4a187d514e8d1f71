//! The report's LLM table: calls per host, API and model, with the tokens the provider
//! reported, time to first token, retries and errors.

use std::collections::BTreeMap;

use super::digest::CallUse;
use super::model::LlmRow;

#[derive(Default)]
pub(super) struct LlmAcc {
    pub(super) calls: u64,
    pub(super) streaming: u64,
    pub(super) errors: u64,
    pub(super) retries: u64,
    pub(super) ok: u64,
    meta: u64,
    usage: [u64; 5],
    ttft_ms: Vec<u64>,
    error_kinds: BTreeMap<String, u64>,
}

impl LlmAcc {
    /// Adds what the decoder found in one call.
    #[cfg(test)]
    pub(super) fn add(&mut self, c: &crate::llm::Conversation) {
        self.add_use(CallUse::of(c));
    }

    pub(super) fn add_use(&mut self, used: CallUse) {
        self.meta += u64::from(used.meta);
        for (sum, n) in self.usage.iter_mut().zip(used.tokens) {
            *sum += n;
        }
        self.ttft_ms.extend(used.ttft_ms);
        if let Some(label) = used.error {
            *self.error_kinds.entry(label).or_default() += 1;
        }
    }

    pub(super) fn row(self, (host, api, model): (String, &'static str, String)) -> LlmRow {
        let (ttft_median_ms, ttft_max_ms) = median_max(self.ttft_ms);
        let [input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens] =
            self.usage;
        LlmRow {
            host,
            api,
            model,
            calls: self.calls,
            streaming: self.streaming,
            errors: self.errors,
            retries: self.retries,
            meta: self.meta,
            input_tokens,
            output_tokens,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            reasoning_tokens,
            ttft_median_ms,
            ttft_max_ms,
            error_kinds: self.error_kinds,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count), and the maximum.
fn median_max(mut values: Vec<u64>) -> (Option<u64>, Option<u64>) {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    };
    (Some(median), values.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm;

    #[test]
    fn median_and_max() {
        assert_eq!(median_max(Vec::new()), (None, None));
        assert_eq!(median_max(vec![30]), (Some(30), Some(30)));
        assert_eq!(median_max(vec![900, 100, 300]), (Some(300), Some(900)));
        assert_eq!(median_max(vec![400, 100, 300, 200]), (Some(250), Some(400)));
    }

    #[test]
    fn llm_rows_sum_usage_and_name_errors() {
        let mut acc = LlmAcc::default();
        let mut c = llm::decode(&crate::event::exchange(
            phonehome_record::FlowId(1),
            chrono::DateTime::default(),
            "POST".into(),
            "https://api.test/v1/chat/completions".into(),
            "HTTP/1.1".into(),
            Vec::new(),
            None,
        ))
        .expect("llm");
        c.usage.input_tokens = Some(10);
        c.ttft_ms = Some(5);
        acc.add(&c);
        c.error = Some(llm::LlmError {
            status: Some(429),
            kind: Some("rate_limit_error".into()),
            message: String::new(),
        });
        acc.add(&c);
        c.error = Some(llm::LlmError {
            status: None,
            kind: Some("upstream_http".into()),
            message: String::new(),
        });
        acc.add(&c);
        assert_eq!(acc.usage[0], 30);
        assert_eq!(acc.ttft_ms, [5, 5, 5]);
        let kinds: Vec<(&str, u64)> = acc
            .error_kinds
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(kinds, [("429 rate_limit_error", 1), ("upstream_http", 1)]);
    }
}
