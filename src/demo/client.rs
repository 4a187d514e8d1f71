use anyhow::Result;

use crate::cli::DemoClientArgs;

pub async fn run(_args: DemoClientArgs) -> Result<u8> {
    anyhow::bail!("not yet")
}
