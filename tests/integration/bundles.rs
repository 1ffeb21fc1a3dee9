//! `devspec import` against bundles crafted here, entry by entry (no study needs to run): the
//! default size limit follows the bundle and the free disk, an entry's declared size is checked
//! against the manifest before a byte of it is decompressed, `study/` may hold neither a
//! `devspec.toml` nor a store, and a size mismatch names both sizes.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use super::binaries::devspec_exe;

const SPEC: &str = "test a { value = 1 }\n";

/// One entry: its path, its bytes, and the size its header claims (its length when `None`: a
/// larger claim stands for an entry whose data is never read).
struct Entry {
    path: String,
    bytes: Vec<u8>,
    claimed: Option<u64>,
}

fn entry(path: &str, bytes: &[u8]) -> Entry {
    Entry { path: path.to_owned(), bytes: bytes.to_vec(), claimed: None }
}

/// A bundle of `entries` whose manifest lists `listed` (path, size) with each entry's real
/// digest (or a made-up one for an entry not there).
fn bundle(path: &Path, entries: &[Entry], listed: &[(&str, u64)]) {
    let files: Vec<serde_json::Value> = listed
        .iter()
        .map(|(name, size)| {
            let digest = entries
                .iter()
                .find(|e| e.path == *name)
                .map_or_else(|| "0".repeat(64), |e| blake3::hash(&e.bytes).to_hex().to_string());
            serde_json::json!({ "path": name, "digest": digest, "size": size })
        })
        .collect();
    let manifest = serde_json::json!({
        "format": 1,
        "study": "study",
        "spec": "study.dev",
        "files": files,
        "left_out": [],
        "settings": { "threads_per_step": 1, "device": "cpu" },
        "exported_by": { "devspec": "0", "commit": "" },
        "provenance": [],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let encoder = zstd::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    let mut archive = tar::Builder::new(encoder);
    let mut append = |name: &str, bytes: &[u8], claimed: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(claimed);
        header.set_mode(0o644);
        header.set_cksum();
        // The builder writes the header as given and only the bytes there are: a larger claim
        // is an entry whose data the archive does not hold.
        archive.append(&header, bytes).unwrap();
    };
    append("devspec-bundle.json", &manifest, manifest.len() as u64);
    for e in entries {
        append(&e.path, &e.bytes, e.claimed.unwrap_or(e.bytes.len() as u64));
    }
    archive.into_inner().unwrap().finish().unwrap();
}

fn import(bundle: &Path, into: &Path, extra: &[&str]) -> Output {
    std::process::Command::new(devspec_exe())
        .arg("import")
        .arg(bundle)
        .arg(into)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a refusal: exit 2, the message, nothing written.
fn refused(out: &Output, into: &Path, expected: &str) {
    assert_eq!(out.status.code(), Some(2), "{expected}: {}", stderr(out));
    assert!(stderr(out).contains(expected), "{expected}: {}", stderr(out));
    assert!(stderr(out).contains("nothing was written"), "{}", stderr(out));
    assert!(!into.exists(), "{expected}: {} was written", into.display());
}

struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new() -> Folder {
        Folder { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn a_crafted_good_bundle_imports_so_the_refusals_below_are_for_their_reason() {
    let folder = Folder::new();
    let path = folder.path("good.tar.zst");
    bundle(&path, &[entry("study/study.dev", SPEC.as_bytes())], &[("study/study.dev", 21)]);
    let out = import(&path, &folder.path("into"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(folder.path("into/study.dev")).unwrap(), SPEC);
}

#[test]
fn by_default_a_small_bundle_may_not_unpack_to_gigabytes() {
    // Issue 19, finding 8: 103 KB of bundle unpacked to 2 GiB of zeros under the default
    // limit. Its manifest says so, and the default limit (relative to the bundle) refuses it
    // before anything is decompressed.
    let folder = Folder::new();
    let path = folder.path("bomb.tar.zst");
    let zeros = Entry { path: "study/zeros.bin".into(), bytes: Vec::new(), claimed: Some(2 << 30) };
    bundle(
        &path,
        &[entry("study/study.dev", SPEC.as_bytes()), zeros],
        &[("study/study.dev", 21), ("study/zeros.bin", 2 << 30)],
    );
    let into = folder.path("into");
    let started = Instant::now();
    let out = import(&path, &into, &[]);
    refused(&out, &into, "over the limit of");
    assert!(stderr(&out).contains("--max-size"), "the hint says how to override: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn an_entry_larger_than_listed_is_refused_from_its_header_before_it_is_read() {
    // Issue 19, finding 8: a 17 GB entry listed as 5 bytes was refused only after all of it was
    // decompressed and hashed (11.5 s). Its header's claim is enough.
    let folder = Folder::new();
    let path = folder.path("liar.tar.zst");
    let huge = Entry {
        path: "study/data.bin".into(),
        bytes: vec![0; 1 << 20],
        claimed: Some(17_000_000_000),
    };
    bundle(
        &path,
        &[entry("study/study.dev", SPEC.as_bytes()), huge],
        &[("study/study.dev", 21), ("study/data.bin", 5)],
    );
    let into = folder.path("into");
    let started = Instant::now();
    let out = import(&path, &into, &["--max-size", "100G"]);
    refused(&out, &into, "`study/data.bin` is 17000000000 bytes, the manifest says 5 bytes");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_size_mismatch_names_both_sizes() {
    // Issue 19, finding 8: it read "hash to X, the manifest says X", the same digest twice.
    let folder = Folder::new();
    let path = folder.path("size.tar.zst");
    bundle(&path, &[entry("study/study.dev", SPEC.as_bytes())], &[("study/study.dev", 20)]);
    let into = folder.path("into");
    refused(&import(&path, &into, &[]), &into, "is 21 bytes, the manifest says 20 bytes");
}

#[test]
fn study_may_hold_neither_a_devspec_toml_nor_a_store() {
    // Issue 19, finding 8: `study/.devspec/...` got past the rule that results are under
    // `store/`, and a bundled `study/devspec.toml` was silently replaced yet counted.
    let key = "ab".to_owned() + &"0".repeat(62);
    let cases = [
        ("study/devspec.toml".to_owned(), "is a `devspec.toml`, which import writes itself"),
        (
            format!("study/.devspec/actions/ab/{key}.json"),
            "is inside the study's store; a bundle's results are under `store/`",
        ),
    ];
    let folder = Folder::new();
    for (index, (name, expected)) in cases.iter().enumerate() {
        let path = folder.path(&format!("case{index}.tar.zst"));
        bundle(
            &path,
            &[entry("study/study.dev", SPEC.as_bytes()), entry(name, b"[run]\n")],
            &[("study/study.dev", 21), (name, 6)],
        );
        let into = folder.path("into");
        refused(&import(&path, &into, &[]), &into, expected);
    }
}
