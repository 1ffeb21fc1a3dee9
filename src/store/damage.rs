//! [`Damage`]: what is wrong with a store entry (a record whose seal or numbers do not hold, an
//! output blob missing or not the bytes its digest names), and setting it aside: a damaged file
//! is moved to `damaged/` in the store, never deleted, so it can be looked at, and never served.

use std::path::{Path, PathBuf};

use devspec_protocol::store_layout;

/// Which part of an entry is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamagedPart {
    /// The manifest itself (`actions/…/KEY.json`).
    Record,
    /// One of its outputs' blobs.
    Output { name: String, digest: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The step key whose entry it is.
    pub key: String,
    pub part: DamagedPart,
    /// What was found: `its seal does not match its content`, `its bytes hash to …`.
    pub detail: String,
}

impl Damage {
    pub fn record(key: &str, detail: impl Into<String>) -> Damage {
        Damage { key: key.to_owned(), part: DamagedPart::Record, detail: detail.into() }
    }

    pub fn output(key: &str, name: &str, digest: &str, detail: impl Into<String>) -> Damage {
        Damage {
            key: key.to_owned(),
            part: DamagedPart::Output { name: name.to_owned(), digest: digest.to_owned() },
            detail: detail.into(),
        }
    }

    /// What is damaged, said of an instance: `the record of llc[seed=1]@16`, `the result of
    /// llc[seed=1]@16`, `checkpoint@8 of run[seed=0]`.
    pub fn what(&self, instance: &str) -> String {
        match &self.part {
            DamagedPart::Record => format!("the record of {instance}"),
            DamagedPart::Output { name, .. } if name == "result" => {
                format!("the result of {instance}")
            }
            DamagedPart::Output { name, .. } => format!("{name} of {instance}"),
        }
    }
}

/// Moves a damaged file into `damaged/` under the store (at its place in the store, with a
/// unique suffix); where the file already went, nothing happens. Returns where it went.
pub fn set_aside(store: &Path, path: &Path) -> std::io::Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let relative = path
        .strip_prefix(store)
        .unwrap_or_else(|_| Path::new(path.file_name().unwrap_or_default()));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut name = relative.as_os_str().to_owned();
    name.push(format!(".{stamp}.{}", std::process::id()));
    // Where it was, under `damaged/`: `damaged/blobs/ab/DIGEST.STAMP.PID`.
    let target = store.join("damaged").join(name);
    match store_layout::with_parent(&target, || std::fs::rename(path, &target)) {
        Ok(()) => Ok(Some(target)),
        // Another reader set it aside first.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
