//! Typed reads of a stream event's JSON that take a field the way indexing a
//! `serde_json::Value` does (`v["usage"]["prompt_tokens"].as_u64()`): a field that is missing
//! or of another type reads as absent, never as an error. The stream decoders read each event
//! into a small struct of only the fields they use, strings borrowed from the event's text
//! where they hold no escape, instead of building a whole `Value` per event.
//!
//! The building blocks: [`Str`] (a string), [`U64`] (a non-negative integer), [`Obj`] (an
//! object read into a struct whose fields are all lenient; anything else reads as the struct's
//! default), [`List`] (an array; anything else reads as empty). [`event`] reads one document.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Reads one event's JSON `data` into `T`. A document `T` cannot take in one pass (a key
/// given twice, which a derived struct refuses) is read as a `Value` first, where the last of
/// a repeated key wins, as the decoders read it before. `None` when `data` is not JSON.
pub(crate) fn event<'a, T: Deserialize<'a> + Default>(data: &'a str) -> Option<T> {
    if let Ok(Obj(t)) = serde_json::from_str::<Obj<T>>(data) {
        return Some(t);
    }
    let value: Value = serde_json::from_str(data).ok()?;
    Obj::<T>::deserialize(value).ok().map(|Obj(t)| t)
}

/// A string field: `Value::as_str`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub Option<Cow<'a, str>>);

impl Str<'_> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// An integer field: `Value::as_u64`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct U64(pub Option<u64>);

/// An object field read into `T`; any other JSON reads as `T::default()`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Obj<T>(pub T);

/// An array field; any other JSON reads as an empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// A scalar as one of the two kinds the decoders read.
enum Atom<'de> {
    Str(Cow<'de, str>),
    U64(u64),
    Other,
}

/// Visits the JSON kinds a lenient type does not take, as `$other`.
macro_rules! other_kinds {
    ($other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// Reads the rest of an array it does not take.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads the rest of an object it does not take.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct AtomVisitor;

impl<'de> Visitor<'de> for AtomVisitor {
    type Value = Atom<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_kinds!(Atom::Other);

    fn visit_u64<E>(self, n: u64) -> Result<Atom<'de>, E> {
        Ok(Atom::U64(n))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Atom<'de>, E> {
        Ok(u64::try_from(n).map_or(Atom::Other, Atom::U64))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Atom<'de>, E> {
        Ok(Atom::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Atom<'de>, E> {
        Ok(Atom::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Atom<'de>, E> {
        Ok(Atom::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Atom<'de>, A::Error> {
        skip_seq(seq).map(|()| Atom::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Atom<'de>, A::Error> {
        skip_map(map).map(|()| Atom::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(match d.deserialize_any(AtomVisitor)? {
            Atom::Str(s) => Some(s),
            _ => None,
        }))
    }
}

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(match d.deserialize_any(AtomVisitor)? {
            Atom::U64(n) => Some(n),
            _ => None,
        }))
    }
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_kinds!(Obj(T::default()));

    fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
        Ok(Obj(T::default()))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
        Ok(Obj(T::default()))
    }

    fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
        Ok(Obj(T::default()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
        skip_seq(seq).map(|()| Obj(T::default()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_kinds!(List::default());

    fn visit_u64<E>(self, _: u64) -> Result<List<T>, E> {
        Ok(List::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<List<T>, E> {
        Ok(List::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<List<T>, E> {
        Ok(List::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(List(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
        skip_map(map).map(|()| List::default())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;

    use super::{event, List, Obj, Str, U64};

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Probe<'a> {
        #[serde(borrow)]
        a: Str<'a>,
        n: U64,
        #[serde(borrow)]
        inner: Obj<Inner<'a>>,
        #[serde(borrow)]
        list: List<Obj<Inner<'a>>>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner<'a> {
        #[serde(borrow)]
        s: Str<'a>,
        n: U64,
    }

    /// What indexing the document as a `Value` reads.
    fn by_value(
        v: &Value,
    ) -> (
        Option<String>,
        Option<u64>,
        Option<String>,
        Vec<Option<u64>>,
    ) {
        let list = v["list"].as_array().into_iter().flatten();
        (
            v["a"].as_str().map(str::to_owned),
            v["n"].as_u64(),
            v["inner"]["s"].as_str().map(str::to_owned),
            list.map(|i| i["n"].as_u64()).collect(),
        )
    }

    fn by_event(
        p: &Probe,
    ) -> (
        Option<String>,
        Option<u64>,
        Option<String>,
        Vec<Option<u64>>,
    ) {
        (
            p.a.as_str().map(str::to_owned),
            p.n.0,
            p.inner.0.s.as_str().map(str::to_owned),
            p.list.0.iter().map(|i| i.0.n.0).collect(),
        )
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[1,{\"n\":2}]".to_owned()),
            Just("{\"s\":\"x\",\"n\":3}".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0.0f64..1e6).prop_map(|f| format!("{f:.3}")),
            "[a-z\\\\\"é]{0,6}".prop_map(|s| Value::String(s).to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a"),
            Just("n"),
            Just("inner"),
            Just("list"),
            Just("s"),
            Just("zz"),
            Just("\\u0061"),
        ]
        .prop_map(str::to_owned)
    }

    /// A document of lenient-typed fields, nested, with repeated keys.
    fn document() -> impl Strategy<Value = String> {
        let member = (key(), scalar()).prop_map(|(k, v)| format!("\"{k}\":{v}"));
        let object = prop::collection::vec(member, 0..6)
            .prop_map(|m| format!("{{{}}}", m.join(",")))
            .boxed();
        let value = prop_oneof![scalar(), object.clone()].boxed();
        let list =
            prop::collection::vec(value.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(",")));
        let top =
            (key(), prop_oneof![value, list, object]).prop_map(|(k, v)| format!("\"{k}\":{v}"));
        prop_oneof![
            prop::collection::vec(top, 0..8).prop_map(|m| format!("{{{}}}", m.join(","))),
            scalar(),
        ]
    }

    proptest! {
        /// A typed read takes every field as indexing a `Value` does, whatever its type,
        /// escapes and repeated keys.
        #[test]
        fn agrees_with_value_indexing(doc in document()) {
            let value: Value = serde_json::from_str(&doc).expect("generated JSON");
            let typed: Probe = event(&doc).expect("JSON reads");
            prop_assert_eq!(by_event(&typed), by_value(&value));
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_bad_json_is_none() {
        let doc = r#"{"a":"plain","inner":{"s":"x\"y"}}"#;
        let p: Probe = event(doc).expect("JSON");
        assert!(matches!(p.a.0, Some(std::borrow::Cow::Borrowed("plain"))));
        assert_eq!(p.inner.0.s.as_str(), Some("x\"y"));
        assert!(event::<Probe>("{\"a\":").is_none());
        let p: Probe = event(r#"{"n":1,"n":"x","a":"1","a":"2"}"#).expect("JSON");
        assert_eq!((p.n.0, p.a.as_str()), (None, Some("2")));
    }
}
