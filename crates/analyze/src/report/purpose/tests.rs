use serde_json::json;

use super::*;

#[test]
fn model_catalogs_by_shape() {
    let litellm = json!({
        "sample_spec": {"max_tokens": "set to max", "input_cost_per_token": 0},
        "gpt-4.1": {"max_input_tokens": 1047576, "input_cost_per_token": 2e-6},
        "claude-x": {"max_input_tokens": 200000, "output_cost_per_token": 1.5e-5}
    });
    assert!(is_model_catalog(&litellm, 0));
    let list = json!({"data": [
        {"id": "a/b", "pricing": {"prompt": "0.000001"}, "context_length": 8192},
        {"id": "c/d", "pricing": {"prompt": "0.000002"}, "context_length": 4096}
    ]});
    assert!(is_model_catalog(&list, 0));
    let providers = json!({"acme": {"id": "acme", "name": "Acme", "models": {
        "m1": {"id": "m1", "cost": {"input": 1.0}, "limit": {"context": 128000, "output": 4096}},
        "m2": {"id": "m2", "limit": {"context": 32000}}
    }}});
    assert!(is_model_catalog(&providers, 0));
    // Model ids without prices or windows, a config, a list of releases: no.
    assert!(!is_model_catalog(
        &json!({"data": [{"id": "gpt-4.1", "object": "model"}]}),
        0
    ));
    assert!(!is_model_catalog(&json!({"limit": 5, "name": "x"}), 0));
    assert!(!is_model_catalog(
        &json!([{"tag_name": "v1.0", "assets": []}]),
        0
    ));
}

fn evidence(f: impl FnOnce(&mut Evidence)) -> Evidence {
    let mut e = Evidence {
        requests: 2,
        ..Evidence::default()
    };
    f(&mut e);
    e
}

#[test]
fn decided_by_what_was_sent_without_a_catalog_entry() {
    let (purpose, how) = decide(None, &evidence(|_| {}));
    assert_eq!(purpose, None);
    assert_eq!(
        how,
        "unknown: no catalog entry; request not a known protocol"
    );
    let otlp = evidence(|e| {
        e.signals.insert((Protocol::OtlpJson, Signal::Logs), 2);
    });
    assert_eq!(
        decide(None, &otlp),
        (
            Some(Purpose::Telemetry),
            "by protocol: OTLP logs".to_owned()
        )
    );
    let flags = evidence(|e| {
        e.signals
            .insert((Protocol::PostHog, Signal::FeatureFlags), 3);
        e.signals.insert((Protocol::PostHog, Signal::Events), 1);
    });
    assert_eq!(
        decide(None, &flags),
        (
            Some(Purpose::FeatureFlags),
            "by protocol: PostHog feature flags, PostHog events".to_owned()
        )
    );
    let sentry = evidence(|e| {
        e.signals.insert((Protocol::Sentry, Signal::Errors), 1);
    });
    assert_eq!(decide(None, &sentry).0, Some(Purpose::ErrorReporting));
    let models = evidence(|e| e.model_catalog = 1);
    assert_eq!(
        decide(None, &models),
        (
            Some(Purpose::ModelCatalog),
            "by response shape: model catalog".to_owned()
        )
    );
    let registry = evidence(|e| e.registry = true);
    assert_eq!(
        decide(None, &registry),
        (
            Some(Purpose::PackageRegistry),
            "by protocol: package registry".to_owned()
        )
    );
    assert_eq!(
        decide(None, &evidence(|e| e.git = 1)).0,
        Some(Purpose::CodeHost)
    );
    assert_eq!(
        decide(None, &evidence(|e| e.binary = 1)).0,
        Some(Purpose::BinaryDownload)
    );
}

#[test]
fn a_file_host_serving_a_model_catalog_is_a_model_catalog() {
    let catalog = phonehome_catalog::Catalog::builtin();
    let files = catalog
        .endpoints()
        .iter()
        .find(|e| e.purpose == Purpose::BinaryDownload)
        .expect("a binary-download entry");
    let models = evidence(|e| e.model_catalog = 1);
    assert_eq!(decide(Some(files), &models).0, Some(Purpose::ModelCatalog));
    let downloads = evidence(|e| e.binary = 2);
    assert_eq!(
        decide(Some(files), &downloads),
        (Some(Purpose::BinaryDownload), "by catalog".to_owned())
    );
}
