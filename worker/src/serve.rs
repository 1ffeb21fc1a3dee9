//! The pool mode: one request per line on stdin, replies as lines on stdout, until stdin closes.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use crate::dispatch;

pub fn run() -> ExitCode {
    let stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    for line in stdin.lines() {
        let Ok(line) = line else {
            // stdin broke (parent gone): nobody is left to answer.
            return ExitCode::SUCCESS;
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut send = |reply: &devspec_protocol::Reply| {
            let text = serde_json::to_string(reply).expect("replies always serialize");
            // A failed write means the parent stopped listening; the loop ends on its own when
            // stdin closes too.
            let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
        };
        dispatch::handle_line(&line, &mut send);
    }
    ExitCode::SUCCESS
}
