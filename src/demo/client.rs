//! The demo's scripted agent. It behaves as agents do: it takes its proxy from HTTPS_PROXY and
//! its trusted roots from SSL_CERT_FILE, lists models, streams a chat completion, retries a
//! failing call with backoff, and reports telemetry to a host that does not resolve.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::cli::DemoClientArgs;

/// A fake key in a real key shape: it shows up redacted in the capture.
const DEMO_KEY: &str = "sk-demo-0000000000000000000000000000";
const TELEMETRY: &str = "https://telemetry.phonehome-demo.invalid/v1/events";
const RETRIES: u32 = 4;
/// The persistent id the demo's telemetry carries, as agents' analytics do (`phonehome
/// telemetry` and the report name it).
const DEMO_INSTALLATION: &str = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f";

pub async fn run(args: DemoClientArgs) -> Result<u8> {
    let client = client()?;
    let base = args.base.trim_end_matches('/');
    let model = list_models(&client, base).await?;
    stream_chat(&client, base, &model).await?;
    embed_with_retries(&client, base, &model).await?;
    send_telemetry(&client, &model).await;
    Ok(0)
}

/// Lists the models and picks the first.
async fn list_models(client: &reqwest::Client, base: &str) -> Result<String> {
    say(&format!("GET {base}/v1/models"));
    let models: serde_json::Value = client
        .get(format!("{base}/v1/models"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .context("listing models")?
        .error_for_status()?
        .json()
        .await?;
    let model = models["data"][0]["id"]
        .as_str()
        .unwrap_or("demo")
        .to_owned();
    say(&format!("  model: {model}"));
    Ok(model)
}

/// Streams a chat completion and prints the assistant's text as its SSE events arrive.
async fn stream_chat(client: &reqwest::Client, base: &str, model: &str) -> Result<()> {
    say(&format!("POST {base}/v1/chat/completions (streaming)"));
    let mut response = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(DEMO_KEY)
        .header("x-session-id", "demo-session-1")
        .json(&serde_json::json!({
            "model": model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "You are a coding agent. Answer briefly."},
                {"role": "user", "content": "What does phonehome record?"},
            ],
        }))
        .send()
        .await
        .context("starting the chat completion")?
        .error_for_status()?;
    print!("  assistant: ");
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let data = event.trim().trim_start_matches("data: ");
            if data == "[DONE]" {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            if let Some(text) = value["choices"][0]["delta"]["content"].as_str() {
                print!("{text}");
                let _ = std::io::stdout().flush();
            }
        }
    }
    println!();
    Ok(())
}

/// Asks for embeddings until they succeed, doubling the wait after each failure.
async fn embed_with_retries(client: &reqwest::Client, base: &str, model: &str) -> Result<()> {
    say(&format!("POST {base}/v1/embeddings (retries with backoff)"));
    let mut backoff = Duration::from_millis(100);
    for attempt in 1..=RETRIES {
        let status = client
            .post(format!("{base}/v1/embeddings"))
            .bearer_auth(DEMO_KEY)
            .json(&serde_json::json!({"model": model, "input": "phonehome"}))
            .send()
            .await?
            .status();
        say(&format!("  attempt {attempt}: {status}"));
        if status.is_success() {
            break;
        }
        if attempt == RETRIES {
            bail!("embeddings kept failing");
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    Ok(())
}

/// Reports a session start to the telemetry host, saying what came back (or why nothing did).
async fn send_telemetry(client: &reqwest::Client, model: &str) {
    say(&format!("POST {TELEMETRY}"));
    let telemetry = client
        .post(TELEMETRY)
        .json(&serde_json::json!([{
            "event": "session_start",
            "timestamp": phonehome_record::now(),
            "installation_id": DEMO_INSTALLATION,
            "model": model,
        }]))
        .send()
        .await;
    match telemetry {
        Ok(response) => say(&format!(
            "  {} — {}",
            response.status(),
            response.text().await.unwrap_or_default().trim()
        )),
        Err(e) => say(&format!("  failed: {:#}", anyhow::Error::from(e))),
    }
}

fn say(line: &str) {
    println!("demo agent: {line}");
}

/// An HTTP client configured the way agents configure theirs: roots from the system (or
/// SSL_CERT_FILE), proxy from the environment.
fn client() -> Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .user_agent(concat!("phonehome-demo-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the demo agent's HTTP client")
}
