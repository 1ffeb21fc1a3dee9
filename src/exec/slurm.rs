//! Running a group of sibling instances as a Slurm batch job, the way Snakemake's and Nextflow's
//! Slurm executors do: the driver (this process) keeps the DAG; each group becomes one
//! `sbatch --parsable` job that runs `devspec-worker --one-shot` against the store, which the
//! nodes share. The job's folder in the store holds everything about it:
//!
//! ```text
//! STORE/slurm/GROUP/request.json   the request (the same the local pool sends a worker)
//! STORE/slurm/GROUP/job.sh         the batch script
//! STORE/slurm/GROUP/job.log        what the job wrote (Slurm's --output)
//! STORE/slurm/GROUP/replies.json   the worker's replies, rewritten whole as they come: the
//!                                  truth about what finished (streamed checkpoints included)
//! STORE/slurm/GROUP/exit           the worker's exit code, written by the script at its end
//! STORE/slurm/GROUP/job            the id of the job last submitted for it
//! STORE/slurm/keys/KEY.json        per instance key: its job id and group (`devspec status`)
//! ```
//!
//! `GROUP` is the digest of the members' keys, so a rerun of the same group finds the job an
//! earlier driver submitted and adopts it while Slurm still runs it. `squeue` says whether a
//! job is alive (`sacct` needs accounting, which clusters may not have); the replies file says
//! what it did. A job that ends without its final reply (node failure, time limit, preemption,
//! `scancel`) is reported with its Slurm state and the tail of its log and submitted again, for
//! the members that had not finished, up to a number of retries: a training run goes on from
//! the resume point its worker stored when Slurm signalled it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use devspec_protocol::{Reply, Request, RequestBody, StepRequest, store_layout};

/// Set when the driver is asked to stop (Ctrl-C, SIGTERM): every job it waits on is cancelled,
/// and no other is submitted.
pub fn interrupted() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// How the driver uses Slurm.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    /// The partition jobs go to (`None`: the cluster's default).
    pub partition: Option<String>,
    /// How many times a job that died without finishing is submitted again.
    pub retries: u32,
    /// How often the driver looks at its jobs.
    pub poll: Duration,
    /// Seconds before a job's time limit at which Slurm asks the worker to store a resume
    /// point (`--signal=B:USR1@N`).
    pub warn_before_limit: u32,
    /// How long a job may be out of Slurm's queue without its final reply before it counts
    /// as lost (three times as long once its script has written its exit code).
    pub lost_after: Duration,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            retries: 2,
            poll: Duration::from_millis(250),
            warn_before_limit: 60,
            lost_after: Duration::from_secs(5),
        }
    }
}

/// What a step asks the batch scheduler for (its `resources` field).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub cpus: Option<u32>,
    pub mem_gb: Option<f64>,
    pub gpus: Option<u32>,
    /// Slurm's time format (`90`, `2:00:00`), already converted from `"2h"`.
    pub time: Option<String>,
}

impl Resources {
    /// With the registry's default for `gpus` filled in: 1 for a step on CUDA, else none.
    #[must_use]
    pub fn with_device(&self, device: &str) -> Resources {
        let mut resources = self.clone();
        if resources.gpus.is_none() && device.starts_with("cuda") {
            resources.gpus = Some(1);
        }
        resources
    }

    /// The time limit in seconds, when it is known.
    fn seconds(&self) -> Option<u64> {
        let time = self.time.as_deref()?;
        let (days, clock) =
            time.split_once('-').map_or((0, time), |(d, c)| (d.parse().unwrap_or(0), c));
        let parts: Vec<u64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let seconds = match parts.as_slice() {
            [minutes] => minutes * 60,
            [minutes, seconds] => minutes * 60 + seconds,
            [hours, minutes, seconds] => hours * 3600 + minutes * 60 + seconds,
            _ => return None,
        };
        Some(days * 86400 + seconds)
    }
}

/// A step's `resources = { cpus, mem_gb, gpus, time }`, as far as it says anything.
pub fn resources_of(
    params: &std::collections::BTreeMap<String, crate::compile::value::Value>,
) -> Resources {
    use crate::compile::value::ValueKind;
    let Some(ValueKind::Record(fields)) = params.get("resources").map(|v| &v.kind) else {
        return Resources::default();
    };
    let whole = |name: &str| {
        fields
            .get(name)
            .and_then(crate::compile::value::Value::as_int)
            .and_then(|n| u32::try_from(n).ok())
    };
    Resources {
        cpus: whole("cpus"),
        mem_gb: fields.get("mem_gb").and_then(crate::compile::value::Value::as_f64),
        gpus: whole("gpus"),
        time: fields.get("time").and_then(|v| match &v.kind {
            ValueKind::Str(text) => slurm_time(text),
            _ => None,
        }),
    }
}

/// A step's `time = "30m"` in Slurm's format: minutes, or `H:MM:SS`. Accepts `s`, `m`, `h`, `d`
/// suffixes and Slurm's own formats (passed through); `None` for anything else.
pub fn slurm_time(text: &str) -> Option<String> {
    let text = text.trim();
    if text.contains(':') || text.contains('-') {
        return text
            .chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
            .then(|| text.to_owned());
    }
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return None,
    };
    // Slurm counts whole minutes; a limit below one is one.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let seconds = seconds.ceil().max(60.0) as u64;
    Some(format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60))
}

/// One group submitted as one job.
pub struct GroupJob<'a> {
    pub store: &'a Path,
    pub worker: &'a Path,
    pub worker_env: &'a [(String, String)],
    /// The members' requests, in the group's order; each member's key is in its request.
    pub members: Vec<StepRequest>,
    pub resources: Resources,
    /// The threads each step computes with: the CPUs a job asks for unless `cpus` says more.
    pub threads: u32,
    /// For the job's name in `squeue`.
    pub step: &'a str,
}

/// How a group's job ended when it did not finish.
#[derive(Debug, Clone, PartialEq)]
pub struct JobLost {
    pub message: String,
    /// The job's log, to explain.
    pub log: String,
}

/// Slurm job states in which the job is still alive.
const ALIVE: &[&str] = &[
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "STOPPED",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
];

impl GroupJob<'_> {
    /// The group's folder: named by its members' keys, so the same group finds its job again.
    fn folder(&self) -> PathBuf {
        let mut keys: Vec<&str> = self.members.iter().map(|m| m.key.as_str()).collect();
        keys.sort_unstable();
        let group = store_layout::digest(keys.join("\n").as_bytes());
        self.store.join("slurm").join(&group[..32])
    }

    /// Runs the group on Slurm. First, results that an earlier job of any of its members
    /// finished while no driver followed it are taken from that job's replies (never
    /// recomputed). Then it follows the group's job if an earlier driver's is still alive, else
    /// submits one for the members not finished; passes each reply on as it appears (progress,
    /// streamed checkpoints, finished members), mapped to this group's members by key; and
    /// resubmits the unfinished members of a job that died, up to `retries` times. The final
    /// reply, or why the group could not finish.
    pub fn run(
        &self,
        settings: &SlurmSettings,
        on_event: &mut dyn FnMut(&Reply),
    ) -> Result<Reply, JobLost> {
        if interrupted().load(Ordering::SeqCst) {
            return Err(lost("interrupted before it was submitted".to_owned()));
        }
        let folder = self.folder();
        std::fs::create_dir_all(&folder)
            .map_err(|e| lost(format!("cannot write {}: {e}", folder.display())))?;
        let mut unfinished: BTreeSet<usize> = (0..self.members.len()).collect();
        self.replay_finished(&mut unfinished, on_event);
        let mut attempt = 0;
        loop {
            if unfinished.is_empty() {
                return Ok(Reply::StepsDone { id: 1 });
            }
            if interrupted().load(Ordering::SeqCst) {
                return Err(lost("interrupted before it was submitted again".to_owned()));
            }
            // Job member index -> this group's member index.
            let (job, mapping, adopted) = if let Some((job, mapping)) = self.adoptable(&folder) {
                (job, mapping, true)
            } else {
                let mapping: Vec<usize> = unfinished.iter().copied().collect();
                let members = mapping.iter().map(|&i| self.members[i].clone()).collect();
                (self.submit(&folder, members, settings)?, mapping, false)
            };
            let outcome = watch(&folder, &job, settings, &mut |reply: &Reply| {
                let mapped = remap(reply, &mapping);
                if let Some(member) = finished_member(&mapped) {
                    unfinished.remove(&member);
                }
                on_event(&mapped);
            });
            match outcome {
                // An adopted job may have held fewer members: the rest are submitted next.
                Watched::Final(_) if adopted && !unfinished.is_empty() => {
                    let _ = std::fs::remove_file(folder.join("job"));
                }
                Watched::Final(reply) => return Ok(remap(&reply, &mapping)),
                Watched::Interrupted => {
                    return Err(lost(format!("interrupted: Slurm job {job} was cancelled")));
                }
                Watched::Lost(why) => {
                    attempt += 1;
                    if attempt > settings.retries || unfinished.is_empty() {
                        let mut why = why;
                        why.message = format!("{} (after {} submission(s))", why.message, attempt);
                        return Err(why);
                    }
                    on_event(&Reply::Progress {
                        id: 0,
                        done: 0,
                        total: 0,
                        message: format!(
                            "{}; submitting again ({attempt} of {})",
                            why.message, settings.retries
                        ),
                        losses: Vec::new(),
                    });
                    let _ = std::fs::remove_file(folder.join("job"));
                }
            }
        }
    }

    /// Passes on the results of members that a job no longer alive finished (its driver died
    /// before recording them): found through each member's key record, taken from that job's
    /// replies when every output they name is in the store.
    fn replay_finished(&self, unfinished: &mut BTreeSet<usize>, on_event: &mut dyn FnMut(&Reply)) {
        let mut seen_groups = BTreeSet::new();
        for index in unfinished.clone() {
            let key = &self.members[index].key;
            let Some(group) = key_record(self.store, key, "group") else { continue };
            if !seen_groups.insert(group.clone()) {
                continue;
            }
            let folder = self.store.join("slurm").join(&group);
            let Some((job, keys)) = job_and_keys(&folder) else { continue };
            if matches!(state(&job), Listed::In(s) if ALIVE.contains(&s.as_str())) {
                continue;
            }
            for reply in read_replies(&folder.join("replies.json")) {
                let Reply::StepDone { member, result, .. } = &reply else { continue };
                let Some(ours) = keys.get(*member).and_then(|k| self.index_of(k)) else { continue };
                let present = result
                    .outputs
                    .values()
                    .all(|digest| store_layout::blob_path(self.store, digest).is_file());
                if present && unfinished.remove(&ours) {
                    on_event(&Reply::StepDone { id: 1, member: ours, result: result.clone() });
                }
            }
        }
    }

    fn index_of(&self, key: &str) -> Option<usize> {
        self.members.iter().position(|m| m.key == key)
    }

    /// The job an earlier driver submitted in this group's folder, if Slurm still runs it and
    /// every member it computes is one of this group's; with each of its members' index here.
    fn adoptable(&self, folder: &Path) -> Option<(String, Vec<usize>)> {
        let (job, keys) = job_and_keys(folder)?;
        let mapping: Vec<usize> =
            keys.iter().map(|key| self.index_of(key)).collect::<Option<_>>()?;
        match state(&job) {
            Listed::In(state) if ALIVE.contains(&state.as_str()) => Some((job, mapping)),
            _ => None,
        }
    }

    fn submit(
        &self,
        folder: &Path,
        members: Vec<StepRequest>,
        settings: &SlurmSettings,
    ) -> Result<String, JobLost> {
        let keys: Vec<String> = members.iter().map(|m| m.key.clone()).collect();
        let request = Request::new(1, RequestBody::Steps { members });
        let write = |name: &str, bytes: &[u8]| {
            store_layout::write_atomically(self.store, &folder.join(name), bytes)
                .map_err(|e| lost(format!("cannot write the job's {name}: {e}")))
        };
        write("request.json", &serde_json::to_vec(&request).expect("requests serialize"))?;
        for stale in ["replies.json", "exit"] {
            let _ = std::fs::remove_file(folder.join(stale));
        }
        write("job.sh", self.script(folder, settings).as_bytes())?;
        let output =
            Command::new("sbatch").arg("--parsable").arg(folder.join("job.sh")).output().map_err(
                |e| lost(format!("cannot run sbatch: {e} (is Slurm's client on PATH?)")),
            )?;
        if !output.status.success() {
            return Err(lost(format!(
                "sbatch refused the job: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let job = stdout.trim().split(';').next().unwrap_or_default().to_owned();
        write("job", job.as_bytes())?;
        let group = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for key in keys {
            let record = serde_json::json!({ "job": job, "group": group });
            let _ = store_layout::write_replacing_unsynced(
                self.store,
                &key_record_path(self.store, &key),
                record.to_string().as_bytes(),
            );
        }
        Ok(job)
    }

    /// The batch script: Slurm's options, the pinned CPU kernels, then the worker in one-shot
    /// mode, with Slurm's warning before the time limit (USR1) and its TERM passed on, so a
    /// training run stores a resume point first.
    fn script(&self, folder: &Path, settings: &SlurmSettings) -> String {
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        let mut lines = vec![
            "#!/bin/bash".to_owned(),
            format!("#SBATCH --job-name=devspec-{}", self.step),
            format!("#SBATCH --output={}", folder.join("job.log").display()),
            "#SBATCH --nodes=1".to_owned(),
            "#SBATCH --ntasks=1".to_owned(),
            format!("#SBATCH --cpus-per-task={}", self.resources.cpus.unwrap_or(self.threads)),
            // A requeued job would run the script again under the same id, starting its
            // replies over: the driver resubmits instead, for the unfinished members only.
            "#SBATCH --no-requeue".to_owned(),
        ];
        if let Some(partition) = &settings.partition {
            lines.push(format!("#SBATCH --partition={partition}"));
        }
        if let Some(mem) = self.resources.mem_gb {
            lines.push(format!("#SBATCH --mem={}M", (mem * 1024.0).ceil()));
        }
        if let Some(gpus) = self.resources.gpus.filter(|&g| g > 0) {
            lines.push(format!("#SBATCH --gres=gpu:{gpus}"));
        }
        if let Some(time) = &self.resources.time {
            lines.push(format!("#SBATCH --time={time}"));
            // The warning comes at most half-way through, so a short job does not get it at once.
            let limit = self.resources.seconds().unwrap_or(u64::MAX);
            let warn = u64::from(settings.warn_before_limit).min(limit / 2).max(1);
            lines.push(format!("#SBATCH --signal=B:USR1@{warn}"));
        }
        for (name, value) in self.worker_env {
            lines.push(format!("export {name}='{}'", value.replace('\'', r"'\''")));
        }
        lines.push(format!(
            "{} --one-shot {} --result {} &",
            quote(self.worker),
            quote(&folder.join("request.json")),
            quote(&folder.join("replies.json"))
        ));
        lines.extend([
            "worker=$!".to_owned(),
            "trap 'kill -USR1 $worker' USR1".to_owned(),
            "trap 'kill -TERM $worker' TERM".to_owned(),
            // `wait` returns early when a trapped signal arrives: wait again until it ends.
            "while true; do wait $worker; code=$?; kill -0 $worker 2>/dev/null || break; done"
                .to_owned(),
            // A signal can interrupt the last wait as the worker ends: its status, if unread.
            "wait $worker 2>/dev/null; last=$?; [ $last -ne 127 ] && code=$last".to_owned(),
            format!("echo $code > {}", quote(&folder.join("exit"))),
            "exit $code".to_owned(),
        ]);
        lines.join("\n") + "\n"
    }
}

/// Follows a job until its final reply, its death without one, or an interruption. Its
/// replies are read every `poll`, its progress from a file of its own; a job that has left
/// Slurm's queue gets a grace period for its files to show on a shared file system (longer once
/// its script has written `exit`, since its replies are then surely coming).
fn watch(
    folder: &Path,
    job: &str,
    settings: &SlurmSettings,
    on_reply: &mut dyn FnMut(&Reply),
) -> Watched {
    let mut passed = 0;
    let mut progress = String::new();
    let mut last_alive = Instant::now();
    let pass_on = |passed: &mut usize, on_reply: &mut dyn FnMut(&Reply)| -> Option<Reply> {
        for reply in read_replies(&folder.join("replies.json")).into_iter().skip(*passed) {
            *passed += 1;
            if reply.is_final() {
                return Some(reply);
            }
            on_reply(&reply);
        }
        None
    };
    loop {
        if interrupted().load(Ordering::SeqCst) {
            cancel(job);
            // What the job finished before it stopped (its worker stores a training run's state
            // on the way out) is recorded, not lost.
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline
                && matches!(state(job), Listed::In(s) if ALIVE.contains(&s.as_str()))
            {
                std::thread::sleep(settings.poll);
            }
            let _ = pass_on(&mut passed, on_reply);
            forget(job);
            return Watched::Interrupted;
        }
        if let Some(reply) = pass_on(&mut passed, on_reply) {
            forget(job);
            return Watched::Final(reply);
        }
        if let Ok(text) = std::fs::read_to_string(folder.join("replies.json.progress"))
            && text != progress
            && let Ok(reply) = serde_json::from_str::<Reply>(&text)
        {
            progress = text;
            on_reply(&reply);
        }
        match state(job) {
            Listed::In(state) if ALIVE.contains(&state.as_str()) => last_alive = Instant::now(),
            // The controller did not answer, or has not listed the job yet: it may well run.
            Listed::Unknown => last_alive = Instant::now(),
            listed => {
                let grace = if folder.join("exit").exists() {
                    settings.lost_after * 3
                } else {
                    settings.lost_after
                };
                if last_alive.elapsed() < grace {
                    std::thread::sleep(settings.poll);
                    continue;
                }
                forget(job);
                if let Some(reply) = pass_on(&mut passed, on_reply) {
                    return Watched::Final(reply);
                }
                let state = match listed {
                    Listed::In(state) => Some(state),
                    _ => None,
                };
                return Watched::Lost(why_lost(job, state, folder));
            }
        }
        std::thread::sleep(settings.poll);
    }
}

/// A group folder's last job id and the keys of the members its request lists, in order.
fn job_and_keys(folder: &Path) -> Option<(String, Vec<String>)> {
    let job = std::fs::read_to_string(folder.join("job")).ok()?.trim().to_owned();
    let request: Request =
        serde_json::from_slice(&std::fs::read(folder.join("request.json")).ok()?).ok()?;
    let RequestBody::Steps { members } = request.body else { return None };
    Some((job, members.into_iter().map(|m| m.key).collect()))
}

/// Where a key's job record is: `STORE/slurm/keys/KEY.json`, `{"job", "group"}`.
fn key_record_path(store: &Path, key: &str) -> PathBuf {
    store.join("slurm").join("keys").join(format!("{key}.json"))
}

/// A field (`job` or `group`) of the record of the last job submitted for a key.
fn key_record(store: &Path, key: &str, field: &str) -> Option<String> {
    let bytes = std::fs::read(key_record_path(store, key)).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    record[field].as_str().map(str::to_owned)
}

enum Watched {
    Final(Reply),
    Lost(JobLost),
    Interrupted,
}

fn lost(message: String) -> JobLost {
    JobLost { message, log: String::new() }
}

/// The replies written so far (none while the file is missing or being replaced).
fn read_replies(path: &Path) -> Vec<Reply> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// A reply of the job's request as one of the driver's: its member index mapped back.
fn remap(reply: &Reply, remaining: &[usize]) -> Reply {
    let mut reply = reply.clone();
    match &mut reply {
        Reply::Output { member, .. }
        | Reply::StepDone { member, .. }
        | Reply::StepFailed { member, .. } => {
            *member = remaining.get(*member).copied().unwrap_or(*member);
        }
        // A job's members are the group's unfinished ones: each loss goes to its member.
        Reply::Progress { losses, .. } if !losses.is_empty() => {
            let mut by_member = vec![None; remaining.iter().max().map_or(0, |&m| m + 1)];
            for (job_member, loss) in losses.iter().enumerate() {
                if let Some(&member) = remaining.get(job_member) {
                    by_member[member] = *loss;
                }
            }
            *losses = by_member;
        }
        _ => {}
    }
    reply
}

fn finished_member(reply: &Reply) -> Option<usize> {
    match reply {
        Reply::StepDone { member, .. } | Reply::StepFailed { member, .. } => Some(*member),
        _ => None,
    }
}

/// How often the driver asks `squeue` about its jobs: once for all of them, so a hundred jobs
/// cost the scheduler one query a second, not a hundred.
const SQUEUE_EVERY: Duration = Duration::from_secs(1);

/// The jobs this driver follows (with when it began to) and their states at the last `squeue`
/// that answered.
struct Queue {
    watched: BTreeMap<String, Instant>,
    states: BTreeMap<String, String>,
    asked: Option<Instant>,
    /// Whether the last `squeue` answered.
    answered: bool,
}

static QUEUE: std::sync::Mutex<Queue> = std::sync::Mutex::new(Queue {
    watched: BTreeMap::new(),
    states: BTreeMap::new(),
    asked: None,
    answered: false,
});

/// What `squeue` says of a job.
#[derive(Debug, Clone, PartialEq)]
enum Listed {
    /// Listed, in this state.
    In(String),
    /// Not listed: ended and forgotten.
    Gone,
    /// `squeue` did not answer (the controller restarting, say), or has not been asked since
    /// the job was submitted: nothing can be concluded.
    Unknown,
}

/// A job's state as `squeue` last showed it: one query (`squeue --me`) for every job this
/// driver follows, at most once a second, so a hundred jobs cost the controller one query a
/// second, not a hundred.
fn state(job: &str) -> Listed {
    let mut queue = QUEUE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let since = *queue.watched.entry(job.to_owned()).or_insert_with(Instant::now);
    if queue.asked.is_none_or(|at| at.elapsed() >= SQUEUE_EVERY) {
        let mine = my_jobs();
        queue.answered = mine.is_some();
        if let Some(mine) = mine {
            queue.states = mine;
        }
        queue.asked = Some(Instant::now());
    }
    let asked_after = queue.asked.is_some_and(|at| at > since);
    match queue.states.get(job) {
        _ if !queue.answered => Listed::Unknown,
        Some(state) => Listed::In(state.clone()),
        None if asked_after => Listed::Gone,
        None => Listed::Unknown,
    }
}

/// Stops following a job.
fn forget(job: &str) {
    let mut queue = QUEUE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    queue.watched.remove(job);
}

/// This user's jobs and their states (`squeue --me`); `None` when `squeue` fails.
fn my_jobs() -> Option<BTreeMap<String, String>> {
    let output = slurm_command("squeue").args(["-h", "--me", "-o", "%i %T"]).output().ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let (id, state) = line.trim().split_once(' ')?;
                Some((id.to_owned(), state.to_owned()))
            })
            .collect()
    })
}

/// Why a job ended without finishing: its state and reason from `scontrol` (while Slurm
/// remembers it), the exit code its script wrote, and the end of its log.
fn why_lost(job: &str, squeue_state: Option<String>, folder: &Path) -> JobLost {
    let details = slurm_command("scontrol")
        .args(["show", "job", job])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        details
            .split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let state = field("JobState").or(squeue_state).unwrap_or_else(|| "gone".to_owned());
    let reason = field("Reason").filter(|r| r != "None");
    let exit = std::fs::read_to_string(folder.join("exit")).ok().map(|s| s.trim().to_owned());
    let mut message = format!("Slurm job {job} ended {state}");
    if let Some(reason) = reason {
        let _ = write!(message, " ({reason})");
    }
    match exit {
        Some(code) => {
            let _ = write!(message, ", its worker exited {code}, without finishing");
        }
        None => message.push_str(" without finishing"),
    }
    let log = std::fs::read_to_string(folder.join("job.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    JobLost { message, log }
}

/// Cancels a job; failing to is not an error (it may have ended).
pub fn cancel(job: &str) {
    let _ = slurm_command("scancel").arg(job).output();
}

/// A Slurm client command in its own process group: the terminal's Ctrl-C reaches the driver
/// only, which then cancels its jobs itself (an `sbatch` killed halfway could submit a job
/// whose id the driver never learns).
fn slurm_command(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    command.process_group(0);
    command
}

/// Each instance key's job record (`STORE/slurm/keys/KEY.json`): its job id, if one was ever
/// submitted for it.
pub fn job_of(store: &Path, key: &str) -> Option<String> {
    key_record(store, key, "job")
}

/// The states of several jobs at once (one `squeue --me`), by job id; those not listed are
/// absent.
pub fn states(jobs: &[String]) -> BTreeMap<String, String> {
    let mut mine = my_jobs().unwrap_or_default();
    mine.retain(|id, _| jobs.contains(id));
    mine
}

#[cfg(test)]
mod tests {
    use super::slurm_time;

    #[test]
    fn step_times_become_slurm_times() {
        assert_eq!(slurm_time("30m").as_deref(), Some("0:30:00"));
        assert_eq!(slurm_time("2h").as_deref(), Some("2:00:00"));
        assert_eq!(slurm_time("90s").as_deref(), Some("0:01:30"));
        assert_eq!(slurm_time("10s").as_deref(), Some("0:01:00"));
        assert_eq!(slurm_time("1.5d").as_deref(), Some("36:00:00"));
        assert_eq!(slurm_time("1-12:00:00").as_deref(), Some("1-12:00:00"));
        assert_eq!(slurm_time("soon"), None);
        assert_eq!(slurm_time("5 weeks"), None);
    }
}
