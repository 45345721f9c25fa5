//! One YAML document -> one domain object: envelope (`apiVersion`, `kind`,
//! `metadata`), schema check of `spec`, typed deserialization, then the per-object
//! rules the schema cannot express (names, secrets, cross-field rules) and defaults.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::crd::{
    API_VERSION, Kind, ModelEntry, ModelRouteSpec, PROTECTED_ANNOTATION, ProviderSpec, RetryOn429, SmartModelSpec,
    spec_schema,
};
use super::de::from_node;
use super::schema_check::{Issue, check};
use super::yaml::{Mark, Node, NodeKind};
use crate::model::limits::{
    MAX_IN_FLIGHT, REQUEST_TIMEOUT_SECS, RETRY_ON_429_COUNT, RETRY_ON_429_MAX_WAIT_SECS, STREAM_IDLE_TIMEOUT_SECS,
};
use crate::model::names::{
    K8S_NAME_EXPECTED, check_alias, check_base_url, check_env_name, check_k8s_name, check_secret_key, check_token,
};
use crate::model::suggest::did_you_mean;
use crate::model::validate::check_breakpoints;
use crate::model::{
    Enablement, FieldPath, ModelRoute, Origin, Provider, RouteOptions, SecretRef, Slot, SmartModel, Target,
};

/// Settings key where the reconciler keeps the hash of a provider's API key.
pub const KEY_HASH_SETTING: &str = "switchyard_key_sha256";

/// The domain object a document declares.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A `Provider` document.
    Provider(Provider),
    /// A `ModelRoute` document.
    ModelRoute(ModelRoute),
    /// A `SmartModel` document.
    SmartModel(SmartModel),
}

impl Object {
    /// Sets the document id recorded in the object's origin.
    pub fn set_doc(&mut self, doc: usize) {
        match self {
            Self::Provider(p) => p.origin.doc = doc,
            Self::ModelRoute(r) => r.origin.doc = doc,
            Self::SmartModel(s) => s.origin.doc = doc,
        }
    }
}

/// Kubernetes metadata accepted in documents. Server-populated fields (as found in
/// `kubectl get -o yaml` output) are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[expect(dead_code, reason = "server-populated fields are accepted and ignored")]
pub struct Metadata {
    /// Object name.
    pub name: String,
    /// Namespace (Kubernetes only).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    uid: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    resource_version: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    generation: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    creation_timestamp: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    deletion_grace_period_seconds: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    managed_fields: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    finalizers: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    owner_references: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    generate_name: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    self_link: Option<serde::de::IgnoredAny>,
}

/// A converted document: kind, metadata, and the object (when valid).
#[derive(Debug, Clone)]
pub struct Converted {
    /// The document's kind.
    pub kind: Kind,
    /// Its metadata.
    pub metadata: Metadata,
    /// The domain object.
    pub object: Object,
}

/// Converts one document. Problems are appended to `issues`; `None` when the document
/// could not be turned into an object.
pub fn convert(doc: usize, root: &Node, issues: &mut Vec<Issue>) -> Option<Converted> {
    let before = issues.len();
    let push =
        |issues: &mut Vec<Issue>, path: FieldPath, message: String, expected: Option<String>, hint: Option<String>| {
            let mark = root.locate(&path);
            issues.push(Issue { path, mark, message, expected, hint });
        };
    let NodeKind::Map(entries) = &root.kind else {
        push(
            issues,
            FieldPath::root(),
            format!("a document must be a mapping, found {}", root.describe()),
            Some("a mapping with apiVersion, kind, metadata and spec".into()),
            None,
        );
        return None;
    };

    // Envelope keys.
    const TOP: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
    for (k, _) in entries {
        let key = k.as_str().unwrap_or_default();
        if !TOP.contains(&key) {
            issues.push(Issue {
                path: FieldPath::root().key(key),
                mark: k.mark,
                message: format!("unknown field `{key}`"),
                expected: Some("one of `apiVersion`, `kind`, `metadata`, `spec`".into()),
                hint: did_you_mean(key, TOP).map(|s| format!("did you mean `{s}`?")),
            });
        }
    }

    match root.get("apiVersion").map(|n| (n, n.as_str())) {
        None => push(
            issues,
            FieldPath::parse("apiVersion"),
            "missing required field `apiVersion`".into(),
            Some(format!("`{API_VERSION}`")),
            None,
        ),
        Some((_, Some(API_VERSION))) => {}
        Some((n, v)) => {
            let shown = v.map_or_else(|| n.describe(), |s| format!("`{s}`"));
            let hint = v
                .filter(|s| s.starts_with("switchyard.dev/"))
                .map(|_| format!("this version of switchyard reads `{API_VERSION}`"));
            push(
                issues,
                FieldPath::parse("apiVersion"),
                format!("unknown apiVersion {shown}"),
                Some(format!("`{API_VERSION}`")),
                hint,
            );
        }
    }

    let kinds = Kind::ALL.map(Kind::as_str);
    let kind = match root.get("kind").map(|n| (n, n.as_str())) {
        None => {
            push(
                issues,
                FieldPath::parse("kind"),
                "missing required field `kind`".into(),
                Some("one of `Provider`, `ModelRoute`, `SmartModel`".into()),
                None,
            );
            None
        }
        Some((n, v)) => match v.and_then(Kind::parse) {
            Some(k) => Some(k),
            None => {
                let shown = v.map_or_else(|| n.describe(), |s| format!("`{s}`"));
                push(
                    issues,
                    FieldPath::parse("kind"),
                    format!("unknown kind {shown}"),
                    Some("one of `Provider`, `ModelRoute`, `SmartModel`".into()),
                    v.and_then(|s| did_you_mean(s, kinds)).map(|s| format!("did you mean `{s}`?")),
                );
                None
            }
        },
    };

    // Metadata.
    let metadata = match root.get("metadata") {
        None => {
            push(
                issues,
                FieldPath::parse("metadata"),
                "missing required field `metadata`".into(),
                Some("a mapping with `name`".into()),
                None,
            );
            None
        }
        Some(node) => match from_node::<Metadata>(node, &FieldPath::parse("metadata")) {
            Ok(m) => {
                if let Err(msg) = check_k8s_name(&m.name) {
                    push(issues, FieldPath::parse("metadata.name"), msg, Some(K8S_NAME_EXPECTED.into()), None);
                }
                if let Some(v) = m.annotations.get(PROTECTED_ANNOTATION)
                    && v != "true"
                    && v != "false"
                {
                    push(
                        issues,
                        FieldPath::parse("metadata.annotations").key(PROTECTED_ANNOTATION),
                        format!("annotation value {v:?} is not a boolean string"),
                        Some("\"true\" or \"false\"".into()),
                        None,
                    );
                }
                Some(m)
            }
            Err(e) => {
                issues.push(Issue {
                    path: e.path.unwrap_or_else(|| FieldPath::parse("metadata")),
                    mark: e.mark.unwrap_or(node.mark),
                    message: e.message,
                    expected: e.expected,
                    hint: e.hint,
                });
                None
            }
        },
    };

    let kind = kind?;
    let spec_path = FieldPath::parse("spec");
    let Some(spec) = root.get("spec") else {
        push(
            issues,
            spec_path,
            "missing required field `spec`".into(),
            Some(format!("the {} spec", kind.as_str())),
            None,
        );
        return None;
    };

    // Inline secrets are refused before anything else reads the value.
    if kind == Kind::Provider
        && let Some((key_node, value)) = spec.entry("apiKey")
        && matches!(value.kind, NodeKind::Scalar { .. })
        && !value.is_null()
    {
        issues.push(Issue {
                    path: spec_path.key("apiKey"),
                    mark: key_node.mark,
                    message: "inline secret values are not allowed (the value was not read into any output)".into(),
                    expected: Some("a reference: {fromEnv: VAR} or {secretKeyRef: {name, key}}".into()),
                    hint: Some(
                        "write `apiKey: { fromEnv: OPENAI_API_KEY }` for the CLI, or `apiKey: { secretKeyRef: { name: openai, key: api-key } }` in Kubernetes"
                            .into(),
                    ),
                });
        return None;
    }

    let schema_errors = issues.len();
    check(spec, spec_schema(kind), &spec_path, issues);
    if issues.len() > schema_errors {
        return None;
    }
    let metadata = metadata?;
    let protected = metadata.annotations.get(PROTECTED_ANNOTATION).is_some_and(|v| v == "true");

    let mut sink = Sink { root, issues };
    let object = match kind {
        Kind::Provider => {
            let spec: ProviderSpec = sink.de(spec, &spec_path)?;
            Object::Provider(provider(doc, &metadata, spec, protected, &mut sink))
        }
        Kind::ModelRoute => {
            let spec: ModelRouteSpec = sink.de(spec, &spec_path)?;
            Object::ModelRoute(model_route(doc, &metadata, spec, protected, &mut sink))
        }
        Kind::SmartModel => {
            let spec: SmartModelSpec = sink.de(spec, &spec_path)?;
            Object::SmartModel(smart_model(doc, &metadata, spec, protected, &mut sink))
        }
    };
    if sink.issues.len() > before {
        return None;
    }
    Some(Converted { kind, metadata, object })
}

struct Sink<'a> {
    root: &'a Node,
    issues: &'a mut Vec<Issue>,
}

impl Sink<'_> {
    fn de<'n, T: Deserialize<'n>>(&mut self, node: &'n Node, path: &FieldPath) -> Option<T> {
        match from_node::<T>(node, path) {
            Ok(v) => Some(v),
            Err(e) => {
                self.issues.push(Issue {
                    path: e.path.unwrap_or_else(|| path.clone()),
                    mark: e.mark.unwrap_or(node.mark),
                    message: e.message,
                    expected: e.expected,
                    hint: e.hint,
                });
                None
            }
        }
    }

    fn fail(&mut self, path: &str, message: String, expected: Option<&str>) {
        let path = FieldPath::parse(path);
        self.fail_at(path, message, expected);
    }

    fn fail_at(&mut self, path: FieldPath, message: String, expected: Option<&str>) {
        let mark: Mark = self.root.locate(&path);
        self.issues.push(Issue { path, mark, message, expected: expected.map(str::to_owned), hint: None });
    }

    // Paths are built only when a check fails: valid input allocates none.
    fn range(
        &mut self,
        path: impl FnOnce() -> FieldPath,
        v: Option<i64>,
        r: crate::model::limits::Range,
    ) -> Option<u32> {
        let v = v?;
        match r.check(v) {
            Ok(x) => Some(x),
            Err(msg) => {
                self.fail_at(path(), msg, Some(&r.expected()));
                None
            }
        }
    }

    fn token(&mut self, path: impl FnOnce() -> FieldPath, s: &str, alias: bool) {
        let r = if alias { check_alias(s) } else { check_token(s) };
        if let Err(msg) = r {
            let path = path();
            let expected = if alias {
                "a name without '/', whitespace or control characters"
            } else {
                "a name without whitespace or control characters"
            };
            self.fail_at(path, msg, Some(expected));
        }
    }

    fn options(
        &mut self,
        base: &dyn Fn() -> FieldPath,
        retry: Option<&RetryOn429>,
        request: Option<i64>,
        idle: Option<i64>,
        cap: Option<i64>,
        enabled: Option<bool>,
    ) -> RouteOptions {
        let retry = retry.cloned().unwrap_or_default();
        RouteOptions {
            retry_on_429_count: self
                .range(|| base().key("retryOn429").key("count"), retry.count, RETRY_ON_429_COUNT)
                .unwrap_or(0),
            retry_on_429_max_wait_secs: self
                .range(|| base().key("retryOn429").key("maxWaitSecs"), retry.max_wait_secs, RETRY_ON_429_MAX_WAIT_SECS)
                .unwrap_or(0),
            request_timeout_secs: self.range(|| base().key("requestTimeoutSecs"), request, REQUEST_TIMEOUT_SECS),
            stream_idle_timeout_secs: self.range(
                || base().key("streamIdleTimeoutSecs"),
                idle,
                STREAM_IDLE_TIMEOUT_SECS,
            ),
            max_in_flight: self.range(|| base().key("maxInFlight"), cap, MAX_IN_FLIGHT),
            enabled: enabled.unwrap_or(true),
        }
    }
}

fn provider(doc: usize, meta: &Metadata, spec: ProviderSpec, protected: bool, s: &mut Sink<'_>) -> Provider {
    let (name, identity_field) = match &spec.name {
        Some(n) => {
            s.token(|| FieldPath::parse("spec.name"), n, true);
            (n.clone(), "spec.name")
        }
        None => (meta.name.clone(), "metadata.name"),
    };
    if let Some(url) = &spec.base_url
        && let Err(msg) = check_base_url(url)
    {
        s.fail("spec.baseUrl", msg, Some("an http:// or https:// URL"));
    }
    let api_key = spec.api_key.as_ref().and_then(|k| match (&k.from_env, &k.secret_key_ref) {
        (Some(var), None) => {
            if let Err(msg) = check_env_name(var) {
                s.fail("spec.apiKey.fromEnv", msg, Some("letters, digits and '_', not starting with a digit"));
            }
            Some(SecretRef::FromEnv(var.clone()))
        }
        (None, Some(sel)) => {
            if let Err(msg) = check_k8s_name(&sel.name) {
                s.fail("spec.apiKey.secretKeyRef.name", msg, Some(K8S_NAME_EXPECTED));
            }
            if let Err(msg) = check_secret_key(&sel.key) {
                s.fail("spec.apiKey.secretKeyRef.key", msg, Some("letters, digits, '-', '_' and '.'"));
            }
            Some(SecretRef::SecretKeyRef { name: sel.name.clone(), key: sel.key.clone() })
        }
        _ => {
            s.fail(
                "spec.apiKey",
                "set exactly one of `fromEnv` or `secretKeyRef`".into(),
                Some("{fromEnv: VAR} or {secretKeyRef: {name, key}}"),
            );
            None
        }
    });
    let settings = spec.settings.clone().unwrap_or_default();
    if settings.contains_key(KEY_HASH_SETTING) {
        s.fail_at(
            FieldPath::parse("spec.settings").key(KEY_HASH_SETTING),
            format!("`{KEY_HASH_SETTING}` is managed by switchyard (it records the hash of the API key)"),
            Some("settings without this key"),
        );
    }
    let models = spec
        .models
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let base = || FieldPath::parse("spec.models").index(i);
            match entry {
                ModelEntry::Name(n) => {
                    s.token(base, n, false);
                    Enablement { model: n.clone(), bare_alias: false, options: RouteOptions::default(), path_index: i }
                }
                ModelEntry::Options(o) => {
                    s.token(|| base().key("name"), &o.name, false);
                    let options = s.options(
                        &base,
                        o.retry_on_429.as_ref(),
                        o.request_timeout_secs,
                        o.stream_idle_timeout_secs,
                        o.max_in_flight,
                        o.enabled,
                    );
                    Enablement {
                        model: o.name.clone(),
                        bare_alias: o.bare_alias.unwrap_or(false),
                        options,
                        path_index: i,
                    }
                }
            }
        })
        .collect();
    Provider {
        name,
        model_provider: spec.model_provider,
        base_url: spec.base_url.clone(),
        auth_type: spec.auth_type.clone(),
        api_key,
        settings,
        request_timeout_secs: s.range(
            || FieldPath::parse("spec.requestTimeoutSecs"),
            spec.request_timeout_secs,
            REQUEST_TIMEOUT_SECS,
        ),
        stream_idle_timeout_secs: s.range(
            || FieldPath::parse("spec.streamIdleTimeoutSecs"),
            spec.stream_idle_timeout_secs,
            STREAM_IDLE_TIMEOUT_SECS,
        ),
        enabled: spec.enabled.unwrap_or(true),
        models,
        protected,
        origin: Origin { doc, identity_field },
    }
}

fn model_route(doc: usize, meta: &Metadata, spec: ModelRouteSpec, protected: bool, s: &mut Sink<'_>) -> ModelRoute {
    let (alias, identity_field) = match &spec.alias {
        Some(a) => (a.clone(), "spec.alias"),
        None => (meta.name.clone(), "metadata.name"),
    };
    s.token(|| FieldPath::parse(identity_field), &alias, true);
    let targets = spec
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let base = || FieldPath::parse("spec.targets").index(i);
            s.token(|| base().key("provider"), &t.provider, true);
            s.token(|| base().key("model"), &t.model, false);
            let options = s.options(
                &base,
                t.retry_on_429.as_ref(),
                t.request_timeout_secs,
                t.stream_idle_timeout_secs,
                t.max_in_flight,
                t.enabled,
            );
            Target { provider: t.provider.clone(), model: t.model.clone(), options }
        })
        .collect();
    ModelRoute {
        alias,
        bare_alias: spec.bare_alias.unwrap_or(true),
        targets,
        protected,
        origin: Origin { doc, identity_field },
    }
}

fn smart_model(doc: usize, meta: &Metadata, spec: SmartModelSpec, protected: bool, s: &mut Sink<'_>) -> SmartModel {
    let (alias, identity_field) = match &spec.alias {
        Some(a) => (a.clone(), "spec.alias"),
        None => (meta.name.clone(), "metadata.name"),
    };
    s.token(|| FieldPath::parse(identity_field), &alias, true);
    s.token(|| FieldPath::parse("spec.determiner"), &spec.determiner, false);
    for (i, slot) in spec.slots.iter().enumerate() {
        s.token(|| FieldPath::parse("spec.slots").index(i).key("alias"), &slot.alias, false);
    }
    for (index, msg) in check_breakpoints(&spec.context_breakpoints, spec.slots.len()) {
        let path = match index {
            Some(i) => FieldPath::parse("spec.contextBreakpoints").index(i),
            None => FieldPath::parse("spec.contextBreakpoints"),
        };
        s.fail_at(path, msg, Some("strictly ascending positive token counts, at most len(slots)-1 of them"));
    }
    let default_slot = spec.default_slot_on_failure.unwrap_or(0);
    let slots_len = i64::try_from(spec.slots.len()).unwrap_or(i64::MAX);
    if default_slot < 0 || default_slot >= slots_len {
        s.fail(
            "spec.defaultSlotOnFailure",
            format!("slot index {default_slot} is out of range for {} slot(s)", spec.slots.len()),
            Some(&format!("an index between 0 and {}", (slots_len - 1).max(0))),
        );
    }
    let max_chars = spec.determiner_input_max_chars.and_then(|v| {
        s.range(
            || FieldPath::parse("spec.determinerInputMaxChars"),
            Some(v),
            crate::model::limits::DETERMINER_INPUT_MAX_CHARS,
        )
    });
    SmartModel {
        alias,
        determiner: spec.determiner.clone(),
        slots: spec.slots.iter().map(|x| Slot { alias: x.alias.clone(), label: x.label.clone() }).collect(),
        context_breakpoints: spec.context_breakpoints.iter().map(|b| u64::try_from(*b).unwrap_or(0)).collect(),
        determiner_input_max_chars: max_chars,
        default_slot_on_failure: u32::try_from(default_slot).unwrap_or(0),
        enabled: spec.enabled.unwrap_or(true),
        description: spec.description.clone(),
        protected,
        origin: Origin { doc, identity_field },
    }
}
