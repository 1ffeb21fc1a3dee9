//! [`Document`]: one open `.dev` file as the editor holds it (its text may differ from the
//! file on disk), with where it lives, so relative imports and `devspec.toml` are found as
//! `devspec check` finds them.

use std::fmt::Write as _;
use std::path::PathBuf;

use lsp_types::Uri;

#[derive(Clone)]
pub struct Document {
    pub uri: Uri,
    pub version: i32,
    pub text: String,
    /// The file on disk for a `file:` URI; `None` for an unsaved buffer.
    pub path: Option<PathBuf>,
}

impl Document {
    pub fn new(uri: Uri, version: i32, text: String) -> Self {
        let path = file_path(&uri);
        Document { uri, version, text, path }
    }
}

/// The path a `file:` URI names (percent-escapes decoded); `None` for other schemes.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///home/x` has an empty authority; `file://localhost/home/x` names this machine.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| rest.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            decoded.push(byte);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(decoded).ok()?))
}

/// The `file:` URI of a path (absolute), with the characters a URI cannot hold escaped.
pub fn file_uri(path: &std::path::Path) -> Option<Uri> {
    let mut text = String::from("file://");
    for byte in path.to_str()?.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            text.push(char::from(byte));
        } else {
            let _ = write!(text, "%{byte:02X}");
        }
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{file_path, file_uri};

    #[test]
    fn file_uris_round_trip() {
        let path = std::path::Path::new("/tmp/a b/ü.dev");
        let uri = file_uri(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20b/%C3%BC.dev");
        assert_eq!(file_path(&uri).unwrap(), path);
        assert_eq!(file_path(&"untitled:Untitled-1".parse().unwrap()), None);
    }
}
