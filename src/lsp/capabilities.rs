//! What the server tells the editor it can do: exactly the requests [`super::Server`] answers.

use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, ServerCapabilities,
    TextDocumentSyncCapability, TextDocumentSyncKind,
};

pub fn server_capabilities() -> ServerCapabilities {
    ServerCapabilities {
        // The whole text on every change: documents are small, and the checker reads it all.
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}
