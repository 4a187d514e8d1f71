//! The served page's token: 128 random bits, hex, as the first segment of every URL path.
//! Other local users can reach a loopback port; without the token they get 403.

use std::fmt;

use crate::WebError;

/// The secret segment of the served URLs (`http://127.0.0.1:PORT/TOKEN/`).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the operating system's random source.
    ///
    /// # Errors
    /// [`WebError::Random`] when there is no randomness to draw.
    pub fn random() -> Result<Token, WebError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(WebError::Random)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A token the user chose (`--web-token`), kept only when it is URL-safe.
    pub fn given(text: &str) -> Option<Token> {
        let safe = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        safe.then(|| Token(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares without stopping at the first difference.
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_hex_and_differ() {
        let (a, b) = (
            Token::random().expect("random"),
            Token::random().expect("random"),
        );
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
    }

    #[test]
    fn given_tokens_must_be_url_safe() {
        assert!(Token::given("abc-DEF_1").is_some());
        assert!(Token::given("a/b").is_none());
        assert!(Token::given("").is_none());
    }
}
