//! A serde `Deserializer` over [`Node`] that reports the exact position and field
//! path of every error (unknown field, wrong type, missing field, bad enum value).

// Errors are rare and carry a position, a path and texts; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::yaml::{Mark, Node, NodeKind, Resolved, short_quote};
use crate::model::path::{FieldPath, Seg};
use crate::model::suggest::did_you_mean;

/// A deserialization error located in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    /// Position, filled in by the innermost node that saw the error.
    pub mark: Option<Mark>,
    /// Field path, filled in with the position.
    pub path: Option<FieldPath>,
    /// What is wrong.
    pub message: String,
    /// What was expected.
    pub expected: Option<String>,
    /// A suggestion.
    pub hint: Option<String>,
    missing: Option<&'static str>,
}

impl DeError {
    fn msg(message: String) -> Self {
        Self { mark: None, path: None, message, expected: None, hint: None, missing: None }
    }

    fn at(mut self, mark: Mark, path: &Path<'_>) -> Self {
        if self.mark.is_none() {
            let mut p = path.to_field_path();
            if let Some(field) = self.missing.take() {
                p = p.key(field);
            }
            self.mark = Some(mark);
            self.path = Some(p);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::msg(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::msg(format!("wrong type: found {}", describe_unexpected(&unexp))).with_expected(exp.to_string())
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::msg(format!("invalid value {}", describe_unexpected(&unexp))).with_expected(exp.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::msg(format!("unknown field `{field}`")).with_expected(format!("one of {}", list(expected)));
        if let Some(s) = did_you_mean(field, expected.iter().copied()) {
            e.hint = Some(format!("did you mean `{s}`?"));
        }
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::msg(format!("unknown value `{variant}`")).with_expected(format!("one of {}", list(expected)));
        if let Some(s) = did_you_mean(variant, expected.iter().copied()) {
            e.hint = Some(format!("did you mean `{s}`?"));
        }
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Self::msg(format!("missing required field `{field}`"));
        e.missing = Some(field);
        e
    }
}

impl DeError {
    fn with_expected(mut self, e: String) -> Self {
        self.expected = Some(e);
        self
    }
}

fn list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

fn describe_unexpected(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Str(s) => format!("string {}", short_quote(s)),
        de::Unexpected::Signed(i) => format!("integer `{i}`"),
        de::Unexpected::Unsigned(i) => format!("integer `{i}`"),
        de::Unexpected::Float(f) => format!("number `{f}`"),
        de::Unexpected::Bool(b) => format!("boolean `{b}`"),
        de::Unexpected::Map => "a mapping".to_owned(),
        de::Unexpected::Seq => "a list".to_owned(),
        de::Unexpected::Unit | de::Unexpected::Option => "null".to_owned(),
        other => other.to_string(),
    }
}

/// A path built on the stack while descending; only rendered on error.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    /// The document root (or a sub-tree's root with a prefix).
    Root(&'a FieldPath),
    /// A mapping key below a parent.
    Key(&'a Path<'a>, &'a str),
    /// A sequence index below a parent.
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    /// Renders the chain as a [`FieldPath`].
    #[must_use]
    pub fn to_field_path(self) -> FieldPath {
        let mut segs = Vec::new();
        let mut cur = &self;
        let base = loop {
            match cur {
                Path::Root(base) => break *base,
                Path::Key(parent, k) => {
                    segs.push(Seg::Key((*k).to_owned()));
                    cur = parent;
                }
                Path::Index(parent, i) => {
                    segs.push(Seg::Index(*i));
                    cur = parent;
                }
            }
        };
        let mut all = base.0.clone();
        all.extend(segs.into_iter().rev());
        FieldPath(all)
    }
}

/// Deserializes `T` from `node`, whose position in its document is `base`.
///
/// # Errors
/// The first error, located.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node, base: &FieldPath) -> Result<T, DeError> {
    let root = Path::Root(base);
    T::deserialize(NodeDe { node, path: root })
}

/// The deserializer for one node.
pub struct NodeDe<'a, 'p> {
    node: &'a Node,
    path: Path<'p>,
}

impl<'a> NodeDe<'a, '_> {
    fn err(&self, e: DeError) -> DeError {
        e.at(self.node.mark, &self.path)
    }

    fn wrong(&self, expected: &str) -> DeError {
        let mut e =
            DeError::msg(format!("wrong type: found {}", self.node.describe())).with_expected(expected.to_owned());
        if let NodeKind::Scalar { value, plain: true } = &self.node.kind
            && expected == "a string"
            && !self.node.is_null()
        {
            e.hint = Some(format!("quote it to make it a string: \"{value}\""));
        }
        self.err(e)
    }

    fn int(&self) -> Result<i64, DeError> {
        match self.node.resolve() {
            Some(Resolved::Int(i)) => Ok(i),
            _ => Err(self.wrong("an integer")),
        }
    }
}

macro_rules! int_method {
    ($name:ident, $ty:ty, $visit:ident) => {
        fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let i = self.int()?;
            let v = <$ty>::try_from(i).map_err(|_| {
                self.err(DeError::msg(format!("integer `{i}` is out of range")).with_expected(format!(
                    "an integer between {} and {}",
                    <$ty>::MIN,
                    <$ty>::MAX
                )))
            })?;
            visitor.$visit(v).map_err(|e| self.err(e))
        }
    };
}

impl<'de, 'p> de::Deserializer<'de> for NodeDe<'de, 'p> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Seq(items) => visitor.visit_seq(Seq { items, index: 0, path: self.path }),
            NodeKind::Map(entries) => visitor.visit_map(Map { entries, index: 0, path: self.path }),
            NodeKind::Scalar { .. } => match self.node.resolve() {
                Some(Resolved::Null) | None => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str(s)) => visitor.visit_borrowed_str(s),
            },
        };
        r.map_err(|e| self.err(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Bool(b)) => visitor.visit_bool(b).map_err(|e| self.err(e)),
            _ => Err(self.wrong("a boolean (true or false)")),
        }
    }

    int_method!(deserialize_i8, i8, visit_i8);
    int_method!(deserialize_i16, i16, visit_i16);
    int_method!(deserialize_i32, i32, visit_i32);
    int_method!(deserialize_i64, i64, visit_i64);
    int_method!(deserialize_u8, u8, visit_u8);
    int_method!(deserialize_u16, u16, visit_u16);
    int_method!(deserialize_u32, u32, visit_u32);
    int_method!(deserialize_u64, u64, visit_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        #[expect(clippy::cast_precision_loss, reason = "YAML integers used where a number is expected")]
        match self.node.resolve() {
            Some(Resolved::Float(f)) => visitor.visit_f64(f).map_err(|e| self.err(e)),
            Some(Resolved::Int(i)) => visitor.visit_f64(i as f64).map_err(|e| self.err(e)),
            _ => Err(self.wrong("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Str(s)) => visitor.visit_borrowed_str(s).map_err(|e| self.err(e)),
            _ => Err(self.wrong("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.err(e))
        } else {
            let mark = self.node.mark;
            let path = self.path;
            visitor.visit_some(self).map_err(|e| e.at(mark, &path))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() { visitor.visit_unit().map_err(|e| self.err(e)) } else { Err(self.wrong("null")) }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        let path = self.path;
        visitor.visit_newtype_struct(self).map_err(|e| e.at(mark, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => {
                visitor.visit_seq(Seq { items, index: 0, path: self.path }).map_err(|e| self.err(e))
            }
            _ => Err(self.wrong("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => {
                visitor.visit_map(Map { entries, index: 0, path: self.path }).map_err(|e| self.err(e))
            }
            _ => Err(self.wrong("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Str(s)) => {
                let d = de::value::BorrowedStrDeserializer::<DeError>::new(s);
                visitor.visit_enum(d).map_err(|e| self.err(e))
            }
            _ => Err(self.wrong("one of the allowed values (a string)")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a, 'p> {
    items: &'a [Node],
    index: usize,
    path: Path<'p>,
}

impl<'de> SeqAccess<'de> for Seq<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.index) else { return Ok(None) };
        let path = Path::Index(&self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path }).map(Some).map_err(|e| e.at(node.mark, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.index)
    }
}

struct Map<'a, 'p> {
    entries: &'a [(Node, Node)],
    index: usize,
    path: Path<'p>,
}

impl<'de> MapAccess<'de> for Map<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.index) else { return Ok(None) };
        let name = key.as_str().unwrap_or("");
        let path = Path::Key(&self.path, name);
        seed.deserialize(NodeDe { node: key, path }).map(Some).map_err(|e| e.at(key.mark, &path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, value) = &self.entries[self.index];
        self.index += 1;
        let name = key.as_str().unwrap_or("");
        let path = Path::Key(&self.path, name);
        seed.deserialize(NodeDe { node: value, path }).map_err(|e| e.at(value.mark, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::parse_documents;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        count: Option<i64>,
        max_wait_secs: Option<i64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Outer {
        name: String,
        #[serde(default)]
        items: Vec<Inner>,
        enabled: Option<bool>,
    }

    fn parse(src: &str) -> Result<Outer, DeError> {
        let docs = parse_documents(src).unwrap();
        let base = FieldPath::parse("spec");
        from_node(&docs[0].root, &base)
    }

    #[test]
    fn valid_input_deserializes() {
        let o = parse("name: x\nitems:\n  - count: 2\n").unwrap();
        assert_eq!(o.items[0].count, Some(2));
    }

    #[test]
    fn unknown_field_points_at_the_key_with_a_suggestion() {
        let e = parse("name: x\nitems:\n  - count: 2\n    maxWaitSec: 3\n").unwrap_err();
        assert_eq!(e.path.unwrap().to_string(), "spec.items[0].maxWaitSec");
        assert_eq!(e.mark, Some(Mark { line: 4, col: 5 }));
        assert_eq!(e.message, "unknown field `maxWaitSec`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `maxWaitSecs`?"));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = parse("name: x\nenabled: yes\n").unwrap_err();
        assert_eq!(e.path.unwrap().to_string(), "spec.enabled");
        assert_eq!(e.mark, Some(Mark { line: 2, col: 10 }));
        assert_eq!(e.message, "wrong type: found string \"yes\"");
        assert_eq!(e.expected.as_deref(), Some("a boolean (true or false)"));
    }

    #[test]
    fn number_where_a_string_belongs_suggests_quoting() {
        let e = parse("name: 4\n").unwrap_err();
        assert_eq!(e.message, "wrong type: found integer `4`");
        assert_eq!(e.hint.as_deref(), Some("quote it to make it a string: \"4\""));
    }

    #[test]
    fn missing_field_names_the_field_at_its_parent() {
        let e = parse("items: []\n").unwrap_err();
        assert_eq!(e.path.unwrap().to_string(), "spec.name");
        assert_eq!(e.mark, Some(Mark { line: 1, col: 1 }));
        assert_eq!(e.message, "missing required field `name`");
    }
}
