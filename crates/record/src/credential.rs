//! Which names mark a value as a credential: header names, URL query parameter names,
//! environment variable names and command-line flags. The one place these lists live; the redactor (headers,
//! parameters) and the marker collection (environment variables) both ask here.

/// Header names whose whole value is a credential (compared lowercase).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
];

/// Query parameter names whose value is a credential (compared lowercase).
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "authorization",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "client_secret",
];

/// Parts of a name (lowercase) that mark its value as a credential, wherever the name is
/// used: header, query parameter or environment variable.
const CREDENTIAL_NAME_PARTS: &[&str] = &["token", "secret", "password", "passwd"];

/// Further parts that mark only an environment variable's value as a credential
/// (`OPENAI_API_KEY`, `AWS_CREDENTIALS`, `GH_AUTH`). In header and parameter names they name
/// things that are not credentials: `Sec-WebSocket-Key`, `WWW-Authenticate`,
/// `Access-Control-Allow-Credentials`, `?monkey=`, `?authuser=`.
const ENV_ONLY_NAME_PARTS: &[&str] = &["key", "credential", "auth"];

/// Whether header `name` (any case) carries a credential.
///
/// ```
/// assert!(phonehome_record::is_credential_header("X-Session-Token"));
/// assert!(!phonehome_record::is_credential_header("Sec-WebSocket-Key"));
/// ```
pub fn is_credential_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&lower.as_str()) || has_part(&lower, CREDENTIAL_NAME_PARTS)
}

/// Whether URL query parameter `name` (any case, already percent-decoded) carries a credential.
pub(crate) fn is_credential_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_PARAMS.contains(&lower.as_str()) || has_part(&lower, CREDENTIAL_NAME_PARTS)
}

/// Whether environment variable `name` (any case) names a credential. A socket path
/// (`SSH_AUTH_SOCK`) does not.
///
/// ```
/// assert!(phonehome_record::is_credential_env_name("OPENAI_API_KEY"));
/// assert!(!phonehome_record::is_credential_env_name("SSH_AUTH_SOCK"));
/// ```
pub fn is_credential_env_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.ends_with("_sock")
        && (has_part(&lower, CREDENTIAL_NAME_PARTS) || has_part(&lower, ENV_ONLY_NAME_PARTS))
}

/// Further parts that mark a command-line flag's value as a credential: `--api-key VALUE`.
const FLAG_ONLY_NAME_PARTS: &[&str] = &["api-key", "api_key", "apikey"];

/// Whether command-line flag `name` (`--api-key`, `--client-secret`, any case) takes a
/// credential as its value. Flags that take no secret do not: `--no-password`,
/// `--password-file`.
pub(crate) fn is_credential_flag(name: &str) -> bool {
    let lower = name.trim_start_matches('-').to_ascii_lowercase();
    let takes_no_secret =
        lower.starts_with("no-") || lower.ends_with("-file") || lower.ends_with("_file");
    !takes_no_secret
        && (has_part(&lower, CREDENTIAL_NAME_PARTS) || has_part(&lower, FLAG_ONLY_NAME_PARTS))
}

fn has_part(lower: &str, parts: &[&str]) -> bool {
    parts.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(is_credential_header("Authorization"));
        assert!(is_credential_header("x-refresh-token"));
        assert!(!is_credential_header("WWW-Authenticate"));
        assert!(!is_credential_header("Access-Control-Allow-Credentials"));
    }

    #[test]
    fn params() {
        assert!(is_credential_param("KEY"));
        assert!(is_credential_param("client_secret"));
        assert!(is_credential_param("id_token"));
        assert!(!is_credential_param("monkey"));
        assert!(!is_credential_param("authuser"));
    }

    #[test]
    fn environment_variables() {
        for name in [
            "GITHUB_TOKEN",
            "my_secret",
            "DB_PASSWD",
            "AWS_CREDENTIALS",
            "GH_AUTH",
        ] {
            assert!(is_credential_env_name(name), "{name}");
        }
        for name in ["PATH", "SSH_AUTH_SOCK", "HOME"] {
            assert!(!is_credential_env_name(name), "{name}");
        }
    }
}
