//! Commands as words: the shell command a tool call asked for, and the command line a process
//! ran, both brought to the same form so that one can be matched against the other.
//!
//! A command is a list of *segments*, one per simple command: `cd /x && curl -s URL | jq .`
//! is `[cd, /x]`, `[curl, -s, URL]`, `[jq, .]`. Quoting is undone (POSIX shell words, read
//! with the `shlex` crate); shell wrappers are opened (`sh -c SCRIPT`, `bash -lc SCRIPT`,
//! `eval SCRIPT`) and what they run takes their place; leading `VAR=value` assignments and
//! `exec`/`command`/`env` are dropped; a program is named by its file name (`/usr/bin/curl`
//! is `curl`). A process matches a tool call when one of its segments and one of the call's
//! begin with the same words (up to [`FIRST_WORDS`]).

use serde_json::Value;

/// Words compared from the start of two segments: the program and its first arguments.
pub(crate) const FIRST_WORDS: usize = 3;
/// Wrappers opened at most, one inside the other.
const DEPTH: usize = 4;

/// One simple command's words.
pub(crate) type Segment = Vec<String>;

/// The shell command a tool call's arguments ask for, as text, in each API's shape:
/// `command` or `cmd` as a string (Anthropic's Bash tool, Gemini CLI's `run_shell_command`,
/// OpenCode's `bash`, Codex's `exec_command`) or as an argument list (Codex's `shell` function
/// and the Responses API's `local_shell` action, `["bash", "-lc", "…"]`); arguments that
/// arrived as JSON text are read first. `None` for a tool that names no command.
pub(crate) fn tool_command(arguments: &Value) -> Option<Command> {
    if let Value::String(text) = arguments {
        let parsed: Value = serde_json::from_str(text).ok()?;
        return tool_command(&parsed);
    }
    let field = ["command", "cmd"]
        .iter()
        .map(|k| &arguments[*k])
        .find(|v| !v.is_null())?;
    match field {
        Value::String(script) if !script.trim().is_empty() => Some(Command::Script(script.clone())),
        Value::Array(items) => {
            let argv: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            (!argv.is_empty()).then_some(Command::Argv(argv))
        }
        _ => None,
    }
}

/// A command as a tool call gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Shell text, for a shell to run.
    Script(String),
    /// An argument list, run as is.
    Argv(Vec<String>),
}

impl Command {
    /// The command as one line for people.
    pub(crate) fn text(&self) -> String {
        match self {
            Command::Script(script) => script.clone(),
            Command::Argv(argv) => {
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
            }
        }
    }

    /// Its segments.
    pub(crate) fn segments(&self) -> Vec<Segment> {
        match self {
            Command::Script(script) => script_segments(script, 0),
            Command::Argv(argv) => argv_segments(argv, 0),
        }
    }
}

/// The segments of a process's command line.
pub(crate) fn argv_segments(argv: &[String], depth: usize) -> Vec<Segment> {
    let words = strip_prefix(argv);
    let Some(first) = words.first() else {
        return Vec::new();
    };
    let program = program(first);
    if depth < DEPTH {
        if let Some(script) = wrapped_script(&program, &words[1..]) {
            return script_segments(script, depth + 1);
        }
    }
    let mut segment = vec![program];
    segment.extend(words[1..].iter().cloned());
    vec![segment]
}

/// Whether any segment of `a` and any of `b` begin with the same words.
#[cfg(test)]
pub(crate) fn segments_match(a: &[Segment], b: &[Segment]) -> bool {
    keys_match(&keys(a), &keys(b))
}

/// What matching needs of a segment, small enough to keep for many processes: how many of
/// its first words count (at most [`FIRST_WORDS`]) and a hash of each of its first 1, 2, 3
/// words. Two segments begin with the same words when, for the shorter's count `n`, their
/// hashes of the first `n` words are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    words: u8,
    prefix: [u64; FIRST_WORDS],
}

/// The keys of segments.
pub(crate) fn keys(segments: &[Segment]) -> Vec<Key> {
    segments
        .iter()
        .filter(|s| !s.is_empty())
        .map(|segment| {
            let mut prefix = [0; FIRST_WORDS];
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for (i, word) in segment.iter().take(FIRST_WORDS).enumerate() {
                std::hash::Hash::hash(word, &mut hasher);
                prefix[i] = std::hash::Hasher::finish(&hasher);
            }
            Key {
                words: u8::try_from(segment.len().min(FIRST_WORDS)).unwrap_or(1),
                prefix,
            }
        })
        .collect()
}

/// Whether any key of `a` and any of `b` begin with the same words.
pub(crate) fn keys_match(a: &[Key], b: &[Key]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            let n = usize::from(x.words.min(y.words));
            n > 0 && x.prefix[n - 1] == y.prefix[n - 1]
        })
    })
}

/// A program named by its file name.
fn program(word: &str) -> String {
    word.rsplit('/').next().unwrap_or(word).to_owned()
}

/// The words without leading `VAR=value` assignments and `exec`, `command`, `env`.
fn strip_prefix(words: &[String]) -> &[String] {
    let mut rest = words;
    while let Some((first, tail)) = rest.split_first() {
        let assignment = first
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && !name.starts_with('-'));
        if assignment || ["exec", "command", "env"].contains(&program(first).as_str()) {
            rest = tail;
        } else {
            break;
        }
    }
    rest
}

/// The script a shell wrapper runs: `sh -c SCRIPT`, `bash -lc SCRIPT`, `bash -c -l SCRIPT`,
/// `eval SCRIPT…`; `None` when `program` is not a shell running a script.
fn wrapped_script<'a>(program: &str, args: &'a [String]) -> Option<&'a str> {
    if program == "eval" {
        return args.first().map(String::as_str);
    }
    let shell = ["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"].contains(&program);
    if !shell {
        return None;
    }
    let mut saw_c = false;
    for arg in args {
        match arg.strip_prefix('-') {
            Some(flags) if !flags.starts_with('-') && !flags.is_empty() => {
                saw_c |= flags.contains('c');
            }
            Some(_) => {}
            None if saw_c => return Some(arg),
            None => return None,
        }
    }
    None
}

/// The segments of shell text: split at unquoted `;`, `&`, `|`, `&&`, `||`, new lines and
/// parentheses, each piece read as shell words (a piece that is not valid shell, such as an
/// unclosed quote, as words split at spaces).
fn script_segments(script: &str, depth: usize) -> Vec<Segment> {
    let mut out = Vec::new();
    for piece in split_script(script) {
        let words = shlex::split(&piece)
            .unwrap_or_else(|| piece.split_whitespace().map(str::to_owned).collect());
        out.extend(argv_segments(&words, depth));
    }
    out
}

/// Shell text cut at unquoted separators.
fn split_script(script: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for ch in script.chars() {
        if escaped {
            escaped = false;
            current.push(ch);
            continue;
        }
        match (quote, ch) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"'), '\\') | (None, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(ch),
            (None, ';' | '&' | '|' | '\n' | '(' | ')' | '{' | '}') => {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    pieces.push(current);
    pieces.retain(|p| !p.trim().is_empty());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_api_shape_names_its_command() {
        let script = |s: &str| Some(Command::Script(s.to_owned()));
        assert_eq!(
            tool_command(&json!({"command": "curl -s x"})),
            script("curl -s x")
        );
        assert_eq!(tool_command(&json!({"cmd": "ls"})), script("ls"));
        assert_eq!(
            tool_command(&json!("{\"command\":\"git status\"}")),
            script("git status")
        );
        assert_eq!(
            tool_command(&json!({"command": ["bash", "-lc", "curl x"], "timeout_ms": 1})),
            Some(Command::Argv(words(&["bash", "-lc", "curl x"])))
        );
        assert_eq!(tool_command(&json!({"path": "a.txt"})), None);
        assert_eq!(tool_command(&json!({"command": ""})), None);
    }

    #[test]
    fn wrappers_quotes_and_separators_are_undone() {
        let tool = Command::Argv(words(&["bash", "-lc", "cd /w && curl -s 'http://h/a b'"]));
        assert_eq!(
            tool.segments(),
            [words(&["cd", "/w"]), words(&["curl", "-s", "http://h/a b"])]
        );
        let process = words(&["/usr/bin/curl", "-s", "http://h/a b"]);
        assert!(segments_match(
            &argv_segments(&process, 0),
            &tool.segments()
        ));
        let claude = words(&[
            "/bin/bash",
            "-c",
            "-l",
            "shopt -u extglob; eval 'curl -s http://h/x' < /dev/null && pwd -P",
        ]);
        assert!(argv_segments(&claude, 0).contains(&words(&["curl", "-s", "http://h/x"])));
        let env = words(&["env", "A=1", "exec", "python3", "-c", "pass"]);
        assert_eq!(argv_segments(&env, 0), [words(&["python3", "-c", "pass"])]);
    }

    #[test]
    fn different_commands_do_not_match() {
        let tool = Command::Script("curl -s http://h/one".into());
        let other = words(&["curl", "-s", "http://h/two"]);
        assert!(!segments_match(&argv_segments(&other, 0), &tool.segments()));
        let node = words(&["node", "/opt/agent/cli.js"]);
        assert!(!segments_match(&argv_segments(&node, 0), &tool.segments()));
    }
}
