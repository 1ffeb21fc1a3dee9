//! The formatter's rules, one test each, and the properties every layout must have: the
//! result means the same, keeps every comment once, and is its own format.

use super::*;
use crate::source::FileId;
use crate::syntax;

fn parse(text: &str) -> Module {
    syntax::parse(FileId(0), text).unwrap_or_else(|errors| panic!("{text}\n{errors:#?}"))
}

/// Formats, and checks the result is equivalent and a fixed point.
fn format(text: &str) -> String {
    let module = parse(text);
    let formatted = format_module(text, &module);
    if let Err(error) = check_equivalent(&module, &formatted) {
        panic!("{error}\n--- input\n{text}\n--- output\n{formatted}");
    }
    let again = format_module(&formatted, &parse(&formatted));
    assert_eq!(again, formatted, "not idempotent\n--- input\n{text}");
    for line in formatted.lines() {
        assert_eq!(line.trim_end(), line, "trailing whitespace in\n{formatted}");
    }
    formatted
}

const ISSUE_EXAMPLE: &str = r#"# Toy model of superposition: 6 sparse features in 2 hidden dimensions.
import std.tms                     # stdlib/tms.dev: presets, shipped inside the binary

let features = 6

train tms_run {
  model       = tms.model(features = features, hidden = 2, init_scale = 0.1)
  data        = tms.data(features = features, sparsity = 0.95, samples = 4096)
  optimizer   = sgd(lr = 0.1)
  batch_size  = 1024
  steps       = 20_000
  seed        = sweep(0..4)                     # four runs; dependents fan out with them
  checkpoints = logspace(1, 20_000, 60)
}

estimate llc on tms_run {
  observable = llc(sampler = sgld(lr = 1e-3, localization = 100), nbeta = auto,
                   chains = 4, draws = 200, burnin = 100)
}

detect stages on llc {
  method = critical_points(smoothing = 0.1)
}

detect drops on tms_run {
  series = "train_loss"
  method = change_points(method = pelt)
}

report summary on llc, stages, drops { title = "TMS 6 -> 2" }
"#;

#[test]
fn the_issue_example() {
    let expected = r#"# Toy model of superposition: 6 sparse features in 2 hidden dimensions.
import std.tms # stdlib/tms.dev: presets, shipped inside the binary

let features = 6

train tms_run {
  model       = tms.model(features = features, hidden = 2, init_scale = 0.1)
  data        = tms.data(features = features, sparsity = 0.95, samples = 4096)
  optimizer   = sgd(lr = 0.1)
  batch_size  = 1024
  steps       = 20_000
  seed        = sweep(0..4) # four runs; dependents fan out with them
  checkpoints = logspace(1, 20_000, 60)
}

estimate llc on tms_run {
  observable = llc(
    sampler = sgld(lr = 1e-3, localization = 100),
    nbeta = auto,
    chains = 4,
    draws = 200,
    burnin = 100,
  )
}

detect stages on llc { method = critical_points(smoothing = 0.1) }

detect drops on tms_run {
  series = "train_loss"
  method = change_points(method = pelt)
}

report summary on llc, stages, drops { title = "TMS 6 -> 2" }
"#;
    assert_eq!(format(ISSUE_EXAMPLE), expected);
}

#[test]
fn spacing_is_canonical() {
    assert_eq!(
        format("let a=[1,2,3]\nlet b={x=1 y=2}\nlet c=f(1,n=2)\nlet d=0 .. 4\nlet e=a+b*c/d-1"),
        "let a = [1, 2, 3]\nlet b = { x = 1, y = 2 }\nlet c = f(1, n = 2)\nlet d = 0..4\n\
         let e = a + b * c / d - 1\n"
    );
    assert_eq!(
        format("let a = base   with{lr=1}with {}"),
        "let a = base with { lr = 1 } with {}\n"
    );
    assert_eq!(format("train t from x.y on a ,b,c{}"), "train t from x.y on a, b, c {}\n");
    assert_eq!(
        format("import   \"a/b.dev\"   as   b\nimport std . tms"),
        "import \"a/b.dev\" as b\nimport std.tms\n"
    );
}

#[test]
fn numbers_keep_their_spelling_and_strings_are_escaped_canonically() {
    assert_eq!(
        format("let a = [20_000, 1e-3, 2.5E+4, 007]"),
        "let a = [20_000, 1e-3, 2.5E+4, 007]\n"
    );
    assert_eq!(
        format("let s = \"tab\there \\\" \\\\ \\n\""),
        "let s = \"tab\\there \\\" \\\\ \\n\"\n"
    );
}

#[test]
fn signs_and_parentheses_are_kept() {
    assert_eq!(
        format("let a = - -1\nlet b = --x\nlet c = -(1 + 2) * 3\nlet d = 1 - -2"),
        "let a = - -1\nlet b = - -x\nlet c = -(1 + 2) * 3\nlet d = 1 - -2\n"
    );
    assert_eq!(format("let a = ((1))..-(2)"), "let a = ((1))..-(2)\n");
}

#[test]
fn blank_lines_are_kept_up_to_one_and_surround_multi_line_steps() {
    assert_eq!(
        format("\n\nlet a = 1\n\n\n\nlet b = 2\nlet c = 3\n\n\n"),
        "let a = 1\n\nlet b = 2\nlet c = 3\n"
    );
    assert_eq!(
        format(
            "let a = 1\ntrain t {\n  x = 1\n  yy = 2\n}\nlet b = 2\nreport r { x = 1 }\nlet c = 3"
        ),
        "let a = 1\n\ntrain t {\n  x  = 1\n  yy = 2\n}\n\nlet b = 2\nreport r { x = 1 }\nlet c = 3\n"
    );
}

#[test]
fn an_empty_file_stays_empty() {
    assert_eq!(format(""), "");
    assert_eq!(format("\n\n  \n"), "");
    assert_eq!(format("# only\n\n\n# comments  \n"), "# only\n\n# comments\n");
}

#[test]
fn fields_align_in_runs_separated_by_empty_lines() {
    let text = "train t {\n  a = 1\n  # about bbb\n  bbb = 2\n\n  cc = 3\n  d = 4\n}";
    assert_eq!(
        format(text),
        "train t {\n  a   = 1\n  # about bbb\n  bbb = 2\n\n  cc = 3\n  d  = 4\n}\n"
    );
}

#[test]
fn a_one_field_step_goes_on_one_line_only_without_comments_and_within_100_columns() {
    assert_eq!(
        format("report r on a, b {\n  title = \"x\"\n}"),
        "report r on a, b { title = \"x\" }\n"
    );
    assert_eq!(
        format("report r {\n  title = \"x\" # why\n}"),
        "report r {\n  title = \"x\" # why\n}\n"
    );
    let long = format!("report r {{ title = \"{}\" }}", "x".repeat(80));
    assert_eq!(format(&long), format!("report r {{\n  title = \"{}\"\n}}\n", "x".repeat(80)));
    let exact = format!("report r {{ title = \"{}\" }}", "x".repeat(100 - 23));
    assert_eq!(exact.len(), 100);
    assert_eq!(format(&exact), format!("{exact}\n"));
    let over = exact.replace("x\"", "xx\"");
    assert_eq!(format(&over).lines().count(), 3);
}

#[test]
fn long_calls_lists_and_records_break_one_element_per_line() {
    let text = "let a = f(aaaaaaaaaa, bbbbbbbbbbbb, [cccccccccccccccc, ddddddddddddddddddddd], { eeeeeeeeee = 1, f = 2 }, g = 3)";
    assert_eq!(
        format(text),
        "let a = f(\n  aaaaaaaaaa,\n  bbbbbbbbbbbb,\n  [cccccccccccccccc, ddddddddddddddddddddd],\n  \
         { eeeeeeeeee = 1, f = 2 },\n  g = 3,\n)\n"
    );
    let record = format!("let r = {{ a = \"{}\", bb = 2 }}", "x".repeat(90));
    assert_eq!(
        format(&record),
        format!("let r = {{\n  a  = \"{}\",\n  bb = 2,\n}}\n", "x".repeat(90))
    );
    // Once broken, a record written with commas or without reads the same.
    assert_eq!(format(&record.replace(", bb", "\n bb")), format(&record));
}

#[test]
fn comments_at_the_end_of_lines_stay_there() {
    let text = "let a = f( # args\n  1, # one\n  2 # two\n) # call\n";
    assert_eq!(format(text), "let a = f( # args\n  1, # one\n  2, # two\n) # call\n");
    let text = "train t { # block\n  a = [ # list\n 1 ] # a\n}";
    assert_eq!(format(text), "train t { # block\n  a = [ # list\n    1,\n  ] # a\n}\n");
}

#[test]
fn comments_on_their_own_lines_stay_before_the_next_thing_or_the_closing_bracket() {
    let text = "# file\n\n# a\nlet a = [\n# first\n1,\n\n   # second\n 2\n # end of list\n]\n# end of file\n";
    assert_eq!(
        format(text),
        "# file\n\n# a\nlet a = [\n  # first\n  1,\n\n  # second\n  2,\n  # end of list\n]\n# end of file\n"
    );
    assert_eq!(format("let a = f(\n# nothing\n)"), "let a = f(\n  # nothing\n)\n");
    assert_eq!(format("let a = {   # nothing\n}"), "let a = { # nothing\n}\n");
    assert_eq!(format("train t {\n}\n# after"), "train t {}\n# after\n");
}

#[test]
fn comments_inside_an_element_go_before_it() {
    assert_eq!(format("let # a\n x = # b\n 1 + # c\n 2"), "# a\n# b\n# c\nlet x = 1 + 2\n");
    assert_eq!(
        format("train t on a, # a\n b {\n  x = f # b\n  (1)\n}"),
        "# a\ntrain t on a, b {\n  # b\n  x = f(1)\n}\n"
    );
    assert_eq!(format("let x = [1 + # c\n 2]"), "let x = [\n  # c\n  1 + 2,\n]\n");
}

#[test]
fn a_second_end_of_line_comment_between_elements_gets_its_own_line() {
    assert_eq!(
        format("let a = [1 # one\n, # comma\n 2]"),
        "let a = [\n  1, # one\n  # comma\n  2,\n]\n"
    );
}

#[test]
fn windows_line_endings_become_newlines() {
    assert_eq!(format("let a = 1 # one\r\n\r\nlet b = 2\r\n"), "let a = 1 # one\n\nlet b = 2\n");
}

#[test]
fn deep_and_long_inputs_format() {
    let nested = format!("let a = {}1{}", "[".repeat(40), "]".repeat(40));
    assert_eq!(format(&nested), format!("{nested}\n"));
    let deeper = format!("let a = {}1{}", "[".repeat(256), "]".repeat(256));
    assert_eq!(format(&deeper).lines().count(), 513);
    // Chains as long as the parser allows (it refuses more than 256 levels).
    let sum = format!("let a = 0{}", " + 1".repeat(250));
    assert!(format(&sum) == format!("{sum}\n"), "a sum of 250 terms");
    let signs = format!("let a = {}-1{}", "- ".repeat(120), " with {}".repeat(120));
    assert!(format(&signs) == format!("{signs}\n"), "120 signs and 120 overrides");
}

/// Every place a comment can go in a sample: between any two tokens, on its own line or at
/// the end of one. Each variant must keep its comments, mean the same and be stable.
#[test]
fn a_comment_anywhere_is_kept_once() {
    let sample = "import std.tms\nlet a = -(1 + 2) * x.y..4 with { b = [1, \"s s\"], c = f(d, e = {}) }\n\
                  train t from p.q on a, b { m = g([2], h = 1) with { z = 1 }, n = - -3 }\n\
                  report r { title = \"x\" }\n";
    let original = crate::format::equivalence::shape(&parse(sample).items);
    let mut variants = 0;
    for (at, c) in sample.char_indices() {
        if !c.is_whitespace() {
            continue;
        }
        for comment in [" # eol\n", "\n# own\n", "# eol #\n  # own\n"] {
            let text = format!("{}{comment}{}", &sample[..at], &sample[at..]);
            let Ok(module) = syntax::parse(FileId(0), &text) else { continue };
            if crate::format::equivalence::shape(&module.items) != original {
                // The comment landed inside a string.
                continue;
            }
            assert_eq!(Placements::count_for(&text, &module), module.comments.len());
            format(&text);
            variants += 1;
        }
    }
    assert!(variants > 100, "{variants}");
}

/// Two comments at once, in every pair of places of a smaller sample.
#[test]
fn two_comments_anywhere_are_kept() {
    let sample = "let a = f(1, [2], { b = 3 }) with { c = 4 }\ntrain t on a { x = 1, y = - -2 }\n";
    let gaps: Vec<usize> =
        sample.char_indices().filter(|(_, c)| c.is_whitespace()).map(|(at, _)| at).collect();
    for (index, &first) in gaps.iter().enumerate() {
        for &second in &gaps[index..] {
            for (one, two) in
                [(" # one\n", "\n# two\n"), ("\n# one\n", " # two\n"), (" # one\n", " # two\n")]
            {
                let text = format!(
                    "{}{one}{}{two}{}",
                    &sample[..first],
                    &sample[first..second],
                    &sample[second..]
                );
                format(&text);
            }
        }
    }
}

impl Placements {
    fn count_for(text: &str, module: &Module) -> usize {
        let mut comments = module.comments.clone();
        comments.sort_by_key(|comment| comment.span.start);
        let source = SourceText::new(text, &comments);
        Placements::new(&module.items, &comments, &source).count()
    }
}
