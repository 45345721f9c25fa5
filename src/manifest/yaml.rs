//! A YAML tree that remembers where every node came from.
//!
//! Built from `saphyr-parser` events without recursion, with limits on nesting depth
//! and on alias expansion so that hostile input costs bounded time and memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::model::path::{FieldPath, Seg};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mark {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub col: usize,
}

/// Deepest nesting accepted in a document.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one document may expand to (after aliases).
pub const MAX_NODES: usize = 1_000_000;

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub mark: Mark,
    /// The content.
    pub kind: NodeKind,
}

/// Node content. Scalars keep their text; typing happens on deserialization.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` is false for quoted and block scalars (always strings).
    Scalar { value: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

/// A resolved plain scalar (YAML 1.2 core schema).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// The scalar resolved per the YAML 1.2 core schema; `None` for collections.
    #[must_use]
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        match &self.kind {
            NodeKind::Scalar { value, plain: false } => Some(Resolved::Str(value)),
            NodeKind::Scalar { value, plain: true } => Some(resolve_plain(value)),
            _ => None,
        }
    }

    /// Whether the node is a null scalar.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// The value for `key` if this is a mapping with a string key `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node for `key`.
    #[must_use]
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value, .. } if value == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The string content of a scalar (any style).
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Best position for `path`: the node it names, or the deepest existing ancestor.
    /// For a key, the key's own position is used (that is where a reader looks).
    #[must_use]
    pub fn locate(&self, path: &FieldPath) -> Mark {
        let mut node = self;
        let mut mark = self.mark;
        for seg in &path.0 {
            match (seg, &node.kind) {
                (Seg::Key(k), NodeKind::Map(_)) => match node.entry(k) {
                    Some((key, value)) => {
                        mark = key.mark;
                        node = value;
                    }
                    None => return mark,
                },
                (Seg::Index(i), NodeKind::Seq(items)) => match items.get(*i) {
                    Some(item) => {
                        mark = item.mark;
                        node = item;
                    }
                    None => return mark,
                },
                _ => return mark,
            }
        }
        mark
    }

    /// A short description of the node's type, for error messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Seq(_) => "a list".to_owned(),
            NodeKind::Map(_) => "a mapping".to_owned(),
            NodeKind::Scalar { .. } => match self.resolve() {
                Some(Resolved::Null) => "null".to_owned(),
                Some(Resolved::Bool(b)) => format!("boolean `{b}`"),
                Some(Resolved::Int(i)) => format!("integer `{i}`"),
                Some(Resolved::Float(f)) => format!("number `{f}`"),
                Some(Resolved::Str(s)) => format!("string {}", short_quote(s)),
                None => "a value".to_owned(),
            },
        }
    }
}

/// `"text"`, shortened for messages.
#[must_use]
pub fn short_quote(s: &str) -> String {
    if s.chars().count() > 40 {
        let head: String = s.chars().take(37).collect();
        format!("{:?}", format!("{head}..."))
    } else {
        format!("{s:?}")
    }
}

fn resolve_plain(s: &str) -> Resolved<'_> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str(s);
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Resolved::Int(i);
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Resolved::Int(i);
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(i) => Resolved::Int(i),
            Err(_) => s.parse::<f64>().map_or(Resolved::Str(s), Resolved::Float),
        };
    }
    let float_like = digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if float_like && let Ok(f) = s.parse::<f64>() {
        return Resolved::Float(f);
    }
    Resolved::Str(s)
}

/// A YAML syntax or structure error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where.
    pub mark: Mark,
    /// What.
    pub message: String,
}

/// One document of a stream, with the position of its start.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Root node.
    pub root: Node,
}

fn mark_of(span: &Span) -> Mark {
    Mark { line: span.start.line(), col: span.start.col() + 1 }
}

enum Frame {
    Seq { mark: Mark, anchor: usize, items: Vec<Node> },
    Map { mark: Mark, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses every document of `src`. Empty documents (nothing but comments, or `---`
/// with no content) are dropped.
///
/// # Errors
/// The first syntax error, a nesting deeper than [`MAX_DEPTH`], alias expansion past
/// [`MAX_NODES`], or a duplicate mapping key.
pub fn parse_documents(src: &str) -> Result<Vec<Document>, YamlError> {
    let mut parser = Parser::new_from_str(src);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;

    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| {
            let mark = Mark { line: e.marker().line(), col: e.marker().col() + 1 };
            if e.info().contains("recursion limit") {
                depth_error(mark)
            } else {
                YamlError { mark, message: format!("invalid YAML: {}", e.info()) }
            }
        })?;
        let mark = mark_of(&span);
        let completed: Option<(Node, usize)> = match event {
            Event::DocumentStart(_) => {
                root = None;
                anchors.clear();
                nodes = 0;
                None
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take()
                    && !r.is_null()
                {
                    docs.push(Document { root: r });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !forced_str;
                Some((Node { mark, kind: NodeKind::Scalar { value: Cow::into_owned(value), plain } }, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error(mark));
                }
                stack.push(Frame::Seq { mark, anchor, items: Vec::new() });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error(mark));
                }
                stack.push(Frame::Map { mark, anchor, entries: Vec::new(), key: None });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { mark, anchor, items }) => Some((Node { mark, kind: NodeKind::Seq(items) }, anchor)),
                _ => return Err(YamlError { mark, message: "invalid YAML: unbalanced sequence".into() }),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { mark, anchor, entries, .. }) => {
                    Some((Node { mark, kind: NodeKind::Map(entries) }, anchor))
                }
                _ => return Err(YamlError { mark, message: "invalid YAML: unbalanced mapping".into() }),
            },
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| YamlError {
                    mark,
                    message: "invalid YAML: alias refers to an unknown anchor".into(),
                })?;
                nodes += count_nodes(&node);
                if nodes > MAX_NODES {
                    return Err(YamlError {
                        mark,
                        message: format!("document expands to more than {MAX_NODES} nodes (alias expansion)"),
                    });
                }
                let mut node = node;
                node.mark = mark;
                Some((node, 0))
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = completed else { continue };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(YamlError { mark, message: format!("document has more than {MAX_NODES} nodes") });
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if let NodeKind::Scalar { value, .. } = &node.kind
                        && let Some((first, _)) = entries
                            .iter()
                            .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value: v, .. } if v == value))
                    {
                        return Err(YamlError {
                            mark: node.mark,
                            message: format!("duplicate key `{value}` (first defined at line {})", first.mark.line),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(docs)
}

fn depth_error(mark: Mark) -> YamlError {
    YamlError { mark, message: format!("document nests deeper than {MAX_DEPTH} levels") }
}

fn count_nodes(node: &Node) -> usize {
    let mut count = 0;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.kind {
            NodeKind::Seq(items) => todo.extend(items),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            NodeKind::Scalar { .. } => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_one_based_lines_and_columns() {
        let docs = parse_documents("a: 1\nb:\n  c: [x, y]\n").unwrap();
        let root = &docs[0].root;
        let c = root.get("b").unwrap().get("c").unwrap();
        assert_eq!(c.mark, Mark { line: 3, col: 6 });
        assert_eq!(root.locate(&FieldPath::parse("b.c[1]")), Mark { line: 3, col: 10 });
        assert_eq!(root.locate(&FieldPath::parse("b.c")), Mark { line: 3, col: 3 });
        assert_eq!(root.locate(&FieldPath::parse("b.missing")), Mark { line: 2, col: 1 });
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema_and_quoted_ones_stay_strings() {
        let docs = parse_documents("a: 12\nb: '12'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: -3\n").unwrap();
        let r = &docs[0].root;
        assert_eq!(r.get("a").unwrap().resolve(), Some(Resolved::Int(12)));
        assert_eq!(r.get("b").unwrap().resolve(), Some(Resolved::Str("12")));
        assert_eq!(r.get("c").unwrap().resolve(), Some(Resolved::Bool(true)));
        assert_eq!(r.get("d").unwrap().resolve(), Some(Resolved::Str("yes")));
        assert_eq!(r.get("e").unwrap().resolve(), Some(Resolved::Null));
        assert_eq!(r.get("f").unwrap().resolve(), Some(Resolved::Float(1.5)));
        assert_eq!(r.get("g").unwrap().resolve(), Some(Resolved::Int(-3)));
    }

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let docs = parse_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let src = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse_documents(&src).unwrap_err();
        assert!(err.message.contains("deeper than 128"), "{}", err.message);
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let err = parse_documents(&block).unwrap_err();
        assert!(err.message.contains("deeper than 128"), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.mark.line, 3);
        assert!(err.message.contains("duplicate key `a` (first defined at line 1)"));
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&src).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.mark.line >= 1);
    }
}
