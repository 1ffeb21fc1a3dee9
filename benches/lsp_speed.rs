//! How fast `devspec lsp` answers on a generated study of 1,000 steps (4,503 lines):
//! diagnostics published after an edit (the debounce included: the time from the edit's
//! notification to its diagnostics, as an editor sees it; target 100 ms) and completion (target
//! 50 ms). The server runs in-process over `lsp-server`'s in-memory connection, so the figures
//! are the server's own, without a pipe. Run with `make bench`; prints the minimum, median and
//! maximum of 30 of each.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

/// 250 groups of train, estimate, detect and report steps, written out in full.
fn generated_spec(groups: usize) -> String {
    let mut spec = String::from("# Generated for the lsp-speed benchmark.\nimport std.tms\n\n");
    for g in 0..groups {
        let _ = write!(
            spec,
            r#"train run_{g} {{
  model       = tms.model(features = 6, hidden = 2, init_scale = 0.1)
  data        = tms.data(features = 6, sparsity = 0.95, samples = 4096)
  optimizer   = sgd(lr = 0.1)
  batch_size  = 1024
  steps       = 20_000
  seed        = sweep(0..4)
  checkpoints = logspace(1, 20_000, 60)
}}

estimate llc_{g} on run_{g} {{
  observable = llc(sampler = sgld(lr = 1e-3, localization = 100), nbeta = auto, chains = 4, draws = 200, burnin = 100)
}}

detect stages_{g} on llc_{g} {{ method = critical_points(smoothing = 0.1) }}

report summary_{g} on llc_{g}, stages_{g} {{ title = "group {g}" }}

"#
        );
    }
    spec
}

const URI: &str = "file:///bench/large.dev";

fn main() {
    let (server_end, client) = Connection::memory();
    let server = std::thread::spawn(move || devspec::lsp::Server::serve(&server_end));
    let request = |id: i32, method: &str, params: Value| {
        client
            .sender
            .send(Message::Request(Request::new(RequestId::from(id), method.into(), params)))
            .unwrap();
        loop {
            match client.receiver.recv().unwrap() {
                Message::Response(response) if response.id == RequestId::from(id) => {
                    return response.result.expect("a result");
                }
                Message::Response(_) | Message::Notification(_) | Message::Request(_) => {}
            }
        }
    };
    let notify = |method: &str, params: Value| {
        client
            .sender
            .send(Message::Notification(Notification::new(method.into(), params)))
            .unwrap();
    };
    request(1, "initialize", json!({ "processId": null, "capabilities": {} }));
    notify("initialized", json!({}));

    let text = generated_spec(250);
    let lines = text.lines().count();
    notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": URI, "languageId": "devspec", "version": 1, "text": text } }),
    );
    let wait_for_version = |version: i32| loop {
        if let Message::Notification(n) = client.receiver.recv().unwrap()
            && n.method == "textDocument/publishDiagnostics"
            && n.params["version"] == version
        {
            return n.params["diagnostics"].as_array().map_or(0, Vec::len);
        }
    };
    assert_eq!(wait_for_version(1), 0, "the generated spec must check clean");

    // An edit: one step's `steps` changed (alternating, so every text differs from the last).
    let mut edits = Vec::new();
    for version in 2..32 {
        let edited = text.replacen(
            "steps       = 20_000",
            &format!("steps       = {}", 20_000 + version),
            1,
        );
        let sent = Instant::now();
        notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [{ "text": edited }] }),
        );
        assert_eq!(wait_for_version(version), 0);
        edits.push(sent.elapsed());
    }
    report(
        &format!("diagnostics after an edit, 1000 steps ({lines} lines), debounce included"),
        edits,
    );

    // Completion in the middle of the file: a field name, and a value of a field's type.
    let middle = lines / 2;
    let mut completions = Vec::new();
    for (n, character) in (0..30).zip([2, 16].into_iter().cycle()) {
        let position = json!({ "line": middle, "character": character });
        let sent = Instant::now();
        let items = request(
            100 + n,
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": position }),
        );
        completions.push(sent.elapsed());
        assert!(items.is_array());
    }
    report("completion, 1000 steps", completions);

    // Completion while the document is being checked: the edit, the debounce, then the
    // request at once, as when typing goes on after a pause.
    let mut during = Vec::new();
    for n in 0..30 {
        let version = 100 + n;
        let edited = text.replacen("batch_size  = 1024", &format!("batch_size  = {}", 1000 + n), 1);
        notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [{ "text": edited }] }),
        );
        std::thread::sleep(devspec::lsp::DEBOUNCE + Duration::from_millis(5));
        let position = json!({ "line": middle, "character": 2 });
        let sent = Instant::now();
        request(
            200 + n,
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": position }),
        );
        during.push(sent.elapsed());
        wait_for_version(version);
    }
    report("completion during a check, 1000 steps", during);

    request(1000, "shutdown", Value::Null);
    notify("exit", Value::Null);
    server.join().unwrap().unwrap();
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "devspec lsp, {what}: min {:.1} ms, median {:.1} ms, max {:.1} ms ({} runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
