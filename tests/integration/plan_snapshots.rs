//! Plans as `devspec plan` prints them, for the specs in `tests/plan/`: instance names, fan-out
//! per sweep point and checkpoint, axis joins, and the planner's own errors.

use std::path::Path;

use devspec::compile;
use devspec::diagnostic::render;
use devspec::plan::{self, PlanFormat};
use devspec::source::SourceMap;
use devspec_protocol::StepKind;

fn planned(path: &Path, format: PlanFormat) -> String {
    let mut sources = SourceMap::new();
    let program = compile::check_path(path, &[], &mut sources)
        .unwrap_or_else(|err| panic!("{} must check clean: {err:?}", path.display()));
    match plan::plan(&program) {
        Ok(plan) => plan::render(&plan, format, &plan::status_without_store(&plan)),
        Err(diagnostics) => diagnostics.iter().map(|d| render::to_text(&sources, d)).collect(),
    }
}

#[test]
fn plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../plan", "*.dev", |path| {
        let relative = path.strip_prefix(root).expect("fixture inside the package");
        insta::assert_snapshot!(planned(relative, PlanFormat::Text));
    });
}

#[test]
fn plan_as_json_and_graphs() {
    let spec = Path::new("tests/plan/seeds.dev");
    insta::assert_snapshot!("seeds_json", planned(spec, PlanFormat::Json));
    insta::assert_snapshot!("seeds_dot", planned(spec, PlanFormat::Dot));
    insta::assert_snapshot!("seeds_mermaid", planned(spec, PlanFormat::Mermaid));
}

/// `plan --steps`: a node per step with its instances' statuses counted, in every format.
#[test]
fn plan_of_steps_in_every_format() {
    let spec = Path::new("tests/plan/seeds.dev");
    let mut sources = SourceMap::new();
    let program = compile::check_path(spec, &[], &mut sources).unwrap();
    let plan = plan::plan(&program).unwrap();
    let steps = |format| plan::render_steps(&plan, format, &plan::status_without_store(&plan));
    insta::assert_snapshot!("seeds_steps_text", steps(PlanFormat::Text));
    insta::assert_snapshot!("seeds_steps_json", steps(PlanFormat::Json));
    insta::assert_snapshot!("seeds_steps_dot", steps(PlanFormat::Dot));
    insta::assert_snapshot!("seeds_steps_mermaid", steps(PlanFormat::Mermaid));
}

#[test]
fn the_default_study_fans_out_as_documented() {
    let mut sources = SourceMap::new();
    let program = compile::check_path(Path::new("specs/tms.dev"), &[], &mut sources).unwrap();
    let plan = plan::plan(&program).unwrap();
    let count = |kind: StepKind| plan.instances().filter(|i| i.kind == kind).count();
    // 4 seeds; logspace(1, 30000, 22) rounds to 22 distinct steps (the last is 30000 itself);
    // one estimate per checkpoint, three detects per seed, one report.
    assert_eq!(count(StepKind::Train), 4);
    assert_eq!(count(StepKind::Estimate), 4 * 22);
    assert_eq!(count(StepKind::Detect), 3 * 4);
    assert_eq!(count(StepKind::Report), 1);
    let names: Vec<String> = plan.instances().map(plan::Instance::display_name).collect();
    assert!(names.contains(&"llc[seed=2]@1577".to_owned()), "{names:?}");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "display names are unique");
}
