//! Product analytics and feature flags: PostHog, Segment, Amplitude, Mixpanel, Statsig.

use base64::Engine as _;

use super::*;

const USER: &str = "9b2c1d5e-0000-4c3a-8e1f-2a3b4c5d6e7f";

#[test]
fn posthog_batch_on_a_self_hosted_instance() {
    let t = decoded(&post(
        "https://analytics.internal.test/ingest/batch/",
        "application/json",
        fixture!("posthog_batch.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::PostHog), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["session_started", "conversation_turn"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(attribute(&t.events[0], "model"), Some("demo-model"));
    assert_eq!(attribute(&t.events[1], "input_tokens"), Some("120"));
    let r = &t.resource;
    assert_eq!(r.service.as_deref(), Some("demo-agent"));
    assert_eq!(r.version.as_deref(), Some("1.2.3"));
    assert_eq!(r.os.as_deref(), Some("Linux 6.1.0"));
    assert_eq!(r.runtime.as_deref(), Some("posthog-node 4.2.0"));
    assert_eq!(
        ids(&t),
        sorted([
            ("distinct_id", USER, FoundBy::Name),
            ("$device_id", "d-42", FoundBy::Name),
        ]),
        "one distinct_id for the batch; the session and event uuids are not persistent"
    );
}

#[test]
fn posthog_single_event_as_base64_form_data() {
    let event = r#"{"event":"$pageview","properties":{"distinct_id":"u-5","token":"phc_x"},"timestamp":"2025-01-02T03:04:05Z"}"#;
    let form = format!(
        "data={}&compression=base64",
        base64::engine::general_purpose::STANDARD.encode(event)
    );
    let t = decoded(&post(
        "https://ph.test/e/",
        "application/x-www-form-urlencoded",
        &form,
    ));
    assert_eq!(names(&t), ["$pageview"]);
    assert_eq!(ids(&t), sorted([("distinct_id", "u-5", FoundBy::Name)]));
}

#[test]
fn posthog_flags_are_feature_flags_named_from_the_answer() {
    let x = answered(
        post(
            "https://ph.test/flags/",
            "application/json",
            fixture!("posthog_flags_request.json"),
        ),
        fixture!("posthog_flags_response.json"),
    );
    let t = decoded(&x);
    assert_eq!(t.signal, Some(Signal::FeatureFlags));
    assert_eq!(names(&t), ["new-editor", "pricing-test"]);
    assert_eq!(attribute(&t.events[0], "value"), Some("true"));
    assert_eq!(attribute(&t.events[1], "value"), Some("control"));
    assert_eq!(ids(&t), sorted([("distinct_id", USER, FoundBy::Name)]));

    // Sinkholed, or no answer recorded: the request itself is the event.
    let t = decoded(&post(
        "https://ph.test/decide/",
        "application/json",
        fixture!("posthog_flags_request.json"),
    ));
    assert_eq!(names(&t), ["decide"]);
}

#[test]
fn segment_batch() {
    let t = decoded(&post(
        "https://events.test/v1/batch",
        "application/json",
        fixture!("segment_batch.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Segment), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["identify", "Command Run"]);
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:06Z"));
    assert_eq!(attribute(&t.events[1], "command"), Some("build"));
    assert_eq!(t.resource.service.as_deref(), Some("demo-agent"));
    assert_eq!(t.resource.os.as_deref(), Some("macOS 14.5"));
    assert_eq!(t.resource.runtime.as_deref(), Some("analytics-node 2.1.0"));
    assert_eq!(
        ids(&t),
        sorted([
            ("userId", "user-019", FoundBy::Name),
            ("anonymousId", "507f191e810c19729de860ea", FoundBy::Name),
            ("device.id", "dev-5555", FoundBy::Name),
        ])
    );
}

#[test]
fn amplitude_http_v2() {
    let t = decoded(&post(
        "https://amp.test/2/httpapi",
        "application/json",
        fixture!("amplitude.json"),
    ));
    assert_eq!(t.protocol, Some(Protocol::Amplitude));
    assert_eq!(names(&t), ["app_start", "prompt_sent"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"));
    assert_eq!(attribute(&t.events[0], "source"), Some("cli"));
    assert_eq!(t.resource.version.as_deref(), Some("1.2.3"));
    assert_eq!(t.resource.os.as_deref(), Some("linux 6.1.0"));
    assert_eq!(
        ids(&t),
        sorted([
            ("user_id", "amp-user-1", FoundBy::Name),
            ("device_id", "amp-device-1", FoundBy::Name),
        ]),
        "insert_id is per event"
    );
}

#[test]
fn mixpanel_track_as_base64_form_and_engage_as_json() {
    let form = format!(
        "data={}",
        base64::engine::general_purpose::STANDARD.encode(fixture!("mixpanel_track.json"))
    );
    let t = decoded(&post(
        "https://mp.test/track",
        "application/x-www-form-urlencoded",
        &form,
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Mixpanel), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["Signed Up"]);
    assert_eq!(t.events[0].time, at("2025-01-02T03:04:05Z"), "seconds");
    assert_eq!(t.resource.runtime.as_deref(), Some("node 0.18.0"));
    assert_eq!(
        ids(&t),
        sorted([("distinct_id", "mp-user-13", FoundBy::Name)])
    );

    let t = decoded(&post(
        "https://mp.test/engage",
        "application/json",
        fixture!("mixpanel_engage.json"),
    ));
    assert_eq!(names(&t), ["$set"]);
    assert_eq!(attribute(&t.events[0], "editor"), Some("vim"));
    assert_eq!(
        ids(&t),
        sorted([("$distinct_id", "mp-user-13", FoundBy::Name)])
    );
}

#[test]
fn statsig_events_and_initialize() {
    let t = decoded(&post(
        "https://flags.test/v1/rgstr",
        "application/json",
        fixture!("statsig_rgstr.json"),
    ));
    assert_eq!(
        (t.protocol, t.signal),
        (Some(Protocol::Statsig), Some(Signal::Events))
    );
    assert_eq!(names(&t), ["statsig::diagnostics", "tool_used"]);
    assert_eq!(t.events[1].time, at("2025-01-02T03:04:06Z"));
    assert_eq!(t.resource.runtime.as_deref(), Some("js-client 5.1.0"));
    assert_eq!(
        ids(&t),
        sorted([
            ("userID", "st-user-8", FoundBy::Name),
            (
                "stableID",
                "3f8d1c2a-6b7e-4d9f-a0b1-c2d3e4f5a6b7",
                FoundBy::Name
            ),
        ])
    );

    let t = decoded(&answered(
        post(
            "https://flags.test/v1/initialize",
            "application/json",
            fixture!("statsig_initialize_request.json"),
        ),
        fixture!("statsig_initialize_response.json"),
    ));
    assert_eq!(t.signal, Some(Signal::FeatureFlags));
    assert_eq!(names(&t), ["2867927529", "1019217316"]);
    assert_eq!(t.resource.version.as_deref(), Some("1.2.3"));
}
