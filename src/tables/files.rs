//! A table written out: as a Parquet file (written whole or not at all) or as an Arrow IPC
//! stream in memory (what the Python module hands to pyarrow).

use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::failure::Failure;

/// Writes `batch` to `path` as Parquet (Snappy-compressed), through a temporary file beside it
/// renamed into place, so a reader never sees half a file and a failed write leaves the old one.
pub fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<(), Failure> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let cannot = |err: &dyn std::fmt::Display| {
        Failure::environment(format!("cannot write {}: {err}", path.display()))
            .with_hint("check that the folder exists and is writable, and that the disk has room")
    };
    let file = tempfile::NamedTempFile::new_in(folder).map_err(|e| cannot(&e))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file.as_file(), batch.schema(), Some(properties))
        .map_err(|e| cannot(&e))?;
    writer.write(batch).map_err(|e| cannot(&e))?;
    writer.close().map_err(|e| cannot(&e))?;
    file.as_file().sync_all().map_err(|e| cannot(&e))?;
    file.persist(path).map_err(|e| cannot(&e.error))?;
    Ok(())
}

/// `batch` as the bytes of an Arrow IPC stream.
pub fn ipc_stream(batch: &RecordBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())
        .expect("an in-memory stream takes any schema");
    writer.write(batch).expect("an in-memory stream takes any batch of its schema");
    writer.finish().expect("an in-memory stream finishes");
    drop(writer);
    bytes
}
