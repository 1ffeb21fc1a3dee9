//! Records the git commit devspec is built from (`DEVSPEC_COMMIT`, empty outside a checkout),
//! for the provenance of every result; rebuilt when the checkout's HEAD moves.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    println!("cargo:rustc-env=DEVSPEC_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // HEAD moves when the branch does (its ref file, or packed-refs) or when another is checked
    // out (HEAD itself). Only files that exist are watched: a missing one would rerun this
    // script on every build.
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]) else { return };
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(reference);
    }
    for name in watched {
        let path = Path::new(&git_dir).join(name);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
