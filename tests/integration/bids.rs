//! Bids end to end (issue 26): a researcher's folder and an owner's folder, each a temporary
//! directory; the bid travels as `bid.tar.zst`, the answer as `results.tar.zst`. The round trip
//! draws the same report bytes on both sides; each refusal is tested: a bid that reads outside
//! its bindings, one that would write outside its folder, one over its budget (stopped, its
//! results marked partial), a results bundle that would carry checkpoint bytes (refused by the
//! export's own scan), and results whose numbers or commitment were changed (refused by `open`).

use std::path::{Path, PathBuf};
use std::process::Output;

use super::binaries::devspec_exe;

/// A study the owner runs: a small TMS trained, its LLC at three checkpoints, and a report.
fn trained_spec(steps: u64) -> String {
    format!(
        "train run {{\n  model = tms.model(features = 4, hidden = 2, init_scale = 0.1)\n  \
         data = tms.data(features = 4, sparsity = 0.9, samples = 512)\n  \
         optimizer = sgd(lr = 0.1)\n  batch_size = 128\n  steps = {steps}\n  seed = 0\n  \
         checkpoints = [10, 100, {steps}]\n}}\n\
         estimate llc on run {{\n  observable = llc(sampler = sgld(lr = 1e-3, localization = \
         100), chains = 2, draws = 40, burnin = 10)\n}}\n\
         report summary on run, llc {{ title = \"bid\" }}\n"
    )
}

fn devspec(cwd: &Path, args: &[&str]) -> Output {
    std::process::Command::new(devspec_exe()).current_dir(cwd).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    text(out)
}

#[track_caller]
fn refused(out: &Output, expected: &str) -> String {
    let all = text(out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains(expected), "expected {expected:?} in\n{all}");
    assert!(!all.contains("panicked"), "{all}");
    all
}

/// Both sides: `researcher/study.dev` exported to `bid.tar.zst`, and the owner's folder.
struct Exchange {
    _root: tempfile::TempDir,
    researcher: PathBuf,
    owner: PathBuf,
    bid: PathBuf,
}

impl Exchange {
    fn new(spec: &str) -> Exchange {
        let root = tempfile::tempdir().unwrap();
        let researcher = root.path().join("researcher");
        let owner = root.path().join("owner");
        std::fs::create_dir_all(&researcher).unwrap();
        std::fs::create_dir_all(&owner).unwrap();
        std::fs::write(researcher.join("study.dev"), spec).unwrap();
        let bid = root.path().join("bid.tar.zst");
        ok(&devspec(
            &researcher,
            &["bid", "export", "--no-cost", "study.dev", "-o", bid.to_str().unwrap()],
        ));
        Exchange { _root: root, researcher, owner, bid }
    }

    fn bid(&self) -> &str {
        self.bid.to_str().unwrap()
    }

    fn results(&self) -> PathBuf {
        self.owner.join("results.tar.zst")
    }

    /// The owner's run in `owner/run`, then its results.
    fn run_and_answer(&self, extra: &[&str]) -> String {
        let mut args = vec!["bid", "run", self.bid(), "--dir", "run"];
        args.extend_from_slice(extra);
        let out = devspec(&self.owner, &args);
        let mut said = text(&out);
        said += &ok(&devspec(
            &self.owner,
            &["bid", "results", "--dir", "run", "-o", self.results().to_str().unwrap()],
        ));
        said
    }

    fn open(&self, results: &Path) -> Output {
        devspec(
            &self.researcher,
            &["bid", "open", results.to_str().unwrap(), "--bid", self.bid(), "-o", "opened"],
        )
    }
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The entries of a tar.zst, by path.
fn entries(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let decoder = zstd::Decoder::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(decoder);
    tar.entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Writes an archive of `entries` (the first the manifest), as devspec writes them.
fn write_entries(archive: &Path, entries: &[(String, Vec<u8>)]) {
    let encoder = zstd::Encoder::new(std::fs::File::create(archive).unwrap(), 3).unwrap();
    let mut tar = tar::Builder::new(encoder);
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        // `set_path` refuses `..`: the name goes into the header's bytes as a hostile bid's would.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// `entries` with `path`'s bytes replaced and the manifest's listing made to match, as a
/// careful forger would.
fn forged(entries: &[(String, Vec<u8>)], path: &str, bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut out = entries.to_vec();
    let digest = blake3::hash(&bytes).to_hex().to_string();
    let mut manifest: serde_json::Value = serde_json::from_slice(&out[0].1).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["path"] == path {
            file["digest"] = digest.clone().into();
            file["size"] = bytes.len().into();
        }
    }
    out[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    out.iter_mut().find(|(p, _)| p == path).unwrap().1 = bytes;
    out
}

/// The researcher's study against the open interface: the owner's checkpoints, bound.
const OPEN_SPEC: &str = "param checkpoints: files \"the training checkpoints, one per step\"\n\n\
     checkpoint ckpts {\n  model = tms.model(features = 4, hidden = 2)\n  files = checkpoints\n  \
     data = tms.data(features = 4, sparsity = 0.9, samples = 512)\n}\n\
     estimate llc on ckpts {\n  observable = llc(sampler = sgld(lr = 1e-3, localization = 100), \
     chains = 2, draws = 40, burnin = 10)\n}\n\
     report summary on ckpts, llc { title = \"bid on private checkpoints\" }\n";

/// `sent` with its first committed checkpoint's digest replaced by another everywhere (the
/// results' lock, the commitment, its root recomputed as docs/bids.md says, the listing): a
/// forger's consistent swap.
fn checkpoint_swapped(sent: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let lock =
        String::from_utf8(sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1.clone())
            .unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&sent[0].1).unwrap();
    let old = manifest["commitment"]["checkpoints"][0]["digest"].as_str().unwrap().to_owned();
    let new = "ab".repeat(32);
    manifest["commitment"]["checkpoints"][0]["digest"] = new.clone().into();
    let mut lines: Vec<String> = manifest["commitment"]["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}\t{}\t{}\n",
                c["instance"].as_str().unwrap(),
                c["output"].as_str().unwrap(),
                c["digest"].as_str().unwrap()
            )
        })
        .collect();
    lines.sort();
    manifest["commitment"]["root"] =
        blake3::hash(lines.concat().as_bytes()).to_hex().to_string().into();
    let mut swapped = forged(sent, "results/lock.toml", lock.replace(&old, &new).into_bytes());
    let listing =
        serde_json::from_slice::<serde_json::Value>(&swapped[0].1).unwrap()["files"].clone();
    manifest["files"] = listing;
    swapped[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    swapped
}

#[test]
fn a_bid_runs_on_the_owners_checkpoints_and_its_report_is_the_same_bytes_on_both_sides() {
    let exchange = Exchange::new(OPEN_SPEC);
    // The owner's private checkpoints: a small TMS trained and checked out as files.
    std::fs::write(
        exchange.owner.join("train.dev"),
        trained_spec(200).split("estimate").next().unwrap(),
    )
    .unwrap();
    ok(&devspec(&exchange.owner, &["run", "train.dev"]));
    ok(&devspec(&exchange.owner, &["checkout", "train.dev", "run", "-o", "private"]));
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    for expected in [
        "checkpoints: files: the training checkpoints, one per step",
        "reads: what the owner binds to `checkpoints` (a `files` parameter, in `files`)",
        "only each checkpoint's BLAKE3 digest (the commitment), never its bytes",
    ] {
        assert!(inspected.contains(expected), "{expected:?} not in\n{inspected}");
    }
    let said =
        exchange.run_and_answer(&["--bind", "checkpoints=private/run/no_sweep/*.safetensors"]);
    assert!(said.contains("complete: every instance has its results"), "{said}");
    assert!(said.contains("commitment: 3 checkpoint(s), root "), "{said}");
    let sent = entries(&exchange.results());
    let lock =
        String::from_utf8_lossy(&sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    assert!(lock.contains("files = '\"<bound checkpoints>/step_000010.safetensors\"'"), "{lock}");
    for (path, bytes) in &sent {
        let content = String::from_utf8_lossy(bytes);
        assert!(!content.contains("/private/"), "{path} names the owner's checkpoints' folder");
    }
    let opened = ok(&exchange.open(&exchange.results()));
    assert!(opened.contains("complete; commitment root"), "{opened}");
    let drawn = files(&exchange.researcher.join("opened/reports/summary"));
    assert!(drawn.iter().any(|(p, _)| p.ends_with("report.html")), "{drawn:?}");
    assert_eq!(drawn, files(&exchange.owner.join("run/report-sent/summary")));
    assert!(opened.contains("keys: each result's key is the one the bid's spec gives"), "{opened}");
    // One of the owner's checkpoints swapped for another, commitment and all: its estimate's key
    // says so.
    let swapped = exchange.owner.join("swapped.tar.zst");
    write_entries(&swapped, &checkpoint_swapped(&sent));
    refused(&exchange.open(&swapped), "but the bid's spec on the inputs the results name gives");
    // S2: the lock's bindings deleted (and the manifest re-listed): the keys cannot be
    // recomputed, so the results are refused rather than let through unchecked.
    let mut unbound: toml::Table = toml::from_str(&lock).unwrap();
    assert!(unbound.remove("binding").is_some(), "{lock}");
    let unbound = forged(&sent, "results/lock.toml", toml::to_string(&unbound).unwrap().into());
    let unbound_path = exchange.owner.join("unbound.tar.zst");
    write_entries(&unbound_path, &unbound);
    refused(
        &exchange.open(&unbound_path),
        "has no [[binding]] for the open parameter `checkpoints`",
    );
    // Bound by a bind file (its paths relative to itself): no folder of the owner's leaves.
    std::fs::write(
        exchange.owner.join("binds.toml"),
        "checkpoints = \"private/run/no_sweep/*.safetensors\"\n",
    )
    .unwrap();
    ok(&devspec(
        &exchange.owner,
        &["bid", "run", exchange.bid(), "--dir", "by_file", "--bind-file", "binds.toml"],
    ));
    // S8: `bid results` binds what the run bound, not the bind file as it is now.
    std::fs::write(exchange.owner.join("binds.toml"), "checkpoints = \"elsewhere/*.pt\"\n")
        .unwrap();
    let by_file = exchange.owner.join("by_file.tar.zst");
    ok(&devspec(
        &exchange.owner,
        &["bid", "results", "--dir", "by_file", "-o", by_file.to_str().unwrap()],
    ));
    for (path, bytes) in entries(&by_file) {
        let content = String::from_utf8_lossy(&bytes).into_owned();
        assert!(!content.contains("private/"), "{path} names the owner's folder:\n{content}");
    }
    ok(&exchange.open(&by_file));
}

#[test]
fn a_bid_runs_on_the_owners_side_and_its_report_is_the_same_bytes_on_both() {
    let exchange = Exchange::new(&trained_spec(200));
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    for expected in [
        "step `run` (train):",
        "its checkpoints never leave, only their BLAKE3 digests",
        "step `llc` (estimate):",
        "the LLC estimate and its standard error",
        "no host name, no path, no time",
    ] {
        assert!(inspected.contains(expected), "{expected:?} not in\n{inspected}");
    }
    let said = exchange.run_and_answer(&[]);
    assert!(said.contains("complete: every instance has its results"), "{said}");
    assert!(said.contains("commitment: 3 checkpoint(s), root "), "{said}");
    // Nothing but the results: no checkpoint, no host name, no path of the owner's.
    let sent = entries(&exchange.results());
    let owner = exchange.owner.canonicalize().unwrap();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    for (path, bytes) in &sent {
        assert!(path == "devspec-results.json" || path.starts_with("results/"), "{path}");
        let content = String::from_utf8_lossy(bytes);
        assert!(!content.contains(owner.to_str().unwrap()), "{path} names the owner's folder");
        if !host.trim().is_empty() {
            assert!(!content.contains(&format!("\"{}\"", host.trim())), "{path} names the host");
        }
    }
    let opened = ok(&exchange.open(&exchange.results()));
    assert!(opened.contains("complete; commitment root"), "{opened}");
    let drawn = files(&exchange.researcher.join("opened/reports/summary"));
    let sent_report = files(&exchange.owner.join("run/report-sent/summary"));
    assert!(drawn.iter().any(|(p, _)| p.ends_with("report.html")), "{drawn:?}");
    assert_eq!(drawn, sent_report, "the report differs between the two sides");
    // The opened results are a lock `devspec diff` compares with the owner's own run.
    let diff = ok(&devspec(
        &exchange.researcher,
        &[
            "diff",
            "opened/results.lock",
            exchange.owner.join("run/spec/study.dev.lock").to_str().unwrap(),
        ],
    ));
    assert!(diff.contains("no differences: the same 5 instances"), "{diff}");
}

#[test]
fn changed_numbers_and_commitments_are_refused_by_open() {
    let exchange = Exchange::new(&trained_spec(200));
    exchange.run_and_answer(&[]);
    let sent = entries(&exchange.results());
    let lock =
        String::from_utf8(sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1.clone())
            .unwrap();
    let at = lock.find("llc_mean = ").unwrap() + "llc_mean = ".len();
    let mut changed = lock.clone();
    changed.insert(at, '1');
    // Changed without touching the manifest: the digest says so.
    let plain = exchange.owner.join("plain.tar.zst");
    let mut tampered = sent.clone();
    tampered.iter_mut().find(|(p, _)| p == "results/lock.toml").unwrap().1 =
        changed.clone().into_bytes();
    write_entries(&plain, &tampered);
    refused(&exchange.open(&plain), "`results/lock.toml` was changed");
    // Changed with the manifest forged to match: the result's own bytes say otherwise.
    let careful = exchange.owner.join("careful.tar.zst");
    write_entries(&careful, &forged(&sent, "results/lock.toml", changed.into_bytes()));
    refused(&exchange.open(&careful), "numbers were changed");
    // A checkpoint digest that is not the committed one.
    let mut manifest: serde_json::Value = serde_json::from_slice(&sent[0].1).unwrap();
    manifest["commitment"]["checkpoints"][0]["digest"] = "0".repeat(64).into();
    let mut recommitted = sent.clone();
    recommitted[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    let digests = exchange.owner.join("digests.tar.zst");
    write_entries(&digests, &recommitted);
    let said = refused(&exchange.open(&digests), "is not the root of its checkpoints' digests");
    assert!(said.contains("the commitment says 0000"), "{said}");
    // Another checkpoint swapped in everywhere, the root recomputed as docs/bids.md says: the
    // estimates on it keep keys this spec does not give on that checkpoint.
    let swapped = checkpoint_swapped(&sent);
    let keys = exchange.owner.join("keys.tar.zst");
    write_entries(&keys, &swapped);
    let said =
        refused(&exchange.open(&keys), "but the bid's spec on the inputs the results name gives");
    assert!(!said.contains("is not the root"), "the root was recomputed right:\n{said}");
    // S1: the estimate's result blob changed under its old name, the lock's headline and the
    // listing made to match: the blob's name is no longer its bytes' digest.
    let value = lock[at..].split_whitespace().next().unwrap().to_owned();
    let (blob_path, blob) = sent
        .iter()
        .find(|(p, b)| {
            p.starts_with("results/blobs/") && String::from_utf8_lossy(b).contains(&value)
        })
        .unwrap_or_else(|| panic!("no result blob holds llc_mean {value}"));
    let forged_value = format!("{value}1");
    let blob = String::from_utf8_lossy(blob).replace(&value, &forged_value).into_bytes();
    let both = forged(
        &forged(&sent, "results/lock.toml", lock.replace(&value, &forged_value).into_bytes()),
        blob_path,
        blob,
    );
    let renamed = exchange.owner.join("blob.tar.zst");
    write_entries(&renamed, &both);
    let said = refused(&exchange.open(&renamed), "not to its name");
    assert!(!said.contains("numbers were changed"), "the headline was forged to match:\n{said}");
}

#[test]
fn a_bid_that_reads_outside_its_bindings_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let secret = root.path().join("secret.bin");
    std::fs::write(&secret, b"the owner's").unwrap();
    // The researcher's own export refuses it.
    let researcher = root.path().join("researcher");
    std::fs::create_dir_all(&researcher).unwrap();
    std::fs::write(researcher.join("study.dev"), "test leak { reads = \"../secret.bin\" }\n")
        .unwrap();
    refused(
        &devspec(&researcher, &["bid", "export", "--no-cost", "study.dev", "-o", "bid.tar.zst"]),
        "`../secret.bin` climbs out of the bid's folder with `..`",
    );
    // A bid made by hand, naming the owner's file by its absolute path, and a glob.
    for (case, (written, expected)) in [
        (secret.to_str().unwrap().to_owned(), "is absolute"),
        (format!("{}/*.bin", root.path().display()), "is absolute"),
        ("own/*.bin".to_owned(), "is a glob, which only a binding may give"),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = format!("test leak {{ reads = \"{written}\" }}\n");
        let mut contents = vec![("spec/study.dev".to_owned(), spec.clone().into_bytes())];
        if written.starts_with("own/") {
            contents.push(("spec/own/a.bin".to_owned(), b"own".to_vec()));
        }
        let listing: Vec<serde_json::Value> = contents
            .iter()
            .map(|(p, b)| {
                serde_json::json!({"path": p, "digest": blake3::hash(b).to_hex().to_string(), "size": b.len()})
            })
            .collect();
        let manifest = serde_json::json!({
            "format": 1, "study": "study", "spec": "study.dev",
            "spec_digest": blake3::hash(spec.as_bytes()).to_hex().to_string(),
            "files": listing, "params": [], "torchscript": [],
            "forecast": {"made": "no", "why": "none"},
            "exported_by": {"devspec": "0", "commit": ""},
        });
        let bid = root.path().join("hostile.tar.zst");
        let mut all = vec![("devspec-bid.json".to_owned(), serde_json::to_vec(&manifest).unwrap())];
        all.extend(contents);
        write_entries(&bid, &all);
        let owner = root.path().join("owner");
        std::fs::create_dir_all(&owner).unwrap();
        refused(&devspec(&owner, &["bid", "inspect", bid.to_str().unwrap()]), expected);
        let dir = format!("run{case}");
        refused(&devspec(&owner, &["bid", "run", bid.to_str().unwrap(), "--dir", &dir]), expected);
        assert!(!owner.join(dir).join(".devspec").exists(), "a refused bid ran");
    }
}

#[test]
fn a_bid_that_would_write_outside_its_folder_is_refused_and_a_run_writes_only_in_its_own() {
    let exchange = Exchange::new(&trained_spec(100));
    let sent = entries(&exchange.bid);
    for (entry, expected) in [
        ("spec/../../escaped.dev", "leaves its folder (`..`)"),
        ("/tmp/escaped.dev", "has an absolute path"),
        ("spec/devspec.toml", "a project's settings or store, which a bid may not bring"),
    ] {
        let mut hostile = sent.clone();
        hostile.push((entry.to_owned(), b"escaped".to_vec()));
        let mut manifest: serde_json::Value = serde_json::from_slice(&hostile[0].1).unwrap();
        manifest["files"].as_array_mut().unwrap().push(serde_json::json!({
            "path": entry, "digest": blake3::hash(b"escaped").to_hex().to_string(), "size": 7,
        }));
        hostile[0].1 = serde_json::to_vec(&manifest).unwrap();
        let bid = exchange.owner.join("hostile.tar.zst");
        write_entries(&bid, &hostile);
        let inbox = exchange.owner.join("inbox");
        std::fs::create_dir_all(inbox.join("a/b")).unwrap();
        refused(
            &devspec(&inbox.join("a/b"), &["bid", "run", bid.to_str().unwrap(), "--dir", "run"]),
            expected,
        );
        assert!(!inbox.join("escaped.dev").exists() && !inbox.join("a/escaped.dev").exists());
    }
    // A bid that runs writes only inside its folder: the folder it was run from holds nothing
    // else afterwards.
    let place = exchange.owner.join("place");
    std::fs::create_dir_all(&place).unwrap();
    ok(&devspec(&place, &["bid", "run", exchange.bid(), "--dir", "run"]));
    let names: Vec<String> = std::fs::read_dir(&place)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["run"]);
    // S10: a folder of the owner's that is not a bid run is never written into, and a link
    // planted where the bid writes is never followed.
    let mine = exchange.owner.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "the owner's").unwrap();
    refused(
        &devspec(&exchange.owner, &["bid", "run", exchange.bid(), "--dir", "mine"]),
        "is not empty and holds no bid run",
    );
    assert!(!mine.join("spec").exists(), "it wrote into the owner's folder");
    let linked = exchange.owner.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&mine, linked.join("spec")).unwrap();
    std::fs::copy(place.join("run/bid-run.json"), linked.join("bid-run.json")).unwrap();
    refused(
        &devspec(&exchange.owner, &["bid", "run", exchange.bid(), "--dir", "linked"]),
        "holds a symbolic link where the bid writes",
    );
    assert!(!mine.join("study.dev").exists(), "it wrote through the link");
}

#[test]
fn a_bid_over_its_budget_is_stopped_and_its_results_are_marked_partial() {
    // Long enough (millions of steps) that a one-second budget stops it in training.
    let exchange = Exchange::new(&trained_spec(20_000_000));
    let said = exchange.run_and_answer(&["--budget", "1s"]);
    assert!(said.contains("stopped at the budget (1.0 s)"), "{said}");
    assert!(said.contains("partial: 5 instance(s) without results (run, ...)"), "{said}");
    assert!(said.contains("; partial"), "{said}");
    let opened = ok(&exchange.open(&exchange.results()));
    assert!(opened.contains("partial;"), "{opened}");
    assert!(opened.contains("the owner's budget stopped the run"), "{opened}");
    assert!(opened.contains("missing: llc@20000000"), "{opened}");
}

/// The processes whose parent is `pid` (from `/proc`).
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            // `PID (NAME) STATE PPID ...`: the name may hold spaces, so read after its `)`.
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

#[test]
fn a_killed_bid_run_leaves_no_run_behind() {
    let exchange = Exchange::new(&trained_spec(20_000_000));
    let mut bid_run = std::process::Command::new(devspec_exe())
        .current_dir(&exchange.owner)
        .args(["bid", "run", exchange.bid(), "--dir", "run", "--budget", "1h"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let child = loop {
        if let Some(&child) = children_of(bid_run.id()).first() {
            break child;
        }
        assert!(started.elapsed().as_secs() < 30, "bid run started no devspec run");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    bid_run.kill().unwrap();
    bid_run.wait().unwrap();
    let killed = std::time::Instant::now();
    while Path::new(&format!("/proc/{child}")).exists()
        && !std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    {
        assert!(killed.elapsed().as_secs() < 10, "the child run {child} outlived its bid run");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_results_bundle_that_would_carry_checkpoint_bytes_is_refused_by_the_export() {
    let exchange = Exchange::new(&trained_spec(100));
    exchange.run_and_answer(&[]);
    // The store says an estimate output a checkpoint's bytes (a broken or hostile worker could):
    // its record, resealed, names the checkpoint's blob as one more output.
    let actions = exchange.owner.join("run/.devspec/actions");
    let records: Vec<PathBuf> = std::fs::read_dir(&actions)
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    let read = |path: &Path| -> devspec::store::Manifest {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let train = records.iter().map(|p| read(p)).find(|m| m.instance == "run").unwrap();
    let checkpoint = train.outputs["checkpoint@100"].clone();
    let estimate_path = records.iter().find(|p| read(p).instance == "llc@100").unwrap();
    let mut estimate = read(estimate_path);
    estimate.outputs.insert("extra".into(), checkpoint.clone());
    estimate.sizes.insert(checkpoint.clone(), train.sizes[&checkpoint]);
    std::fs::write(estimate_path, estimate.sealed_text()).unwrap();
    std::fs::remove_file(exchange.results()).unwrap();
    let out = devspec(
        &exchange.owner,
        &["bid", "results", "--dir", "run", "-o", exchange.results().to_str().unwrap()],
    );
    refused(&out, "would carry what must not leave");
    assert!(text(&out).contains(&format!("is a checkpoint ({checkpoint})")), "{}", text(&out));
    assert!(!exchange.results().exists(), "a refused export wrote its bundle");
}

#[test]
fn revealing_observables_are_flagged_and_run_only_with_the_owners_opt_in() {
    let spec = trained_spec(100).replace(
        "report summary",
        "estimate shape on run { observable = tms.geometry() }\nreport summary",
    );
    let exchange = Exchange::new(&spec);
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    assert!(inspected.contains("REVEALING: the toy model's feature directions"), "{inspected}");
    assert_eq!(inspected.matches("REVEALING").count(), 1, "only `shape`:\n{inspected}");
    let out = devspec(&exchange.owner, &["bid", "run", exchange.bid(), "--dir", "run"]);
    refused(&out, "step `shape`: the toy model's feature directions");
    assert!(text(&out).contains("--allow-revealing"), "{}", text(&out));
    assert!(!exchange.owner.join("run/.devspec").exists(), "it ran without the opt-in");
    let said = exchange.run_and_answer(&["--allow-revealing"]);
    assert!(said.contains("complete: every instance has its results"), "{said}");
    // The owner may still leave a step's results out: they are said redacted, not sent.
    let redacted = exchange.owner.join("redacted.tar.zst");
    let out = ok(&devspec(
        &exchange.owner,
        &["bid", "results", "--dir", "run", "-o", redacted.to_str().unwrap(), "--redact", "shape"],
    ));
    assert!(out.contains("redacted: shape"), "{out}");
    let lock = entries(&redacted)
        .into_iter()
        .find(|(p, _)| p == "results/lock.toml")
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .unwrap();
    assert!(!lock.contains("shape@"), "{lock}");
    let opened = ok(&exchange.open(&redacted));
    assert!(opened.contains("redacted by the owner: shape"), "{opened}");
    // S4: redacting `llc` redacts the report drawn on it too: its data would carry the numbers.
    let full = entries(&exchange.results());
    let full_lock =
        String::from_utf8_lossy(&full.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    let at = full_lock.find("llc_mean = ").unwrap() + "llc_mean = ".len();
    let llc_mean = full_lock[at..].split_whitespace().next().unwrap().to_owned();
    let no_llc = exchange.owner.join("no_llc.tar.zst");
    let out = ok(&devspec(
        &exchange.owner,
        &["bid", "results", "--dir", "run", "-o", no_llc.to_str().unwrap(), "--redact", "llc"],
    ));
    assert!(out.contains("redacted: summary"), "{out}");
    for (path, bytes) in entries(&no_llc) {
        let content = String::from_utf8_lossy(&bytes);
        assert!(!content.contains(&llc_mean), "{path} carries the redacted llc_mean {llc_mean}");
    }
    let opened = ok(&exchange.open(&no_llc));
    assert!(opened.contains("redacted by the owner: summary"), "{opened}");
}

#[test]
fn a_bid_bringing_a_torchscript_model_says_so_and_binds_only_declared_parameters() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchscript");
    let exchange = Exchange::new("");
    for file in ["two_layer.pt", "data.safetensors"] {
        std::fs::copy(fixture.join(file), exchange.researcher.join(file)).unwrap();
    }
    std::fs::write(
        exchange.researcher.join("study.dev"),
        "param checkpoints: files \"the checkpoints\"\n\
         checkpoint theirs {\n  model = torchscript.model(\"two_layer.pt\")\n  \
         files = checkpoints\n  data = tensors(\"data.safetensors\")\n}\n\
         estimate fit on theirs { observable = loss() }\n",
    )
    .unwrap();
    ok(&devspec(
        &exchange.researcher,
        &["bid", "export", "--no-cost", "study.dev", "-o", exchange.bid()],
    ));
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    assert!(
        inspected.contains("WARNING: it brings its own TorchScript model, two_layer.pt: code"),
        "{inspected}"
    );
    assert!(inspected.contains("spec/data.safetensors"), "{inspected}");
    // S6: a manifest that hides the model is refused: the spec, not the manifest, says.
    let mut hidden = entries(&exchange.bid);
    let mut manifest: serde_json::Value = serde_json::from_slice(&hidden[0].1).unwrap();
    manifest["torchscript"] = serde_json::json!([]);
    hidden[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    let hidden_bid = exchange.owner.join("hidden.tar.zst");
    write_entries(&hidden_bid, &hidden);
    let said = refused(
        &devspec(&exchange.owner, &["bid", "inspect", hidden_bid.to_str().unwrap()]),
        "its manifest lists the TorchScript models [], its spec runs [two_layer.pt]",
    );
    assert!(!said.contains("REVEALING"), "{said}");
    // S5: every number its code computes can encode weights: flagged, run only with opt-in.
    assert!(inspected.contains("REVEALING: computed by the bid's own TorchScript"), "{inspected}");
    let out = devspec(
        &exchange.owner,
        &["bid", "run", exchange.bid(), "--dir", "run", "--bind", "checkpionts=x/*.safetensors"],
    );
    refused(&out, "checkpionts");
}

#[test]
fn a_swept_observable_with_a_revealing_value_needs_the_owners_opt_in() {
    // S5: decided per value of the sweep, not on the field as a whole.
    let spec = trained_spec(100).replace(
        "report summary",
        "estimate shape on run { observable = sweep([loss(), tms.geometry()]) }\n\
         estimate nested on run { observable = llc(sampler = sgld(lr = 1e-3, localization = \
         100), chains = sweep([1, 2]), draws = 40, burnin = 10) }\n\
         report summary",
    );
    let exchange = Exchange::new(&spec);
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    assert!(inspected.contains("REVEALING: the toy model's feature directions"), "{inspected}");
    // A sweep inside an observable's arguments: `inspect` cannot read it whole and fails
    // closed; `run` decides per planned instance (each a plain `llc`) and does not flag it.
    assert!(
        inspected.contains("REVEALING: an observable this devspec cannot decide"),
        "{inspected}"
    );
    let out = devspec(&exchange.owner, &["bid", "run", exchange.bid(), "--dir", "run"]);
    let said = refused(&out, "step `shape`: the toy model's feature directions");
    assert!(!said.contains("step `nested`"), "{said}");
}

#[test]
fn a_bound_number_leaves_every_other_parameter_as_it_is_and_its_keys_check() {
    // S3: `--bind seed=1` must not rewrite the `1` of `samples = 512` (or any other text).
    let spec = format!(
        "param seed: integer \"the training seed\"\n\n{}",
        trained_spec(200).replace("seed = 0", "seed = seed")
    );
    let exchange = Exchange::new(&spec);
    let said = exchange.run_and_answer(&["--bind", "seed=1"]);
    assert!(said.contains("complete: every instance has its results"), "{said}");
    let sent = entries(&exchange.results());
    let lock =
        String::from_utf8_lossy(&sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    assert!(!lock.contains("<bound"), "a number is not a path to scrub:\n{lock}");
    assert!(lock.contains("samples = 512"), "{lock}");
    let opened = ok(&exchange.open(&exchange.results()));
    assert!(opened.contains("keys: each result's key is the one the bid's spec gives"), "{opened}");
}

#[test]
fn a_bid_carries_its_cost_forecast_and_inspect_shows_it() {
    // The default export prices the study on the researcher's machine: one calibration (about
    // half a minute with the debug build), then each instance of the bid's own training.
    let root = tempfile::tempdir().unwrap();
    let researcher = root.path().join("researcher");
    let owner = root.path().join("owner");
    std::fs::create_dir_all(&researcher).unwrap();
    std::fs::create_dir_all(&owner).unwrap();
    std::fs::write(researcher.join("devspec.toml"), "").unwrap();
    std::fs::write(researcher.join("study.dev"), trained_spec(200)).unwrap();
    let bid = root.path().join("bid.tar.zst");
    let exported =
        ok(&devspec(&researcher, &["bid", "export", "study.dev", "-o", bid.to_str().unwrap()]));
    assert!(exported.contains("cost forecast (the researcher's machine"), "{exported}");
    // The training's line carries a price, in seconds: more than nothing.
    let seconds = |all: &str| -> f64 {
        let line =
            all.lines().find(|l| l.trim_start().starts_with("run: ")).expect("the training's line");
        let number = line.trim_start().trim_start_matches("run: ").trim_end_matches(" s");
        number.parse().unwrap_or_else(|_| panic!("a number of seconds in {line:?}"))
    };
    assert!(seconds(&exported) > 0.0, "{exported}");
    let inspected = ok(&devspec(&owner, &["bid", "inspect", bid.to_str().unwrap()]));
    assert!(inspected.contains("cost forecast (the researcher's machine"), "{inspected}");
    assert_eq!(seconds(&inspected), seconds(&exported), "{inspected}");
}

/// `entries` with the blob `old` replaced by `bytes` under their own digest, the manifest's
/// listing and the redaction entry naming `old` made to match, as a careful forger would.
fn sent_copy_replaced(
    entries: &[(String, Vec<u8>)],
    old: &str,
    bytes: Vec<u8>,
) -> Vec<(String, Vec<u8>)> {
    let new = blake3::hash(&bytes).to_hex().to_string();
    let mut manifest: serde_json::Value = serde_json::from_slice(&entries[0].1).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["digest"] == old {
            file["path"] = format!("results/blobs/{new}").into();
            file["digest"] = new.clone().into();
            file["size"] = bytes.len().into();
        }
    }
    for redacted in manifest["redacted_outputs"].as_array_mut().unwrap() {
        if redacted["sent"] == old {
            redacted["sent"] = new.clone().into();
        }
    }
    let mut out = entries.to_vec();
    out[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    let entry = out.iter_mut().find(|(p, _)| *p == format!("results/blobs/{old}")).unwrap();
    *entry = (format!("results/blobs/{new}"), bytes);
    out
}

/// Each number in every chain's loss trace of the LLC results among `entries`, as JSON
/// writes it.
fn trace_numbers(entries: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut numbers = Vec::new();
    for (path, bytes) in entries.iter().filter(|(p, _)| p.starts_with("results/blobs/")) {
        let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        if json["observable"] != "llc" {
            continue;
        }
        for trace in json["traces"].as_array().unwrap() {
            for number in trace.as_array().unwrap() {
                numbers.push(number.to_string());
            }
        }
        assert!(!numbers.is_empty(), "{path} holds no trace");
    }
    numbers
}

/// `bid results --dir run -o OUT --redact R...` in the owner's folder.
fn answer_redacted(exchange: &Exchange, out: &Path, redact: &[&str]) -> Output {
    let mut args = vec!["bid", "results", "--dir", "run", "-o", out.to_str().unwrap()];
    for field in redact {
        args.extend(["--redact", field]);
    }
    devspec(&exchange.owner, &args)
}

/// A study run by its owner and answered twice: in full, and with `llc.traces` and
/// `run.train_loss` left out (`fields.tar.zst`); what `bid results` said of the second.
fn answered_without_fields() -> (Exchange, PathBuf, String) {
    let exchange = Exchange::new(&trained_spec(200));
    exchange.run_and_answer(&[]);
    let fields = exchange.owner.join("fields.tar.zst");
    let said = ok(&answer_redacted(&exchange, &fields, &["llc.traces", "run.train_loss"]));
    (exchange, fields, said)
}

#[test]
fn fields_left_out_are_emptied_in_the_copy_sent_and_open_checks_what_was_sent() {
    let (exchange, fields, said) = answered_without_fields();
    let inspected = ok(&devspec(&exchange.owner, &["bid", "inspect", exchange.bid()]));
    for expected in [
        "of which you may leave out, each with `--redact llc.FIELD`:",
        "`traces`: every chain's loss trace, the companion chains' too",
        "`train_loss`: the training loss at each logged step",
    ] {
        assert!(inspected.contains(expected), "{expected:?} not in\n{inspected}");
    }
    let full = entries(&exchange.results());
    let originals = trace_numbers(&full);
    assert_eq!(originals.len(), 3 * 2 * 40, "three estimates of two chains of 40 draws");
    let full_lock =
        String::from_utf8_lossy(&full.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    for expected in [
        "sent without train_loss: run",
        "sent without traces: llc@10, llc@100, llc@200",
        "sent without llc.traces, run.train_loss: summary",
    ] {
        assert!(said.contains(expected), "{expected:?} not in\n{said}");
    }
    let sent = entries(&fields);
    // Every LLC result sent has no traces, and no entry holds any of their numbers.
    let mut llc = 0;
    for (path, bytes) in sent.iter().filter(|(p, _)| p.starts_with("results/blobs/")) {
        let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        if json["observable"] == "llc" {
            llc += 1;
            assert_eq!(json["traces"], serde_json::json!([]), "{path}");
            assert_eq!(json["distances"].as_array().unwrap().len(), 2, "{path}: only traces go");
        }
    }
    assert_eq!(llc, 3);
    // Nor any of the run's training losses (its blob, the report's loss series, the lock).
    let losses: Vec<String> = full
        .iter()
        .filter(|(p, _)| p.starts_with("results/blobs/"))
        .filter_map(|(_, bytes)| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .filter_map(|json| json["series"]["train_loss"].as_array().cloned())
        .flatten()
        .map(|number| number.to_string())
        .collect();
    assert!(losses.len() >= 3, "the run logged its loss: {losses:?}");
    // The loss at an estimated checkpoint is the estimate's own (`init_loss`), and stays.
    let own: Vec<String> = full
        .iter()
        .filter(|(p, _)| p.starts_with("results/blobs/"))
        .filter_map(|(_, bytes)| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .map(|json| json["estimate"]["init_loss"].to_string())
        .collect();
    let losses: Vec<String> = losses.into_iter().filter(|n| !own.contains(n)).collect();
    assert!(losses.len() >= 3, "the run logged its loss between checkpoints: {losses:?}");
    for (path, bytes) in &sent {
        let content = String::from_utf8_lossy(bytes);
        let found = originals.iter().find(|n| content.contains(n.as_str()));
        assert!(found.is_none(), "{path} holds the trace number {found:?}");
        // Long decimals only: a short one ("0.5") can be in any text.
        let found = losses.iter().filter(|n| n.len() >= 8).find(|n| content.contains(n.as_str()));
        assert!(found.is_none(), "{path} holds the training loss {found:?}");
    }
    // The lock keeps each output's original digest (the keys chain through them), and the
    // run's final training loss goes with its series; the LLC's headline stays.
    let lock =
        String::from_utf8_lossy(&sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    assert!(full_lock.contains("final_train_loss") && !lock.contains("final_train_loss"));
    let means = |lock: &str| lock.lines().filter(|l| l.starts_with("llc_mean")).count();
    assert_eq!(means(&lock), 3, "{lock}");
    for line in full_lock.lines().filter(|l| l.starts_with("llc_mean")) {
        assert!(lock.contains(line), "{line} not in\n{lock}");
    }
    let opened = ok(&exchange.open(&fields));
    for expected in [
        "keys: each result's key is the one the bid's spec gives",
        "sent with fields left out by the owner (checked: each field named is empty",
        "  without traces: llc@10, llc@100, llc@200",
    ] {
        assert!(opened.contains(expected), "{expected:?} not in\n{opened}");
    }
    let drawn = files(&exchange.researcher.join("opened/reports/summary"));
    assert_eq!(drawn, files(&exchange.owner.join("run/report-sent/summary")));
    let page = drawn.iter().find(|(p, _)| p.ends_with("report.html")).unwrap();
    let page = String::from_utf8_lossy(&page.1);
    assert!(page.contains("Left out by the owner of the checkpoints."), "{page}");
    assert!(
        page.contains(
            "<section id=\"traces\"><h2>Sampling traces</h2>\n<p class=meta>Every chain's loss \
             per draw at each checkpoint; dashed: the loss at the checkpoint. Red: the estimate \
             has diagnostics (named in the title), or a chain diverged.</p>\n<p class=redacted>\
             <strong>Left out by the owner of the checkpoints: <code>llc.traces</code></strong>"
        ),
        "the traces section says so where they would be:\n{page}"
    );
    assert!(page.contains("<li>llc.traces: every chain&#39;s loss trace"), "{page}");
    // The page drawn from the bundle shows the steps as resolved and each result's provenance
    // as the lock sends it (no host, no times: said so), not an empty table.
    assert!(page.contains("steps = 200"), "the steps as resolved:\n{page}");
    assert!(page.contains("<td>not sent</td><td class=num>not sent</td>"), "{page}");
    assert!(!page.contains("not recorded in this store"), "{page}");
}

#[test]
fn a_sent_copy_changed_and_redaction_entries_the_lock_does_not_bear_out_are_refused() {
    let (exchange, fields, _) = answered_without_fields();
    // A field no step has: refused, naming the fields the step has.
    let nosuch = exchange.owner.join("nosuch.tar.zst");
    let out = answer_redacted(&exchange, &nosuch, &["llc.nosuch"]);
    let refusal = refused(&out, "--redact llc.nosuch: step `llc` (estimate) has no field `nosuch`");
    assert!(
        refusal.contains(
            "its fields: `traces`: every chain's loss trace, the companion chains' too; `distances`"
        ),
        "{refusal}"
    );
    assert!(!nosuch.exists());
    // Each chain's estimate is computed from its trace: leaving it out takes the traces too.
    let per_chain = exchange.owner.join("per_chain.tar.zst");
    let said = ok(&answer_redacted(&exchange, &per_chain, &["llc.llc_per_chain"]));
    assert!(
        said.contains("sent without traces, llc_per_chain: llc@10, llc@100, llc@200"),
        "{said}"
    );
    ok(&exchange.open(&per_chain));
    let sent = entries(&fields);
    // A sent copy's number changed, under its new name and with the manifest to match.
    let manifest: serde_json::Value = serde_json::from_slice(&sent[0].1).unwrap();
    let redactions = manifest["redacted_outputs"].as_array().unwrap();
    let of_llc = redactions.iter().find(|r| r["instance"] == "llc@100").unwrap();
    let old = of_llc["sent"].as_str().unwrap();
    let bytes = &sent.iter().find(|(p, _)| *p == format!("results/blobs/{old}")).unwrap().1;
    let mut changed: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    changed["estimate"]["llc_mean"] =
        (changed["estimate"]["llc_mean"].as_f64().unwrap() + 1.0).into();
    let forged_copy = exchange.owner.join("copy.tar.zst");
    write_entries(
        &forged_copy,
        &sent_copy_replaced(&sent, old, serde_json::to_vec(&changed).unwrap()),
    );
    refused(&exchange.open(&forged_copy), "`llc@100`'s numbers were changed");
    // Redaction entries the lock does not bear out: an output it lacks, a headline named as a
    // field, a sent copy not in the bundle.
    for (change, expected) in [
        (("instance", serde_json::json!("llc@999")), "but the results' lock has no such output"),
        (
            ("fields", serde_json::json!(["llc_mean"])),
            "`llc_mean` is not a field that can be left out of it",
        ),
        (("sent", serde_json::json!("0".repeat(64))), "is not in the bundle"),
        (("fields", serde_json::json!([])), "with at least one field named"),
    ] {
        let mut manifest = manifest.clone();
        let entry = manifest["redacted_outputs"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r["instance"] == "llc@100")
            .unwrap();
        entry[change.0] = change.1;
        let mut forged_entries = sent.clone();
        forged_entries[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
        let path = exchange.owner.join("entry.tar.zst");
        write_entries(&path, &forged_entries);
        refused(&exchange.open(&path), expected);
    }
    // The original result, with its traces, sent as the copy "without traces": its headline
    // is the lock's and its name its digest, but the field it says was left out is there.
    let full = entries(&exchange.results());
    let lock =
        String::from_utf8_lossy(&sent.iter().find(|(p, _)| p == "results/lock.toml").unwrap().1)
            .into_owned();
    let original = lock
        .split("[[instance]]")
        .find(|block| block.contains("name = \"llc@100\""))
        .and_then(|block| block.lines().find(|l| l.starts_with("result = ")))
        .map(|line| line.trim_start_matches("result = ").trim_matches('"').to_owned())
        .expect("llc@100's result in the lock");
    let with_traces =
        full.iter().find(|(p, _)| *p == format!("results/blobs/{original}")).unwrap().1.clone();
    let path = exchange.owner.join("traces.tar.zst");
    write_entries(&path, &sent_copy_replaced(&sent, old, with_traces));
    refused(&exchange.open(&path), "`llc@100` result as sent: its `traces` was not left out");
}

#[test]
fn a_detection_on_a_series_left_out_is_refused_unless_it_is_left_out_too() {
    let spec = trained_spec(200).replace(
        "report summary",
        "detect drops on run { series = \"train_loss\", method = change_points() }\nreport summary",
    );
    let exchange = Exchange::new(&spec);
    exchange.run_and_answer(&[]);
    let out = exchange.owner.join("fields.tar.zst");
    let answer = |redact: &[&str]| answer_redacted(&exchange, &out, redact);
    // Its result holds the training loss at each checkpoint: sending it would send the field.
    let said = refused(
        &answer(&["run.train_loss"]),
        "--redact run.train_loss: step `drops` (detect) searched `run`'s `train_loss`",
    );
    assert!(said.contains("`--redact drops`"), "{said}");
    assert!(!out.exists(), "a refused export wrote its bundle");
    // A run without held-out data has no test loss to leave out: sent as it is.
    let said = ok(&answer(&["run.test_loss"]));
    assert!(!said.contains("sent without"), "{said}");
    let said = ok(&answer(&["run.train_loss", "drops"]));
    assert!(said.contains("redacted: drops") && said.contains("sent without train_loss: run"));
    ok(&exchange.open(&out));
}
