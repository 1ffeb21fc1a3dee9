//! Reading a bid or a results bundle: a tar archive compressed with Zstandard whose first entry
//! is its JSON manifest, and every other entry a plain file at a clean relative path (the
//! manifest lists each with its BLAKE3 digest and size). Both are small (a spec, its data, the
//! numbers of a study), so they are read whole, within a size limit that follows the archive's
//! own size ([`crate::study::bundle::default_max_size`]), and checked entry by entry against the
//! manifest before anything uses them. Writing goes through `study::bundle::write_archive`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::failure::Failure;
use crate::study::bundle::{BundledFile, default_max_size, walk_entries};

/// An archive read and checked: its manifest and every other entry's bytes, by path.
pub struct Archive<M> {
    pub manifest: M,
    pub entries: BTreeMap<String, Vec<u8>>,
}

/// A manifest that lists the archive's other entries.
pub trait Listing {
    fn listed(&self) -> &[BundledFile];
}

/// A refusal of `archive`: bad input.
pub fn refuse(archive: &Path, what: impl std::fmt::Display) -> Failure {
    Failure::bad_input(format!("{}: {what}", archive.display()))
}

/// Reads `archive` (first entry `manifest_name`), refusing an entry that is not a plain file,
/// whose path is not clean and relative, that is not listed or listed with another digest or
/// size, a listed entry that is absent, and more than the size limit in all.
pub fn read<M: DeserializeOwned + Listing>(
    archive: &Path,
    manifest_name: &str,
) -> Result<Archive<M>, Failure> {
    let compressed = std::fs::metadata(archive)
        .map_err(|err| Failure::bad_input(format!("cannot read {}: {err}", archive.display())))?
        .len();
    read_within(archive, manifest_name, default_max_size(compressed, None), MAX_ENTRIES)
}

/// The most entries an archive may have: a bid or its results are a few files and one blob
/// per result, and each entry costs memory and a header to read however small it is.
const MAX_ENTRIES: usize = 100_000;

/// The bytes of one tar header: counted toward the size limit, so that many empty entries
/// cannot unpack to far more than their sizes say.
const HEADER_BYTES: u64 = 512;

fn read_within<M: DeserializeOwned + Listing>(
    archive: &Path,
    manifest_name: &str,
    limit: u64,
    max_entries: usize,
) -> Result<Archive<M>, Failure> {
    let mut manifest: Option<M> = None;
    let mut read: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut count: usize = 0;
    let clean = |raw: &str| super::path_rules::clean_relative(raw).map(|()| raw.to_owned());
    walk_entries(archive, &|what| refuse(archive, what), &clean, |path, size, entry| {
        count += 1;
        if count > max_entries {
            return Err(refuse(archive, format!("it has more than {max_entries} entries")));
        }
        total = total.saturating_add(size).saturating_add(HEADER_BYTES);
        if total > limit {
            return Err(refuse(archive, format!("it unpacks to more than {limit} bytes")));
        }
        let mut bytes = Vec::new();
        entry.take(size).read_to_end(&mut bytes).map_err(|err| refuse(archive, err))?;
        if manifest.is_none() {
            if path != manifest_name {
                return Err(refuse(
                    archive,
                    format!("its first entry is `{path}`, not {manifest_name}"),
                ));
            }
            manifest =
                Some(serde_json::from_slice(&bytes).map_err(|err| {
                    refuse(archive, format!("its manifest is unreadable: {err}"))
                })?);
            return Ok(());
        }
        if read.insert(path.clone(), bytes).is_some() {
            return Err(refuse(archive, format!("`{path}` is in it twice")));
        }
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| refuse(archive, "it is empty"))?;
    let listed: BTreeMap<&str, &BundledFile> =
        manifest.listed().iter().map(|f| (f.path.as_str(), f)).collect();
    for (path, bytes) in &read {
        let Some(file) = listed.get(path.as_str()) else {
            return Err(refuse(archive, format!("`{path}` is not in its manifest")));
        };
        let digest = blake3::hash(bytes).to_hex().to_string();
        if file.digest != digest || file.size != bytes.len() as u64 {
            return Err(refuse(
                archive,
                format!(
                    "`{path}` was changed: its bytes hash to {digest}, its manifest says {}",
                    file.digest
                ),
            )
            .with_hint("ask the sender for the archive as it was written"));
        }
    }
    if let Some(missing) = listed.keys().find(|path| !read.contains_key(**path)) {
        return Err(refuse(archive, format!("`{missing}` is in its manifest but not in it")));
    }
    Ok(Archive { manifest, entries: read })
}

/// The listing of `contents`: each entry's path, BLAKE3 digest and size.
pub fn listing(contents: &[(String, Vec<u8>)]) -> Vec<BundledFile> {
    contents
        .iter()
        .map(|(path, bytes)| BundledFile {
            path: path.clone(),
            digest: blake3::hash(bytes).to_hex().to_string(),
            size: bytes.len() as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{HEADER_BYTES, read_within};
    use crate::study::bundle::BundledFile;

    #[derive(serde::Deserialize)]
    struct Empty {
        files: Vec<BundledFile>,
    }

    impl super::Listing for Empty {
        fn listed(&self) -> &[BundledFile] {
            &self.files
        }
    }

    /// An archive of a manifest listing nothing, and `empties` empty entries.
    fn archive_of(empties: usize) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let encoder = zstd::Encoder::new(file.reopen().unwrap(), 3).unwrap();
        let mut tar = tar::Builder::new(encoder);
        let mut append = |path: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_path(path).unwrap();
            header.set_cksum();
            tar.append(&header, bytes).unwrap();
        };
        append("manifest.json", br#"{"files": []}"#);
        for i in 0..empties {
            append(&format!("e{i}"), b"");
        }
        tar.into_inner().unwrap().finish().unwrap();
        file
    }

    #[test]
    fn many_empty_entries_are_refused_by_their_count_and_their_headers_size() {
        let many = archive_of(20);
        let said = read_within::<Empty>(many.path(), "manifest.json", u64::MAX, 10)
            .err()
            .unwrap()
            .to_string();
        assert!(said.contains("more than 10 entries"), "{said}");
        // Twenty empty entries are no bytes by their sizes, twenty headers by what is read.
        let said = read_within::<Empty>(many.path(), "manifest.json", 10 * HEADER_BYTES, 1000)
            .err()
            .unwrap()
            .to_string();
        assert!(said.contains("it unpacks to more than"), "{said}");
        // Under both limits, they are read (and refused only as unlisted).
        let said = read_within::<Empty>(many.path(), "manifest.json", 100 * HEADER_BYTES, 1000)
            .err()
            .unwrap()
            .to_string();
        assert!(said.contains("is not in its manifest"), "{said}");
    }
}
