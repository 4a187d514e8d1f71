use super::*;
use crate::telemetry::{Resource, Telemetry};

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn user_agents_name_the_product_not_the_library() {
    let p = |ua| user_agent_product(ua);
    assert_eq!(
        p("acme-agent/3.1.4 (linux; x64) node/22.1.0"),
        Some(Product {
            name: "acme-agent".into(),
            version: Some("3.1.4".into())
        })
    );
    assert_eq!(p("OpenAI/JS 4.20.1").map(|p| p.name), None);
    assert_eq!(
        p("python-httpx/0.27 (x) Acme/cli/2.0").map(|p| (p.name, p.version)),
        Some(("Acme".into(), Some("2.0".into())))
    );
    assert_eq!(p("Mozilla/5.0 (Windows NT 10.0; Win64)"), None);
    assert_eq!(p("curl/8.5.0"), None);
}

#[test]
fn executable_names_look_through_interpreters() {
    assert_eq!(
        executable_name(&argv(&["/opt/acme/bin/acme", "chat"])),
        Some("acme".into())
    );
    assert_eq!(
        executable_name(&argv(&["npx", "-y", "acme-agent@3", "x"])),
        Some("acme-agent".into())
    );
    assert_eq!(
        executable_name(&argv(&["python3.12", "-u", "/x/acme_bot.py"])),
        Some("acme_bot".into())
    );
    assert_eq!(executable_name(&argv(&["node", "/x/dist/cli.js"])), None);
}

fn telemetry(service: &str, version: Option<&str>) -> Telemetry {
    Telemetry {
        resource: Resource {
            service: Some(service.into()),
            version: version.map(Into::into),
            ..Resource::default()
        },
        ..Telemetry::default()
    }
}

#[test]
fn telemetry_resources_name_the_service() {
    assert_eq!(
        telemetry_product(&telemetry("acme-agent", Some("3.1.4"))),
        Some(Product {
            name: "acme-agent".into(),
            version: Some("3.1.4".into())
        })
    );
    assert_eq!(
        telemetry_product(&telemetry("unknown_service:node", None)),
        None
    );
}

#[test]
fn clues_are_taken_in_order_of_preference() {
    let mut clues = Clues::default();
    assert_eq!(clues.name(), None);
    clues.command(&argv(&["/usr/bin/acme"]), None);
    assert_eq!(
        clues.name().map(|n| (n.name, n.evidence)),
        Some(("acme".into(), "executable name".into()))
    );
    clues.user_agent(user_agent_product("acme/1.0").expect("product"));
    clues.user_agent(user_agent_product("acme/1.0").expect("product"));
    let named = clues.name().expect("named");
    assert_eq!(
        (
            named.name.as_str(),
            named.version.as_deref(),
            named.evidence.as_str()
        ),
        ("acme", Some("1.0"), "user-agent")
    );
    assert_eq!(named.requests, 2);
    for _ in 0..3 {
        clues.telemetry(telemetry_product(&telemetry("acme", None)).expect("product"));
    }
    let named = clues.name().expect("named");
    assert_eq!(
        (named.evidence.as_str(), named.version.as_deref()),
        ("telemetry", Some("1.0")),
        "the version from the User-Agent of the same name"
    );
    let package = AgentPackage {
        name: "acme-agent".into(),
        version: Some("3.1.4".into()),
        source: "package.json".into(),
    };
    clues.command(&argv(&["node", "cli.js"]), Some(&package));
    let named = clues.name().expect("named");
    assert_eq!(
        (
            named.name.as_str(),
            named.version.as_deref(),
            named.evidence.as_str()
        ),
        ("acme-agent", Some("3.1.4"), "package.json")
    );
}
