//! Hardening advice against the catalog's observations: a switch seen not to stop the
//! requests a host got is not advised for them.

use phonehome_catalog::Catalog;

use super::*;

const PLUGINS_OFF: &str = "[features]\nplugins = false";
const NO_UPDATE_CHECK: &str = "check_for_update_on_startup = false";

fn codex_switch<'a>(endpoint: &'a Endpoint, name: &str) -> &'a Disable {
    endpoint
        .disable
        .iter()
        .find(|d| d.agent == "codex" && is_switch(d, name))
        .expect("a switch of codex in the catalog")
}

#[test]
fn a_switch_seen_not_to_stop_the_requests_is_not_advised_for_them() {
    let catalog = Catalog::builtin();
    let github = catalog
        .lookup("api.github.com", 443)
        .expect("in the catalog");
    let update = codex_switch(github, NO_UPDATE_CHECK);
    let plugins = codex_switch(github, PLUGINS_OFF);
    let plugin_sync = [("GET", "/repos/openai/plugins")];
    let observed = Some("0.171.0");

    assert!(seen_not_to_stop(github, update, observed, &plugin_sync));
    assert!(!seen_not_to_stop(github, plugins, observed, &plugin_sync));
    // The update check itself is a request the switch may stop: still advised.
    let with_update = [
        ("GET", "/repos/openai/plugins"),
        ("GET", "/repos/openai/codex/releases/latest"),
    ];
    assert!(!seen_not_to_stop(github, update, observed, &with_update));
    // Another version, or none detected: the observation says nothing about it.
    assert!(!seen_not_to_stop(
        github,
        update,
        Some("0.170.0"),
        &plugin_sync
    ));
    assert!(!seen_not_to_stop(github, update, None, &plugin_sync));
    assert!(!seen_not_to_stop(github, update, observed, &[]));
}
