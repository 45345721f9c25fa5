//! Generated files are in sync with the Rust types, and the CRDs' CEL rules do what
//! they say (evaluated with kube's client-side CEL, since Kubernetes 1.20 cannot).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;

use kube::core::ObjectMeta;
use kube::core::cel::validate_cel;
use switchyard::cli::crds::{crd_file_name, crd_yaml, schema_file_name, schema_json};
use switchyard::manifest::crd::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_crds_match_the_generated_ones() {
    for kind in Kind::ALL {
        let path = root().join("crds").join(crd_file_name(kind));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == crd_yaml(kind),
            "{} is out of date: run `cargo run -- crds --out-dir crds --schema-dir schemas`",
            path.display()
        );
    }
}

#[test]
fn committed_json_schemas_match_the_generated_ones() {
    for kind in Kind::ALL {
        let path = root().join("schemas").join(schema_file_name(kind));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == schema_json(kind),
            "{} is out of date: run `cargo run -- crds --out-dir crds --schema-dir schemas`",
            path.display()
        );
    }
}

/// Kubernetes structural schema: every node has a `type`, unless it preserves
/// unknown fields.
fn assert_structural(v: &serde_json::Value, at: &str) {
    let Some(obj) = v.as_object() else { return };
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&serde_json::Value::Bool(true));
    assert!(obj.contains_key("type") || preserve, "schema node without type at {at}");
    assert!(!obj.contains_key("anyOf") && !obj.contains_key("oneOf"), "non-structural anyOf/oneOf at {at}");
    if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
        for (k, child) in props {
            assert_structural(child, &format!("{at}.{k}"));
        }
    }
    if let Some(items) = obj.get("items") {
        assert_structural(items, &format!("{at}[]"));
    }
}

#[test]
fn crds_are_structural_with_status_subresource_and_print_columns() {
    for kind in Kind::ALL {
        let crd = serde_json::to_value(kind.crd()).expect("crd json");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(version["subresources"]["status"].is_object(), "{kind:?} lacks the status subresource");
        assert_structural(&version["schema"]["openAPIV3Schema"], kind.as_str());
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert!(columns.contains(&"Ready"), "{kind:?}: {columns:?}");
        match kind {
            Kind::ModelRoute => assert!(columns.contains(&"Alias") && columns.contains(&"Targets")),
            Kind::SmartModel => assert!(columns.contains(&"Alias") && columns.contains(&"Slots")),
            Kind::Provider => assert!(columns.contains(&"Type")),
        }
    }
}

fn smart(slots: usize, default_slot: Option<i64>, breakpoints: Vec<i64>, alias: Option<&str>) -> SmartModel {
    SmartModel {
        metadata: ObjectMeta { name: Some("s".into()), ..Default::default() },
        spec: SmartModelSpec {
            alias: alias.map(str::to_owned),
            determiner: "d".into(),
            slots: (0..slots).map(|i| SmartSlot { alias: format!("a{i}"), label: format!("l{i}") }).collect(),
            context_breakpoints: breakpoints,
            determiner_input_max_chars: None,
            default_slot_on_failure: default_slot,
            enabled: None,
            description: None,
        },
        status: None,
    }
}

#[test]
fn cel_accepts_a_valid_smart_model() {
    assert!(validate_cel(&smart(3, Some(2), vec![4000, 32000], Some("smart"))).is_ok());
    assert!(validate_cel(&smart(1, None, vec![], None)).is_ok());
}

#[test]
fn cel_rejects_default_slot_out_of_range() {
    let err = validate_cel(&smart(2, Some(2), vec![], None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("defaultSlotOnFailure must be a valid index"), "{err:?}");
}

#[test]
fn cel_rejects_breakpoints_that_do_not_ascend_or_are_too_many() {
    let err = validate_cel(&smart(3, None, vec![32000, 4000], None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("strictly ascending"), "{err:?}");
    let err = validate_cel(&smart(3, None, vec![4000, 4000], None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("strictly ascending"), "{err:?}");
    let err = validate_cel(&smart(2, None, vec![1, 2], None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("at most len(slots)-1"), "{err:?}");
}

#[test]
fn cel_rejects_empty_slots_and_slash_in_alias() {
    let err = validate_cel(&smart(0, None, vec![], None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("slots must not be empty"), "{err:?}");
    let err = validate_cel(&smart(1, None, vec![], Some("team/smart"))).expect_err("must fail");
    assert!(format!("{err:?}").contains("must not contain '/'"), "{err:?}");
}

fn route(targets: usize, alias: Option<&str>) -> ModelRoute {
    ModelRoute {
        metadata: ObjectMeta { name: Some("r".into()), ..Default::default() },
        spec: ModelRouteSpec {
            alias: alias.map(str::to_owned),
            bare_alias: None,
            targets: (0..targets)
                .map(|i| RouteTarget {
                    provider: "p".into(),
                    model: format!("m{i}"),
                    retry_on_429: None,
                    request_timeout_secs: None,
                    stream_idle_timeout_secs: None,
                    max_in_flight: None,
                    enabled: None,
                })
                .collect(),
        },
        status: None,
    }
}

#[test]
fn cel_checks_model_routes() {
    assert!(validate_cel(&route(2, Some("fast"))).is_ok());
    let err = validate_cel(&route(0, None)).expect_err("must fail");
    assert!(format!("{err:?}").contains("targets must not be empty"), "{err:?}");
    let err = validate_cel(&route(1, Some("a/b"))).expect_err("must fail");
    assert!(format!("{err:?}").contains("must not contain '/'"), "{err:?}");
}

fn provider(from_env: Option<&str>, secret: Option<(&str, &str)>) -> Provider {
    Provider {
        metadata: ObjectMeta { name: Some("p".into()), ..Default::default() },
        spec: ProviderSpec {
            name: None,
            model_provider: switchyard::model::ModelProvider::Openai,
            base_url: None,
            auth_type: None,
            api_key: Some(ApiKeyRef {
                from_env: from_env.map(str::to_owned),
                secret_key_ref: secret.map(|(n, k)| SecretKeySelector { name: n.into(), key: k.into() }),
            }),
            settings: None,
            request_timeout_secs: None,
            stream_idle_timeout_secs: None,
            enabled: None,
            models: vec![ModelEntry::Name("m".into())],
        },
        status: None,
    }
}

#[test]
fn cel_requires_exactly_one_api_key_source() {
    assert!(validate_cel(&provider(Some("KEY"), None)).is_ok());
    assert!(validate_cel(&provider(None, Some(("s", "k")))).is_ok());
    let err = validate_cel(&provider(Some("KEY"), Some(("s", "k")))).expect_err("both");
    assert!(format!("{err:?}").contains("exactly one of fromEnv or secretKeyRef"), "{err:?}");
    assert!(validate_cel(&provider(None, None)).is_err());
}
