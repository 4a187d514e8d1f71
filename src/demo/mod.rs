//! `phonehome demo`: a local OpenAI-compatible HTTPS server and a scripted agent, on loopback.

pub mod client;

use anyhow::Result;

use crate::cli::DemoArgs;

pub async fn demo(_args: DemoArgs) -> Result<u8> {
    anyhow::bail!("not yet")
}
