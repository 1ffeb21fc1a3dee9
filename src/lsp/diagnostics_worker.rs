//! [`DiagnosticsWorker`]: checks documents on a thread of its own and publishes their
//! diagnostics, so a request that arrives while a large spec is being checked is answered at
//! once from the text, not after the check. Only the newest text of a document is checked:
//! a job queued behind a newer one for the same document is dropped.

use std::collections::{BTreeSet, HashMap};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use lsp_server::{Message, Notification};
use lsp_types::notification::{Notification as _, PublishDiagnostics};
use lsp_types::{PublishDiagnosticsParams, Uri};

use super::analysis::Analysis;
use super::document::Document;
use super::editor_diagnostics;
use super::server::guarded;

pub enum Job {
    /// Check this text of a document and publish what the checker says.
    Check(Document),
    /// The document was closed: clear what was published for it.
    Close(Uri),
}

impl Job {
    fn key(&self) -> &str {
        match self {
            Job::Check(document) => document.uri.as_str(),
            Job::Close(uri) => uri.as_str(),
        }
    }
}

pub struct DiagnosticsWorker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl DiagnosticsWorker {
    /// Starts the thread; it publishes through `out`, the connection's sender.
    pub fn start(out: Sender<Message>) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("devspec-lsp-check".into())
            .spawn(move || work(&queue, &out))
            .ok();
        DiagnosticsWorker { jobs: thread.is_some().then_some(jobs), thread }
    }

    pub fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when this sender is dropped, so the send cannot fail
            // unless it panicked outside a guarded check; then there is nobody to tell.
            let _ = jobs.send(job);
        }
    }

    /// Waits for the jobs already sent, then ends the thread.
    pub fn stop(mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn work(queue: &Receiver<Job>, out: &Sender<Message>) {
    // For each document, the other files (its imports) it published diagnostics for.
    let mut elsewhere: HashMap<String, BTreeSet<String>> = HashMap::new();
    while let Ok(first) = queue.recv() {
        let mut latest: Vec<Job> = Vec::new();
        for job in std::iter::once(first).chain(queue.try_iter()) {
            latest.retain(|queued| queued.key() != job.key());
            latest.push(job);
        }
        for job in latest {
            match job {
                Job::Check(document) => publish(&document, &mut elsewhere, out),
                Job::Close(uri) => {
                    for other in elsewhere.remove(uri.as_str()).unwrap_or_default() {
                        if let Ok(other) = other.parse::<Uri>() {
                            send(out, other, Vec::new(), None);
                        }
                    }
                    send(out, uri, Vec::new(), None);
                }
            }
        }
    }
}

fn publish(
    document: &Document,
    elsewhere: &mut HashMap<String, BTreeSet<String>>,
    out: &Sender<Message>,
) {
    let Ok(analysis) = guarded(|| Analysis::of(document)) else { return };
    let key = document.uri.as_str();
    let files = editor_diagnostics::by_file(&analysis, &document.uri);
    let now: BTreeSet<String> = files.keys().filter(|file| *file != key).cloned().collect();
    let before = elsewhere.insert(key.to_owned(), now.clone()).unwrap_or_default();
    for (file, (uri, diagnostics)) in files {
        let version = (file == key).then_some(document.version);
        send(out, uri, diagnostics, version);
    }
    // Files that had diagnostics from this document and have none now are cleared.
    for gone in before.difference(&now) {
        if let Ok(uri) = gone.parse::<Uri>() {
            send(out, uri, Vec::new(), None);
        }
    }
}

fn send(
    out: &Sender<Message>,
    uri: Uri,
    diagnostics: Vec<lsp_types::Diagnostic>,
    version: Option<i32>,
) {
    let params = PublishDiagnosticsParams { uri, diagnostics, version };
    // A closed channel means the editor went away; the main loop ends on its own.
    let _ = out
        .send(Message::Notification(Notification::new(PublishDiagnostics::METHOD.into(), params)));
}
