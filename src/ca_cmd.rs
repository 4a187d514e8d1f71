//! `phonehome ca`: locate, describe or export the local CA certificate.

use anyhow::{Context as _, Result};
use phonehome_proxy::CertificateAuthority;

use crate::cli::{CaAction, CaArgs};
use crate::paths;

pub fn ca(args: &CaArgs) -> Result<u8> {
    let dir = paths::ca_dir(args.ca.ca_dir.as_deref())?;
    let ca = CertificateAuthority::load_or_create(&dir)
        .with_context(|| format!("cannot set up the local CA in {}", dir.display()))?;
    match args.action.unwrap_or(CaAction::Show) {
        CaAction::Path => println!("{}", ca.cert_path().display()),
        CaAction::Export => print!("{}", ca.cert_pem()),
        CaAction::Show => {
            let d = ca.describe()?;
            println!("certificate  {}", ca.cert_path().display());
            println!("subject      {}", d.subject);
            println!("valid        {} to {}", d.not_before, d.not_after);
            println!("sha256       {}", d.sha256);
            println!("key          {} (mode 0600)", dir.join("ca.key").display());
        }
    }
    Ok(0)
}
