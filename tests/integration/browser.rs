//! Headless Chromium for the report test, driven over the `DevTools` protocol: open a file,
//! evaluate a script in it, take a screenshot, and collect what its console and log said. A
//! small client: one WebSocket to the browser, one page attached in flattened mode.
//!
//! Chromium comes from Debian's `chromium` package: when it is missing and the test runs as
//! root (as CI does), [`Browser::start`] installs it; elsewhere it returns why it cannot run.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Console errors, uncaught exceptions and log errors, as text.
    pub errors: Vec<String>,
    /// Every URL the page requested.
    pub requests: Vec<String>,
    _profile: tempfile::TempDir,
}

const DEADLINE: Duration = Duration::from_secs(60);

/// The Chromium binary, installing Debian's package when running as root; or why there is none.
fn chromium() -> Result<String, String> {
    let found = |name: &str| {
        Command::new("which")
            .arg(name)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(path) = found("chromium") {
        return Ok(path);
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return Err("Chromium is not installed and the test is not root, so it cannot install \
                    Debian's `chromium` package"
            .into());
    }
    let install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                   --no-install-recommends chromium >/dev/null";
    let status = Command::new("sh").args(["-c", install]).status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("installing Debian's `chromium` failed: {status}"));
    }
    found("chromium").ok_or_else(|| "`chromium` was installed but is not on PATH".into())
}

impl Browser {
    pub fn start() -> Result<Browser, String> {
        let binary = chromium()?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--remote-debugging-port=0", "--window-size=1400,2000"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromium: {e}"))?;
        // Chromium writes the port it chose and the browser's WebSocket path into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && text.lines().count() >= 2
            {
                break text;
            }
            if started.elapsed() > DEADLINE {
                return Err("chromium did not open its DevTools port within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut lines = text.lines();
        let port: u16 = lines.next().and_then(|p| p.trim().parse().ok()).ok_or("no port")?;
        let path = lines.next().ok_or("no browser path")?.trim().to_owned();
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(DEADLINE)).map_err(|e| e.to_string())?;
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (socket, _) = tungstenite::client(url.as_str(), stream)
            .map_err(|e| format!("cannot open the DevTools socket: {e}"))?;
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            requests: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", &json!({ "url": "about:blank" }))?;
        let target = target["targetId"].as_str().ok_or("no target id")?.to_owned();
        let attached = browser
            .call("Target.attachToTarget", &json!({ "targetId": target, "flatten": true }))?;
        attached["sessionId"].as_str().ok_or("no session")?.clone_into(&mut browser.session);
        for domain in ["Runtime", "Log", "Page", "Network"] {
            browser.call(&format!("{domain}.enable"), &json!({}))?;
        }
        Ok(browser)
    }

    /// Opens a file and waits for its load event.
    pub fn open(&mut self, file: &Path) -> Result<(), String> {
        let url = format!("file://{}", file.canonicalize().map_err(|e| e.to_string())?.display());
        self.call("Page.navigate", &json!({ "url": url }))?;
        self.wait_for("Page.loadEventFired")
    }

    /// The value of a script evaluated in the page (its result must be JSON-serializable).
    pub fn evaluate(&mut self, script: &str) -> Result<Value, String> {
        let reply = self.call(
            "Runtime.evaluate",
            &json!({ "expression": script, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(exception) = reply.get("exceptionDetails") {
            return Err(format!("the script threw: {exception}"));
        }
        Ok(reply["result"]["value"].clone())
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        let reply = self.call(
            "Page.captureScreenshot",
            &json!({ "format": "png", "captureBeyondViewport": true }),
        )?;
        let data = reply["data"].as_str().ok_or("no screenshot data")?;
        data_encoding::BASE64.decode(data.as_bytes()).map_err(|e| e.to_string())
    }

    fn call(&mut self, method: &str, params: &Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = self.session.clone().into();
        }
        self.socket.send(Message::text(message.to_string())).map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            let reply = self.receive()?;
            if reply["id"].as_u64() == Some(id) {
                if let Some(error) = reply.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(reply["result"].clone());
            }
            if started.elapsed() > DEADLINE {
                return Err(format!("{method}: no reply within 60 s"));
            }
        }
    }

    fn wait_for(&mut self, event: &str) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if self.receive()?["method"] == event {
                return Ok(());
            }
        }
        Err(format!("no {event} within 60 s"))
    }

    /// The next message, with events recorded on the way.
    fn receive(&mut self) -> Result<Value, String> {
        let message = self.socket.read().map_err(|e| format!("DevTools socket: {e}"))?;
        let Ok(text) = message.to_text() else { return Ok(Value::Null) };
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let params = &value["params"];
        match value["method"].as_str() {
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.errors.push(format!("console.error: {}", params["args"]));
            }
            Some("Runtime.exceptionThrown") => {
                self.errors.push(format!("exception: {}", params["exceptionDetails"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.errors.push(format!("log: {}", params["entry"]["text"]));
            }
            Some("Network.requestWillBeSent") => {
                self.requests.push(params["request"]["url"].as_str().unwrap_or("").to_owned());
            }
            _ => {}
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
