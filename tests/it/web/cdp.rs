//! A small Chrome DevTools Protocol client for the browser tests: headless Chromium started
//! with a fresh profile, one page attached (flattened session), commands and their answers
//! over a WebSocket, and the page's network requests, exceptions and console errors recorded
//! from its events (<https://chromedevtools.github.io/devtools-protocol/>).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::chromium::CHROMIUM_FLAGS;
use tokio_tungstenite::tungstenite::Message;

/// How long a command or a wait may take before the test fails (a hang guard, not a timing
/// assertion).
const GUARD: Duration = Duration::from_secs(30);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Headless Chromium with one page.
pub struct Browser {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    send: mpsc::UnboundedSender<String>,
    pending: Pending,
    next: u64,
    session: String,
    /// Every URL the page requested (`Network.requestWillBeSent`).
    pub requests: Arc<Mutex<Vec<String>>>,
    /// Exceptions thrown and errors logged in the page (CSP violations included).
    pub errors: Arc<Mutex<Vec<String>>>,
}

impl Browser {
    pub async fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = tokio::process::Command::new(chromium)
            .args(CHROMIUM_FLAGS)
            .args(["--window-size=1200,760", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(GUARD, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium ended without a DevTools URL");
        })
        .await
        .expect("chromium printed its DevTools URL");
        // Keep draining stderr so that chromium never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("DevTools WebSocket");
        let (mut sink, mut stream) = socket.split();
        let (send, mut outgoing) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = outgoing.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let (p, r, e) = (pending.clone(), requests.clone(), errors.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Ok(text) = message.into_text() else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                dispatch(value, &p, &r, &e);
            }
        });
        let mut browser = Browser {
            _child: child,
            _profile: profile,
            send,
            pending,
            next: 0,
            session: String::new(),
            requests,
            errors,
        };
        browser.attach().await;
        browser
    }

    async fn attach(&mut self) {
        let targets = self.call("Target.getTargets", json!({})).await;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .expect("a page target")["targetId"]
            .clone();
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": page, "flatten": true}),
            )
            .await;
        self.session = attached["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        for domain in [
            "Page.enable",
            "Network.enable",
            "Runtime.enable",
            "Log.enable",
        ] {
            self.call(domain, json!({})).await;
        }
    }

    /// Sends a command (to the page once attached) and returns its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        self.send
            .send(message.to_string())
            .expect("DevTools socket open");
        let answer = tokio::time::timeout(GUARD, rx)
            .await
            .unwrap_or_else(|_| panic!("{method} answered within the hang guard"))
            .expect("answer");
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Lets the page save downloads into `dir` (a browser-wide setting, sent outside the
    /// page's session).
    pub async fn allow_downloads(&mut self, dir: &Path) {
        let session = std::mem::take(&mut self.session);
        self.call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir, "eventsEnabled": true}),
        )
        .await;
        self.session = session;
    }

    /// Forgets the requests and errors seen so far (before a page of another origin).
    pub fn forget(&self) {
        self.requests.lock().expect("requests").clear();
        self.errors.lock().expect("errors").clear();
    }

    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for(
            "document.readyState === 'complete' && document.getElementById('main') !== null",
            url,
        )
        .await;
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy; fails naming `what` after the hang guard.
    pub async fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let value = self
                .eval(&format!(
                    "(() => {{ try {{ return {expression}; }} catch (_) {{ return null; }} }})()"
                ))
                .await;
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let text = self.eval("document.body.innerText.slice(0, 2000)").await;
                let errors = self.errors.lock().expect("errors").clone();
                panic!("waited for {what}: {expression}; page errors: {errors:?}; text: {text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the page's viewport.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("data"))
            .expect("base64 PNG");
        std::fs::create_dir_all(path.parent().expect("folder")).expect("screenshot folder");
        std::fs::write(path, png).expect("screenshot written");
    }
}

fn dispatch(
    value: Value,
    pending: &Pending,
    requests: &Mutex<Vec<String>>,
    errors: &Mutex<Vec<String>>,
) {
    if let Some(id) = value["id"].as_u64() {
        if let Some(tx) = pending.lock().expect("pending").remove(&id) {
            let _ = tx.send(value);
        }
        return;
    }
    let params = &value["params"];
    match value["method"].as_str() {
        Some("Network.requestWillBeSent") => {
            if let Some(url) = params["request"]["url"].as_str() {
                requests.lock().expect("requests").push(url.to_owned());
            }
        }
        Some("Runtime.exceptionThrown") => {
            errors
                .lock()
                .expect("errors")
                .push(params["exceptionDetails"].to_string());
        }
        Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
            errors
                .lock()
                .expect("errors")
                .push(params["entry"]["text"].to_string());
        }
        Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
            errors
                .lock()
                .expect("errors")
                .push(params["args"].to_string());
        }
        _ => {}
    }
}
