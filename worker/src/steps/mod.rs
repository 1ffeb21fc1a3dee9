//! The step implementations the worker runs, one per kind of [`StepParams`]: train,
//! checkpoint, estimate, and `test`, the executor's own test step.
//!
//! A request carries a group of sibling members; [`Member`] is one of them as its step sees it:
//! where it writes its outputs (each streamed to the scheduler as soon as it is complete) and
//! how it reports its end. Each step is served its members with their typed parameters.

mod checkpoint_step;
mod estimate_step;
mod test_step;
mod train_step;

use devspec_protocol::params::{Model, StepParams};
use devspec_protocol::{
    Reply, StepRequest, StepResult, WorkerError, WorkerErrorKind, store_layout,
};

use crate::train::member_threads;

/// A member with its step's parameters.
pub type Typed<'a, 'm, P> = (&'a Member<'m>, &'a P);

/// Runs a group of members, passing every reply but the last (`StepsDone`) to `send`.
pub fn run(id: u64, members: &[StepRequest], send: &mut dyn FnMut(&Reply)) {
    // The thread budget the scheduler gave this step; part of its cache key, since a different
    // thread count can change the last bits of a reduction. A group shares one budget.
    let threads = members.iter().map(|m| m.threads).max().unwrap_or(1).max(1);
    // A transformer's threads run its members side by side, each pass on one thread
    // (`train::member_threads`): no number then depends on them or on the group's size.
    let side_by_side =
        members.iter().all(|m| matches!(m.step.model(), Some(Model::Transformer(_))));
    member_threads::set_budget(if side_by_side {
        usize::try_from(threads).unwrap_or(1)
    } else {
        1
    });
    let intra_op = if side_by_side { 1 } else { threads };
    tch::set_num_threads(i32::try_from(intra_op).unwrap_or(1));
    let members: Vec<Member<'_>> =
        members.iter().enumerate().map(|(index, request)| Member { id, index, request }).collect();
    // The scheduler groups only members of one kind; a mixed group is still served, by kind.
    let (mut tests, mut trains, mut checkpoints, mut estimates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for member in &members {
        match &member.request.step {
            StepParams::Test(params) => tests.push((member, params)),
            StepParams::Train(params) => trains.push((member, &**params)),
            StepParams::Checkpoint(params) => checkpoints.push((member, &**params)),
            StepParams::Estimate(params) => estimates.push((member, &**params)),
        }
    }
    if !tests.is_empty() {
        test_step::run(&tests, send);
    }
    if !trains.is_empty() {
        train_step::run(&trains, send);
    }
    if !checkpoints.is_empty() {
        checkpoint_step::run(&checkpoints, send);
    }
    if !estimates.is_empty() {
        estimate_step::run(&estimates, send);
    }
}

/// A write into the store that failed: the environment's fault whatever the cause (a store
/// this worker cannot write is not the step's doing), worded as `devspec` words it when the
/// disk is full or read-only, so the run stops with one clear message.
pub fn store_error(store: &std::path::Path, err: &std::io::Error) -> WorkerError {
    WorkerError {
        kind: WorkerErrorKind::Environment,
        message: store_layout::unwritable_store(store, err)
            .unwrap_or_else(|| format!("cannot write into the store {}: {err}", store.display())),
    }
}

/// One member of a request's group.
pub struct Member<'a> {
    id: u64,
    index: usize,
    pub request: &'a StepRequest,
}

impl Member<'_> {
    /// Stores `bytes` as this member's output `name`; with `stream`, tells the scheduler at once
    /// (a checkpoint), so what reads it can start before this step ends.
    pub fn write_output(
        &self,
        name: &str,
        bytes: &[u8],
        stream: bool,
        send: &mut dyn FnMut(&Reply),
    ) -> Result<String, WorkerError> {
        let store = std::path::Path::new(&self.request.store);
        let digest =
            store_layout::put_blob(store, bytes).map_err(|err| store_error(store, &err))?;
        if stream {
            self.stream_output(name, &digest, send);
        }
        Ok(digest)
    }

    /// Tells the scheduler that output `name` is the blob `digest`, already in the store (a
    /// checkpoint an earlier run of the same trajectory reached).
    pub fn stream_output(&self, name: &str, digest: &str, send: &mut dyn FnMut(&Reply)) {
        send(&Reply::Output {
            id: self.id,
            member: self.index,
            name: name.to_owned(),
            digest: digest.to_owned(),
        });
    }

    /// Reports this member's end.
    pub fn finish(&self, send: &mut dyn FnMut(&Reply), outcome: Result<StepResult, WorkerError>) {
        send(&match outcome {
            Ok(result) => Reply::StepDone { id: self.id, member: self.index, result },
            Err(error) => Reply::StepFailed { id: self.id, member: self.index, error },
        });
    }

    /// Progress of the whole group (one computation), sent once, by its first member.
    pub fn progress(&self, send: &mut dyn FnMut(&Reply), done: u64, total: u64, message: String) {
        send(&Reply::Progress { id: self.id, done, total, message, losses: Vec::new() });
    }

    /// A training group's progress, with each member's loss at `done` (for the display).
    /// `group` is the members trained together, in the order of `losses`; the reply lists the
    /// losses by each member's place in the request (a request may be trained as several
    /// groups, when members resume from different steps or one fails to start), `None` for
    /// members of other groups.
    pub fn progress_of_group(
        group: &[&Member<'_>],
        send: &mut dyn FnMut(&Reply),
        done: u64,
        total: u64,
        losses: &[Option<f64>],
    ) {
        let Some(first) = group.first() else { return };
        let places = group.iter().map(|m| m.index + 1).max().unwrap_or(0);
        let mut by_place = vec![None; places];
        for (member, loss) in group.iter().zip(losses) {
            by_place[member.index] = *loss;
        }
        let message = format!("step {done}/{total}");
        send(&Reply::Progress { id: first.id, done, total, message, losses: by_place });
    }
}

#[cfg(test)]
mod tests {
    use devspec_protocol::{Reply, StepRequest};

    use super::Member;

    fn request() -> StepRequest {
        serde_json::from_value(serde_json::json!({
            "kind": "test",
            "params": { "value": 1, "sleep_ms": 0, "tag": 0, "fail": false, "crash": false,
                        "outputs": 1 },
            "display_name": "t", "inputs": [], "store": "", "threads": 1,
        }))
        .unwrap()
    }

    #[test]
    fn a_groups_losses_are_sent_by_each_members_place_in_the_request() {
        // Members 1 and 3 of a request trained as one group (0 and 2 resumed elsewhere).
        let request = request();
        let (one, three) = (
            Member { id: 7, index: 1, request: &request },
            Member { id: 7, index: 3, request: &request },
        );
        let mut sent = Vec::new();
        Member::progress_of_group(
            &[&one, &three],
            &mut |r| sent.push(r.clone()),
            5,
            10,
            &[Some(0.5), Some(0.25)],
        );
        let [Reply::Progress { id, losses, .. }] = sent.as_slice() else { panic!("{sent:?}") };
        assert_eq!(*id, 7);
        assert_eq!(losses, &[None, Some(0.5), None, Some(0.25)]);
    }
}
