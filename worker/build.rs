//! Lets `devspec-worker` and its test executables find libtorch without `LD_LIBRARY_PATH`: an
//! rpath to the libtorch that torch-sys linked against, and, for a CUDA libtorch, a forced link
//! of `libtorch_cuda` (rustc's default `--as-needed` drops it, since no symbol of ours names it,
//! and CUDA would then silently be unavailable). Also records the version file of the libtorch
//! built against, for the worker's version report.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        // torch-sys reports its lib folder only when it linked libtorch (not under doc-only).
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Where `make install` puts libtorch, relative to the installed worker; used when the
    // checkout the worker was built in is gone.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/devspec/libtorch/lib");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
    let version_file = lib.parent().map(|root| root.join("build-version"));
    let built_against = version_file
        .and_then(|file| std::fs::read_to_string(file).ok())
        .map_or_else(|| "unknown".to_owned(), |text| text.trim().to_owned());
    println!("cargo:rustc-env=DEVSPEC_LIBTORCH_BUILT_AGAINST={built_against}");
}
