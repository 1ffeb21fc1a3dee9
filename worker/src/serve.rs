//! The pool mode: one request per line on stdin, replies as lines on the reply channel (the
//! descriptor the worker was started with as stdout), until stdin closes. While a request runs,
//! the heartbeat thread says the worker is alive.

use std::io::{self, BufRead};
use std::process::ExitCode;
use std::time::Duration;

use crate::dispatch;
use crate::heartbeat::Heartbeat;
use crate::reply_channel::ReplyChannel;

pub fn run(channel: &ReplyChannel, interval: Duration) -> ExitCode {
    let heartbeat = Heartbeat::start(channel.clone(), interval);
    let stdin = io::stdin().lock();
    for line in stdin.lines() {
        let Ok(line) = line else {
            // stdin broke (parent gone): nobody is left to answer.
            return ExitCode::SUCCESS;
        };
        if line.trim().is_empty() {
            continue;
        }
        heartbeat.beat_for(dispatch::request_id(&line));
        dispatch::handle_line(&line, &mut |reply| {
            if reply.is_final() {
                heartbeat.stop();
            }
            channel.send(reply);
        });
    }
    ExitCode::SUCCESS
}
