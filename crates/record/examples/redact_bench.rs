//! Text redaction throughput on an LLM request body with nothing to redact (the common case):
//! `cargo run --release -p phonehome-record --example redact_bench`. Prints the time of one
//! `Redactor::text` pass over a 129 KiB JSON body of tool schemas and code.

use std::hint::black_box;
use std::time::Instant;

fn main() {
    // An LLM request body: JSON with prompt text, code, tool schemas.
    let mut body = String::from(
        r#"{"model":"claude-sonnet-4","max_tokens":8192,"stream":true,"metadata":{"user_id":"user_abc_account_x_session_1"},"tools":["#,
    );
    for i in 0..200 {
        body.push_str(&format!(r#"{{"name":"tool_{i}","description":"Reads a file at the given path and returns its content; key options: offset, limit","input_schema":{{"type":"object","properties":{{"path":{{"type":"string"}},"token_limit":{{"type":"number"}}}}}}}},"#));
    }
    body.push_str(r#"{}],"messages":["#);
    for i in 0..400 {
        body.push_str(&format!(r#"{{"role":"user","content":"fn main() {{ let x = {i}; let url = \"https://example.test/a?b=c&page={i}\"; println!(\"{{x}}\"); }}\n// a comment about the session and auth flow\nconst config = {{ retries: 3, timeout: 30 }};\n"}},"#));
    }
    body.push_str("{}]}");
    let r = phonehome_record::Redactor::new();
    let n = 20;
    let start = Instant::now();
    let mut changed = 0;
    for _ in 0..n {
        if let std::borrow::Cow::Owned(_) = r.text(black_box(&body)) {
            changed += 1;
        }
    }
    let per = start.elapsed() / n;
    println!(
        "body {} bytes, {:?} per text() pass, {:.0} MB/s, changed {changed}/{n}",
        body.len(),
        per,
        body.len() as f64 / per.as_secs_f64() / 1e6
    );
}
