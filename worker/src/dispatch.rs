//! Turns one request line into its replies: the single place that knows which request body is
//! served by which module.

use devspec_protocol::{
    PROTOCOL_VERSION, Reply, Request, RequestBody, WorkerError, WorkerErrorKind,
};

use crate::{autograd_probe, steps, version_report};

/// Handles one request line, passing every reply it causes to `send`, in order.
pub fn handle_line(line: &str, send: &mut dyn FnMut(&Reply)) {
    // The version first, from the envelope alone: another version's request need not parse as
    // this one's (its step parameters may have other fields), and is refused for its version.
    if let Ok(envelope) = serde_json::from_str::<Envelope>(line)
        && envelope.protocol != PROTOCOL_VERSION
    {
        return send(&failed(
            envelope.id,
            WorkerErrorKind::ProtocolMismatch,
            format!(
                "request uses protocol {}, this worker speaks {PROTOCOL_VERSION}; \
                 install devspec and devspec-worker from the same build",
                envelope.protocol
            ),
        ));
    }
    // A step kind or parameter this worker does not know, or a value of another type, makes the
    // request unreadable: serde's message names it.
    let request: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(err) => {
            return send(&failed(request_id(line), WorkerErrorKind::BadRequest, format!("{err}")));
        }
    };
    let id = request.id;
    let reply = match request.body {
        RequestBody::Ping => Reply::Pong { id },
        RequestBody::Version => Reply::Version { id, report: version_report::current() },
        RequestBody::AutogradProbe { x } => match autograd_probe::cube_sum(&x) {
            Ok((value, gradient)) => Reply::AutogradProbe { id, value, gradient },
            Err(err) => failed(id, WorkerErrorKind::StepFailed, err.to_string()),
        },
        RequestBody::Steps { members } => {
            steps::run(id, &members, send);
            Reply::StepsDone { id }
        }
    };
    send(&reply);
}

/// What every request carries, whatever its version.
#[derive(serde::Deserialize)]
struct Envelope {
    protocol: u32,
    id: u64,
}

/// The id a request line carries, read even from a request this worker cannot parse (another
/// version's, an unknown kind); 0 when it has none, so the reply says which request it was by
/// position.
pub fn request_id(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

fn failed(id: u64, kind: WorkerErrorKind, message: String) -> Reply {
    Reply::Failed { id, error: WorkerError { kind, message } }
}
