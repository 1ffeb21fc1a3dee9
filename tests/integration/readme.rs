//! The README is part of the interface: its exit-code table must say what the code does.

use devspec::exit_code::ExitCode;

#[test]
fn exit_code_table_matches_the_code() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Exit codes").nth(1).expect("README has an exit-code section");
    let rows: Vec<(u8, String)> = section
        .lines()
        .skip_while(|line| !line.starts_with("|---"))
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].parse().expect("a numeric code"), cells[2].to_owned())
        })
        .collect();
    let expected: Vec<(u8, String)> = ExitCode::TABLE
        .iter()
        .map(|(code, meaning)| (code.code(), (*meaning).to_owned()))
        .collect();
    assert_eq!(rows, expected);
}
