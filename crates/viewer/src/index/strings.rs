//! The index's interner: repeated strings of rows (hosts, methods, models, sessions, failure
//! phases) kept once and named by number.

use std::collections::HashMap;
use std::sync::Arc;

/// No string, in a row's string fields.
pub(crate) const NO_STRING: u32 = u32::MAX;

/// Interned strings, by number.
#[derive(Debug, Default)]
pub(crate) struct Strings {
    ids: HashMap<Arc<str>, u32>,
    all: Vec<Arc<str>>,
}

impl Strings {
    /// The number of `s`, interning it on first sight.
    pub(crate) fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.all.len()).unwrap_or(NO_STRING - 1);
        let arc: Arc<str> = Arc::from(s);
        self.all.push(arc.clone());
        self.ids.insert(arc, id);
        id
    }

    /// [`Strings::id`], or [`NO_STRING`] for none.
    pub(crate) fn opt_id(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NO_STRING, |s| self.id(s))
    }

    /// The string numbered `id` (empty for an unknown number).
    pub(crate) fn get(&self, id: u32) -> &str {
        self.all.get(id as usize).map_or("", |s| s.as_ref())
    }

    /// The string numbered `id`, or `None` for [`NO_STRING`].
    pub(crate) fn opt(&self, id: u32) -> Option<&str> {
        (id != NO_STRING).then(|| self.get(id))
    }

    /// A shared copy of the string numbered `id` (empty for an unknown number).
    pub(crate) fn arc(&self, id: u32) -> Arc<str> {
        self.all
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    /// [`Strings::arc`], or `None` for [`NO_STRING`].
    pub(crate) fn opt_arc(&self, id: u32) -> Option<Arc<str>> {
        (id != NO_STRING).then(|| self.arc(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_kept_once() {
        let mut strings = Strings::default();
        let a = strings.id("api.test");
        assert_eq!(strings.id("api.test"), a);
        assert_ne!(strings.id("GET"), a);
        assert_eq!(strings.get(a), "api.test");
        assert_eq!(strings.opt_id(None), NO_STRING);
        assert_eq!(strings.opt(NO_STRING), None);
        assert_eq!(strings.opt_arc(a).as_deref(), Some("api.test"));
        assert_eq!(strings.opt_arc(NO_STRING), None);
    }
}
