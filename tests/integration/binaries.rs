//! The split between the two executables: `devspec` must not link libtorch, so the everyday
//! commands start instantly and a libtorch crash cannot take the scheduler down.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn devspec_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_devspec"))
}

/// The worker cargo built beside `devspec` (`cargo test --workspace` builds both).
pub fn worker_exe() -> PathBuf {
    let path = devspec_exe().with_file_name("devspec-worker");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `make test` or `cargo test --workspace`",
        path.display()
    );
    path
}

fn shared_libraries(exe: &Path) -> String {
    let out = Command::new("ldd").arg(exe).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {} failed", exe.display());
    String::from_utf8(out.stdout).expect("ldd prints text")
}

#[test]
fn devspec_does_not_link_libtorch() {
    let libs = shared_libraries(devspec_exe());
    for lib in ["libtorch", "libc10"] {
        assert!(!libs.contains(lib), "devspec links {lib}:\n{libs}");
    }
    // The same check on the worker must find libtorch, or the check above proves nothing.
    let worker_libs = shared_libraries(&worker_exe());
    assert!(worker_libs.contains("libtorch_cpu"), "worker without libtorch:\n{worker_libs}");
    assert!(!worker_libs.contains("not found"), "worker cannot load a library:\n{worker_libs}");
}

#[test]
fn version_shows_libtorch_through_the_worker() {
    let out = Command::new(devspec_exe())
        .arg("--version")
        .env_remove("DEVSPEC_WORKER")
        .output()
        .expect("devspec runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("devspec {}\n", env!("CARGO_PKG_VERSION"))), "{stdout}");
    assert!(stdout.contains("(beside devspec)"), "{stdout}");
    assert!(stdout.contains("libtorch 2.13.0 ("), "{stdout}");
    assert!(stdout.contains("cuda     not available"), "{stdout}");
}

#[test]
fn version_without_a_worker_is_an_environment_failure() {
    let out = Command::new(devspec_exe())
        .args(["--version", "--worker", "/nonexistent/devspec-worker"])
        .output()
        .expect("devspec runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--worker (/nonexistent/devspec-worker)"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn bad_flags_exit_2() {
    let out = Command::new(devspec_exe()).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
