//! Why a report could not be drawn, by cause: the drawing library refused a figure, the PNG
//! encoder failed, the data lack what a figure needs, or the report's folder could not be
//! written (the machine's fault, not the report's).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    #[error("cannot draw the figure: {0}")]
    Figure(String),
    #[error("cannot encode the figure as PNG: {0}")]
    Png(#[from] png::EncodingError),
    /// The report's data lack what a figure needs.
    #[error("{0}")]
    Data(String),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot encode the report's manifest: {0}")]
    Manifest(#[from] serde_json::Error),
}
