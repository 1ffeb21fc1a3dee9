//! [`Lock`]: a spec's lock file (`FILE.lock`, TOML, beside the spec, meant to be committed):
//! what a complete run produced, per step instance: its key, output digests, parameters,
//! headline results, the environment part of its key and which devspec computed it.
//!
//! It holds nothing that changes between two computations of one key (no times, no host), and
//! its instances are in plan order, so an unchanged study's lock is the same bytes after any
//! rerun, even one that recomputed everything; a changed step changes only its own entries and
//! its dependents'.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use devspec_protocol::StepKind;
use devspec_protocol::results;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::Detection;
use crate::exec::{Results, RunOptions, environment_of};
use crate::failure::Failure;
use crate::plan::Plan;
use crate::store::{Manifest, Store};

/// Bumped when the lock's shape changes.
pub const LOCK_FORMAT: u32 = 1;

/// The parts of a key's environment that describe the machine: where they match, a result is
/// reproduced bit for bit; where not, only statistically.
pub const MACHINE_PARTS: &[&str] =
    &["libtorch", "device", "cpu_capability", "threads_per_step", "mkl"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub format: u32,
    /// The spec's file name (the lock sits beside it).
    pub spec: String,
    /// The values its open parameters were bound to (`--bind`); none for a spec without
    /// parameters, whose lock reads as before they existed.
    #[serde(rename = "binding", default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<LockedBinding>,
    #[serde(rename = "instance", default)]
    pub instances: Vec<LockedInstance>,
}

/// One bound parameter: its name, declared type, the text bound, and for `file`/`files` every
/// file it matched with its BLAKE3 digest, so a verify can tell the same files from others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedBinding {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub value: String,
    #[serde(rename = "file", default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LockedFile>,
}

/// A file a binding matched: its path relative to the project's folder (as it is, absolute,
/// when outside it) and its content's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFile {
    pub path: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedInstance {
    /// Its display name: `run[seed=0]`, `llc[seed=0]@1200`.
    pub name: String,
    pub step: String,
    /// Written as its name (`train`).
    pub kind: StepKind,
    pub key: String,
    /// Its resolved parameters, as `.dev` text.
    pub params: BTreeMap<String, String>,
    /// Output name (`result`, `checkpoint@1200`) to blob digest.
    pub outputs: BTreeMap<String, String>,
    pub results: Headline,
    /// The environment part of its key: libtorch, device kind, CPU kernels, threads per step.
    pub environment: BTreeMap<String, String>,
    pub produced_by: ProducedBy,
}

/// A lock's fields before its entries, as [`Lock`] serializes them.
#[derive(Serialize)]
struct LockHead<'a> {
    format: u32,
    spec: &'a str,
    #[serde(rename = "binding", skip_serializing_if = "<[_]>::is_empty")]
    bindings: &'a [LockedBinding],
}

/// One entry, as [`Lock`] serializes each of its entries.
#[derive(Serialize)]
struct OneEntry<'a> {
    instance: &'a [LockedInstance],
}

/// The numbers researchers compare: a run's final losses, an estimate's LLC with its standard
/// error (or an observable's numbers), a detection's boundaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llc_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llc_se: Option<f64>,
    /// A detection's boundaries: `228-675 plateau`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<Vec<String>>,
    /// Another observable's numbers (accuracy, induction score), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, f64>,
}

/// Which devspec computed a result (from its manifest's provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedBy {
    pub devspec: String,
    /// Empty when devspec was built outside a git checkout.
    pub commit: String,
}

/// One machine part that differs between a lock and this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineDifference {
    pub part: String,
    pub locked: String,
    pub here: String,
    /// How many locked instances it concerns.
    pub instances: usize,
}

/// Why no lock could be built from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Incomplete {
    /// Instances without a result, in plan order.
    pub missing: Vec<String>,
}

/// The project folder a spec belongs to (where `devspec.toml` is, else the spec's folder): bound
/// files are recorded relative to it.
fn options_root(spec: &Path) -> PathBuf {
    let absolute = spec.canonicalize().unwrap_or_else(|_| spec.to_path_buf());
    let folder = absolute.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    crate::project_config::ProjectConfig::discover(&folder)
        .ok()
        .flatten()
        .map_or(folder, |config| config.root)
}

/// The plan's bindings as the lock records them, each bound file digested by the store's own
/// file digests (the ones its keys hold).
pub fn locked_bindings(
    bound: &[crate::compile::BoundParam],
    files: &crate::store::FileDigests,
    root: &Path,
) -> Vec<LockedBinding> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    bound
        .iter()
        .map(|binding| LockedBinding {
            name: binding.name.clone(),
            ty: binding.ty.to_string(),
            value: binding.text.clone(),
            files: binding
                .files
                .iter()
                .map(|path| LockedFile {
                    path: relative_to(path, &root),
                    digest: files.digest(path),
                })
                .collect(),
        })
        .collect()
}

/// `path` relative to `root` when inside it, else as it is.
pub fn relative_to(path: &Path, root: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    absolute.strip_prefix(root).unwrap_or(&absolute).to_string_lossy().into_owned()
}

/// Where a spec's lock file is: `FILE.lock` beside `FILE`.
pub fn lock_path(spec: &Path) -> PathBuf {
    let mut name = spec.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    spec.with_file_name(name)
}

impl Lock {
    /// The lock of a plan whose every instance has its record in `results` (what a run ended
    /// with, or what the store holds).
    pub fn complete(
        plan: &Plan,
        results: &Results,
        store: &Store,
        options: &RunOptions,
        spec: &Path,
    ) -> Result<Lock, Incomplete> {
        let (lock, missing) = Lock::of_results(plan, results, store, options, spec);
        if missing.is_empty() { Ok(lock) } else { Err(Incomplete { missing }) }
    }

    /// The lock of the instances of a plan that have their record in `results`, and the names
    /// of those that do not (a study in progress: what `devspec diff` compares for a spec).
    pub fn of_results(
        plan: &Plan,
        results: &Results,
        store: &Store,
        options: &RunOptions,
        spec: &Path,
    ) -> (Lock, Vec<String>) {
        let missing = results.missing(plan);
        let environment = options.key_environment();
        // Each entry on its own (its parameters' text, a detection's result read): in parallel.
        let instances = plan
            .order
            .par_iter()
            .filter_map(|&node| {
                let instance = &plan.graph[node];
                let manifest = results.get(node)?;
                Some(LockedInstance {
                    name: instance.display_name(),
                    step: instance.step_name.clone(),
                    kind: instance.kind,
                    key: manifest.key.clone(),
                    params: instance
                        .params
                        .iter()
                        .map(|(name, value)| (name.clone(), value.to_string()))
                        .collect(),
                    outputs: manifest.outputs.clone(),
                    results: headline(instance.kind, manifest, store),
                    environment: environment_of(instance, &environment).into_owned(),
                    produced_by: ProducedBy {
                        devspec: manifest.provenance.devspec_version.clone(),
                        commit: manifest.provenance.devspec_commit.clone(),
                    },
                })
            })
            .collect();
        let spec_name = spec.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let bindings = locked_bindings(&plan.bound, &options.files, &options_root(spec));
        (Lock { format: LOCK_FORMAT, spec: spec_name, bindings, instances }, missing)
    }

    /// The lock's text: a comment saying what it is, then TOML. Its entries are serialized
    /// each on its own, in parallel, and joined as the whole document's serialization joins them
    /// (the tests hold the two to the same bytes): a no-op rerun writes nothing, but compares.
    pub fn to_text(&self) -> String {
        let body = if self.instances.is_empty() {
            toml::to_string(self).expect("locks serialize")
        } else {
            let head = toml::to_string(&LockHead {
                format: self.format,
                spec: &self.spec,
                bindings: &self.bindings,
            })
            .expect("locks serialize");
            let entries: Vec<String> = self
                .instances
                .par_iter()
                .map(|instance| {
                    let one = OneEntry { instance: std::slice::from_ref(instance) };
                    toml::to_string(&one).expect("locks serialize")
                })
                .collect();
            format!("{head}\n{}", entries.join("\n"))
        };
        format!(
            "# devspec lock file: what a complete `devspec run {}` produced, step instance by \
             instance.\n# Written by devspec; commit it with the spec. `devspec verify` recomputes \
             it, `devspec diff` compares two.\n\n{body}",
            self.spec
        )
    }

    /// Reads a lock file; a missing, unreadable or malformed one is bad input, with its place.
    pub fn read(path: &Path) -> Result<Lock, Failure> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Failure::bad_input(format!("cannot read the lock file {}: {err}", path.display()))
                .with_hint(
                    "a complete `devspec run FILE` writes FILE.lock; run the study first, or \
                     name an existing lock",
                )
        })?;
        let lock: Lock = toml::from_str(&text).map_err(|err| {
            let at = err.span().map_or_else(String::new, |span| {
                format!(":{}", text[..span.start].matches('\n').count() + 1)
            });
            Failure::bad_input(format!("{}{at}: {}", path.display(), err.message().trim()))
                .with_hint("the lock is written by `devspec run`; rerun the study to rewrite it")
        })?;
        if lock.format != LOCK_FORMAT {
            return Err(Failure::bad_input(format!(
                "{}: lock format {} is not the one this devspec reads ({LOCK_FORMAT})",
                path.display(),
                lock.format
            ))
            .with_hint("rerun the study with this devspec to rewrite its lock"));
        }
        Ok(lock)
    }

    /// Writes the lock atomically, unless the file already holds these bytes; whether it
    /// changed the file.
    pub fn write(&self, path: &Path) -> Result<bool, Failure> {
        let text = self.to_text();
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let unwritable = |err: std::io::Error| {
            Failure::environment(format!("cannot write the lock file {}: {err}", path.display()))
        };
        let mut file = super::shareable_temp_file(folder).map_err(unwritable)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(unwritable)?;
        file.as_file().sync_all().map_err(unwritable)?;
        file.persist(path).map_err(|err| unwritable(err.error))?;
        Ok(true)
    }

    pub fn instance(&self, name: &str) -> Option<&LockedInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// The machine parts of the locked keys that differ from this machine's: each part once,
    /// with how many instances it concerns.
    pub fn machine_differences(&self, plan: &Plan, options: &RunOptions) -> Vec<MachineDifference> {
        let environment = options.key_environment();
        let mut differences: Vec<MachineDifference> = Vec::new();
        // By name once: looking each instance up in the list would cost a no-op run of 10,000
        // instances a tenth of its time.
        let locked: std::collections::HashMap<&str, &LockedInstance> =
            self.instances.iter().map(|i| (i.name.as_str(), i)).collect();
        for instance in plan.instances() {
            let Some(locked) = locked.get(instance.display_name().as_str()) else { continue };
            let here = environment_of(instance, &environment);
            for part in MACHINE_PARTS {
                let (a, b) = (locked.environment.get(*part), here.get(*part));
                if a == b {
                    continue;
                }
                let (a, b) = (a.cloned().unwrap_or_default(), b.cloned().unwrap_or_default());
                match differences.iter_mut().find(|d| d.part == *part && d.locked == a) {
                    Some(difference) => difference.instances += 1,
                    None => differences.push(MachineDifference {
                        part: (*part).to_owned(),
                        locked: a,
                        here: b,
                        instances: 1,
                    }),
                }
            }
        }
        differences
    }
}

/// The headline numbers of a result, from its metrics (and a detection's result), as a lock
/// records them.
pub fn headline(kind: StepKind, manifest: &Manifest, store: &Store) -> Headline {
    let number = |name: &str| manifest.metrics.get(name).and_then(serde_json::Value::as_f64);
    let mut headline = Headline::default();
    match kind {
        StepKind::Train => {
            headline.final_train_loss = number("final_train_loss");
            headline.final_test_loss = number("final_test_loss");
        }
        StepKind::Estimate if number("llc_mean").is_some() => {
            headline.llc_mean = number("llc_mean");
            headline.llc_se = number("llc_se");
        }
        StepKind::Estimate => {
            headline.numbers = manifest
                .metrics
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_f64()?)))
                .collect();
        }
        StepKind::Detect => {
            let result = manifest
                .outputs
                .get("result")
                .and_then(|digest| store.read_blob(digest).ok())
                .and_then(|bytes| results::decode::<Detection>(&bytes).ok());
            headline.boundaries = result.as_ref().map(Detection::boundary_texts);
        }
        // Their numbers are their inputs': nothing of their own to compare.
        StepKind::Checkpoint | StepKind::Report | StepKind::Test => {}
    }
    headline
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use devspec_protocol::StepKind;

    use super::{Headline, Lock, LockedBinding, LockedFile, LockedInstance, ProducedBy};

    fn entry(name: &str, kind: StepKind, results: Headline) -> LockedInstance {
        LockedInstance {
            name: name.to_owned(),
            step: name.split('[').next().unwrap_or(name).to_owned(),
            kind,
            key: "ab".repeat(32),
            params: BTreeMap::from([
                ("seed".to_owned(), "1".to_owned()),
                ("model".to_owned(), "dln.model(widths = [2, 2])".to_owned()),
                ("note".to_owned(), "a \"quoted\" line\nand ü".to_owned()),
            ]),
            outputs: BTreeMap::from([
                ("checkpoint@8".to_owned(), "cd".repeat(32)),
                ("result".to_owned(), "ef".repeat(32)),
            ]),
            results,
            environment: BTreeMap::from([("device".to_owned(), "cpu".to_owned())]),
            produced_by: ProducedBy { devspec: "0.1.0".into(), commit: String::new() },
        }
    }

    #[test]
    fn a_lock_written_entry_by_entry_is_the_whole_documents_bytes() {
        let llc = Headline { llc_mean: Some(1.25), llc_se: Some(0.01), ..Headline::default() };
        let detection = Headline {
            boundaries: Some(vec!["228-675 plateau".into(), "1000-1200 rise".into()]),
            ..Headline::default()
        };
        let numbers = Headline {
            numbers: BTreeMap::from([("accuracy".to_owned(), 0.5), ("score".to_owned(), -1e-9)]),
            ..Headline::default()
        };
        let mut bare = entry("report", StepKind::Report, Headline::default());
        bare.params.clear();
        bare.outputs.clear();
        bare.environment.clear();
        let instances = [
            entry(
                "run[seed=1]",
                StepKind::Train,
                Headline { final_train_loss: Some(0.1), ..Headline::default() },
            ),
            entry("llc[seed=1]@8", StepKind::Estimate, llc),
            entry("acc[seed=1]@8", StepKind::Estimate, numbers),
            entry("detect[seed=1]", StepKind::Detect, detection),
            bare,
        ];
        let bindings = vec![
            LockedBinding {
                name: "checkpoints".into(),
                ty: "files".into(),
                value: "runs/*.safetensors".into(),
                files: vec![
                    LockedFile { path: "runs/a_1.safetensors".into(), digest: "12".repeat(32) },
                    LockedFile { path: "runs/a_2.safetensors".into(), digest: "34".repeat(32) },
                ],
            },
            LockedBinding {
                name: "width".into(),
                ty: "integer".into(),
                value: "8".into(),
                files: Vec::new(),
            },
        ];
        for count in [0, 1, 2, 3, instances.len()] {
            let lock = Lock {
                format: super::LOCK_FORMAT,
                spec: "study.dev".into(),
                bindings: if count % 2 == 1 { bindings.clone() } else { Vec::new() },
                instances: instances[..count].to_vec(),
            };
            let whole = toml::to_string(&lock).unwrap();
            let text = lock.to_text();
            assert!(text.ends_with(&whole), "{count} entries:\n{text}\n---\n{whole}");
            assert_eq!(toml::from_str::<Lock>(&whole).unwrap(), lock);
        }
    }
}
