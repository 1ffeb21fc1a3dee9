//! `devspec-worker`: the only program of devspec that links libtorch. It runs numerical steps
//! for the `devspec` executor, either as a long-lived pool member speaking the JSON-lines
//! protocol of `devspec-protocol` (requests on stdin, replies on the descriptor it was started
//! with as stdout, which it keeps for them alone), or once, from a request file, as a cluster
//! job does (`--one-shot`).

mod autograd_probe;
mod dispatch;
mod estimate;
mod heartbeat;
mod one_shot;
mod parent_watch;
mod reply_channel;
mod serve;
mod steps;
mod stop;
mod train;
mod version_report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// devspec's libtorch worker. Started by `devspec`; not meant to be run by hand.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Read one request from this JSON file, run it, write the reply as JSON and exit
    /// (for batch jobs, which have no pipe to the scheduler).
    #[arg(long, value_name = "REQUEST")]
    one_shot: Option<PathBuf>,
    /// Where `--one-shot` writes its reply; default: `result.json` beside the request.
    #[arg(long, value_name = "FILE", requires = "one_shot")]
    result: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // SIGUSR1 and SIGTERM store a training run's resume point first: in a batch job, Slurm's
    // warning before the time limit and its cancel.
    stop::listen();
    if let Some(request) = args.one_shot {
        // A batch job's parent is the batch system, which ends the job itself.
        return one_shot::run(&request, args.result.as_deref());
    }
    parent_watch::exit_when_orphaned();
    // Before anything can print: from here on stdout is stderr, and replies have their own
    // descriptor.
    let channel = match reply_channel::ReplyChannel::take_stdout() {
        Ok(channel) => channel,
        Err(err) => {
            eprintln!("devspec-worker: cannot set up the reply channel: {err}");
            return ExitCode::from(3);
        }
    };
    serve::run(&channel, heartbeat::interval_from_env())
}
