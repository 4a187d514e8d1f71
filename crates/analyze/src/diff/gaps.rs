//! The median gap between the requests of one request signature, in memory that does not grow
//! with the number of requests: the gaps are kept exactly while a signature has few of them,
//! then in a DDSketch, a quantile sketch with a relative-error guarantee (Masson, Rim and Lee,
//! "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with Relative-Error Guarantees",
//! VLDB 2019, <https://arxiv.org/abs/1908.10693>; the `sketches-ddsketch` crate).
//!
//! The median is the gap of rank ⌊n/2⌋ (0-based) among the n gaps sorted, the upper of the two
//! middle ones for an even n. Exact up to [`EXACT`] gaps; beyond, the value returned is within
//! [`RELATIVE_ERROR`] (0.5 %) of that gap, rounded to the millisecond: exact below 100 ms,
//! within 5 ms at 1 s, within 50 ms at 10 s. The sketch holds at most [`MAX_BINS`] bins a sign,
//! 16 KiB, enough for gaps from 1 ms to about 9 days without losing accuracy.

use sketches_ddsketch::{Config, DDSketch};

/// Gaps kept exactly before they move into a sketch: 1 KiB, the size of a sketch's first bins.
pub(super) const EXACT: usize = 128;
/// The sketch's relative accuracy: its median is within this fraction of the exact one.
pub(super) const RELATIVE_ERROR: f64 = 0.005;
/// Bins per sign (positive and negative gaps): 8 bytes each. With [`RELATIVE_ERROR`] a bin
/// spans 1 % of a value, so 2,048 cover a ratio of 10^8.9 (1 ms to about 9 days).
const MAX_BINS: u32 = 2048;
/// Gaps closer to zero than this count as zero; gaps are whole milliseconds.
const MIN_VALUE: f64 = 0.5;

/// The gaps of one signature, in milliseconds (negative when a request was recorded before the
/// one read ahead of it).
#[derive(Debug, Default)]
pub(super) struct Gaps {
    exact: Vec<i64>,
    sketch: Option<Box<Sketch>>,
}

/// A DDSketch with the number of gaps it holds.
struct Sketch {
    sketch: DDSketch,
    count: u64,
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sketch")
            .field("count", &self.count)
            .finish()
    }
}

impl Gaps {
    /// Adds one gap.
    pub(super) fn add(&mut self, gap_ms: i64) {
        if let Some(sketch) = &mut self.sketch {
            sketch.add(gap_ms);
            return;
        }
        self.exact.push(gap_ms);
        if self.exact.len() > EXACT {
            let mut sketch = Sketch {
                sketch: DDSketch::new(Config::new(RELATIVE_ERROR, MAX_BINS, MIN_VALUE)),
                count: 0,
            };
            for gap in std::mem::take(&mut self.exact) {
                sketch.add(gap);
            }
            self.sketch = Some(Box::new(sketch));
        }
    }

    /// The median gap (rank ⌊n/2⌋), in milliseconds; `None` without gaps.
    pub(super) fn median(&self) -> Option<i64> {
        match &self.sketch {
            Some(sketch) => sketch.median(),
            None => {
                let mut sorted = self.exact.clone();
                sorted.sort_unstable();
                sorted.get(sorted.len() / 2).copied()
            }
        }
    }
}

impl Sketch {
    fn add(&mut self, gap_ms: i64) {
        // Whole milliseconds: exact as f64 far beyond any capture's length.
        self.sketch.add(gap_ms as f64);
        self.count += 1;
    }

    fn median(&self) -> Option<i64> {
        let n = self.count;
        if n == 0 {
            return None;
        }
        // DDSketch takes the value of rank ⌊q·(n − 1)⌋: this q gives rank ⌊n/2⌋, as the exact
        // median does (q = 1 gives the largest gap, exactly).
        let q = match n {
            1 => 0.0,
            n => (((n / 2) as f64 + 0.5) / (n - 1) as f64).min(1.0),
        };
        let value = self.sketch.quantile(q).ok().flatten()?;
        Some(value.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn exact_median(gaps: &[i64]) -> Option<i64> {
        let mut sorted = gaps.to_vec();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }

    fn median_of(gaps: &[i64]) -> Option<i64> {
        let mut g = Gaps::default();
        for gap in gaps {
            g.add(*gap);
        }
        g.median()
    }

    #[test]
    fn exact_up_to_the_threshold() {
        assert_eq!(median_of(&[]), None);
        assert_eq!(median_of(&[5]), Some(5));
        assert_eq!(median_of(&[3, 1]), Some(3));
        let gaps: Vec<i64> = (0..EXACT as i64).map(|i| (i * 7919) % 100_003).collect();
        assert_eq!(median_of(&gaps), exact_median(&gaps));
    }

    #[test]
    fn a_million_gaps_hold_the_bound_in_a_bounded_sketch() {
        let gaps: Vec<i64> = (0..1_000_000i64)
            .map(|i| 1 + (i * 7919) % 600_000)
            .collect();
        let mut g = Gaps::default();
        for gap in &gaps {
            g.add(*gap);
        }
        assert!(g.exact.is_empty());
        let sketch = g.sketch.as_ref().expect("a sketch past the threshold");
        assert!(sketch.sketch.length() <= 2 * MAX_BINS as usize);
        let (got, want) = (
            g.median().expect("gaps"),
            exact_median(&gaps).expect("gaps"),
        );
        assert!(
            (got - want).abs() as f64 <= RELATIVE_ERROR * want as f64 + 0.5,
            "{got} vs {want}"
        );
    }

    proptest! {
        /// Past the threshold the median is within the stated bound of the exact one: the
        /// relative error, then rounding to the millisecond.
        #[test]
        fn within_the_stated_bound(
            gaps in prop::collection::vec(
                prop_oneof![Just(0i64), -5_000i64..5_000, 0i64..86_400_000],
                1..2_000,
            )
        ) {
            let got = median_of(&gaps).expect("gaps");
            let want = exact_median(&gaps).expect("gaps");
            if gaps.len() <= EXACT {
                prop_assert_eq!(got, want);
            } else {
                let bound = RELATIVE_ERROR * want.abs() as f64 + 0.5;
                prop_assert!((got - want).abs() as f64 <= bound, "{} vs {}", got, want);
            }
        }
    }
}
