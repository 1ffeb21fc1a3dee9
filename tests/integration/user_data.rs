//! Training on the user's own data (`tensors(...)`): the three file forms read the same
//! numbers, class labels train with cross-entropy, and each kind of bad file fails its step with
//! a message naming the file and the tensor, never a libtorch error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use super::run::Project;

/// A tensor to write: its name, numpy type (`<f4`, `<i8`), shape and little-endian bytes.
struct Array {
    name: &'static str,
    descr: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn floats(name: &'static str, shape: Vec<usize>, values: &[f32]) -> Array {
    Array {
        name,
        descr: "<f4",
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn labels(name: &'static str, values: &[i64]) -> Array {
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Array { name, descr: "<i8", shape: vec![values.len()], bytes }
}

fn write_safetensors(path: &Path, arrays: &[Array]) {
    let views: Vec<(&str, TensorView<'_>)> = arrays
        .iter()
        .map(|a| {
            let dtype = if a.descr == "<f4" { Dtype::F32 } else { Dtype::I64 };
            (a.name, TensorView::new(dtype, a.shape.clone(), &a.bytes).unwrap())
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, &None, path).unwrap();
}

/// The `.npy` format, version 1.0: magic, header length, a Python-literal header padded so the
/// data starts at a multiple of 64 bytes, then the data.
fn npy(array: &Array) -> Vec<u8> {
    let shape: Vec<String> = array.shape.iter().map(ToString::to_string).collect();
    let shape = if shape.len() == 1 {
        format!("({},)", shape[0])
    } else {
        format!("({})", shape.join(", "))
    };
    let mut header =
        format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", array.descr);
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(&array.bytes);
    bytes
}

fn write_npz(path: &Path, arrays: &[Array]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for array in arrays {
        zip.start_file(format!("{}.npy", array.name), stored).unwrap();
        zip.write_all(&npy(array)).unwrap();
    }
    zip.finish().unwrap();
}

fn write_npy_folder(path: &Path, arrays: &[Array]) {
    std::fs::create_dir_all(path).unwrap();
    for array in arrays {
        std::fs::write(path.join(format!("{}.npy", array.name)), npy(array)).unwrap();
    }
}

/// 96 samples of 3 inputs and the 2 targets of a fixed linear map of them (deterministic
/// values, no generator needed).
fn regression() -> Vec<Array> {
    let n = 96;
    let x: Vec<f32> = (0..n * 3).map(|i| ((i as f32) * 0.37).sin()).collect();
    let y: Vec<f32> = (0..n)
        .flat_map(|s| {
            let r = &x[s * 3..s * 3 + 3];
            [r[0] - 0.5 * r[1], 0.25 * r[2] + r[1]]
        })
        .collect();
    vec![floats("x", vec![n, 3], &x), floats("y", vec![n, 2], &y)]
}

/// 90 points in 2 dimensions around three well-separated centres, labelled by their centre.
fn classes() -> Vec<Array> {
    let centres = [(2.0f32, 0.0f32), (-1.0, 1.7), (-1.0, -1.7)];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..90u8 {
        let class = usize::from(i % 3);
        let (cx, cy) = centres[class];
        let angle = f32::from(i) * 0.7;
        x.extend([cx + 0.4 * angle.cos(), cy + 0.4 * angle.sin()]);
        y.push(i64::from(i % 3));
    }
    vec![floats("x", vec![90, 2], &x), labels("y", &y)]
}

fn spec(model: &str, data: &str, extra: &str) -> String {
    format!(
        "train fit {{\n  model = {model}\n  data = {data}\n  optimizer = adam(lr = 0.01)\n  \
         batch_size = 30\n  steps = 600\n  checkpoints = [100]\n{extra}}}\n"
    )
}

fn outputs(project: &Project) -> BTreeMap<String, serde_json::Value> {
    project.results().into_iter().map(|(name, m)| (name, m["outputs"].clone())).collect()
}

fn metric(project: &Project, name: &str) -> f64 {
    project.results()["fit"]["metrics"][name].as_f64().unwrap()
}

#[test]
fn safetensors_npz_and_a_folder_of_npy_files_train_to_the_same_bytes() {
    let regression_spec =
        |path: &str| spec("mlp.model(widths = [3, 16, 2])", &format!("tensors(\"{path}\")"), "");
    let from_safetensors = Project::new(&regression_spec("data.safetensors"));
    write_safetensors(&from_safetensors.spec().with_file_name("data.safetensors"), &regression());
    let from_npz = Project::new(&regression_spec("data.npz"));
    write_npz(&from_npz.spec().with_file_name("data.npz"), &regression());
    let from_folder = Project::new(&regression_spec("arrays"));
    write_npy_folder(&from_folder.spec().with_file_name("arrays"), &regression());
    for project in [&from_safetensors, &from_npz, &from_folder] {
        let run = project.run(&[]);
        assert_eq!(run.counts(), (1, 0, 0, 0), "{}", run.stderr());
    }
    assert_eq!(outputs(&from_safetensors), outputs(&from_npz));
    assert_eq!(outputs(&from_safetensors), outputs(&from_folder));
    // A linear map is within an MLP's reach: the loss falls far below the targets' variance
    // (about 0.4 here).
    let loss = metric(&from_safetensors, "final_train_loss");
    assert!(loss < 0.01, "final loss {loss}");
}

#[test]
fn class_labels_train_with_cross_entropy() {
    let project = Project::new(&spec(
        "mlp.model(widths = [2, 16, 3])",
        "tensors(\"points.npz\")",
        "  test_fraction = 0.2\n",
    ));
    write_npz(&project.spec().with_file_name("points.npz"), &classes());
    let run = project.run(&[]);
    assert_eq!(run.counts(), (1, 0, 0, 0), "{}", run.stderr());
    // Cross-entropy starts near ln 3 = 1.10 (no class preferred) and, on separable clusters,
    // falls to a small fraction of it; an MSE against the labels would not be below 0.1 on
    // labels 0 to 2 with one output per class.
    let (train, test) = (metric(&project, "final_train_loss"), metric(&project, "final_test_loss"));
    assert!(train < 0.1 && test < 0.2, "train {train}, test {test}");
}

/// Runs `spec` with `arrays` written as `data.safetensors` (or `bytes` as `file`), expects its
/// step to fail, and returns the error.
fn failure(spec_text: &str, file: &str, write: impl FnOnce(&Path)) -> String {
    let project = Project::new(spec_text);
    write(&project.spec().with_file_name(file));
    let run = project.run(&[]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    let stderr = run.stderr();
    for libtorch in ["Exception raised from", "frame #", "c10::", "panicked"] {
        assert!(!stderr.contains(libtorch), "a libtorch or Rust error reached the user: {stderr}");
    }
    stderr
}

/// A spec, the file it reads, how to write that file, and what the error must say.
type BadCase = (String, &'static str, Box<dyn FnOnce(&Path)>, &'static [&'static str]);

#[test]
fn each_bad_data_file_fails_its_step_naming_the_file_and_the_tensor() {
    let data = |extra: &str| format!("tensors(\"data.safetensors\"{extra})");
    let mlp = "mlp.model(widths = [3, 16, 2])";
    let cases: Vec<BadCase> = vec![
        (
            spec(mlp, &data(", inputs = \"features\""), ""),
            "data.safetensors",
            Box::new(|p| write_safetensors(p, &regression())),
            &["data.safetensors", "no tensor named `features`", "it holds: x, y"],
        ),
        (
            spec("mlp.model(widths = [4, 16, 2])", &data(""), ""),
            "data.safetensors",
            Box::new(|p| write_safetensors(p, &regression())),
            &["data.safetensors", "3 inputs per sample, but the model takes 4"],
        ),
        (
            spec("mlp.model(widths = [2, 16, 2])", &data(""), ""),
            "data.safetensors",
            Box::new(|p| write_safetensors(p, &classes())),
            &["class labels up to 2, but the model gives 2 outputs"],
        ),
        (
            spec("mlp.model(widths = [2, 16, 3])", &data(""), "  loss = mse\n"),
            "data.safetensors",
            Box::new(|p| write_safetensors(p, &classes())),
            &["`loss = mse` needs target values", "class labels"],
        ),
        (
            spec(mlp, &data(""), ""),
            "data.safetensors",
            Box::new(|p| {
                std::fs::write(p, b"\x10\x00\x00\x00\x00\x00\x00\x00not a header").unwrap();
            }),
            &["data.safetensors", "cannot be read"],
        ),
        (
            spec(mlp, &data(""), ""),
            "data.safetensors",
            Box::new(|p| {
                let mut arrays = regression();
                arrays[1] = floats("y", vec![95, 2], &vec![0.0; 190]);
                write_safetensors(p, &arrays);
            }),
            &["`x` has 96 samples but `y` has 95"],
        ),
        (
            spec(mlp, "tensors(\"data.csv\")", ""),
            "data.csv",
            Box::new(|p| std::fs::write(p, "1,2,3\n").unwrap()),
            &["data.csv", "reads a `.safetensors` file, a `.npz` archive, or a folder"],
        ),
    ];
    for (spec_text, file, write, expected) in cases {
        let stderr = failure(&spec_text, file, write);
        for text in expected {
            assert!(stderr.contains(text), "expected `{text}` in:\n{stderr}");
        }
    }
}
