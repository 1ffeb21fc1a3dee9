//! The long table: a row per instance and training step (see the module's documentation).
//! Every row has `instance`, the sweep axes and `step`; then what the step kind records there.

use arrow_array::ArrayRef;
use devspec_protocol::StepKind;
use devspec_protocol::results::{self, TrainResult};

use super::column;
use super::wide;
use crate::detect::Detection;
use crate::ops::{StepResults, StepRow};

pub fn columns(results: &StepResults) -> Vec<(String, ArrayRef)> {
    let done: Vec<&StepRow> = results.rows.iter().filter(|r| r.served().is_some()).collect();
    match results.kind {
        StepKind::Train => {
            // A row per recorded step of each instance's loss series.
            let mut owners = Vec::new();
            let (mut steps, mut train, mut test) = (Vec::new(), Vec::new(), Vec::new());
            let mut with_test = false;
            for &row in &done {
                let Some(series) = row
                    .result()
                    .and_then(|b| results::decode::<TrainResult>(b).ok())
                    .map(|t| t.series)
                else {
                    continue;
                };
                with_test |= !series.test_loss.is_empty();
                for (index, &step) in series.steps.iter().enumerate() {
                    owners.push(row);
                    steps.push(Some(i64::try_from(step).unwrap_or(i64::MAX)));
                    train.push(series.train_loss.get(index).copied().and_then(column::finite));
                    test.push(series.test_loss.get(index).copied().and_then(column::finite));
                }
            }
            let mut columns = leading(&owners);
            columns.push(("step".to_owned(), column::ints(steps)));
            columns.push(("train_loss".to_owned(), column::floats(train)));
            if with_test {
                columns.push(("test_loss".to_owned(), column::floats(test)));
            }
            columns
        }
        StepKind::Detect => {
            // A row per boundary, at the first checkpoint of its interval.
            let mut owners = Vec::new();
            let (mut from, mut to, mut kind, mut strength) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for &row in &done {
                let Some(detection) =
                    row.result().and_then(|b| results::decode::<Detection>(b).ok())
                else {
                    continue;
                };
                for boundary in detection.boundaries {
                    owners.push(row);
                    from.push(Some(boundary.interval[0]));
                    to.push(Some(boundary.interval[1]));
                    kind.push(boundary.kind);
                    strength.push(column::finite(boundary.strength));
                }
            }
            let mut columns = leading(&owners);
            columns.push(("step".to_owned(), column::ints(from)));
            columns.push(("step_to".to_owned(), column::ints(to)));
            columns
                .push(("kind".to_owned(), column::strings(kind.iter().map(|k| Some(k.as_str())))));
            columns.push(("strength".to_owned(), column::floats(strength)));
            columns
        }
        // A row per instance at its checkpoint, with its metrics: the wide table without its
        // lists, its status (always done here) and key.
        StepKind::Estimate | StepKind::Checkpoint | StepKind::Report | StepKind::Test => {
            let mut columns = leading(&done);
            columns.push(("step".to_owned(), column::ints(done.iter().map(|r| r.checkpoint))));
            columns.extend(wide::metrics(&done));
            columns
        }
    }
}

/// `instance` and the sweep axes, for rows owned by these instances (one may own many rows).
fn leading(owners: &[&StepRow]) -> Vec<(String, ArrayRef)> {
    let coords: Vec<&[(String, String)]> = owners.iter().map(|r| r.coords.as_slice()).collect();
    let mut columns = vec![(
        "instance".to_owned(),
        column::strings(owners.iter().map(|r| Some(r.instance.as_str()))),
    )];
    columns.extend(wide::axes(&coords));
    columns
}
