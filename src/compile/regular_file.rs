//! What a path a spec names turns out to be, when it is not a plain file: a folder, a FIFO, a
//! device, a socket. Reading one of those as if it were a file never ends (`/dev/zero` has no
//! end, a FIFO blocks until someone writes to it), so specs, imports and the data files steps
//! read are refused before anything opens them. [`read_spec`] reads a spec or an import this
//! way, and at most one byte past the size limit, which is enough to refuse a larger one.

use std::io::Read as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;

use crate::syntax::input_limits::MAX_FILE_BYTES;

/// What the path is, in the user's words, when it is not a regular file (links followed).
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a folder")
    } else if kind.is_fifo() {
        Some("a FIFO (a named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// A spec's bytes: an error (kind `InvalidInput`, saying what it is) for anything but a regular
/// file, and at most [`MAX_FILE_BYTES`] + 1 bytes of a larger one, so the limit can refuse it
/// without reading it all.
pub fn read_spec(path: &Path) -> std::io::Result<Vec<u8>> {
    let not_a_file = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it is {what}, not a file"))
    };
    if let Some(what) = special_kind(&std::fs::metadata(path)?) {
        return Err(not_a_file(what));
    }
    let file = std::fs::File::open(path)?;
    // Checked again on what was opened, in case the path changed in between.
    if let Some(what) = special_kind(&file.metadata()?) {
        return Err(not_a_file(what));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_folders_are_named_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let kind = |path: &Path| special_kind(&std::fs::metadata(path).unwrap());
        assert_eq!(kind(&fifo), Some("a FIFO (a named pipe)"));
        assert_eq!(kind(Path::new("/dev/zero")), Some("a character device"));
        assert_eq!(kind(dir.path()), Some("a folder"));
        // Reading returns at once instead of blocking on the FIFO or reading /dev/zero forever.
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let err = read_spec(path).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        }
        let file = dir.path().join("a.dev");
        std::fs::write(&file, vec![b'#'; MAX_FILE_BYTES + 10]).unwrap();
        assert_eq!(kind(&file), None);
        assert_eq!(read_spec(&file).unwrap().len(), MAX_FILE_BYTES + 1);
    }
}
