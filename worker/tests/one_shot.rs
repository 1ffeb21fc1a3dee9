//! The worker's batch-job mode and its handling of malformed input, through the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use devspec_protocol::PROTOCOL_VERSION;

const WORKER: &str = env!("CARGO_BIN_EXE_devspec-worker");

#[test]
fn one_shot_writes_the_reply_beside_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    let text =
        format!(r#"{{"protocol":{PROTOCOL_VERSION},"id":5,"type":"autograd_probe","x":[2.0]}}"#);
    std::fs::write(&request, text).unwrap();
    let status = Command::new(WORKER).arg("--one-shot").arg(&request).status().unwrap();
    assert!(status.success());
    let replies: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
            .unwrap();
    let reply = &replies[0];
    assert_eq!(replies.as_array().unwrap().len(), 1);
    assert_eq!(reply["type"], "autograd_probe");
    assert_eq!(reply["id"], 5);
    assert_eq!(reply["value"], 8.0);
    assert_eq!(reply["gradient"], serde_json::json!([12.0]));
    assert!(!dir.path().join("result.json.tmp").exists());
}

#[test]
fn one_shot_runs_a_group_and_keeps_every_members_replies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // The parameters as the planner sends them: every field the registry gives a default.
    let member = |value: i64| {
        let params = serde_json::json!({
            "value": value, "sleep_ms": 0, "tag": 0, "fail": false, "crash": false, "outputs": 1,
        });
        serde_json::json!({
            "kind": "test", "display_name": format!("t{value}"), "params": params,
            "inputs": [], "store": store, "threads": 1, "outputs": ["checkpoint@1", "result"],
        })
    };
    let request = serde_json::json!({
        "protocol": PROTOCOL_VERSION, "id": 4, "type": "steps", "members": [member(1), member(2)],
    });
    let path = dir.path().join("request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    let status = Command::new(WORKER).arg("--one-shot").arg(&path).status().unwrap();
    assert!(status.success());
    let replies: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
            .unwrap();
    let kinds: Vec<(&str, i64)> = replies
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["member"].as_i64().unwrap_or(-1)))
        .collect();
    // Both checkpoints are streamed before either member ends; the last reply ends the group.
    assert_eq!(
        kinds,
        [("output", 0), ("output", 1), ("step_done", 0), ("step_done", 1), ("steps_done", -1)]
    );
    let checkpoint = replies[0]["digest"].as_str().unwrap();
    assert_eq!(replies[2]["result"]["outputs"]["checkpoint@1"], checkpoint);
    assert!(store.join("blobs").join(&checkpoint[..2]).join(checkpoint).is_file());
}

#[test]
fn one_shot_failure_exits_1_with_the_reason_in_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    let result = dir.path().join("out.json");
    std::fs::write(&request, r#"{"protocol":99,"id":1,"type":"ping"}"#).unwrap();
    let status = Command::new(WORKER)
        .arg("--one-shot")
        .arg(&request)
        .arg("--result")
        .arg(&result)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&result).unwrap();
    assert!(text.contains("protocol_mismatch"), "{text}");
}

#[test]
fn malformed_lines_get_a_bad_request_reply_and_the_worker_goes_on() {
    let mut child =
        Command::new(WORKER).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "not json").unwrap();
    writeln!(stdin, r#"{{"protocol":{PROTOCOL_VERSION},"id":8,"type":"no_such_request"}}"#)
        .unwrap();
    writeln!(stdin, r#"{{"protocol":{PROTOCOL_VERSION},"id":9,"type":"ping"}}"#).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let replies: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[0]["error"]["kind"], "bad_request");
    assert_eq!(replies[1]["id"], 8, "the id is echoed even when the body is unknown");
    assert_eq!(replies[1]["error"]["kind"], "bad_request");
    assert_eq!(replies[2], serde_json::json!({"type": "pong", "id": 9}));
}
