//! Rules that need the whole desired state: duplicate identities, references between
//! objects, and smart-model cycles. Per-field rules (ranges, names) are applied while
//! the loader builds each object; the helpers they share with the gateway live here too.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::path::FieldPath;
use super::suggest::did_you_mean;
use super::types::{DesiredState, ModelRoute, Origin, SmartModel};

/// One broken rule, located by document id and field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Document id (see [`Origin::doc`]).
    pub doc: usize,
    /// Field that is wrong.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
    /// What was expected, if that helps.
    pub expected: Option<String>,
    /// A suggestion.
    pub hint: Option<String>,
    /// Another place involved (the first declaration of a duplicate).
    pub related: Option<(usize, FieldPath)>,
}

impl Violation {
    fn new(doc: usize, path: FieldPath, message: String) -> Self {
        Self { doc, path, message, expected: None, hint: None, related: None }
    }
    fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    fn related(mut self, origin: Origin) -> Self {
        self.related = Some((origin.doc, FieldPath::parse(origin.identity_field)));
        self
    }
}

/// Names that exist on the live gateway but are not declared in the input. Planning
/// online fills this so that a ModelRoute may target a provider managed elsewhere.
#[derive(Debug, Clone, Default)]
pub struct ExternalNames {
    /// Provider name -> its enabled upstream models.
    pub enablements: BTreeMap<String, BTreeSet<String>>,
    /// Callable aliases (bare route aliases and smart models).
    pub aliases: BTreeSet<String>,
}

/// Checks `contextBreakpoints` against the slot count. Returns `(index, message)` pairs;
/// `None` as index means the list as a whole.
#[must_use]
pub fn check_breakpoints(breakpoints: &[i64], slots: usize) -> Vec<(Option<usize>, String)> {
    let mut out = Vec::new();
    for (i, b) in breakpoints.iter().enumerate() {
        if *b <= 0 {
            out.push((Some(i), format!("breakpoint must be a positive token count (got {b})")));
        } else if i > 0 && *b <= breakpoints[i - 1] {
            out.push((Some(i), format!("breakpoints must be strictly ascending ({b} follows {})", breakpoints[i - 1])));
        }
    }
    if slots > 0 && breakpoints.len() > slots - 1 {
        out.push((
            None,
            format!("has {} breakpoints but {slots} slot(s) allow at most {}", breakpoints.len(), slots - 1),
        ));
    }
    out
}

/// Applies every set-level rule, returning all violations (empty = valid).
#[must_use]
pub fn validate_set(state: &DesiredState, external: &ExternalNames) -> Vec<Violation> {
    let mut out = Vec::new();

    // Providers and their enablements.
    let mut providers: HashMap<&str, Origin> = HashMap::new();
    let mut enabled: HashMap<&str, HashMap<&str, bool>> = HashMap::new();
    for p in &state.providers {
        if let Some(first) = providers.get(p.name.as_str()) {
            out.push(
                Violation::new(
                    p.origin.doc,
                    FieldPath::parse(p.origin.identity_field),
                    format!("provider `{}` is declared more than once", p.name),
                )
                .expected("a unique provider name")
                .related(*first),
            );
            continue;
        }
        providers.insert(&p.name, p.origin);
        let models = enabled.entry(&p.name).or_default();
        for e in &p.models {
            if models.insert(&e.model, e.bare_alias).is_some() {
                out.push(
                    Violation::new(
                        p.origin.doc,
                        FieldPath::parse("spec.models").index(e.path_index),
                        format!("model `{}` is listed twice on provider `{}`", e.model, p.name),
                    )
                    .expected("each model at most once per provider"),
                );
            }
        }
    }
    let is_enabled = |provider: &str, model: &str| {
        enabled.get(provider).is_some_and(|m| m.contains_key(model))
            || external.enablements.get(provider).is_some_and(|m| m.contains(model))
    };
    let provider_known =
        |provider: &str| providers.contains_key(provider) || external.enablements.contains_key(provider);

    // Bare names served by 1:1 enablements with bareAlias: true.
    let mut bare_enablements: HashMap<&str, &str> = HashMap::new();
    let mut all_enabled_models: BTreeSet<&str> = BTreeSet::new();
    for p in &state.providers {
        for e in &p.models {
            all_enabled_models.insert(&e.model);
            if e.bare_alias {
                bare_enablements.entry(&e.model).or_insert(&p.name);
            }
        }
    }

    // Custom aliases.
    let mut routes: HashMap<&str, &ModelRoute> = HashMap::new();
    for r in &state.routes {
        let alias_path = || FieldPath::parse(r.origin.identity_field);
        if let Some(first) = routes.get(r.alias.as_str()) {
            out.push(
                Violation::new(r.origin.doc, alias_path(), format!("alias `{}` is declared more than once", r.alias))
                    .expected("each alias declared by exactly one ModelRoute")
                    .related(first.origin),
            );
            continue;
        }
        routes.insert(&r.alias, r);
        if let Some(provider) = bare_enablements.get(r.alias.as_str()) {
            out.push(
                Violation::new(
                    r.origin.doc,
                    alias_path(),
                    format!(
                        "alias `{}` is also the bare name of the 1:1 enablement `{provider}/{}` (bareAlias: true)",
                        r.alias, r.alias
                    ),
                )
                .hint("rename the alias, or set bareAlias: false on the enablement"),
            );
        }
        let mut seen_targets: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, t) in r.targets.iter().enumerate() {
            let tpath = || FieldPath::parse("spec.targets").index(i);
            if let Some(prev) = seen_targets.insert((&t.provider, &t.model), i) {
                out.push(
                    Violation::new(
                        r.origin.doc,
                        tpath(),
                        format!("target `{}/{}` already appears at targets[{prev}]", t.provider, t.model),
                    )
                    .expected("each (provider, model) once per alias"),
                );
            }
            if t.model == r.alias {
                out.push(
                    Violation::new(
                        r.origin.doc,
                        tpath().key("model"),
                        format!(
                            "target model `{}` equals the alias; a row whose alias equals its model is the 1:1 enablement itself",
                            t.model
                        ),
                    )
                    .hint("declare options for the 1:1 row on the Provider's `models` entry, or choose another alias"),
                );
            }
            if !provider_known(&t.provider) {
                let mut v =
                    Violation::new(r.origin.doc, tpath().key("provider"), format!("unknown provider `{}`", t.provider))
                        .expected("the name of a declared Provider");
                if let Some(s) = did_you_mean(&t.provider, providers.keys().copied()) {
                    v = v.hint(format!("did you mean `{s}`?"));
                }
                out.push(v);
            } else if !is_enabled(&t.provider, &t.model) {
                out.push(
                    Violation::new(
                        r.origin.doc,
                        tpath().key("model"),
                        format!("model `{}` is not enabled on provider `{}`", t.model, t.provider),
                    )
                    .expected("a model listed in the provider's spec.models")
                    .hint(format!("add `- {}` to spec.models of Provider `{}`", t.model, t.provider)),
                );
            }
        }
    }

    // Smart models.
    let mut smart: HashMap<&str, &SmartModel> = HashMap::new();
    for s in &state.smart_models {
        let alias_path = FieldPath::parse(s.origin.identity_field);
        if let Some(first) = smart.get(s.alias.as_str()) {
            out.push(
                Violation::new(
                    s.origin.doc,
                    alias_path,
                    format!("smart model `{}` is declared more than once", s.alias),
                )
                .expected("a unique smart-model alias")
                .related(first.origin),
            );
            continue;
        }
        smart.insert(&s.alias, s);
        if let Some(r) = routes.get(s.alias.as_str()) {
            out.push(
                Violation::new(
                    s.origin.doc,
                    alias_path,
                    format!("smart-model alias `{}` collides with the route alias of a ModelRoute", s.alias),
                )
                .expected("an alias not used by any route")
                .related(r.origin),
            );
        } else if all_enabled_models.contains(s.alias.as_str()) {
            out.push(
                Violation::new(
                    s.origin.doc,
                    alias_path,
                    format!("smart-model alias `{}` collides with the alias of a 1:1 enablement", s.alias),
                )
                .expected("an alias not used by any route"),
            );
        }
    }

    // Reference resolution for slots and determiners.
    let resolves = |name: &str| -> Result<(), String> {
        if smart.contains_key(name) || external.aliases.contains(name) {
            return Ok(());
        }
        if let Some(r) = routes.get(name) {
            return if r.bare_alias {
                Ok(())
            } else {
                Err(format!("alias `{name}` has bareAlias: false, so it cannot be called by name"))
            };
        }
        if bare_enablements.contains_key(name) {
            return Ok(());
        }
        if let Some((provider, model)) = name.split_once('/') {
            if is_enabled(provider, model) {
                return Ok(());
            }
            return Err(format!("`{name}` does not name an enabled model (`{model}` on provider `{provider}`)"));
        }
        Err(format!("`{name}` does not resolve to any alias, enablement or smart model"))
    };
    // Only consulted for suggestions, i.e. when something is already wrong.
    let callable =
        || -> Vec<&str> { routes.keys().chain(smart.keys()).chain(bare_enablements.keys()).copied().collect() };
    for s in &state.smart_models {
        if smart.get(s.alias.as_str()).is_some_and(|first| !std::ptr::eq(*first, s)) {
            continue;
        }
        // (slot index or None for the determiner, referenced name)
        let refs = std::iter::once((None, s.determiner.as_str()))
            .chain(s.slots.iter().enumerate().map(|(i, slot)| (Some(i), slot.alias.as_str())));
        for (slot, name) in refs {
            let path = || match slot {
                None => FieldPath::parse("spec.determiner"),
                Some(i) => FieldPath::parse("spec.slots").index(i).key("alias"),
            };
            if name == s.alias {
                out.push(
                    Violation::new(s.origin.doc, path(), format!("smart model `{}` refers to itself", s.alias))
                        .expected("another alias"),
                );
                continue;
            }
            if let Err(msg) = resolves(name) {
                let mut v = Violation::new(s.origin.doc, path(), msg)
                    .expected("a bare alias, `<provider>/<model>` of an enablement, or a smart model");
                if let Some(sug) = did_you_mean(name, callable()) {
                    v = v.hint(format!("did you mean `{sug}`?"));
                }
                out.push(v);
            }
        }
    }
    out.extend(smart_cycles(&state.smart_models, &smart));
    out
}

/// Finds cycles among smart models (through slots and determiners), one violation per cycle.
fn smart_cycles(all: &[SmartModel], smart: &HashMap<&str, &SmartModel>) -> Vec<Violation> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let edges = |s: &SmartModel| -> Vec<String> {
        std::iter::once(&s.determiner)
            .chain(s.slots.iter().map(|x| &x.alias))
            .filter(|a| **a != s.alias && smart.contains_key(a.as_str()))
            .cloned()
            .collect()
    };
    let mut marks: HashMap<String, Mark> = smart.keys().map(|k| ((*k).to_owned(), Mark::New)).collect();
    let mut out = Vec::new();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in all {
        if marks.get(&start.alias) != Some(&Mark::New) {
            continue;
        }
        // Iterative DFS keeping the current path.
        let mut stack: Vec<(String, Vec<String>, usize)> = Vec::new();
        let Some(root) = smart.get(start.alias.as_str()) else { continue };
        marks.insert(start.alias.clone(), Mark::Active);
        stack.push((start.alias.clone(), edges(root), 0));
        while let Some((node, succ, idx)) = stack.last_mut() {
            if *idx >= succ.len() {
                marks.insert(node.clone(), Mark::Done);
                stack.pop();
                continue;
            }
            let next = succ[*idx].clone();
            *idx += 1;
            match marks.get(&next).copied() {
                Some(Mark::New) => {
                    if let Some(s) = smart.get(next.as_str()) {
                        marks.insert(next.clone(), Mark::Active);
                        stack.push((next, edges(s), 0));
                    }
                }
                Some(Mark::Active) => {
                    let pos = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[pos..].iter().map(|(n, _, _)| n.clone()).collect();
                    let mut key = cycle.clone();
                    key.sort();
                    if reported.insert(key) {
                        cycle.push(next.clone());
                        if let Some(s) = smart.get(next.as_str()) {
                            out.push(
                                Violation::new(
                                    s.origin.doc,
                                    FieldPath::parse(s.origin.identity_field),
                                    format!("smart models form a cycle: {}", cycle.join(" -> ")),
                                )
                                .expected("smart models that eventually reach plain aliases"),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::*;

    fn provider(name: &str, models: &[&str], doc: usize) -> Provider {
        Provider {
            name: name.to_owned(),
            model_provider: ModelProvider::Openai,
            base_url: None,
            auth_type: None,
            api_key: None,
            settings: BTreeMap::new(),
            request_timeout_secs: None,
            stream_idle_timeout_secs: None,
            enabled: true,
            models: models
                .iter()
                .enumerate()
                .map(|(i, m)| Enablement {
                    model: (*m).to_owned(),
                    bare_alias: false,
                    options: RouteOptions::default(),
                    path_index: i,
                })
                .collect(),
            protected: false,
            origin: Origin { doc, identity_field: "metadata.name" },
        }
    }

    fn route(alias: &str, targets: &[(&str, &str)], doc: usize) -> ModelRoute {
        ModelRoute {
            alias: alias.to_owned(),
            bare_alias: true,
            targets: targets
                .iter()
                .map(|(p, m)| Target {
                    provider: (*p).to_owned(),
                    model: (*m).to_owned(),
                    options: RouteOptions::default(),
                })
                .collect(),
            protected: false,
            origin: Origin { doc, identity_field: "metadata.name" },
        }
    }

    fn smart(alias: &str, determiner: &str, slots: &[&str], doc: usize) -> SmartModel {
        SmartModel {
            alias: alias.to_owned(),
            determiner: determiner.to_owned(),
            slots: slots.iter().map(|a| Slot { alias: (*a).to_owned(), label: "x".to_owned() }).collect(),
            context_breakpoints: vec![],
            determiner_input_max_chars: None,
            default_slot_on_failure: 0,
            enabled: true,
            description: None,
            protected: false,
            origin: Origin { doc, identity_field: "metadata.name" },
        }
    }

    #[test]
    fn a_consistent_state_has_no_violations() {
        let state = DesiredState {
            providers: vec![provider("a", &["m1", "m2"], 0)],
            routes: vec![route("fast", &[("a", "m1"), ("a", "m2")], 1)],
            smart_models: vec![smart("smart", "fast", &["fast", "a/m2"], 2)],
        };
        assert_eq!(validate_set(&state, &ExternalNames::default()), vec![]);
    }

    #[test]
    fn unknown_provider_gets_a_suggestion() {
        let state = DesiredState {
            providers: vec![provider("openai-prod", &["m1"], 0)],
            routes: vec![route("fast", &[("openai-prd", "m1")], 1)],
            smart_models: vec![],
        };
        let v = validate_set(&state, &ExternalNames::default());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path.to_string(), "spec.targets[0].provider");
        assert_eq!(v[0].hint.as_deref(), Some("did you mean `openai-prod`?"));
    }

    #[test]
    fn unenabled_target_is_rejected_unless_live() {
        let state = DesiredState {
            providers: vec![provider("a", &["m1"], 0)],
            routes: vec![route("fast", &[("a", "m9")], 1)],
            smart_models: vec![],
        };
        let v = validate_set(&state, &ExternalNames::default());
        assert_eq!(v[0].message, "model `m9` is not enabled on provider `a`");
        let mut ext = ExternalNames::default();
        ext.enablements.entry("a".into()).or_default().insert("m9".into());
        assert!(validate_set(&state, &ext).is_empty());
    }

    #[test]
    fn smart_model_cycles_are_reported_once() {
        let state = DesiredState {
            providers: vec![provider("a", &["m1"], 0)],
            routes: vec![route("fast", &[("a", "m1")], 1)],
            smart_models: vec![smart("s1", "fast", &["s2"], 2), smart("s2", "fast", &["s1"], 3)],
        };
        let v = validate_set(&state, &ExternalNames::default());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.starts_with("smart models form a cycle: "), "{}", v[0].message);
    }

    #[test]
    fn breakpoints_must_ascend_be_positive_and_fit_the_slots() {
        assert!(check_breakpoints(&[4000, 32000], 3).is_empty());
        assert_eq!(check_breakpoints(&[0], 2)[0].0, Some(0));
        assert_eq!(check_breakpoints(&[10, 10], 3)[0].0, Some(1));
        assert_eq!(check_breakpoints(&[1, 2], 2)[0].0, None);
    }
}
