//! `devspec lsp`: a Language Server Protocol server for `.dev` files over stdio, built on
//! `lsp-server` (the protocol's transport and message types, as in rust-analyzer) and
//! `lsp-types`. [`Server`] owns the open documents and answers every request from their
//! current text; what it says comes from the stages' own results: the checker's diagnostics
//! ([`analysis`]), the registry's docs, the formatter.
//!
//! Nothing here may panic or stall on half-typed text: requests read the text lexically where
//! a parse would fail, and a handler that panics anyway answers with an error instead of
//! taking the server down.

mod analysis;
mod capabilities;
mod completion;
mod cursor_context;
mod diagnostics_worker;
mod document;
mod editor_diagnostics;
mod formatting;
mod hover;
mod lexical;
mod line_index;
mod names;
mod navigation;
mod quick_fix;
mod registry_docs;
mod semantic_tokens;
mod server;

pub use server::{DEBOUNCE, Server};

/// Serves one editor over stdin and stdout until it says `exit` or closes the stream.
pub fn serve_stdio() -> Result<(), String> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    Server::serve(&connection)?;
    // The reader thread ends when stdin does; the writer when the connection is dropped.
    drop(connection);
    io_threads.join().map_err(|err| format!("the editor's connection failed: {err}"))
}

#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod tests;
