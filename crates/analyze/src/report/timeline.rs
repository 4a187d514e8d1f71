//! The report's sense of time: requests per host in time buckets (for the chart), the first
//! requests in order, and retry bursts (requests of one signature close together, mostly
//! failing).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use phonehome_record::timestamp;

use super::model::{HostActivity, Storm, Timeline, TimelineEvent};

/// Time buckets per host kept for the timeline chart before buckets are merged.
const MAX_BUCKETS: usize = 240;
/// Requests of one signature closer than this belong to one burst.
const STORM_GAP_MS: i64 = 10_000;
/// A burst this long, mostly failing, is a retry storm.
const STORM_MIN_REQUESTS: u64 = 10;

/// Requests per time bucket, merging buckets as the span grows so memory stays bounded.
#[derive(Default)]
pub(super) struct Activity {
    bucket_ms: i64,
    origin: Option<i64>,
    counts: BTreeMap<i64, u32>,
}

impl Activity {
    pub(super) fn add(&mut self, at_ms: i64) {
        if self.bucket_ms == 0 {
            self.bucket_ms = 1_000;
        }
        let origin = *self.origin.get_or_insert(at_ms);
        let mut bucket = (at_ms - origin).div_euclid(self.bucket_ms);
        while bucket >= MAX_BUCKETS as i64 * 4 {
            self.bucket_ms *= 2;
            self.counts = self.counts.iter().fold(BTreeMap::new(), |mut m, (b, c)| {
                *m.entry(b / 2).or_default() += c;
                m
            });
            bucket = (at_ms - origin).div_euclid(self.bucket_ms);
        }
        *self.counts.entry(bucket).or_default() += 1;
    }

    /// The chart row of `host`, with offsets from `start_ms`; `None` before any request.
    fn row(&self, host: &str, start_ms: i64) -> Option<HostActivity> {
        let origin = self.origin?;
        let last = self.counts.keys().next_back().copied().unwrap_or(0);
        let mut counts = vec![0u32; usize::try_from(last + 1).unwrap_or(0)];
        for (bucket, count) in &self.counts {
            if let Ok(i) = usize::try_from(*bucket) {
                counts[i] = *count;
            }
        }
        Some(HostActivity {
            host: host.to_owned(),
            origin_ms: origin - start_ms,
            bucket_ms: self.bucket_ms,
            counts,
        })
    }
}

/// The timeline from the first to the last time seen: the first requests (their offsets
/// filled in) and the activity of every host.
pub(super) fn timeline<'a>(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    first: Vec<(DateTime<Utc>, TimelineEvent)>,
    hosts: impl Iterator<Item = (&'a str, &'a Activity)>,
) -> Timeline {
    let Some(start) = start else {
        return Timeline::default();
    };
    let start_ms = start.timestamp_millis();
    let mut first: Vec<_> = first
        .into_iter()
        .map(|(t, mut e)| {
            e.offset_ms = t.timestamp_millis() - start_ms;
            e
        })
        .collect();
    first.sort_by_key(|e| e.offset_ms);
    let mut activity: Vec<HostActivity> = hosts
        .filter_map(|(host, activity)| activity.row(host, start_ms))
        .collect();
    activity.sort_by(|a, b| a.origin_ms.cmp(&b.origin_ms).then(a.host.cmp(&b.host)));
    Timeline {
        start: Some(timestamp(start)),
        end: end.map(timestamp),
        first,
        hosts: activity,
    }
}

/// Requests of one signature, each within [`STORM_GAP_MS`] of the one before.
#[derive(Clone)]
pub(super) struct Burst {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    requests: u64,
    failures: u64,
    statuses: BTreeMap<u16, u64>,
}

/// Adds a request to its signature's burst; returns the previous burst when it ended as a storm.
pub(super) fn burst(
    current: &mut Option<Burst>,
    signature: &str,
    at: DateTime<Utc>,
    failed: bool,
    status: Option<u16>,
) -> Option<Storm> {
    let ended = current
        .as_ref()
        .is_some_and(|b| (at - b.last).num_milliseconds() > STORM_GAP_MS);
    let finished = if ended {
        close_burst(current, signature)
    } else {
        None
    };
    let burst = current.get_or_insert_with(|| Burst {
        first: at,
        last: at,
        requests: 0,
        failures: 0,
        statuses: BTreeMap::new(),
    });
    burst.last = burst.last.max(at);
    burst.requests += 1;
    burst.failures += u64::from(failed);
    *burst.statuses.entry(status.unwrap_or(0)).or_default() += 1;
    finished
}

/// Ends a signature's burst; a storm when it was long and mostly failing.
pub(super) fn close_burst(current: &mut Option<Burst>, signature: &str) -> Option<Storm> {
    let burst = current.take()?;
    let storm = burst.requests >= STORM_MIN_REQUESTS && burst.failures * 2 > burst.requests;
    storm.then(|| Storm {
        signature: signature.to_owned(),
        requests: burst.requests,
        failures: burst.failures,
        first: timestamp(burst.first),
        last: timestamp(burst.last),
        window_s: (burst.last - burst.first).num_milliseconds() as f64 / 1000.0,
        statuses: burst.statuses,
    })
}
