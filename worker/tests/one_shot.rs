//! The worker's batch-job mode and its handling of malformed input, through the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

const WORKER: &str = env!("CARGO_BIN_EXE_devspec-worker");

#[test]
fn one_shot_writes_the_reply_beside_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    std::fs::write(&request, r#"{"protocol":1,"id":5,"type":"autograd_probe","x":[2.0]}"#).unwrap();
    let status = Command::new(WORKER).arg("--one-shot").arg(&request).status().unwrap();
    assert!(status.success());
    let reply: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
            .unwrap();
    assert_eq!(reply["type"], "autograd_probe");
    assert_eq!(reply["id"], 5);
    assert_eq!(reply["value"], 8.0);
    assert_eq!(reply["gradient"], serde_json::json!([12.0]));
    assert!(!dir.path().join("result.json.tmp").exists());
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
    writeln!(stdin, r#"{{"protocol":1,"id":8,"type":"no_such_request"}}"#).unwrap();
    writeln!(stdin, r#"{{"protocol":1,"id":9,"type":"ping"}}"#).unwrap();
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
