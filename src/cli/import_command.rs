//! `devspec import BUNDLE [DIR]`: checks a bundle completely, then unpacks it into a new folder
//! (see `study::bundle`). A refused bundle writes nothing.

use super::args::ImportArgs;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::study::bundle;

pub fn run(args: &ImportArgs) -> Result<ExitCode, Failure> {
    let here = std::env::current_dir()
        .map_err(|err| Failure::environment(format!("cannot read the current folder: {err}")))?;
    let checked = bundle::check(&args.bundle, args.dir.as_deref(), &here, args.max_size)?;
    let imported = bundle::unpack(&args.bundle, &checked)?;
    let manifest = &checked.manifest;
    outln!(
        "imported study `{}` into {}: {} study file(s), {} result(s), every digest checked",
        manifest.study,
        checked.dir.display(),
        imported.study_files,
        imported.results
    );
    outln!(
        "sender: devspec {}{}, {} thread(s) per step, device {} (in {}/devspec.toml)",
        manifest.exported_by.devspec,
        if manifest.exported_by.commit.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                &manifest.exported_by.commit[..manifest.exported_by.commit.len().min(10)]
            )
        },
        manifest.settings.threads_per_step,
        manifest.settings.device,
        checked.dir.display()
    );
    if imported.left_out > 0 {
        outln!(
            "{} checkpoint and optimizer state(s) were left out of the bundle: `devspec run` \
             retrains them, and reads every other result from the bundle when they come out the same",
            imported.left_out
        );
    }
    let spec = checked.spec_path();
    outln!(
        "next: `devspec report {0}` draws the sender's figures; `devspec verify {0}` recomputes and compares",
        spec.display()
    );
    Ok(ExitCode::Success)
}
