//! `devspec._native`: the Rust half of the `devspec` Python module (python/devspec/ is the
//! public half). It links the `devspec` library, never libtorch or the worker: checking, status,
//! tables, checkpoints and reports are read in-process; only `Study.run` (in Python) starts the
//! `devspec` binary.

mod checkpoint_tensors;
mod errors;
mod python_value;
mod study;

use pyo3::prelude::*;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<study::NativeStudy>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
