//! The resource every signal of one capture carries: who ran what, where.
//!
//! `service.name` (default `phonehome`), `service.version` (the phonehome that recorded),
//! `phonehome.capture.id`, `phonehome.mode`, `phonehome.policy`, the agent as detected
//! (`phonehome.agent.name`, `phonehome.agent.version`), the command (`process.command_args`,
//! redacted again), `host.name` only when asked, and `OTEL_RESOURCE_ATTRIBUTES`.

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use phonehome_analyze::AgentSeen;
use phonehome_record::{Capture, Redactor};

use crate::config::Settings;

pub(crate) fn resource(settings: &Settings, capture: &Capture, agents: &[AgentSeen]) -> Resource {
    let mut attributes: Vec<KeyValue> = settings
        .resource
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    attributes.push(KeyValue::new("service.name", settings.service_name.clone()));
    attributes.push(KeyValue::new(
        "service.version",
        capture.tool_version.clone(),
    ));
    attributes.push(KeyValue::new("phonehome.capture.id", capture.id.clone()));
    attributes.push(KeyValue::new(
        "phonehome.mode",
        crate::attempt::mode_name(capture),
    ));
    attributes.push(KeyValue::new("phonehome.policy", capture.policy.clone()));
    if let Some(agent) = agents.first() {
        attributes.push(KeyValue::new("phonehome.agent.name", agent.name.clone()));
        if let Some(version) = &agent.version {
            attributes.push(KeyValue::new("phonehome.agent.version", version.clone()));
        }
    }
    if !capture.command.is_empty() {
        let argv = Redactor::new().argv(&capture.command);
        attributes.push(KeyValue::new(
            "process.command_args",
            Value::Array(Array::String(
                argv.into_iter().map(StringValue::from).collect(),
            )),
        ));
    }
    if settings.host_name {
        if let Some(name) = host_name(capture) {
            attributes.push(KeyValue::new("host.name", name));
        }
    }
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

/// The recording machine's name as the capture's markers hold it, else this machine's.
fn host_name(capture: &Capture) -> Option<String> {
    capture
        .markers
        .values
        .iter()
        .find(|m| m.kind == "hostname")
        .map(|m| m.value.clone())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
}
