//! `bid export`: the spec, its imports and files, its open parameters and a cost forecast, as
//! one bid (`bid::bid_bundle`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{exporter, named_files, path_refusals, refused, slashed, torchscript_models};
use crate::bid::archive;
use crate::bid::bid_bundle::{BID_FORMAT, BID_MANIFEST, BidForecast, BidManifest, BidParam};
use crate::compile::{ParamType, Program};
use crate::failure::Failure;
use crate::ops::Session;
use crate::source::SourceMap;
use crate::study::bundle::write_archive;

/// What `bid export` wrote.
pub struct BidExported {
    pub files: usize,
    pub bytes: u64,
    pub params: usize,
    pub torchscript: Vec<String>,
    pub forecast: BidForecast,
}

/// Writes the bid of `spec` (checked as `program` from `sources`) to `out`. With a session,
/// the bid carries the forecast of its cost on this machine (`plan --cost`'s).
pub fn export(
    spec: &Path,
    program: &Program,
    sources: &SourceMap,
    forecast_session: Option<&Session>,
    out: &Path,
) -> Result<BidExported, Failure> {
    let spec_abs = spec.canonicalize().unwrap_or_else(|_| spec.to_path_buf());
    let folder = spec_abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = crate::project_config::ProjectConfig::discover(&folder)?
        .map_or(folder, |config| config.root);
    let root = root.canonicalize().unwrap_or(root);
    let refusals = path_refusals(program, &root, &[]);
    if !refusals.is_empty() {
        return Err(refused(&format!("the bid of {}", spec.display()), &refusals));
    }
    let mut paths: Vec<PathBuf> = sources.files().filter_map(|s| s.path.clone()).collect();
    paths.extend(named_files(program).iter().map(|f| f.path.to_path_buf()));
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for path in &paths {
        let absolute = path.canonicalize().unwrap_or_else(|_| path.clone());
        let relative = absolute.strip_prefix(&root).map_err(|_| {
            refused(
                &format!("the bid of {}", spec.display()),
                &[format!("{} is outside the project {}", absolute.display(), root.display())],
            )
        })?;
        let bytes = std::fs::read(&absolute).map_err(|err| {
            Failure::bad_input(format!("cannot read {}: {err}", absolute.display()))
        })?;
        contents.insert(format!("spec/{}", slashed(relative)), bytes);
    }
    let spec_relative = slashed(spec_abs.strip_prefix(&root).unwrap_or(&spec_abs));
    let spec_digest =
        blake3::hash(&contents[&format!("spec/{spec_relative}")]).to_hex().to_string();
    let torchscript = torchscript_models(program)
        .iter()
        .map(|p| slashed(p.strip_prefix(&root).unwrap_or(p)))
        .collect();
    let forecast = match forecast_session {
        None => BidForecast::No { why: "left out by `bid export --no-cost`".into() },
        Some(session) => forecast(spec, program, session)?,
    };
    let contents: Vec<(String, Vec<u8>)> = contents.into_iter().collect();
    let manifest = BidManifest {
        format: BID_FORMAT,
        study: spec.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
        spec: spec_relative,
        spec_digest,
        files: archive::listing(&contents),
        params: open_params(program),
        torchscript,
        forecast,
        exported_by: exporter(),
    };
    let bytes = write_archive(out, BID_MANIFEST, &manifest, &contents)?;
    Ok(BidExported {
        files: contents.len(),
        bytes,
        params: manifest.params.len(),
        torchscript: manifest.torchscript,
        forecast: manifest.forecast,
    })
}

/// The spec's open parameters.
pub(super) fn open_params(program: &Program) -> Vec<BidParam> {
    program
        .params()
        .iter()
        .map(|param| BidParam {
            name: param.name.clone(),
            ty: param.ty.to_string(),
            doc: param.doc.clone(),
        })
        .collect()
}

/// The forecast of `plan --cost`, per instance; what cannot be priced (a TorchScript model)
/// says why. A spec whose `file`/`files` parameters are open is priced with one stand-in file
/// bound to each (its checkpoint numbered 1): what it costs per checkpoint the owner binds.
/// Other open parameters (a model, a number) decide the cost themselves: no forecast then.
fn forecast(spec: &Path, program: &Program, session: &Session) -> Result<BidForecast, Failure> {
    let scratch = tempfile::tempdir()
        .map_err(|err| Failure::environment(format!("cannot make a scratch folder: {err}")))?;
    let mut binds = Vec::new();
    for param in program.params() {
        let stand_in = scratch.path().join(format!("{}_step_1.safetensors", param.name));
        let value = match param.ty {
            ParamType::Files | ParamType::File => stand_in.display().to_string(),
            ParamType::Model
            | ParamType::Data
            | ParamType::Number
            | ParamType::Integer
            | ParamType::String
            | ParamType::Boolean => {
                return Ok(BidForecast::No {
                    why: format!(
                        "its cost depends on `{}` ({}), which the owner binds",
                        param.name, param.ty
                    ),
                });
            }
        };
        std::fs::write(&stand_in, b"").map_err(|err| {
            Failure::environment(format!("cannot write {}: {err}", stand_in.display()))
        })?;
        binds.push(format!("{}={value}", param.name));
    }
    let per_checkpoint = !binds.is_empty();
    let bound = match super::check_bound(spec, &[], &binds, None)? {
        super::Checked::Program(bound, _) => bound,
        super::Checked::Diagnostics(..) => {
            return Ok(BidForecast::No {
                why: "the spec does not check with stand-in files".into(),
            });
        }
    };
    let Ok(plan) = crate::plan::plan(&bound) else {
        return Ok(BidForecast::No { why: "the spec cannot be planned".into() });
    };
    let calibrated = crate::ops::cost_calibration::rates(session, false, &mut crate::ops::Quiet)?;
    let cached = vec![false; plan.graph.node_count()];
    let made = crate::plan::cost::forecast(
        &plan,
        &calibrated.rates,
        &cached,
        session.options.jobs,
        session.options.max_batch,
    );
    let instances = plan
        .order
        .iter()
        .map(|&node| {
            let seconds = match &made.instances[node.index()] {
                crate::plan::cost::InstanceForecast::Seconds { alone, .. } => Ok(*alone),
                crate::plan::cost::InstanceForecast::Unknown(why) => Err((*why).to_owned()),
                crate::plan::cost::InstanceForecast::Cached => Ok(0.0),
            };
            crate::bid::bid_bundle::ForecastLine {
                instance: plan.graph[node].display_name(),
                seconds,
            }
        })
        .collect();
    Ok(BidForecast::Yes { jobs: made.jobs, total_seconds: made.total, instances, per_checkpoint })
}
