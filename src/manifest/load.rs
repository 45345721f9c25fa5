//! Inputs -> documents -> validated desired state.
//!
//! Accepts files, directories (walked recursively for `*.yaml`/`*.yml`, sorted,
//! skipping hidden entries such as `.github/`, with symlink loops detected) and `-` for stdin. Every problem in every file is
//! collected; nothing is returned as valid unless the whole set is.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::convert::{Converted, Object, convert};
use super::diagnostic::Diagnostic;
use super::schema_check::Issue;
use super::yaml::{Document, Mark, parse_documents};
use crate::model::validate::{ExternalNames, validate_set};
use crate::model::{DesiredState, FieldPath};

/// Largest manifest file accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One input file's bytes and the name used in diagnostics.
#[derive(Debug, Clone)]
pub struct Source {
    /// Display name (path as given, or `<stdin>`).
    pub name: String,
    /// Raw content.
    pub bytes: Vec<u8>,
}

/// A document that converted cleanly.
///
/// The YAML tree is not kept: positions are only needed for diagnostics, which are
/// rare, so the file's text is kept instead and re-parsed on demand. Memory stays
/// proportional to the input's size rather than to its tree.
#[derive(Debug, Clone)]
pub struct LoadedDocument {
    /// Index into [`Loaded::files`].
    pub file: usize,
    /// Index of the document within its file.
    pub index_in_file: usize,
    /// Kind, metadata and object.
    pub converted: Converted,
}

/// A valid set of manifests.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// File names, in load order.
    pub files: Vec<String>,
    /// File texts, in load order (for positions).
    pub texts: Vec<std::sync::Arc<str>>,
    /// Every document, indexed by [`crate::model::Origin::doc`].
    pub documents: Vec<LoadedDocument>,
    /// The desired state.
    pub state: DesiredState,
}

impl Loaded {
    /// The kinds present in the input (what `--prune` may delete).
    #[must_use]
    pub fn kinds(&self) -> std::collections::BTreeSet<super::crd::Kind> {
        self.documents.iter().map(|d| d.converted.kind).collect()
    }
}

/// Loads and validates everything under `inputs` (`-` = stdin).
///
/// # Errors
/// Every problem found, sorted by file, line and column.
pub fn load_paths(inputs: &[PathBuf]) -> Result<Loaded, Vec<Diagnostic>> {
    load_paths_with(inputs, &ExternalNames::default())
}

/// Like [`load_paths`], with names known to exist on the live gateway.
///
/// # Errors
/// Every problem found.
pub fn load_paths_with(inputs: &[PathBuf], external: &ExternalNames) -> Result<Loaded, Vec<Diagnostic>> {
    let loaded = parse_paths(inputs)?;
    loaded.check_references(external)?;
    Ok(loaded)
}

/// Reads and checks every document on its own (syntax, shape, per-object rules),
/// without the rules across the set; see [`Loaded::check_references`].
///
/// # Errors
/// Every problem found.
pub fn parse_paths(inputs: &[PathBuf]) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            match read_limited(std::io::stdin().lock()) {
                Ok(bytes) => sources.push(Source { name: "<stdin>".into(), bytes }),
                Err(msg) => diags.push(file_error("<stdin>", msg)),
            }
            continue;
        }
        let mut stack = Vec::new();
        collect(input, true, &mut stack, &mut seen, &mut sources, &mut diags);
    }
    if !diags.is_empty() {
        diags.sort();
        return Err(diags);
    }
    parse_sources(sources)
}

/// Loads and validates in-memory sources.
///
/// # Errors
/// Every problem found.
pub fn load_sources(sources: Vec<Source>) -> Result<Loaded, Vec<Diagnostic>> {
    load_sources_with(sources, &ExternalNames::default())
}

/// Loads and validates in-memory sources with names known to exist live.
///
/// # Errors
/// Every problem found.
pub fn load_sources_with(sources: Vec<Source>, external: &ExternalNames) -> Result<Loaded, Vec<Diagnostic>> {
    let loaded = parse_sources(sources)?;
    loaded.check_references(external)?;
    Ok(loaded)
}

/// Like [`parse_paths`] for in-memory sources.
///
/// # Errors
/// Every problem found.
pub fn parse_sources(sources: Vec<Source>) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    // (file index, index in file, converted) for every document, valid or not.
    let mut docs: Vec<(usize, usize, Option<Converted>)> = Vec::new();
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    files.extend(names.iter().cloned());
    // Files are independent until the set-level rules: parse and convert them on all
    // cores, then number the documents in file order.
    let per_file = parallel_map(sources, load_file);
    let mut texts = Vec::with_capacity(names.len());
    for (file, (file_diags, text, file_docs)) in per_file.into_iter().enumerate() {
        diags.extend(file_diags);
        texts.push(text);
        for (index_in_file, (converted, issues)) in file_docs.into_iter().enumerate() {
            let doc_index = docs.len();
            let converted = converted.map(|mut c| {
                c.object.set_doc(doc_index);
                c
            });
            diags.extend(issues.into_iter().map(|i| issue_to_diag(&names[file], i)));
            docs.push((file, index_in_file, converted));
        }
    }
    if docs.is_empty() && diags.is_empty() {
        let name = if files.is_empty() { "(input)".to_owned() } else { files.join(", ") };
        diags.push(file_error(&name, "no switchyard documents found".into()));
    }

    let mut state = DesiredState::default();
    for (_, _, c) in &docs {
        match c.as_ref().map(|c| &c.object) {
            Some(Object::Provider(p)) => state.providers.push(p.clone()),
            Some(Object::ModelRoute(r)) => state.routes.push(r.clone()),
            Some(Object::SmartModel(s)) => state.smart_models.push(s.clone()),
            None => {}
        }
    }
    if !diags.is_empty() {
        diags.sort();
        diags.dedup();
        return Err(diags);
    }
    let documents = docs
        .into_iter()
        .filter_map(|(file, index_in_file, c)| c.map(|converted| LoadedDocument { file, index_in_file, converted }))
        .collect();
    Ok(Loaded { files, texts, documents, state })
}

impl Loaded {
    /// The rules across the whole set (duplicates, references, cycles), with names
    /// that exist on the live gateway counting as declared.
    ///
    /// # Errors
    /// Every violation, located.
    pub fn check_references(&self, external: &ExternalNames) -> Result<(), Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut parsed: HashMap<usize, Vec<Document>> = HashMap::new();
        for v in validate_set(&self.state, external) {
            let doc = &self.documents[v.doc];
            let mark = self.locate_in(&mut parsed, v.doc, &v.path);
            let mut message = v.message;
            if let Some((rdoc, rpath)) = &v.related {
                let r = &self.documents[*rdoc];
                let rmark = self.locate_in(&mut parsed, *rdoc, rpath);
                message.push_str(&format!(" (first declared at {}:{}:{})", self.files[r.file], rmark.line, rmark.col));
            }
            diags.push(Diagnostic {
                file: self.files[doc.file].clone(),
                line: mark.line,
                column: mark.col,
                path: Some(v.path.to_string()),
                message,
                expected: v.expected,
                hint: v.hint,
            });
        }
        if diags.is_empty() {
            return Ok(());
        }
        diags.sort();
        diags.dedup();
        Err(diags)
    }

    /// Position of `path` in the document with id `doc`, as `file:line:col`.
    #[must_use]
    pub fn position(&self, doc: usize, path: &str) -> String {
        match self.documents.get(doc) {
            Some(d) => {
                let m = self.locate(doc, &FieldPath::parse(path));
                format!("{}:{}:{}", self.files[d.file], m.line, m.col)
            }
            None => "(input)".to_owned(),
        }
    }

    /// Line and column of `path` in document `doc` (re-parses that file).
    #[must_use]
    pub fn locate(&self, doc: usize, path: &FieldPath) -> Mark {
        self.locate_in(&mut HashMap::new(), doc, path)
    }

    fn locate_in(&self, parsed: &mut HashMap<usize, Vec<Document>>, doc: usize, path: &FieldPath) -> Mark {
        let Some(d) = self.documents.get(doc) else { return Mark::default() };
        let docs = parsed.entry(d.file).or_insert_with(|| parse_documents(&self.texts[d.file]).unwrap_or_default());
        docs.get(d.index_in_file).map_or_else(Mark::default, |parsed| parsed.root.locate(path))
    }
}

type FileDocs = Vec<(Option<Converted>, Vec<Issue>)>;

/// Decodes, parses and converts one file. Document ids are provisional (renumbered
/// by the caller).
fn load_file(source: Source) -> (Vec<Diagnostic>, std::sync::Arc<str>, FileDocs) {
    let text = match String::from_utf8(source.bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            let d = Diagnostic {
                file: source.name,
                line,
                column: col,
                path: None,
                message: format!("file is not valid UTF-8 (invalid byte at offset {})", valid.len()),
                expected: Some("a UTF-8 encoded YAML file".into()),
                hint: None,
            };
            return (vec![d], std::sync::Arc::from(""), Vec::new());
        }
    };
    match parse_documents(&text) {
        Ok(parsed) => {
            let docs = parsed
                .into_iter()
                .map(|d| {
                    let mut issues = Vec::new();
                    let converted = convert(0, &d.root, &mut issues);
                    (converted, issues)
                })
                .collect();
            (Vec::new(), std::sync::Arc::from(text), docs)
        }
        Err(e) => {
            let d = Diagnostic {
                file: source.name,
                line: e.mark.line,
                column: e.mark.col,
                path: None,
                message: e.message,
                expected: None,
                hint: None,
            };
            (vec![d], std::sync::Arc::from(text), Vec::new())
        }
    }
}

/// Maps `f` over `items` on up to `available_parallelism` threads, keeping order.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut buckets: Vec<Vec<(usize, T)>> = (0..threads).map(|_| Vec::new()).collect();
    let n = items.len();
    for (i, item) in items.into_iter().enumerate() {
        buckets[i % threads].push((i, item));
    }
    let f = &f;
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|bucket| scope.spawn(move || bucket.into_iter().map(|(i, t)| (i, f(t))).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    debug_assert_eq!(results.len(), n);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn issue_to_diag(file: &str, i: Issue) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: i.mark.line,
        column: i.mark.col,
        path: Some(if i.path == FieldPath::root() { "(document)".into() } else { i.path.to_string() }),
        message: i.message,
        expected: i.expected,
        hint: i.hint,
    }
}

fn file_error(name: &str, message: String) -> Diagnostic {
    Diagnostic { file: name.to_owned(), line: 0, column: 0, path: None, message, expected: None, hint: None }
}

fn read_limited(reader: impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(None));
    }
    Ok(bytes)
}

fn too_big(size: Option<u64>) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let shown = size.map_or_else(|| "more than 16 MiB".to_owned(), |s| format!("{:.1} MiB", s as f64 / 1_048_576.0));
    format!("file is {shown}, larger than the {} MiB limit for one manifest file", MAX_FILE_BYTES / 1_048_576)
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn collect(
    path: &Path,
    explicit: bool,
    ancestors: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
    sources: &mut Vec<Source>,
    diags: &mut Vec<Diagnostic>,
) {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file or directory".to_owned()
            } else {
                format!("cannot read: {e}")
            };
            diags.push(file_error(&shown, msg));
            return;
        }
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if meta.is_dir() {
        if ancestors.contains(&canonical) {
            diags.push(file_error(
                &shown,
                format!("symlink loop: this directory leads back to {}", canonical.display()),
            ));
            return;
        }
        if !seen.insert(canonical.clone()) {
            return;
        }
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(e) => {
                diags.push(file_error(&shown, format!("cannot read directory: {e}")));
                return;
            }
        };
        entries.sort();
        let before = sources.len();
        ancestors.push(canonical);
        for entry in entries {
            // Hidden entries (`.git`, `.github`, editor swap files) are not manifests.
            if entry.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            let is_dir = std::fs::metadata(&entry).map(|m| m.is_dir()).unwrap_or(false);
            let is_link_loop = std::fs::symlink_metadata(&entry).map(|m| m.file_type().is_symlink()).unwrap_or(false)
                && std::fs::metadata(&entry).is_err();
            if is_link_loop {
                diags.push(file_error(&entry.display().to_string(), "broken or looping symlink".into()));
            } else if is_dir || is_yaml(&entry) {
                collect(&entry, false, ancestors, seen, sources, diags);
            }
        }
        ancestors.pop();
        if explicit && sources.len() == before && diags.is_empty() {
            diags.push(file_error(&shown, "no *.yaml or *.yml files found in this directory".into()));
        }
        return;
    }
    if !explicit && !is_yaml(path) {
        return;
    }
    if !seen.insert(canonical) {
        return;
    }
    if meta.len() > MAX_FILE_BYTES {
        diags.push(file_error(&shown, too_big(Some(meta.len()))));
        return;
    }
    match std::fs::File::open(path).map_err(|e| format!("cannot read: {e}")).and_then(read_limited) {
        Ok(bytes) => sources.push(Source { name: shown, bytes }),
        Err(msg) => diags.push(file_error(&shown, msg)),
    }
}
