//! Sets of flow and connection ids. Ids are small integers counted up from 1 in a capture, so
//! a bit per id up to [`DENSE_LIMIT`] (128 KiB per million ids); larger ids go to a hash set.
//! A set holds one kind of id (`IdSet<FlowId>`, `IdSet<ConnId>`).

use std::collections::HashSet;
use std::marker::PhantomData;

/// Ids below this are kept as bits (at most 32 MiB of them).
const DENSE_LIMIT: u64 = 1 << 28;

#[derive(Debug)]
pub(super) struct IdSet<I> {
    bits: Vec<u64>,
    sparse: HashSet<u64>,
    kind: PhantomData<I>,
}

impl<I> Default for IdSet<I> {
    fn default() -> Self {
        Self {
            bits: Vec::new(),
            sparse: HashSet::new(),
            kind: PhantomData,
        }
    }
}

impl<I: Into<u64>> IdSet<I> {
    /// Adds `id`; whether it was new.
    pub(super) fn insert(&mut self, id: I) -> bool {
        let id: u64 = id.into();
        if id >= DENSE_LIMIT {
            return self.sparse.insert(id);
        }
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if word >= self.bits.len() {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        new
    }

    pub(super) fn contains(&self, id: I) -> bool {
        let id: u64 = id.into();
        if id >= DENSE_LIMIT {
            return self.sparse.contains(&id);
        }
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        self.bits.get(word).is_some_and(|w| w & bit != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn dense_and_sparse_ids() {
        let mut set = IdSet::<u64>::default();
        for id in [0, 1, 63, 64, 1_000_000, u64::MAX] {
            assert!(!set.contains(id));
            assert!(set.insert(id), "{id} is new");
            assert!(!set.insert(id), "{id} is not new twice");
            assert!(set.contains(id));
        }
        assert!(!set.contains(2));
    }
}
