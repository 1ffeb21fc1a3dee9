//! Whether a verify binds what a lock's run bound: every locked binding given again, to the same
//! value, and every file a `file`/`files` binding matched the same bytes (by BLAKE3 digest) as
//! when the lock was written. A bound study is reproducible only on the files it was run on, so
//! anything else is refused before recomputing, with what differs.

use std::path::Path;

use crate::failure::Failure;

use super::lock::LockedBinding;

/// Refuses a verify whose bindings (`here`, as the lock would record them now) differ from the
/// lock's.
pub fn check(
    locked: &[LockedBinding],
    here: &[LockedBinding],
    lock_file: &Path,
) -> Result<(), Failure> {
    let lock = lock_file.display();
    for was in locked {
        let Some(now) = here.iter().find(|now| now.name == was.name) else {
            return Err(Failure::bad_input(format!(
                "{lock} was written by a run with `--bind {}={}` ({}), and this verify does not \
                 bind `{}`",
                was.name, was.value, was.ty, was.name
            ))
            .with_hint(format!(
                "bind it as the locked run did: `--bind {}={}`",
                was.name, was.value
            )));
        };
        if was.files.is_empty() && now.files.is_empty() && now.value != was.value {
            return Err(Failure::bad_input(format!(
                "`{}` is bound to `{}`, and {lock} was written with `{}`",
                was.name, now.value, was.value
            ))
            .with_hint(format!(
                "bind it as the locked run did: `--bind {}={}`",
                was.name, was.value
            )));
        }
        for file in &was.files {
            match now.files.iter().find(|f| f.path == file.path) {
                None => {
                    return Err(Failure::bad_input(format!(
                        "the locked run's `{}` read `{}`, which `--bind {}={}` does not match \
                         here",
                        was.name, file.path, now.name, now.value
                    ))
                    .with_hint("bind the files the locked run read (the lock lists each)"));
                }
                Some(found) if found.digest != file.digest => {
                    return Err(Failure::bad_input(format!(
                        "the bound file `{}` (parameter `{}`) changed since {lock} was written: \
                         its digest is {}, the lock has {}",
                        file.path,
                        was.name,
                        short(&found.digest),
                        short(&file.digest)
                    ))
                    .with_hint(
                        "verify against the files the locked run read, or rerun the study to \
                         lock the new ones",
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = now.files.iter().find(|f| !was.files.iter().any(|w| w.path == f.path))
        {
            return Err(Failure::bad_input(format!(
                "`--bind {}={}` matches `{}`, which the locked run did not read",
                now.name, now.value, extra.path
            ))
            .with_hint("bind exactly the files the locked run read (the lock lists each)"));
        }
    }
    if let Some(extra) = here.iter().find(|now| !locked.iter().any(|was| was.name == now.name)) {
        return Err(Failure::bad_input(format!(
            "`{}` is bound here, and {lock} records no binding of it",
            extra.name
        ))
        .with_hint("verify with the bindings the locked run used (the lock lists them)"));
    }
    Ok(())
}

/// A digest's first 12 characters, enough to tell two apart in a message.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
