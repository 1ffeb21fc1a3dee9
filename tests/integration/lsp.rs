//! `devspec lsp` driven as an editor drives it: the binary started, JSON-RPC over its stdin
//! and stdout, every reply asserted on.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Long enough for a loaded machine; a healthy server answers in milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

/// An editor's end of the connection.
struct Editor {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    /// Notifications read while waiting for a response, oldest first.
    notifications: Vec<Value>,
}

impl Editor {
    fn start(folder: &Path) -> Editor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devspec"))
            .arg("lsp")
            .current_dir(folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("devspec lsp starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            while let Some(message) = read_message(&mut stdout) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        Editor { child, stdin, messages, next_id: 0, notifications: Vec::new() }
    }

    fn write(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        let mut message = json!({ "jsonrpc": "2.0", "method": method });
        message["params"] = params;
        self.write(&message);
    }

    /// Sends a request and returns its response (`result` or `error`), with how long it took.
    fn request_timed(&mut self, method: &str, params: Value) -> (Value, Duration) {
        self.next_id += 1;
        let id = self.next_id;
        let sent = Instant::now();
        let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        message["params"] = params;
        self.write(&message);
        loop {
            let message = self.receive();
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return (message, sent.elapsed());
            }
            self.notifications.push(message);
        }
    }

    /// The result of a request that must succeed.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let (response, _) = self.request_timed(method, params);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    fn receive(&mut self) -> Value {
        match self.messages.recv_timeout(PATIENCE) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("devspec lsp said nothing for {PATIENCE:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("devspec lsp closed its output"),
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics_for(&mut self, uri: &str) -> Value {
        if let Some(at) = self.notifications.iter().position(|n| is_diagnostics_for(n, uri)) {
            return self.notifications.remove(at)["params"].clone();
        }
        loop {
            let message = self.receive();
            if is_diagnostics_for(&message, uri) {
                return message["params"].clone();
            }
            self.notifications.push(message);
        }
    }

    fn initialize(&mut self, folder: &Path) -> Value {
        let root = format!("file://{}", folder.display());
        let result = self.request(
            "initialize",
            json!({ "processId": null, "rootUri": root, "capabilities": {} }),
        );
        self.notify("initialized", json!({}));
        result
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "devspec", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
    }

    /// `shutdown`, then `exit`: the server must answer null and end with status 0.
    fn shut_down(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "devspec lsp ended with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "devspec lsp did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_diagnostics_for(message: &Value, uri: &str) -> bool {
    message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri
}

/// One framed message (`Content-Length: N`, a blank line, N bytes of JSON).
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The UTF-16 position of the first `needle` in `text` (the protocol's columns).
fn position_of(text: &str, needle: &str) -> Value {
    let at = text.find(needle).expect("needle in text");
    let line_start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let line = text[..at].matches('\n').count();
    let character: usize = text[line_start..at].chars().map(char::len_utf16).sum();
    json!({ "line": line, "character": character })
}

const VALID: &str = "# Überblick: a λ-model 𝜆 (non-ASCII before the error)\n\
train run {\n  model = tms.model(features = 6, hidden = 2)\n  data = tms.data(features = 6, sparsity = 0.9, samples = 64)\n  optimizer = sgd(lr = 0.1)\n  batch_size = 32\n  steps = 100\n}\n";

#[test]
fn diagnostics_follow_edits_with_exact_positions_related_places_and_quick_fixes() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("study.dev");
    std::fs::write(&path, VALID).unwrap();
    let uri = file_uri(&path);
    let mut editor = Editor::start(folder.path());

    let init = editor.initialize(folder.path());
    assert_eq!(init["capabilities"]["textDocumentSync"], 1, "full sync: {init}");
    assert_eq!(init["capabilities"]["codeActionProvider"]["codeActionKinds"], json!(["quickfix"]));

    editor.open(&uri, VALID);
    let opened = editor.diagnostics_for(&uri);
    assert_eq!(opened["diagnostics"], json!([]), "{opened}");
    assert_eq!(opened["version"], 1);

    // A misspelt field after a line of non-ASCII text: its range is counted in UTF-16 units.
    let broken =
        VALID.replace("steps = 100", "stpes = 100").replace("# Überblick", "# Überblick 𝜆");
    editor.change(&uri, 2, &broken);
    let published = editor.diagnostics_for(&uri);
    assert_eq!(published["version"], 2);
    let diagnostics = published["diagnostics"].as_array().unwrap();
    let unknown = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("`stpes`"))
        .unwrap_or_else(|| panic!("no diagnostic about `stpes`: {published}"));
    let start = position_of(&broken, "stpes");
    assert_eq!(unknown["range"]["start"], start);
    assert_eq!(unknown["range"]["end"]["character"], start["character"].as_u64().unwrap() + 5);
    assert_eq!(unknown["severity"], 1);
    assert_eq!(unknown["source"], "devspec");
    assert!(
        unknown["message"].as_str().unwrap().ends_with("hint: did you mean `steps`?"),
        "{unknown}"
    );

    // The quick fix for that "did you mean" writes the suggestion over the misspelling.
    let actions = editor.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": unknown["range"],
            "context": { "diagnostics": [unknown] },
        }),
    );
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["title"], "Change to `steps`");
    assert_eq!(actions[0]["kind"], "quickfix");
    assert_eq!(actions[0]["diagnostics"][0]["range"], unknown["range"]);
    let edits = &actions[0]["edit"]["changes"][uri.as_str()];
    assert_eq!(edits, &json!([{ "range": unknown["range"], "newText": "steps" }]));

    // A second error with a related place: a step named twice.
    let twice = format!("{broken}train run {{ steps = 1 }}\n");
    editor.change(&uri, 3, &twice);
    let published = editor.diagnostics_for(&uri);
    let duplicate = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().starts_with("there are two steps named `run`"))
        .unwrap_or_else(|| panic!("no duplicate-step diagnostic: {published}"))
        .clone();
    let related = &duplicate["relatedInformation"][0];
    assert_eq!(related["message"], "first defined here");
    assert_eq!(related["location"]["uri"], uri);
    assert_eq!(related["location"]["range"]["start"], position_of(&twice, "run {"));

    // Fixed: the list is cleared.
    editor.change(&uri, 4, VALID);
    let fixed = editor.diagnostics_for(&uri);
    assert_eq!(fixed["diagnostics"], json!([]), "{fixed}");
    assert_eq!(fixed["version"], 4);

    // Closing clears the editor's list too.
    editor.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
    assert_eq!(editor.diagnostics_for(&uri)["diagnostics"], json!([]));

    // A method the server does not implement is refused, not ignored.
    let (refused, _) = editor.request_timed("textDocument/prepareCallHierarchy", json!({}));
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
    editor.shut_down();
}

#[test]
fn completion_and_hover_answer_over_stdio_even_on_broken_text() {
    let folder = tempfile::tempdir().unwrap();
    let uri = file_uri(&folder.path().join("study.dev"));
    let mut editor = Editor::start(folder.path());
    let init = editor.initialize(folder.path());
    assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
    assert!(init["capabilities"]["completionProvider"]["triggerCharacters"].is_array(), "{init}");
    // Half typed: the block is open and a value is missing.
    let text = "# é𝜆\ntrain run {\n  steps = 10\n  \n  optimizer = ";
    editor.open(&uri, text);
    assert!(!editor.diagnostics_for(&uri)["diagnostics"].as_array().unwrap().is_empty());

    let at = |line: u32, character: u32| json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
    let labels = |items: &Value| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let values = editor.request("textDocument/completion", at(4, 14));
    assert!(labels(&values).contains(&"sgd".to_owned()), "{values}");
    let kinds = editor.request("textDocument/completion", at(3, 2));
    assert!(
        labels(&kinds).contains(&"optimizer".to_owned()),
        "a field, inside the open block: {kinds}"
    );
    let top = editor.request("textDocument/completion", at(0, 3));
    assert_eq!(top, json!([]), "inside the comment");

    // Hover on `train`, after a line whose UTF-16 length differs from its bytes'.
    let hover = editor.request("textDocument/hover", at(1, 2));
    assert!(
        hover["contents"]["value"].as_str().unwrap().starts_with("**`train`** step"),
        "{hover}"
    );
    assert_eq!(
        hover["range"],
        json!({ "start": { "line": 1, "character": 0 }, "end": { "line": 1, "character": 5 } })
    );
    let nothing = editor.request("textDocument/hover", at(0, 3));
    assert_eq!(nothing, Value::Null);
    editor.shut_down();
}

#[test]
fn definition_references_rename_symbols_and_formatting_over_stdio() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("study.dev");
    let text = "# λ\nlet lr   = 0.1\ntrain run { optimizer = sgd(lr = lr) }\nestimate e on run { observable = loss() }\n";
    std::fs::write(&path, text).unwrap();
    let uri = file_uri(&path);
    let mut editor = Editor::start(folder.path());
    let init = editor.initialize(folder.path());
    for capability in [
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
    ] {
        assert_eq!(init["capabilities"][capability], true, "{capability}: {init}");
    }
    editor.open(&uri, text);
    let at = |needle: &str| json!({ "textDocument": { "uri": uri }, "position": position_of(text, needle) });
    let range_of = |needle: &str, len: u64| {
        let start = position_of(text, needle);
        let end = json!({ "line": start["line"], "character": start["character"].as_u64().unwrap() + len });
        json!({ "start": start, "end": end })
    };

    let definition = editor.request("textDocument/definition", at("run {"));
    assert_eq!(definition, json!({ "uri": uri, "range": range_of("run {", 3) }));
    let definition = editor.request("textDocument/definition", at("lr) }"));
    assert_eq!(definition, json!({ "uri": uri, "range": range_of("lr   =", 2) }));

    let mut references = at("run {");
    references["context"] = json!({ "includeDeclaration": true });
    let found = editor.request("textDocument/references", references);
    let expected = json!([
        { "uri": uri, "range": range_of("run {", 3) },
        { "uri": uri, "range": range_of("run { observable", 3) },
    ]);
    assert_eq!(found, expected);

    let mut rename = at("lr   =");
    rename["newName"] = json!("rate");
    let edit = editor.request("textDocument/rename", rename);
    assert_eq!(
        edit["changes"][uri.as_str()],
        json!([
            { "range": range_of("lr   =", 2), "newText": "rate" },
            { "range": range_of("lr) }", 2), "newText": "rate" },
        ])
    );
    let mut bad = at("lr   =");
    bad["newName"] = json!("2x");
    let (refused, _) = editor.request_timed("textDocument/rename", bad);
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    let symbols =
        editor.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    let names: Vec<&str> =
        symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lr", "run", "e"]);
    assert_eq!(symbols[1]["detail"], "train");

    let formatted = editor.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(formatted[0]["newText"], text.replace("lr   =", "lr ="));
    assert_eq!(formatted[0]["range"]["start"], json!({ "line": 0, "character": 0 }));

    // Highlighting: the legend, then the comment `# λ` (3 UTF-16 units) and `let` first.
    let legend = &init["capabilities"]["semanticTokensProvider"]["legend"]["tokenTypes"];
    let comment = legend.as_array().unwrap().iter().position(|t| t == "comment").unwrap();
    let keyword = legend.as_array().unwrap().iter().position(|t| t == "keyword").unwrap();
    let tokens = editor
        .request("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": uri } }));
    let data = tokens["data"].as_array().unwrap();
    assert_eq!(
        data[..10],
        [
            json!(0),
            json!(0),
            json!(3),
            json!(comment),
            json!(0),
            json!(1),
            json!(0),
            json!(3),
            json!(keyword),
            json!(0)
        ]
    );
    editor.shut_down();
}

/// Every line prefix of a spec typed into the binary: each completion and hover at the end of
/// the text answers within a second, and the whole spec's diagnostics are empty at the end.
#[test]
fn prefixes_over_stdio() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("specs/dln.dev");
    let text = std::fs::read_to_string(&path).unwrap();
    let uri = file_uri(&path);
    let mut editor = Editor::start(root);
    editor.initialize(root);
    editor.open(&uri, "");
    let mut version = 1;
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        end += line.len();
        let prefix = text[..end].trim_end_matches('\n');
        version += 1;
        editor.change(&uri, version, prefix);
        let last_line = u32::try_from(prefix.matches('\n').count()).unwrap();
        let column = prefix.rsplit('\n').next().unwrap().encode_utf16().count();
        let position = json!({ "line": last_line, "character": column });
        let at = json!({ "textDocument": { "uri": uri }, "position": position });
        for method in ["textDocument/completion", "textDocument/hover"] {
            let (reply, took) = editor.request_timed(method, at.clone());
            assert!(reply.get("error").is_none(), "{method} failed on {prefix:?}: {reply}");
            assert!(took < Duration::from_secs(1), "{method} took {took:?} on {prefix:?}");
        }
    }
    version += 1;
    editor.change(&uri, version, &text);
    loop {
        let published = editor.diagnostics_for(&uri);
        if published["version"] == version {
            assert_eq!(published["diagnostics"], json!([]), "{published}");
            break;
        }
    }
    editor.shut_down();
}
