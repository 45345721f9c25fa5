//! Field paths (`spec.targets[1].retryOn429.count`) used to point diagnostics at a field.
//!
//! A path is pure data; turning it into a file position is the loader's job
//! (`manifest`), which keeps the YAML tree the path walks.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A dotted path into a document, rendered as `spec.targets[0].model`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The empty path (the document itself).
    #[must_use]
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a simple dotted path such as `spec.targets`; indexes use `[n]`.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        let mut segs = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                segs.push(Seg::Key(rest[..open].to_owned()));
                rest = &rest[open..];
                while let Some(stripped) = rest.strip_prefix('[') {
                    let close = stripped.find(']').unwrap_or(stripped.len());
                    if let Ok(i) = stripped[..close].parse() {
                        segs.push(Seg::Index(i));
                    }
                    rest = stripped.get(close + 1..).unwrap_or("");
                }
            } else {
                segs.push(Seg::Key(rest.to_owned()));
            }
        }
        Self(segs)
    }

    /// This path with a key appended.
    #[must_use]
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        Self(v)
    }

    /// This path with an index appended.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) if k.contains(['.', '/', '[', ']', ' ']) || k.is_empty() => {
                    write!(f, "[{k:?}]")?;
                }
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        if first {
            f.write_str("(document)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_dotted_with_indexes_and_quoted_odd_keys() {
        let p = FieldPath::root().key("spec").key("targets").index(1).key("model");
        assert_eq!(p.to_string(), "spec.targets[1].model");
        let a = FieldPath::root().key("metadata").key("annotations").key("switchyard.dev/protected");
        assert_eq!(a.to_string(), "metadata.annotations[\"switchyard.dev/protected\"]");
        assert_eq!(FieldPath::root().to_string(), "(document)");
    }

    #[test]
    fn parse_round_trips_simple_paths() {
        let p = FieldPath::parse("spec.targets[2].retryOn429.count");
        assert_eq!(p.to_string(), "spec.targets[2].retryOn429.count");
        assert_eq!(p.0.len(), 5);
    }
}
