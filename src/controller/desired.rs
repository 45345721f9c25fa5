//! From the cluster's resources to a desired state, one verdict per resource: the
//! same loader and validator as `switchyard validate` run on each resource as its own
//! document, so a bad resource is rejected alone (with the validator's message) and
//! the others go on. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::manifest::crd::Kind;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::{Loaded, Source, parse_sources};
use crate::model::{DesiredState, ExternalNames, SecretRef};
use crate::plan::{KeyRef, sha256_hex};

/// API group/version of our kinds.
pub const API_VERSION: &str = "switchyard.dev/v1alpha1";

/// One custom resource, kind-agnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Res {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.creationTimestamp` (RFC 3339), for "first one wins".
    pub created: String,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec`.
    pub spec: Value,
    /// `status`.
    pub status: Value,
}

impl Res {
    /// `Kind/namespace/name`: unique per resource, used as the document's file name.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }

    /// The switchyard document for this resource.
    fn document(&self) -> String {
        let annotations: BTreeMap<&String, &String> =
            self.annotations.iter().filter(|(k, _)| k.starts_with("switchyard.dev/")).collect();
        let mut metadata = json!({"name": self.name, "namespace": self.namespace});
        if !annotations.is_empty() {
            metadata["annotations"] = json!(annotations);
        }
        json!({"apiVersion": API_VERSION, "kind": self.kind.as_str(), "metadata": metadata, "spec": self.spec})
            .to_string()
    }

    /// The names this resource claims on the gateway, read from its raw spec (also
    /// for resources that do not validate): provider name, or alias.
    #[must_use]
    pub fn claimed_name(&self) -> String {
        let field = match self.kind {
            Kind::Provider => "name",
            Kind::ModelRoute | Kind::SmartModel => "alias",
        };
        self.spec.get(field).and_then(Value::as_str).unwrap_or(&self.name).to_owned()
    }
}

/// Why a resource is not (fully) applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// In the desired state.
    Accepted,
    /// Fails validation on its own.
    Invalid(String),
    /// Its API key Secret (or the key in it) is missing.
    SecretMissing(String),
    /// References something that does not exist yet.
    Waiting(String),
    /// Claims a name another (older) resource already claims.
    Conflict(String),
}

/// Secret data by `(namespace, name)`: key -> value.
pub type Secrets = HashMap<(String, String), BTreeMap<String, String>>;

/// What the resources amount to.
pub struct Built {
    /// The accepted resources as a loaded set (`None` when nothing is accepted).
    pub loaded: Option<Loaded>,
    /// Key reference and hash per provider name.
    pub keys: BTreeMap<String, KeyRef>,
    /// Key values by reference, for the apply.
    pub key_values: HashMap<String, String>,
    /// One verdict per resource key.
    pub verdicts: BTreeMap<String, Verdict>,
}

impl Built {
    /// The desired state (empty when nothing is accepted).
    #[must_use]
    pub fn state(&self) -> DesiredState {
        self.loaded.as_ref().map(|l| l.state.clone()).unwrap_or_default()
    }
}

fn classify(d: &Diagnostic) -> Verdict {
    let text = match &d.path {
        Some(p) => format!("{p}: {}", d.message),
        None => d.message.clone(),
    };
    let text = match &d.hint {
        Some(h) => format!("{text} (hint: {h})"),
        None => text,
    };
    let m = &d.message;
    if m.contains("more than once") || m.contains("collides") {
        Verdict::Conflict(text)
    } else if m.contains("unknown provider")
        || m.contains("is not enabled on provider")
        || m.contains("does not resolve")
        || m.contains("does not name an enabled model")
    {
        Verdict::Waiting(text)
    } else {
        Verdict::Invalid(text)
    }
}

/// The reference string the plan and apply use for a Secret key.
#[must_use]
pub fn secret_reference(namespace: &str, name: &str, key: &str) -> String {
    format!("secret:{namespace}/{name}/{key}")
}

/// Builds the desired state from `resources` (deleting ones are left out). Older
/// resources win name conflicts; resources whose references are missing wait, and
/// everything that depends on a rejected resource waits too.
#[must_use]
pub fn build(resources: &[Res], secrets: &Secrets, external: &ExternalNames) -> Built {
    let mut live: Vec<&Res> = resources.iter().filter(|r| !r.deleting).collect();
    live.sort_by(|a, b| (&a.created, a.kind, &a.namespace, &a.name).cmp(&(&b.created, b.kind, &b.namespace, &b.name)));
    let by_key: HashMap<String, &Res> = live.iter().map(|r| (r.key(), *r)).collect();
    let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut key_values = HashMap::new();
    // Each round drops the resources the loader rejects; a rejection can only shrink
    // the set, so this ends within one round per resource (in practice 2-3).
    let mut loaded = None;
    for _ in 0..=live.len() + 1 {
        let accepted: Vec<&Res> = live.iter().copied().filter(|r| !verdicts.contains_key(&r.key())).collect();
        if accepted.is_empty() {
            break;
        }
        let sources =
            accepted.iter().map(|r| Source { name: r.key(), bytes: r.document().into_bytes() }).collect::<Vec<_>>();
        let set = match parse_sources(sources) {
            Ok(set) => set,
            Err(diags) => {
                for d in &diags {
                    verdicts.entry(d.file.clone()).or_insert_with(|| classify(d));
                }
                continue;
            }
        };
        // API keys from Secrets in the resource's namespace.
        let mut missing = false;
        keys.clear();
        key_values.clear();
        for p in &set.state.providers {
            let Some(SecretRef::SecretKeyRef { name, key }) = &p.api_key else { continue };
            let res_key = &set.files[set.documents[p.origin.doc].file];
            let ns = by_key.get(res_key).map(|r| r.namespace.clone()).unwrap_or_default();
            match secrets.get(&(ns.clone(), name.clone())) {
                None => {
                    verdicts.insert(
                        res_key.clone(),
                        Verdict::SecretMissing(format!(
                            "Secret `{ns}/{name}` (spec.apiKey.secretKeyRef) does not exist"
                        )),
                    );
                    missing = true;
                }
                Some(data) => match data.get(key) {
                    None => {
                        verdicts.insert(
                            res_key.clone(),
                            Verdict::SecretMissing(format!("Secret `{ns}/{name}` has no key `{key}`")),
                        );
                        missing = true;
                    }
                    Some(v) => {
                        let reference = secret_reference(&ns, name, key);
                        keys.insert(
                            p.name.clone(),
                            KeyRef { reference: reference.clone(), sha256: sha256_hex(v.as_bytes()) },
                        );
                        key_values.insert(reference, v.clone());
                    }
                },
            }
        }
        if missing {
            continue;
        }
        match set.check_references(external) {
            Ok(()) => {
                loaded = Some(set);
                break;
            }
            Err(diags) => {
                for d in &diags {
                    verdicts.entry(d.file.clone()).or_insert_with(|| classify(d));
                }
            }
        }
    }
    if let Some(set) = &loaded {
        for f in &set.files {
            verdicts.insert(f.clone(), Verdict::Accepted);
        }
    }
    Built { loaded, keys, key_values, verdicts }
}

/// The gateway identities a desired state declares, per resource key: provider
/// names and `provider/model` enablements, route aliases, smart aliases.
#[must_use]
pub fn identities(loaded: &Loaded) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let file_of = |doc: usize| loaded.files[loaded.documents[doc].file].clone();
    for p in &loaded.state.providers {
        let e = out.entry(file_of(p.origin.doc)).or_default();
        e.insert(p.name.clone());
        for m in &p.models {
            e.insert(format!("{}/{}", p.name, m.model));
        }
    }
    for r in &loaded.state.routes {
        out.entry(file_of(r.origin.doc)).or_default().insert(r.alias.clone());
    }
    for s in &loaded.state.smart_models {
        out.entry(file_of(s.origin.doc)).or_default().insert(s.alias.clone());
    }
    out
}

/// Identities declared by resources on their own (no set-level checks), e.g. of
/// resources being deleted.
#[must_use]
pub fn identities_of(resources: &[&Res]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in resources {
        let one = vec![Source { name: r.key(), bytes: r.document().into_bytes() }];
        match parse_sources(one) {
            Ok(set) => out.extend(identities(&set).into_values().flatten()),
            Err(_) => {
                out.insert(r.claimed_name());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: Kind, name: &str, created: &str, spec: Value) -> Res {
        Res {
            kind,
            namespace: "default".into(),
            name: name.into(),
            uid: String::new(),
            generation: Some(1),
            created: created.into(),
            deleting: false,
            finalizers: Vec::new(),
            annotations: BTreeMap::new(),
            spec,
            status: Value::Null,
        }
    }

    fn provider(name: &str, created: &str) -> Res {
        res(Kind::Provider, name, created, json!({"modelProvider": "openai", "models": ["gpt-4o"]}))
    }

    fn route(name: &str, created: &str, alias: &str, provider: &str) -> Res {
        res(
            Kind::ModelRoute,
            name,
            created,
            json!({"alias": alias, "targets": [{"provider": provider, "model": "gpt-4o"}]}),
        )
    }

    #[test]
    fn a_bad_resource_is_rejected_alone_with_the_validators_message() {
        let mut bad = route("bad", "2026-01-01T00:00:02Z", "b", "p");
        bad.spec["targets"][0]["maxInFlight"] = json!(0);
        let rs = vec![provider("p", "2026-01-01T00:00:00Z"), route("good", "2026-01-01T00:00:01Z", "g", "p"), bad];
        let b = build(&rs, &Secrets::new(), &ExternalNames::default());
        assert_eq!(b.verdicts["Provider/default/p"], Verdict::Accepted);
        assert_eq!(b.verdicts["ModelRoute/default/good"], Verdict::Accepted);
        let Verdict::Invalid(m) = &b.verdicts["ModelRoute/default/bad"] else { panic!("{:?}", b.verdicts) };
        assert!(m.contains("maxInFlight") && m.contains("between 1 and 10000"), "{m}");
        assert_eq!(b.state().routes.len(), 1);
    }

    #[test]
    fn missing_provider_waits_and_the_older_of_two_claims_wins() {
        let rs = vec![
            route("orphan", "2026-01-01T00:00:00Z", "o", "nope"),
            provider("p", "2026-01-01T00:00:00Z"),
            route("first", "2026-01-01T00:00:01Z", "same", "p"),
            route("second", "2026-01-01T00:00:05Z", "same", "p"),
        ];
        let b = build(&rs, &Secrets::new(), &ExternalNames::default());
        assert!(
            matches!(&b.verdicts["ModelRoute/default/orphan"], Verdict::Waiting(m) if m.contains("unknown provider `nope`"))
        );
        assert_eq!(b.verdicts["ModelRoute/default/first"], Verdict::Accepted);
        assert!(
            matches!(&b.verdicts["ModelRoute/default/second"], Verdict::Conflict(m) if m.contains("more than once"))
        );
    }

    #[test]
    fn secret_keys_resolve_to_a_reference_and_hash_and_missing_ones_block_dependents() {
        let mut p = provider("p", "2026-01-01T00:00:00Z");
        p.spec["apiKey"] = json!({"secretKeyRef": {"name": "openai", "key": "api-key"}});
        let r = route("r", "2026-01-01T00:00:01Z", "a", "p");
        let none = build(&[p.clone(), r.clone()], &Secrets::new(), &ExternalNames::default());
        assert!(
            matches!(&none.verdicts["Provider/default/p"], Verdict::SecretMissing(m) if m.contains("default/openai"))
        );
        assert!(matches!(&none.verdicts["ModelRoute/default/r"], Verdict::Waiting(_)));
        let mut secrets = Secrets::new();
        secrets.insert(("default".into(), "openai".into()), BTreeMap::from([("api-key".into(), "sk-1".into())]));
        let ok = build(&[p, r], &secrets, &ExternalNames::default());
        assert_eq!(ok.verdicts["ModelRoute/default/r"], Verdict::Accepted);
        let k = &ok.keys["p"];
        assert_eq!(k.reference, "secret:default/openai/api-key");
        assert_eq!(ok.key_values[&k.reference], "sk-1");
        assert_eq!(k.sha256, sha256_hex(b"sk-1"));
    }

    #[test]
    fn deleting_resources_are_left_out_but_their_identities_are_known() {
        let mut p = provider("p", "2026-01-01T00:00:00Z");
        p.deleting = true;
        let b = build(std::slice::from_ref(&p), &Secrets::new(), &ExternalNames::default());
        assert!(b.state().providers.is_empty());
        assert_eq!(identities_of(&[&p]), BTreeSet::from(["p".to_owned(), "p/gpt-4o".to_owned()]));
    }
}
