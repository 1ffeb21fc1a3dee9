//! The files of a `checkpoint` step that imports checkpoints made elsewhere: its `files`
//! pattern listed when the plan is made, and each file's training step read from its name
//! (`step_from`, by default the last number in the name). Each file becomes one instance, keyed
//! by the file's content digest like any file a step reads, so a new file adds an instance and
//! leaves the others cached.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::compile::CheckedStep;
use crate::compile::value::{Value, ValueKind};
use crate::diagnostic::Diagnostic;

/// One checkpoint file: where it is, how the spec's pattern names it, and its training step.
pub struct CheckpointFile {
    pub path: PathBuf,
    pub written: String,
    pub step: i64,
}

/// The files of a checkpoint step, by training step; `None` for a step without `files`.
pub fn discover(step: &CheckedStep) -> Result<Option<Vec<CheckpointFile>>, Box<Diagnostic>> {
    let Some(files) = step.fields.get("files") else { return Ok(None) };
    let ValueKind::File { written, path } = &files.kind else { return Ok(None) };
    let error = |value: &Value, message: String, hint: String| {
        Box::new(Diagnostic::error(value.origin.file, value.origin.span, message).with_hint(hint))
    };
    let step_from = step.fields.get("step_from");
    let pattern = match step_from.map(|v| &v.kind) {
        Some(ValueKind::Str(text)) => Regex::new(text).map_err(|e| {
            let value = step_from.expect("matched above");
            error(
                value,
                format!("`step_from` is not a regular expression: {}", e.to_string().trim()),
                "write one whose first group is the step, e.g. `\"ckpt_(\\\\d+)\"`".into(),
            )
        })?,
        _ => Regex::new(r"(\d+)\D*$").expect("a valid expression"),
    };
    let listed = glob::glob(&path.to_string_lossy()).map_err(|e| {
        error(
            files,
            format!("`files` is not a valid pattern: {e}"),
            "use `*` for any part of a name, e.g. `runs/*.safetensors`".into(),
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let files_listed: Vec<PathBuf> =
        listed.filter_map(Result::ok).filter(|f| f.is_file()).collect();
    // One file whose name has no number, with no `step_from`, is a checkpoint at step 0.
    let lone = files_listed.len() == 1 && step_from.is_none();
    let mut found: Vec<CheckpointFile> = Vec::new();
    for file in files_listed {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let number = pattern
            .captures(&name)
            .and_then(|c| c.get(1).or_else(|| c.get(0)))
            .and_then(|m| m.as_str().parse::<i64>().ok())
            .or(lone.then_some(0))
            .ok_or_else(|| {
                error(
                    step_from.unwrap_or(files),
                    format!("cannot read a training step from the file name `{name}`"),
                    "give `step_from`, a regular expression whose first group is the step \
                     (`step_from = \"ckpt_(\\\\d+)\"`)"
                        .into(),
                )
            })?;
        if let Some(same) = found.iter().find(|f| f.step == number) {
            return Err(error(
                step_from.unwrap_or(files),
                format!(
                    "`{}` and `{name}` are both read as step {number}",
                    same.path.file_name().unwrap_or_default().to_string_lossy()
                ),
                "each checkpoint needs its own step: make `step_from` tell them apart, or \
                 narrow `files`"
                    .into(),
            ));
        }
        let relative = file
            .strip_prefix(&base)
            .map_or_else(|_| name.clone(), |r| r.to_string_lossy().into_owned());
        let folder = Path::new(written.as_str()).parent().unwrap_or(Path::new(""));
        found.push(CheckpointFile {
            written: folder.join(relative).to_string_lossy().into_owned(),
            path: file,
            step: number,
        });
    }
    if found.is_empty() {
        return Err(error(
            files,
            format!("`files = \"{written}\"` matches no file"),
            format!("it is looked for in {}", base.display()),
        ));
    }
    found.sort_by_key(|f| f.step);
    Ok(Some(found))
}
