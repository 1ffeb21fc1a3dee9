//! devspec's integration tests, one binary for the package (each test file is a module here,
//! so the suite links once).

// Tests compare floats exactly only where the values are exact in binary (small integers,
// halves); a numerical test with rounding writes its tolerance and why.
#![allow(clippy::float_cmp)]

mod integration {
    mod bids;
    mod binaries;
    mod browser;
    mod bundles;
    mod checkout;
    mod cli_output;
    mod closed_output;
    mod detect;
    mod diff;
    mod estimate;
    mod faults;
    mod fmt_snapshots;
    mod fuzz;
    mod learning_coefficients;
    mod limits;
    mod lsp;
    mod params;
    mod plan_snapshots;
    mod portable_bytes;
    mod readme;
    mod report;
    mod run;
    mod slurm;
    mod specs_check;
    mod store_damage;
    mod study;
    mod tables;
    mod tms_study;
    mod torchscript;
    mod train;
    mod transformer;
    mod ui;
    mod user_data;
    mod worker_faults;
    mod worker_link;
}
