//! The user's own model and checkpoints, through the real worker, on the committed fixture
//! (`tests/fixtures/torchscript/`, made by its `make_fixture.py` with PyTorch 2.13.0): a
//! TorchScript module trains with its parameters' dotted names, checkpoints made in PyTorch are
//! imported and measured as PyTorch measures them, and each kind of bad input is refused naming
//! the file and the tensor.

use std::path::Path;

use super::run::Project;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torchscript");

/// A project holding `spec` and a copy of the fixture's files.
fn with_fixture(spec: &str) -> Project {
    let project = Project::new(spec);
    copy_dir(Path::new(FIXTURE), project.dir.path());
    project
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn output(project: &Project, instance: &str, name: &str) -> Vec<u8> {
    let digest = project.results()[instance]["outputs"][name].as_str().unwrap().to_owned();
    std::fs::read(project.store().join("blobs").join(&digest[..2]).join(digest)).unwrap()
}

fn metric(project: &Project, instance: &str, name: &str) -> f64 {
    project.results()[instance]["metrics"][name].as_f64().unwrap()
}

#[test]
fn a_torchscript_model_trains_and_its_checkpoints_keep_the_dotted_names() {
    let project = with_fixture(
        "train mine {\n  model = torchscript.model(\"two_layer.pt\")\n  \
         data = tensors(\"data.safetensors\")\n  optimizer = sgd(lr = 0.1)\n  batch_size = 64\n  \
         steps = 300\n  seed = 0\n  checkpoints = [1, 300]\n}\n\
         estimate fit on mine { observable = loss() }\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.counts(), (3, 0, 0, 0), "{}", run.stderr());
    let (first, last) = (metric(&project, "fit@1", "loss"), metric(&project, "fit@300", "loss"));
    assert!(last < 0.5 * first, "the loss went from {first} to {last}");
    let (start, end) =
        (output(&project, "mine", "checkpoint@1"), output(&project, "mine", "checkpoint@300"));
    assert_ne!(start, end, "the parameters did not change");
    for name in ["encoder.linear.weight", "encoder.linear.bias", "head.weight", "head.bias"] {
        let quoted = format!("\"{name}\"");
        assert!(end.windows(quoted.len()).any(|w| w == quoted.as_bytes()), "no `{name}`");
    }
}

#[test]
fn an_imported_checkpoint_estimates_exactly_as_the_trained_one_it_was_copied_from() {
    // The LLC of a checkpoint devspec trained, and of the same file imported: the same
    // parameters, data, sampler and seed (0 for both steps) give the same chains, bit for bit.
    let llc = "observable = llc(sampler = sgld(lr = 1e-3, localization = 100), chains = 2, \
               draws = 60, burnin = 20, batch_size = 64)";
    let trained = with_fixture(&format!(
        "train mine {{\n  model = torchscript.model(\"two_layer.pt\")\n  \
         data = tensors(\"data.safetensors\")\n  optimizer = sgd(lr = 0.1)\n  \
         batch_size = 64\n  steps = 200\n  seed = 0\n  checkpoints = [200]\n}}\n\
         estimate llc on mine {{ {llc} }}\n"
    ));
    assert_eq!(trained.run(&[]).counts(), (2, 0, 0, 0));
    let imported = with_fixture(&format!(
        "checkpoint theirs {{\n  model = torchscript.model(\"two_layer.pt\")\n  \
         files = \"copied/step_200.safetensors\"\n  data = tensors(\"data.safetensors\")\n}}\n\
         estimate llc on theirs {{ {llc} }}\n"
    ));
    let copied = imported.dir.path().join("copied");
    std::fs::create_dir_all(&copied).unwrap();
    std::fs::write(copied.join("step_200.safetensors"), output(&trained, "mine", "checkpoint@200"))
        .unwrap();
    assert_eq!(imported.run(&[]).counts(), (2, 0, 0, 0));
    for name in ["llc_mean", "llc_se", "init_loss"] {
        assert_eq!(metric(&trained, "llc@200", name), metric(&imported, "llc@200", name), "{name}");
    }
}

#[test]
fn checkpoints_made_in_pytorch_are_imported_and_measured_as_pytorch_measures_them() {
    let project = with_fixture(
        "checkpoint theirs {\n  model = torchscript.model(\"two_layer.pt\")\n  \
         files = \"runs/*.safetensors\"\n  data = tensors(\"data.safetensors\")\n}\n\
         estimate fit on theirs { observable = loss() }\n\
         estimate llc on theirs {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = \
         100), chains = 2, draws = 50, burnin = 20, batch_size = 64)\n}\n",
    );
    let run = project.run(&[]);
    assert_eq!(run.counts(), (6, 0, 0, 0), "{}", run.stderr());
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURE).join("expected_losses.json")).unwrap(),
    )
    .unwrap();
    for step in [10, 20] {
        let ours = metric(&project, &format!("fit@{step}"), "loss");
        let theirs = expected[step.to_string()].as_f64().unwrap();
        // Both are f32 forward passes over 256 samples, summed in another order: 1e-5 relative
        // is far above their rounding and far below the change between checkpoints (2x).
        assert!((ours - theirs).abs() < 1e-5 * theirs, "step {step}: {ours} against {theirs}");
        let llc = metric(&project, &format!("llc@{step}"), "llc_mean");
        assert!(llc.is_finite(), "llc at {step}: {llc}");
    }
    // `model.state_dict()` saved by torch.save at step 20 measures as its safetensors copy.
    let state_dicts = with_fixture(
        "checkpoint theirs {\n  model = torchscript.model(\"two_layer.pt\")\n  \
         files = \"state_dicts/*.pt\"\n  data = tensors(\"data.safetensors\")\n}\n\
         estimate fit on theirs { observable = loss() }\n",
    );
    assert_eq!(state_dicts.run(&[]).counts(), (2, 0, 0, 0));
    assert_eq!(metric(&state_dicts, "fit@20", "loss"), metric(&project, "fit@20", "loss"));
    // A new file adds an instance and leaves the others cached.
    std::fs::copy(
        project.dir.path().join("runs/ckpt_20.safetensors"),
        project.dir.path().join("runs/ckpt_25.safetensors"),
    )
    .unwrap();
    assert_eq!(project.run(&[]).counts(), (3, 6, 0, 0));
}

#[test]
fn bad_checkpoints_and_modules_are_refused_naming_the_file_and_the_tensor() {
    let spec = |model: &str, files: &str| {
        format!(
            "checkpoint theirs {{\n  model = torchscript.model(\"{model}\")\n  \
             files = \"{files}\"\n  data = tensors(\"data.safetensors\")\n}}\n\
             estimate fit on theirs {{ observable = loss() }}\n"
        )
    };
    for (files, expected) in [
        (
            "bad/wrong_shape.safetensors",
            "`head.weight` has shape [3, 8], but the model's is [2, 8]",
        ),
        ("bad/missing_tensor.safetensors", "no tensor `head.bias`, which the model has"),
        ("bad/truncated.safetensors", "not a readable safetensors file"),
        ("bad/truncated.pt", "not a PyTorch zip archive"),
    ] {
        let project = with_fixture(&spec("two_layer.pt", files));
        let run = project.run(&[]);
        assert_eq!(run.counts().2, 1, "{files}: {}", run.stderr());
        let stderr = run.stderr();
        assert!(stderr.contains(expected), "{files}: expected {expected:?} in\n{stderr}");
        assert!(stderr.contains(files.rsplit('/').next().unwrap()), "{files} unnamed:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A pattern that matches nothing is refused before anything runs, by `check` too.
    let project = with_fixture(&spec("two_layer.pt", "runs/*.ckpt"));
    let out = project.verb_output(&["check", "{spec}"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("runs/*.ckpt") && stderr.contains("no file matches"), "{stderr}");
    assert_eq!(project.run(&[]).code(), Some(2));
    // A file that is not TorchScript.
    let project = with_fixture(&spec("data.safetensors", "runs/*.safetensors"));
    let run = project.run(&[]);
    assert!(run.stderr().contains("not a TorchScript module"), "{}", run.stderr());
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
}
