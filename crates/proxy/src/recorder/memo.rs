//! The recorder's memory of redaction: what [`Redactor::header`], [`Redactor::url`] and
//! [`Redactor::argv`] made of header values, URLs and command lines already seen, so that the
//! values every exchange repeats (a client's `user-agent`, a server's `server` and
//! `content-type`, the same endpoint's URL, the command lines of a client's ancestry that every
//! `conn` record carries) are judged once rather than searched again on every record.
//!
//! The answers are those of the redactor: a value is looked up by its header name and the
//! value itself, a command line by its whole argument list (a credential flag's value is judged
//! by the argument before it), and everything remembered is forgotten when the redactor learns
//! a credential (its answers may change then), when more than [`MAX_ENTRIES`] values are held,
//! and when the command lines held pass [`MAX_ARGV_BYTES`].

// foldhash, not std's SipHash: the memo hashes every header value and URL of every exchange
// (BENCHMARKS.md, "CPU per keep-alive request (issue 24, second day)"); its seed is random per
// process, and MAX_ENTRIES bounds what a crafted set of values could cost.
use foldhash::{HashMap, HashMapExt as _};

use phonehome_record::{Headers, Redactor};

/// Values remembered at most, headers and URLs together, before all are forgotten.
const MAX_ENTRIES: usize = 4096;

/// Values longer than this are redacted each time, not remembered (they seldom repeat).
const MAX_VALUE_LEN: usize = 1024;

/// Command lines longer than this (bytes, arguments together) are redacted each time.
const MAX_ARGV_LEN: usize = 64 * 1024;

/// Bytes of command lines (as received and as redacted) held at most before all are forgotten.
const MAX_ARGV_BYTES: usize = 1024 * 1024;

/// What redaction made of a value: `None` when it left it as it was.
type Answer = Option<String>;

/// What redaction made of a command line: `None` when it left it as it was.
type ArgvAnswer = Option<Vec<String>>;

/// The redactor and what it answered.
#[derive(Debug)]
pub(super) struct RedactionMemo {
    redactor: Redactor,
    /// Per header name as received (hyper's lowercase names): whether it is a credential
    /// header, and the answers for its values.
    headers: HashMap<String, NameMemo>,
    urls: HashMap<String, Answer>,
    /// Per command line (its arguments), what redaction made of it.
    argvs: HashMap<Vec<String>, ArgvAnswer>,
    /// Bytes of the command lines in `argvs`, keys and answers.
    argv_bytes: usize,
    entries: usize,
}

#[derive(Debug, Default)]
struct NameMemo {
    credential: bool,
    values: HashMap<String, Answer>,
}

impl RedactionMemo {
    pub(super) fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            headers: HashMap::new(),
            urls: HashMap::new(),
            argvs: HashMap::new(),
            argv_bytes: 0,
            entries: 0,
        }
    }

    pub(super) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Redacts headers, first learning the credentials they carry so that the same values are
    /// redacted wherever they appear later (a server echoing them, a body repeating them).
    pub(super) fn headers(&mut self, headers: &mut Headers) {
        for (name, value) in headers.iter() {
            if !self.is_credential(name) {
                continue;
            }
            if let Some(credential) = Redactor::credential(name, value) {
                if self.redactor.learn(credential) {
                    self.forget();
                }
            }
        }
        for (name, value) in headers.iter_mut() {
            if let Some(redacted) = self.header(name, value) {
                *value = redacted;
            }
        }
    }

    /// `url` redacted.
    pub(super) fn url(&mut self, url: &mut String) {
        let answer = match self.urls.get(url.as_str()) {
            Some(answer) => answer.clone(),
            None => {
                let answer = changed(url, self.redactor.url(url));
                if url.len() <= MAX_VALUE_LEN {
                    self.room();
                    self.urls.insert(url.clone(), answer.clone());
                }
                answer
            }
        };
        if let Some(redacted) = answer {
            *url = redacted;
        }
    }

    /// `argv` (a command line: `conn.process.argv`, an ancestor's) redacted. A command line
    /// seen before costs one lookup (hashing its arguments) instead of the text rules over each.
    pub(super) fn argv(&mut self, argv: &mut Vec<String>) {
        if let Some(answer) = self.argvs.get(argv.as_slice()) {
            if let Some(redacted) = answer {
                argv.clone_from(redacted);
            }
            return;
        }
        let original = std::mem::take(argv);
        let redacted = self.redactor.argv(&original);
        let answer = (redacted != original).then(|| redacted.clone());
        *argv = redacted;
        self.remember_argv(original, answer);
    }

    /// Keeps what redaction made of command line `original`, unless it is too long to.
    fn remember_argv(&mut self, original: Vec<String>, answer: ArgvAnswer) {
        let len = argv_len(&original);
        if len > MAX_ARGV_LEN {
            return;
        }
        let bytes = len + answer.as_deref().map_or(0, argv_len);
        if self.argv_bytes + bytes > MAX_ARGV_BYTES {
            self.forget();
        }
        self.room();
        self.argv_bytes += bytes;
        self.argvs.insert(original, answer);
    }

    /// The redacted form of header `name`'s `value`, when redaction changes it. A value seen
    /// before costs two lookups: its name's, then its own.
    fn header(&mut self, name: &str, value: &str) -> Answer {
        if let Some(memo) = self.headers.get(name) {
            // Credential headers carry values that change (and must not be kept here).
            if memo.credential {
                return changed(value, self.redactor.header(name, value));
            }
            if let Some(answer) = memo.values.get(value) {
                return answer.clone();
            }
        }
        let answer = changed(value, self.redactor.header(name, value));
        if value.len() <= MAX_VALUE_LEN {
            self.room();
            let memo = self.name(name);
            if !memo.credential {
                memo.values.insert(value.to_owned(), answer.clone());
            }
        }
        answer
    }

    /// Whether `name` is a credential header's, remembered.
    fn is_credential(&mut self, name: &str) -> bool {
        match self.headers.get(name) {
            Some(memo) => memo.credential,
            None => self.name(name).credential,
        }
    }

    /// What is known of header `name`, added when it is new.
    fn name(&mut self, name: &str) -> &mut NameMemo {
        if !self.headers.contains_key(name) {
            self.room();
            self.headers.insert(
                name.to_owned(),
                NameMemo {
                    credential: phonehome_record::is_credential_header(name),
                    values: HashMap::new(),
                },
            );
        }
        self.headers
            .get_mut(name)
            .expect("inserted above when it was missing")
    }

    /// Makes room for one more entry.
    fn room(&mut self) {
        if self.entries >= MAX_ENTRIES {
            self.forget();
        }
        self.entries += 1;
    }

    fn forget(&mut self) {
        self.headers.clear();
        self.urls.clear();
        self.argvs.clear();
        self.argv_bytes = 0;
        self.entries = 0;
    }
}

/// Bytes of a command line's arguments (what the memo holds of it, roughly).
fn argv_len(argv: &[String]) -> usize {
    argv.iter().map(|arg| arg.len() + 1).sum()
}

/// `redacted` when it differs from `original`.
fn changed(original: &str, redacted: String) -> Answer {
    (redacted != original).then_some(redacted)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The redactor's own answer for these exchanges, one after another, learning as the
    /// recorder did before the memo.
    fn direct(exchanges: &[Headers]) -> Vec<Headers> {
        let mut redactor = Redactor::new();
        exchanges
            .iter()
            .map(|headers| direct_with(&mut redactor, headers))
            .collect()
    }

    fn memoized(exchanges: &[Headers]) -> Vec<Headers> {
        let mut memo = RedactionMemo::new(Redactor::new());
        exchanges
            .iter()
            .map(|headers| {
                let mut headers = headers.clone();
                memo.headers(&mut headers);
                headers
            })
            .collect()
    }

    #[test]
    fn same_answers_as_the_redactor_across_a_learned_credential() {
        let token = "sk-proj-0123456789abcdefABCDEF";
        let echo = format!("session for {token}");
        let exchanges = [
            pairs(&[("user-agent", "hey/0.0.1"), ("x-echo", &echo)]),
            pairs(&[
                ("authorization", "Bearer Zq8vR3kL0pX7mW2n"),
                ("x-echo", "Zq8vR3kL0pX7mW2n seen"),
            ]),
            // Remembered before the credential was learned: must be judged again now.
            pairs(&[
                ("user-agent", "hey/0.0.1"),
                ("x-echo", "Zq8vR3kL0pX7mW2n seen"),
            ]),
            pairs(&[("x-echo", &echo), ("cookie", "a=b")]),
        ];
        let memo = memoized(&exchanges);
        assert_eq!(memo, direct(&exchanges));
        assert!(
            memo[2][1].1.contains("[REDACTED:"),
            "the learned credential is redacted in a value seen before it: {:?}",
            memo[2][1]
        );
    }

    proptest::proptest! {
        /// Any sequence of exchanges, with credentials learned along the way and values
        /// repeated before and after, comes out as the redactor alone makes it.
        #[test]
        fn agrees_with_the_redactor(
            exchanges in proptest::collection::vec(
                proptest::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..6),
                1..12,
            )
        ) {
            let exchanges: Vec<Headers> = exchanges
                .iter()
                .map(|h| h.iter().map(|&(n, v)| (NAMES[n].to_owned(), VALUES[v].to_owned())).collect())
                .collect();
            proptest::prop_assert_eq!(memoized(&exchanges), direct(&exchanges));
        }
    }

    const NAMES: &[&str] = &[
        "user-agent",
        "authorization",
        "x-api-key",
        "cookie",
        "x-echo",
        "x-my-service-key",
        "content-type",
    ];

    const VALUES: &[&str] = &[
        "hey/0.0.1",
        "Bearer Zq8vR3kL0pX7mW2n",
        "Zq8vR3kL0pX7mW2n",
        "echo of Zq8vR3kL0pX7mW2n here",
        "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA",
        "f3A9kQ2xLm8ZpR4t",
        "f3A9kQ2xLm8ZpR4t and more",
        "session=Yt5bN8cQ1wE4rT7u",
        "text/plain",
        "true",
        "",
    ];

    #[test]
    fn urls_are_redacted_once_and_alike() {
        let redactor = Redactor::new();
        let mut memo = RedactionMemo::new(redactor.clone());
        for url in [
            "https://api.test/v1?token=t0k3nAAAAAAAAAAA&page=2",
            "https://api.test/v1?page=2",
            "https://api.test/v1?token=t0k3nAAAAAAAAAAA&page=2",
        ] {
            let mut got = url.to_owned();
            memo.url(&mut got);
            assert_eq!(got, redactor.url(url));
        }
    }

    #[test]
    fn forgets_past_its_bound() {
        let mut memo = RedactionMemo::new(Redactor::new());
        for i in 0..MAX_ENTRIES * 2 {
            let mut headers = pairs(&[("date", &format!("value {i}"))]);
            memo.headers(&mut headers);
        }
        assert!(memo.entries <= MAX_ENTRIES);
        let held: usize = memo.headers.values().map(|m| m.values.len()).sum();
        assert!(held < MAX_ENTRIES);
    }

    /// One thing the recorder redacts, in the order the records came.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Headers(Headers),
        Argv(Vec<String>),
    }

    /// The redactor alone: credentials learned from headers, command lines redacted afresh.
    fn direct_seen(seen: &[Seen]) -> Vec<Seen> {
        let mut redactor = Redactor::new();
        seen.iter()
            .map(|item| match item {
                Seen::Headers(headers) => Seen::Headers(direct_with(&mut redactor, headers)),
                Seen::Argv(argv) => Seen::Argv(redactor.argv(argv)),
            })
            .collect()
    }

    fn direct_with(redactor: &mut Redactor, headers: &Headers) -> Headers {
        for (name, value) in headers {
            if let Some(credential) = Redactor::credential(name, value) {
                redactor.learn(credential);
            }
        }
        headers
            .iter()
            .map(|(n, v)| (n.clone(), redactor.header(n, v)))
            .collect()
    }

    fn memoized_seen(memo: &mut RedactionMemo, seen: &[Seen]) -> Vec<Seen> {
        seen.iter()
            .map(|item| match item.clone() {
                Seen::Headers(mut headers) => {
                    memo.headers(&mut headers);
                    Seen::Headers(headers)
                }
                Seen::Argv(mut argv) => {
                    memo.argv(&mut argv);
                    Seen::Argv(argv)
                }
            })
            .collect()
    }

    fn argv(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn command_lines_seen_before_a_learned_credential_are_judged_again() {
        let secret = "Zq8vR3kL0pX7mW2n";
        let shell = argv(&["bash", "-c", "curl -d Zq8vR3kL0pX7mW2n https://api.test"]);
        let seen = [
            Seen::Argv(shell.clone()),
            Seen::Argv(argv(&["tool", "--token", "opaque1234"])),
            Seen::Headers(pairs(&[("authorization", &format!("Bearer {secret}"))])),
            Seen::Argv(shell.clone()),
            Seen::Argv(argv(&["tool", "--token", "opaque1234"])),
        ];
        let mut memo = RedactionMemo::new(Redactor::new());
        let got = memoized_seen(&mut memo, &seen);
        assert_eq!(got, direct_seen(&seen));
        let Seen::Argv(before) = &got[0] else {
            unreachable!()
        };
        let Seen::Argv(after) = &got[3] else {
            unreachable!()
        };
        assert_eq!(
            before, &shell,
            "nothing to redact before the credential is known"
        );
        assert!(
            after[2].contains("[REDACTED:") && !after[2].contains(secret),
            "the learned credential is redacted in a command line seen before: {after:?}"
        );
        assert!(
            memo.argvs.contains_key(shell.as_slice()),
            "remembered again"
        );
    }

    #[test]
    fn a_long_command_line_is_redacted_but_not_kept() {
        let long = vec![
            "x".repeat(MAX_ARGV_LEN + 1),
            "--api-key=f3A9kQ2xLm8ZpR4t".to_owned(),
        ];
        let mut memo = RedactionMemo::new(Redactor::new());
        let mut got = long.clone();
        memo.argv(&mut got);
        assert_eq!(got, Redactor::new().argv(&long));
        assert!(memo.argvs.is_empty());
    }

    #[test]
    fn command_lines_held_stay_under_their_bound() {
        let mut memo = RedactionMemo::new(Redactor::new());
        for i in 0..200 {
            let mut line = vec![format!("{i}"), "y".repeat(MAX_ARGV_LEN / 2)];
            memo.argv(&mut line);
            assert!(memo.argv_bytes <= MAX_ARGV_BYTES);
        }
        assert!(!memo.argvs.is_empty());
    }

    const ARGS: &[&str] = &[
        "node",
        "bash",
        "-c",
        "--token",
        "--api-key=f3A9kQ2xLm8ZpR4t",
        "--api-key",
        "--no-token",
        "f3A9kQ2xLm8ZpR4t",
        "opaque1234",
        "curl -H 'Authorization: Bearer Zq8vR3kL0pX7mW2n' https://api.test",
        "echo Zq8vR3kL0pX7mW2n",
        "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA",
        // base64 of `token=Zq8vR3kL0pX7mW2n`
        "dG9rZW49WnE4dlIza0wwcFg3bVcybg==",
        "--max-tokens",
        "100",
        "",
    ];

    proptest::proptest! {
        /// Any sequence of command lines and exchanges, credentials learned from the exchanges
        /// along the way and command lines repeated before and after, comes out as the
        /// redactor alone makes it.
        #[test]
        fn command_lines_agree_with_the_redactor(
            // A few command lines, so that the same ones come back (as a client's ancestry does).
            lines in proptest::collection::vec(proptest::collection::vec(0..ARGS.len(), 0..5), 1..4),
            items in proptest::collection::vec(
                proptest::prop_oneof![
                    (0..4usize).prop_map(Ok),
                    proptest::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..3).prop_map(Err),
                ],
                1..16,
            )
        ) {
            let seen: Vec<Seen> = items
                .iter()
                .map(|item| match item {
                    Ok(line) => Seen::Argv(
                        lines[line % lines.len()].iter().map(|&a| ARGS[a].to_owned()).collect(),
                    ),
                    Err(headers) => Seen::Headers(
                        headers.iter().map(|&(n, v)| (NAMES[n].to_owned(), VALUES[v].to_owned())).collect(),
                    ),
                })
                .collect();
            let mut memo = RedactionMemo::new(Redactor::new());
            let got = memoized_seen(&mut memo, &seen);
            proptest::prop_assert_eq!(got, direct_seen(&seen));
        }
    }
}
