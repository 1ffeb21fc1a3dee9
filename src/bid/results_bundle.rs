//! The answer to a bid (`results.tar.zst`): a tar archive compressed with Zstandard holding
//!
//! ```text
//! devspec-results.json   the manifest: every other entry's path, digest and size; the spec's
//!                        and the bid's digests; complete or partial (the instances missing,
//!                        and whether the budget stopped the run); the steps the owner
//!                        redacted; the outputs sent with fields left out (each with the
//!                        digest of the copy sent); the commitment to the checkpoints used
//! results/lock.toml      the results as a lock (`study::Lock`): each instance's key, output
//!                        digests, headline numbers, the machine part of its key and the devspec
//!                        that computed it; no host, no time, no path
//! results/blobs/DIGEST   each result's bytes (estimates, detections, observables' numbers, the
//!                        report's data), never a checkpoint's or an optimizer state's; for an
//!                        output sent with fields left out, the copy sent, named by its own
//!                        digest (the lock keeps the original's, which the keys chain through)
//! ```
//!
//! What goes in is scanned before it is written ([`Scan`]): an entry that is a checkpoint (by
//! digest), holds a stretch of any checkpoint's tensor bytes, or is a tensor file at all
//! (safetensors, a PyTorch zip) is refused, whatever put it there.

use serde::{Deserialize, Serialize};

use super::archive::Listing;
use super::commitment::Commitment;
use crate::study::bundle::{BundledFile, Exporter};

/// 2: outputs may be sent with fields left out (`redacted_outputs`). Format 1 bundles (none
/// such) are read too.
pub const RESULTS_FORMAT: u32 = 2;

/// The results formats `bid open` reads.
pub const RESULTS_FORMATS_READ: [u32; 2] = [1, RESULTS_FORMAT];
pub const RESULTS_MANIFEST: &str = "devspec-results.json";
pub const LOCK_ENTRY: &str = "results/lock.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsManifest {
    pub format: u32,
    pub study: String,
    /// The BLAKE3 of the spec the results answer (the bid's `spec_digest`).
    pub spec_digest: String,
    /// The BLAKE3 of the bid archive that was run.
    pub bid_digest: String,
    pub files: Vec<BundledFile>,
    /// Every instance of the plan has its results (redacted steps aside).
    pub complete: bool,
    pub stopped_at_budget: bool,
    /// Instances without results, in plan order.
    pub missing: Vec<String>,
    /// Steps whose results the owner left out (`--redact STEP`).
    pub redacted: Vec<String>,
    /// Outputs sent with fields left out (`--redact STEP.FIELD`), in lock order.
    #[serde(default)]
    pub redacted_outputs: Vec<RedactedOutput>,
    pub commitment: Commitment,
    pub exported_by: Exporter,
}

/// One output sent with fields left out: the lock names its original digest (the one keys
/// chain through, which the researcher cannot check bytes against); `sent` names the copy in
/// the bundle. A report's fields are its inputs' (`llc.traces`); another step's are its own
/// (`traces`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedOutput {
    pub instance: String,
    pub output: String,
    pub fields: Vec<String>,
    pub sent: String,
}

impl ResultsManifest {
    /// The digest of the bytes the bundle holds for `instance`'s `output`, whose lock digest is
    /// `digest`: the sent copy's, where fields were left out.
    pub fn sent_digest<'a>(&'a self, instance: &str, output: &str, digest: &'a str) -> &'a str {
        self.redacted_outputs
            .iter()
            .find(|r| r.instance == instance && r.output == output)
            .map_or(digest, |r| r.sent.as_str())
    }
}

impl Listing for ResultsManifest {
    fn listed(&self) -> &[BundledFile] {
        &self.files
    }
}

/// How many bytes of a checkpoint's tensor data make one sample the scan looks for in every
/// entry: long enough that no JSON text holds them by chance (eight float32 weights).
const SAMPLE_BYTES: usize = 32;

/// The most samples kept per checkpoint: the stride between samples grows with the checkpoint
/// so a large one costs at most this many.
const MAX_SAMPLES: usize = 1 << 20;

/// The most samples kept in all, shared by the checkpoints a scan is made for: about 40 bytes
/// each in the table, so at most about 160 MiB whatever the study (a study of 200 checkpoints of
/// 16 MiB kept 2^20 each before, some 10 GB).
const MAX_SAMPLES_IN_ALL: usize = 1 << 22;

/// The fewest samples a checkpoint keeps, however many share the budget.
const MIN_SAMPLES: usize = 1 << 10;

/// What must never leave the machine: the checkpoints' digests, and every stretch of their
/// tensor bytes of [`SAMPLE_BYTES`] starting at a multiple of the stride (16 bytes for a small
/// checkpoint; longer where its share of the samples is smaller than its length), so any copy
/// of `SAMPLE_BYTES` + stride bytes or more is found wherever it sits in an entry.
pub struct Scan {
    digests: std::collections::BTreeSet<String>,
    /// Each sample, and the index of the checkpoint it is from in `names`.
    samples: std::collections::HashMap<[u8; SAMPLE_BYTES], u32>,
    names: Vec<String>,
    /// The most samples one checkpoint keeps.
    per_checkpoint: usize,
    /// The owner's paths, which no entry may name.
    texts: Vec<String>,
}

impl Scan {
    /// A scan for `checkpoints` checkpoints sharing [`MAX_SAMPLES_IN_ALL`] samples.
    pub fn for_checkpoints(checkpoints: usize) -> Self {
        let per_checkpoint =
            (MAX_SAMPLES_IN_ALL / checkpoints.max(1)).clamp(MIN_SAMPLES, MAX_SAMPLES);
        Scan {
            digests: std::collections::BTreeSet::new(),
            samples: std::collections::HashMap::new(),
            names: Vec::new(),
            per_checkpoint,
            texts: Vec::new(),
        }
    }

    /// Adds a text no entry may hold (a path of the owner's).
    pub fn forbid_text(&mut self, text: &str) {
        if !text.is_empty() {
            self.texts.push(text.to_owned());
        }
    }

    /// Adds an output that must not leave but holds no tensors (an imported checkpoint's
    /// record): refused by its digest alone.
    pub fn forbid_digest(&mut self, digest: &str) {
        self.digests.insert(digest.to_owned());
    }

    /// Adds a checkpoint (or any model state) named `what`, with its bytes.
    pub fn forbid(&mut self, what: &str, digest: &str, bytes: &[u8]) {
        self.digests.insert(digest.to_owned());
        let data = tensor_data(bytes);
        let stride = (data.len() / self.per_checkpoint).max(16);
        let name = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(what.to_owned());
        for at in (0..data.len().saturating_sub(SAMPLE_BYTES - 1)).step_by(stride) {
            let sample: [u8; SAMPLE_BYTES] =
                data[at..at + SAMPLE_BYTES].try_into().expect("a sample's length");
            // Runs of one byte (zeros, padding) are in any file.
            if !sample.iter().all(|&b| b == sample[0]) {
                self.samples.entry(sample).or_insert(name);
            }
        }
    }

    /// Why `bytes` (entry `path`) must not go in, if so.
    pub fn refusal(&self, path: &str, bytes: &[u8]) -> Option<String> {
        let digest = blake3::hash(bytes).to_hex().to_string();
        if self.digests.contains(&digest) {
            return Some(format!("`{path}` is a checkpoint ({digest})"));
        }
        if is_tensor_file(bytes) {
            return Some(format!("`{path}` is a tensor file (safetensors or a PyTorch archive)"));
        }
        if let Some(text) =
            self.texts.iter().find(|text| bytes.windows(text.len()).any(|w| w == text.as_bytes()))
        {
            return Some(format!("`{path}` names the owner's path {text}"));
        }
        bytes.windows(SAMPLE_BYTES).find_map(|window| {
            let what = self.names.get(*self.samples.get(window)? as usize)?;
            Some(format!("`{path}` holds bytes of checkpoint {what}"))
        })
    }
}

/// A safetensors file's tensor bytes (after its header), or all of `bytes` for anything else.
fn tensor_data(bytes: &[u8]) -> &[u8] {
    safetensors_header_end(bytes).map_or(bytes, |end| &bytes[end..])
}

fn safetensors_header_end(bytes: &[u8]) -> Option<usize> {
    let length = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = usize::try_from(length).ok()?.checked_add(8)?;
    (end <= bytes.len() && bytes.get(8) == Some(&b'{')).then_some(end)
}

fn is_tensor_file(bytes: &[u8]) -> bool {
    safetensors_header_end(bytes).is_some() || bytes.starts_with(b"PK\x03\x04")
}

#[cfg(test)]
mod tests {
    use super::{RedactedOutput, ResultsManifest, Scan};

    #[test]
    fn a_format_1_manifest_reads_with_no_output_redacted_and_sent_digests_follow_the_list() {
        let manifest = ResultsManifest {
            format: super::RESULTS_FORMAT,
            study: "study".into(),
            spec_digest: "a".repeat(64),
            bid_digest: "b".repeat(64),
            files: Vec::new(),
            complete: true,
            stopped_at_budget: false,
            missing: Vec::new(),
            redacted: Vec::new(),
            redacted_outputs: vec![RedactedOutput {
                instance: "llc@10".into(),
                output: "result".into(),
                fields: vec!["traces".into()],
                sent: "c".repeat(64),
            }],
            commitment: super::Commitment::new(Vec::new()),
            exported_by: crate::study::bundle::Exporter {
                devspec: "0".into(),
                commit: String::new(),
            },
        };
        let original = "d".repeat(64);
        assert_eq!(manifest.sent_digest("llc@10", "result", &original), "c".repeat(64));
        assert_eq!(manifest.sent_digest("llc@100", "result", &original), original);
        let mut old = serde_json::to_value(&manifest).unwrap();
        old["format"] = 1.into();
        old.as_object_mut().unwrap().remove("redacted_outputs");
        let read: ResultsManifest = serde_json::from_value(old).unwrap();
        assert!(read.redacted_outputs.is_empty());
        assert!(super::RESULTS_FORMATS_READ.contains(&read.format));
    }

    fn safetensors(data: &[u8]) -> Vec<u8> {
        let header = br#"{"w":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn a_checkpoint_its_bytes_inside_another_file_and_any_tensor_file_are_refused() {
        let data: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37)).collect();
        let checkpoint = safetensors(&data);
        let digest = blake3::hash(&checkpoint).to_hex().to_string();
        let mut scan = Scan::for_checkpoints(1);
        scan.forbid("ckpts@10", &digest, &checkpoint);
        assert!(scan.refusal("results/blobs/x", &checkpoint).unwrap().contains("is a checkpoint"));
        let mut smuggled = b"{\"numbers\": [1, 2], \"raw\": \"".to_vec();
        smuggled.extend_from_slice(&data[10..50]);
        assert!(scan.refusal("results/blobs/y", &smuggled).unwrap().contains("ckpts@10"));
        let other = safetensors(&[7; 64]);
        assert!(scan.refusal("results/blobs/z", &other).unwrap().contains("tensor file"));
        assert_eq!(scan.refusal("results/lock.toml", b"{\"llc_mean\": 2.5}"), None);
        scan.forbid_text("/home/owner/runs");
        assert!(scan.refusal("results/lock.toml", b"files = \"/home/owner/runs/a\"").is_some());
    }

    #[test]
    fn checkpoints_share_one_budget_of_samples_and_a_long_copy_is_still_found() {
        // 64 checkpoints of 1 MiB of varied bytes: alone each would keep 65,536 samples (one
        // per 16 bytes), 4 Mi in all; sharing the budget of 4 Mi with 64 others, each keeps
        // 65,536 too. With 4,096 of them, each keeps the floor of 1,024 (stride 1 KiB).
        let checkpoint = |seed: u32| -> Vec<u8> {
            let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let data: Vec<u8> = (0..1 << 20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.to_le_bytes()[0]
                })
                .collect();
            safetensors(&data)
        };
        let mut many = Scan::for_checkpoints(4096);
        assert_eq!(many.per_checkpoint, super::MIN_SAMPLES);
        let bytes = checkpoint(7);
        many.forbid("ckpts@7", "d7", &bytes);
        assert!(many.samples.len() <= super::MIN_SAMPLES + 1, "{}", many.samples.len());
        // A copy longer than the stride plus a sample is found wherever it starts.
        let data = &bytes[bytes.len() - (1 << 20)..];
        let copy = &data[5_000..5_000 + 1024 + 32];
        assert!(many.refusal("results/blobs/x", copy).unwrap().contains("ckpts@7"));
        let few = Scan::for_checkpoints(64);
        assert_eq!(few.per_checkpoint, 1 << 16);
    }
}
