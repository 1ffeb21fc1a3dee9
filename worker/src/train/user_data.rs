//! The user's own data (`tensors(path, inputs = "x", targets = "y")`): two tensors read from a
//! `.safetensors` file, a `.npz` archive, or a folder of `.npy` files (`x.npy`, `y.npy`). The
//! first dimension counts samples; further input dimensions are flattened into one. Targets of
//! a floating-point type are values (`[n]` or `[n, k]`); targets of an integer type are class
//! labels (`[n]`, from 0), for cross-entropy. Every problem is reported with the file and the
//! tensor it concerns, never as a libtorch error.

use std::path::Path;

use devspec_protocol::params::Tensors;
use tch::{Kind, Tensor};

use super::data::Samples;
use super::spec::SpecError;

/// A file's samples, in f64 (class labels are exact there: they are far below 2^53).
#[derive(Debug)]
pub struct UserData {
    pub path: String,
    pub n: usize,
    pub input_dim: usize,
    pub output_dim: usize,
    /// With class labels: the number of classes they need (the largest label plus one).
    pub classes: Option<usize>,
    inputs: Vec<f64>,
    targets: Vec<f64>,
}

/// Two reads of one file in one step are the same data: comparing paths and names is enough
/// to tell whether members share it.
impl PartialEq for UserData {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl UserData {
    pub fn read(args: &Tensors) -> Result<UserData, SpecError> {
        let path = args.path.as_str();
        let (inputs_name, targets_name) = (args.inputs.as_str(), args.targets.as_str());
        let fail = |what: String| SpecError(format!("{path}: {what}"));
        let mut tensors =
            read_named(Path::new(path), &[inputs_name, targets_name]).map_err(fail)?;
        let mut take = |name: &str| -> Result<Tensor, SpecError> {
            if let Some(index) = tensors.iter().position(|(n, _)| n == name) {
                return Ok(tensors.swap_remove(index).1);
            }
            let mut names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            Err(fail(format!(
                "no tensor named `{name}` (it holds: {}); name the right ones with \
                 `inputs = \"...\"` and `targets = \"...\"`",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )))
        };
        let (x, y) = (take(inputs_name)?, take(targets_name)?);
        let (x_size, y_size) = (x.size(), y.size());
        if x_size.is_empty() || y_size.is_empty() {
            return Err(fail(format!(
                "`{inputs_name}` has shape {x_size:?} and `{targets_name}` {y_size:?}: both need \
                 a first dimension of samples"
            )));
        }
        if x_size[0] != y_size[0] {
            return Err(fail(format!(
                "`{inputs_name}` has {} samples but `{targets_name}` has {}",
                x_size[0], y_size[0]
            )));
        }
        let n = usize::try_from(x_size[0]).unwrap_or(0);
        if n == 0 {
            return Err(fail(format!("`{inputs_name}` has no samples")));
        }
        let classes_kind = is_integer(y.kind());
        if !classes_kind && !is_real(y.kind()) {
            return Err(fail(format!("`{targets_name}` holds {:?} numbers", y.kind())));
        }
        // Integer inputs (token ids, counts) are read as numbers.
        if !is_real(x.kind()) && !is_integer(x.kind()) {
            return Err(fail(format!("`{inputs_name}` holds {:?} numbers", x.kind())));
        }
        let flat = |t: &Tensor| -> Result<Vec<f64>, SpecError> {
            let t = t.to_kind(Kind::Double).reshape([t.size()[0], -1]).contiguous();
            Vec::<f64>::try_from(t.flatten(0, -1)).map_err(|err| fail(err.to_string()))
        };
        let inputs = flat(&x)?;
        let targets = flat(&y)?;
        let input_dim = inputs.len() / n;
        let output_dim = targets.len() / n;
        let classes = if classes_kind {
            if y_size.len() != 1 {
                return Err(fail(format!(
                    "`{targets_name}` holds whole numbers (class labels) but has shape \
                     {y_size:?}; class labels are one per sample, `[{n}]` (store values as \
                     floating point)"
                )));
            }
            if let Some(bad) = targets.iter().find(|&&label| label < 0.0) {
                return Err(fail(format!("`{targets_name}` has the negative class label {bad}")));
            }
            Some(targets.iter().fold(0.0f64, |top, &label| top.max(label)) as usize + 1)
        } else {
            None
        };
        if let Some(bad) = inputs.iter().chain(&targets).find(|v| !v.is_finite()) {
            return Err(fail(format!("the data holds {bad}: every value must be finite")));
        }
        Ok(UserData { path: path.to_owned(), n, input_dim, output_dim, classes, inputs, targets })
    }

    /// The first `n` rows.
    pub fn rows(&self, n: usize) -> Samples {
        let n = n.min(self.n);
        Samples {
            n,
            inputs: self.inputs[..n * self.input_dim].to_vec(),
            targets: self.targets[..n * self.output_dim].to_vec(),
        }
    }
}

fn is_real(kind: Kind) -> bool {
    matches!(kind, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
}

fn is_integer(kind: Kind) -> bool {
    matches!(kind, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8 | Kind::Bool)
}

/// The named tensors of a file, by its form: safetensors, npz, or a folder of `NAME.npy`.
fn read_named(path: &Path, wanted: &[&str]) -> Result<Vec<(String, Tensor)>, String> {
    let readable = |err: tch::TchError| format!("cannot be read: {}", first_line(&err.to_string()));
    if path.is_dir() {
        let mut found = Vec::new();
        for name in wanted {
            let file = path.join(format!("{name}.npy"));
            if file.is_file() {
                let tensor = Tensor::read_npy(&file)
                    .map_err(|err| format!("{name}.npy {}", readable(err)))?;
                found.push(((*name).to_owned(), tensor));
            }
        }
        return Ok(found);
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Tensor::read_safetensors(path).map_err(readable),
        Some("npz") => Tensor::read_npz(path).map_err(readable),
        _ => Err("`tensors` reads a `.safetensors` file, a `.npz` archive, or a folder of \
                  `.npy` files"
            .to_owned()),
    }
}

/// libtorch's messages can carry a C++ backtrace after their first line.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}
