use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn defaults_are_local_http_protobuf() {
    let s = Settings::resolve(env(&[]), Overrides::default()).expect("valid");
    assert_eq!(s.protocol, Protocol::HttpProtobuf);
    assert_eq!(s.traces_endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(s.logs_endpoint, "http://localhost:4318/v1/logs");
    assert_eq!(s.service_name, "phonehome");
    assert!(!s.content);
}

#[test]
fn signal_endpoints_are_used_whole_and_the_base_gets_paths() {
    let e = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
    ]);
    let s = Settings::resolve(e, Overrides::default()).expect("valid");
    assert_eq!(s.traces_endpoint, "http://t:1/custom");
    assert_eq!(s.metrics_endpoint, "http://collector:4318/v1/metrics");
}

#[test]
fn flags_override_the_environment() {
    let e = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=x%20y"),
    ]);
    let flags = Overrides {
        endpoint: Some("http://127.0.0.1:9".into()),
        protocol: Some(Protocol::Grpc),
        headers: vec![("a".into(), "2".into())],
        ..Overrides::default()
    };
    let s = Settings::resolve(e, flags).expect("valid");
    assert_eq!(s.protocol, Protocol::Grpc);
    assert_eq!(s.traces_endpoint, "http://127.0.0.1:9");
    assert_eq!(s.headers["a"], "2");
    assert_eq!(s.headers["b"], "x y");
}

#[test]
fn service_name_and_content_from_the_environment() {
    let e = env(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=fleet,team=sec"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRUE"),
    ]);
    let s = Settings::resolve(e, Overrides::default()).expect("valid");
    assert_eq!(s.service_name, "fleet");
    assert!(s.content);
    let e = env(&[
        ("OTEL_SERVICE_NAME", "mine"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=fleet"),
    ]);
    let s = Settings::resolve(e, Overrides::default()).expect("valid");
    assert_eq!(s.service_name, "mine");
}

#[test]
fn bad_endpoints_and_protocols_are_errors() {
    let bad = |endpoint: &str| {
        let flags = Overrides {
            endpoint: Some(endpoint.into()),
            ..Overrides::default()
        };
        Settings::resolve(env(&[]), flags).is_err()
    };
    assert!(bad("collector:4318"));
    assert!(bad("ftp://x"));
    assert!(bad("http://"));
    assert!(!bad("https://otel.example.test"));
    let grpc_tls = Overrides {
        endpoint: Some("https://otel.example.test".into()),
        protocol: Some(Protocol::Grpc),
        ..Overrides::default()
    };
    assert!(Settings::resolve(env(&[]), grpc_tls).is_err());
    let e = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "udp")]);
    assert!(Settings::resolve(e, Overrides::default()).is_err());
}
