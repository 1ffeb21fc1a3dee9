//! The commitment a results bundle carries: every checkpoint the run used, each by the BLAKE3
//! digest of its bytes, and one root digest over them, so the owner commits to which checkpoints
//! produced the results without sending them. The root is the BLAKE3 of the UTF-8 text made of
//! one line per checkpoint, `INSTANCE\tOUTPUT\tDIGEST\n` (the instance's display name, its output
//! name, the checkpoint's digest in lowercase hex), lines sorted by instance then output
//! (`docs/bids.md` says the same, for anyone checking it without devspec).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommittedCheckpoint {
    /// The instance that holds it: `ckpts@200`, `run[seed=0]`.
    pub instance: String,
    /// Its output: `result` for an imported checkpoint, `checkpoint@200` for a trained one.
    pub output: String,
    /// The BLAKE3 digest of its bytes.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    pub checkpoints: Vec<CommittedCheckpoint>,
    pub root: String,
}

impl Commitment {
    pub fn new(mut checkpoints: Vec<CommittedCheckpoint>) -> Self {
        checkpoints.sort();
        checkpoints.dedup();
        let root = root_of(&checkpoints);
        Commitment { checkpoints, root }
    }

    /// Whether the root is the one its checkpoints give (sorted as [`Commitment::new`] sorts),
    /// over lines that read back one way only (no field holds a tab or a newline).
    pub fn holds(&self) -> bool {
        let mut sorted = self.checkpoints.clone();
        sorted.sort();
        self.ambiguous().is_none() && sorted == self.checkpoints && root_of(&sorted) == self.root
    }

    /// A field holding a tab or a newline: the root's text would not say where it ends, so two
    /// different commitments could share a root. `bid results` refuses to write one.
    pub fn ambiguous(&self) -> Option<&str> {
        self.checkpoints
            .iter()
            .flat_map(|c| [&c.instance, &c.output, &c.digest])
            .find(|field| field.contains(['\t', '\n']))
            .map(String::as_str)
    }

    pub fn digest_of(&self, instance: &str, output: &str) -> Option<&str> {
        self.checkpoints
            .iter()
            .find(|c| c.instance == instance && c.output == output)
            .map(|c| c.digest.as_str())
    }
}

/// The root over `checkpoints`, in the order given.
fn root_of(checkpoints: &[CommittedCheckpoint]) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for c in checkpoints {
        let _ = writeln!(text, "{}\t{}\t{}", c.instance, c.output, c.digest);
    }
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(instance: &str, digest: &str) -> CommittedCheckpoint {
        CommittedCheckpoint {
            instance: instance.into(),
            output: "result".into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn the_root_is_over_sorted_lines_and_catches_a_changed_digest() {
        let a = Commitment::new(vec![checkpoint("c@2", "bb"), checkpoint("c@1", "aa")]);
        let b = Commitment::new(vec![checkpoint("c@1", "aa"), checkpoint("c@2", "bb")]);
        assert_eq!(a, b, "the order given does not matter");
        assert!(a.holds());
        let expected = blake3::hash(b"c@1\tresult\taa\nc@2\tresult\tbb\n").to_hex().to_string();
        assert_eq!(a.root, expected, "the documented text, hashed");
        let mut changed = a.clone();
        changed.checkpoints[1].digest = "cc".into();
        assert!(!changed.holds());
    }

    #[test]
    fn a_field_with_a_tab_or_a_newline_is_ambiguous_and_never_holds() {
        // `a\tresult\tx\nb` as one instance writes the same text as two checkpoints would.
        let forged = Commitment::new(vec![checkpoint("a\tresult\tx\nb", "bb")]);
        let two = Commitment::new(vec![checkpoint("a", "x"), checkpoint("b", "bb")]);
        assert_eq!(forged.ambiguous(), Some("a\tresult\tx\nb"));
        assert!(!forged.holds());
        assert!(two.ambiguous().is_none() && two.holds());
    }
}
