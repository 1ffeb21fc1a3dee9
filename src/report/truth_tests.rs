//! The report's figures say what their data say, one test per finding of issue 22: every
//! figure the manifest lists is on the page; stages are drawn as stages, coloured and named for
//! their own series, and as strips when several sweep points share a plot; an estimate with
//! diagnostics is marked and says why; bands are ±2 standard errors; means are over seeds
//! only; no text is smaller than 12 px and the calibration map has its scale; a report without
//! a title is titled by its name.

use serde_json::{Value, json};

use super::data::{DetectionOf, ReportData};
use super::gallery::llc_panel;
use super::style::{hex, point_colour, stage_colour};
use super::tests::{STEPS, calibration, data, llc_series};
use super::{Context, write_report};
use crate::detect::boundary::between;
use crate::detect::{Detection, Series};

/// Every `<text>` of an SVG, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let inner = &rest[rest.find('>').unwrap() + 1..rest.find("</text>").unwrap()];
            inner.trim().to_owned()
        })
        .collect()
}

fn context(name: &str) -> Context {
    Context {
        name: name.into(),
        spec_path: "study.dev".into(),
        spec_source: format!("report {name} on llc"),
        resolved: Vec::new(),
        calibrations: vec![("llc".into(), calibration())],
        provenance: std::collections::BTreeMap::new(),
    }
}

/// The report drawn into a fresh folder: its manifest, page and each figure's SVG by id.
struct Drawn {
    manifest: Value,
    page: String,
    folder: tempfile::TempDir,
}

impl Drawn {
    fn of(data: &ReportData, name: &str) -> Drawn {
        let folder = tempfile::tempdir().unwrap();
        // As the product does: the data stored as JSON and read back.
        let data: ReportData = serde_json::from_slice(&serde_json::to_vec(data).unwrap()).unwrap();
        let written = write_report(folder.path(), &data, &context(name)).unwrap();
        let manifest =
            serde_json::from_slice(&std::fs::read(folder.path().join("manifest.json")).unwrap())
                .unwrap();
        let page = std::fs::read_to_string(written.html).unwrap();
        Drawn { manifest, page, folder }
    }

    fn figure(&self, id: &str) -> &Value {
        let figures = self.manifest["figures"].as_array().unwrap();
        figures.iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("no figure {id}"))
    }

    fn svg(&self, id: &str) -> String {
        let path = self.figure(id)["svg"].as_str().unwrap().to_owned();
        std::fs::read_to_string(self.folder.path().join(path)).unwrap()
    }
}

/// A detection of `test_accuracy` that falls after 1000: an accuracy fall, not an LLC one.
fn accuracy_fall(point: &str) -> DetectionOf {
    let series = Series::new("test_accuracy", STEPS.to_vec(), vec![0.9, 0.9, 0.9, 0.9, 0.4, 0.35]);
    // As critical points name stages: each after a boundary takes the boundary's kind.
    let detection = Detection::following(
        &series,
        "critical_points",
        vec![between(&series, 4, "fall", 1.0, "falls".into())],
        "flat",
        json!({}),
    );
    DetectionOf {
        step: "acc_stages".into(),
        point: point.into(),
        instance: format!("acc_stages[{point}]"),
        on: None,
        detection,
    }
}

#[test]
fn finding_1_every_figure_the_manifest_lists_is_on_the_page() {
    let drawn = Drawn::of(&data(), "summary");
    let ids: Vec<&str> = drawn.manifest["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"observable-acc"), "{ids:?}");
    let on_page: Vec<&str> = drawn
        .page
        .split("<figure id=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(on_page.len(), ids.len(), "page {on_page:?}, manifest {ids:?}");
    for id in ids {
        assert!(on_page.contains(&id), "{id} is not on the page");
    }
    let count = format!("{} figures", on_page.len());
    assert!(drawn.page.contains(&count), "the page says how many figures it has");
}

#[test]
fn finding_2_stages_are_bands_from_first_to_last_checkpoint_named_for_their_series() {
    let mut data = data();
    data.detections.push(accuracy_fall("seed=0"));
    let drawn = Drawn::of(&data, "summary");
    let stages = &data.detections[0].detection.stages;
    assert_eq!(stages.len(), 2);
    // At one sweep point: the LLC's stages shaded across its panel, labelled S1, S2, from
    // each stage's first checkpoint to its last; the boundary a band between two checkpoints.
    let development = drawn.figure("development-0");
    let llc = &development["panels"][0];
    let shaded: Vec<&Value> =
        llc["stages"].as_array().unwrap().iter().filter(|s| s["strip"] == false).collect();
    assert_eq!(shaded.len(), 2, "{llc}");
    for (drawn_stage, (stage, label)) in shaded.iter().zip(stages.iter().zip(["S1", "S2"])) {
        assert_eq!(drawn_stage["interval"], json!([stage.start, stage.end]));
        assert_eq!(drawn_stage["label"], label);
        assert_eq!(drawn_stage["detect"], "stages");
    }
    assert_eq!(shaded[1]["meaning"], "development (LLC rises)");
    assert_eq!(llc["bands"][0]["interval"], json!([10, 100]));
    let svg = drawn.svg("development-0");
    assert!(texts(&svg).iter().any(|t| t == "S1") && texts(&svg).contains(&"S2".to_owned()));
    // The accuracy's fall is named and coloured as an accuracy fall, never as refinement.
    let accuracy = drawn.figure("observable-acc");
    let all: Vec<&Value> = accuracy["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["stages"].as_array().unwrap())
        .collect();
    let fall = all.iter().find(|s| s["detect"] == "acc_stages" && s["kind"] == "falling");
    let fall = fall.unwrap_or_else(|| panic!("no accuracy fall in {all:?}"));
    assert_eq!(fall["meaning"], "test_accuracy falls");
    assert_ne!(fall["colour"], hex(stage_colour("refinement")));
    let svg = drawn.svg("observable-acc");
    assert!(texts(&svg).contains(&"test_accuracy falls".to_owned()), "the key names it");
    // The stage tables label stages as the figures do.
    assert!(drawn.page.contains("<tr><td>S2</td><td>100–10000</td><td>development</td>"));
    // Every figure's key names every stage it draws: none left off for want of room.
    for figure in drawn.manifest["figures"].as_array().unwrap() {
        let id = figure["id"].as_str().unwrap();
        let texts = texts(&drawn.svg(id));
        for panel in figure["panels"].as_array().unwrap() {
            for stage in panel["stages"].as_array().unwrap() {
                let meaning = stage["meaning"].as_str().unwrap().to_owned();
                assert!(texts.contains(&meaning), "{id}: the key lacks {meaning}");
            }
        }
    }
    // Two sweep points on one plot: every stage a strip under the axis, one strip per point,
    // none shaded across the plot.
    let overview = &drawn.figure("llc-llc")["panels"][0];
    let strips = overview["stages"].as_array().unwrap();
    assert!(!strips.is_empty());
    assert!(strips.iter().all(|s| s["strip"] == true), "{strips:?}");
    let points: std::collections::BTreeSet<&str> =
        strips.iter().map(|s| s["point"].as_str().unwrap()).collect();
    assert_eq!(points.len(), 2);
    // Strips lie under the plotting area, not over it.
    let bottom = overview["area"][3].as_i64().unwrap();
    let svg = drawn.svg("llc-llc");
    assert!(svg.contains("stages at seed=0") && svg.contains("stages at seed=1"));
    let height = drawn.figure("llc-llc")["height"].as_i64().unwrap();
    // Two strips of 40 pixels and their key below the plot.
    assert!(bottom + 80 < height, "{bottom} of {height}");
}

#[test]
fn finding_2_a_detection_shades_only_the_figure_of_the_step_it_searched() {
    // Two LLC estimate steps; the detections searched `llc` only.
    let mut data = data();
    let other: Vec<_> = data
        .llc
        .iter()
        .cloned()
        .map(|mut series| {
            series.step = "llc_b".into();
            series
        })
        .collect();
    data.llc.extend(other);
    for detection in &mut data.detections {
        detection.on = Some("llc".into());
    }
    let drawn = Drawn::of(&data, "summary");
    let stages = |id: &str| drawn.figure(id)["panels"][0]["stages"].as_array().map_or(0, Vec::len);
    assert!(stages("llc-llc") > 0, "the searched step's figure has its stages");
    assert_eq!(stages("llc-llc_b"), 0, "another step's figure has none of them");
    // A point's development holds both steps: each line names its step.
    let development = drawn.manifest["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"].as_str().is_some_and(|id| id.starts_with("development")))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let texts = texts(&drawn.svg(&development));
    assert!(texts.iter().any(|t| t.starts_with("llc_b at ")), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("llc at ")), "{texts:?}");
}

#[test]
fn finding_3_an_estimate_with_diagnostics_is_hollow_and_red_and_says_why_and_what_to_do() {
    let mut data = data();
    data.llc[0].diagnostics[3] = vec!["poor_mixing".into(), "low_acceptance".into()];
    let drawn = Drawn::of(&data, "summary");
    let line = &drawn.figure("llc-llc")["panels"][0]["series"][0];
    assert_eq!(line["flagged"], json!([1000.0]), "{line}");
    let svg = drawn.svg("llc-llc");
    // One flagged hover target, its title naming the estimate, the diagnostics and the action
    // `DiagnosticName::recommended` chooses (low acceptance before poor mixing).
    assert_eq!(svg.matches("class=\"tip flagged\"").count(), 1);
    let flagged = &svg[svg.find("class=\"tip flagged\"").unwrap()..];
    let title = &flagged[flagged.find("<title>").unwrap() + 7..flagged.find("</title>").unwrap()];
    assert!(title.contains("llc[seed=0]@1000"), "{title}");
    assert!(title.contains("diagnostics: poor_mixing, low_acceptance"), "{title}");
    // (escaped as the SVG's text)
    assert!(title.contains("recommended (low_acceptance): lower the sampler&#39;s lr"), "{title}");
    // Drawn hollow in red: circles with a red stroke, each without a fill (the element's own
    // attributes, not any element's).
    let circles: Vec<&str> =
        svg.split("<circle").skip(1).map(|c| &c[..c.find('>').unwrap_or(c.len())]).collect();
    let red: Vec<&&str> = circles.iter().filter(|c| c.contains("stroke=\"#C81E1E\"")).collect();
    assert!(!red.is_empty(), "no red marker");
    for circle in &red {
        assert!(circle.contains("fill=\"none\""), "a red marker with a fill: {circle}");
    }
    // Every point has a tooltip: six checkpoints at two points, six means.
    assert_eq!(svg.matches("<circle class=\"tip").count(), 18);
}

#[test]
fn finding_3_a_flagged_estimate_at_step_0_off_the_log_axis_is_said_in_the_key_and_listed() {
    // An estimate at initialization (a `linspace` or `[0, ...]` schedule), often negative: the
    // log step axis cannot place it, so the key says it is there and flagged.
    let mut data = data();
    data.llc[0].checkpoints[0] = 0;
    data.llc[0].diagnostics[0] = vec!["negative".into()];
    let drawn = Drawn::of(&data, "summary");
    let line = &drawn.figure("llc-llc")["panels"][0]["series"][0];
    assert_eq!(line["flagged"], json!([0.0]), "{line}");
    let texts = texts(&drawn.svg("llc-llc"));
    assert!(
        texts.iter().any(|t| t.contains("at step 0, off the log axis, 1 with diagnostics")),
        "{texts:?}"
    );
}

#[test]
fn finding_4_bands_are_two_standard_errors_and_every_checkpoint_has_a_marker() {
    let mut series = llc_series("seed=0");
    series.se = vec![Some(0.03); STEPS.len()];
    let panel = llc_panel("llc", &[&series], &|_| point_colour(0), (1.0, 10_000.0), false);
    let line = &panel.lines[0];
    let spread = line.spread.as_ref().unwrap();
    for (i, &(x, low, high)) in spread.iter().enumerate() {
        let (mean, se) = (series.mean[i].unwrap(), series.se[i].unwrap());
        assert!((x - STEPS[i] as f64).abs() < 1e-9);
        assert!((low.unwrap() - (mean - 2.0 * se)).abs() < 1e-12);
        assert!((high.unwrap() - (mean + 2.0 * se)).abs() < 1e-12);
        // Not the chains' spread, which the data keep beside it.
        assert!((high.unwrap() - series.chain_high[i].unwrap()).abs() > 1e-3);
    }
    assert_eq!(line.marks.len(), STEPS.len());
    assert!(line.marks.iter().all(|m| m.shown && m.tip.contains("± 0.0300")));
}

#[test]
fn finding_5_means_join_seeds_only() {
    let at = |point: &str| llc_series(point);
    let lines = |points: &[&str]| -> Vec<String> {
        let series: Vec<_> = points.iter().map(|p| at(p)).collect();
        let refs: Vec<_> = series.iter().collect();
        let panel = llc_panel("llc", &refs, &|_| point_colour(0), (1.0, 10_000.0), true);
        panel.lines.iter().map(|l| l.label.clone()).collect()
    };
    // Points that differ in learning rate and width are never averaged.
    let apart = lines(&["lr=0.1,width=2", "lr=0.2,width=4", "lr=0.1,width=4"]);
    assert!(apart.iter().all(|l| !l.contains("mean")), "{apart:?}");
    // Seeds are, within each learning rate, each mean named for what it joins.
    let seeds = lines(&["lr=0.1,seed=0", "lr=0.1,seed=1", "lr=0.2,seed=0", "lr=0.2,seed=1"]);
    let means: Vec<&String> = seeds.iter().filter(|l| l.contains("mean")).collect();
    assert_eq!(means, ["mean over 2 seeds at lr=0.1", "mean over 2 seeds at lr=0.2"]);
    // One seed alone is not a mean.
    let single = lines(&["lr=0.1,seed=0", "lr=0.2,seed=0"]);
    assert!(single.iter().all(|l| !l.contains("mean")), "{single:?}");
}

#[test]
fn finding_6_no_text_under_12_px_a_colour_bar_and_a_framed_recommendation() {
    let drawn = Drawn::of(&data(), "summary");
    for figure in drawn.manifest["figures"].as_array().unwrap() {
        let id = figure["id"].as_str().unwrap();
        let svg = drawn.svg(id);
        let sizes: Vec<f64> = svg
            .split("font-size=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect();
        assert!(!sizes.is_empty(), "{id} has text");
        assert!(sizes.iter().all(|&s| s >= 12.0), "{id}: font sizes {sizes:?}");
    }
    let calibration = drawn.svg("calibration-llc");
    // The scale beside the grid, the flagged cell named, the recommended one labelled; no
    // crosses over the numbers.
    let texts = texts(&calibration);
    assert!(texts.contains(&"LLC".to_owned()), "the colour bar's title: {texts:?}");
    assert!(texts.iter().any(|t| t.contains("poor_mixing")), "{texts:?}");
    assert!(texts.contains(&"recommended".to_owned()), "{texts:?}");
    // Long values in the resolved-steps table wrap rather than being cut off.
    assert!(drawn.page.contains("td pre { white-space: pre-wrap"));
}

#[test]
fn finding_10_a_calibration_says_which_sweep_point_and_overrides_it_ran_at() {
    let mut record = calibration();
    record["point"] = json!("seed=1");
    record["sets"] = json!(["run.steps=100"]);
    let folder = tempfile::tempdir().unwrap();
    let mut context = context("summary");
    context.calibrations = vec![("llc".into(), record)];
    write_report(folder.path(), &data(), &context).unwrap();
    let svg = std::fs::read_to_string(folder.path().join("figures/calibration-llc.svg")).unwrap();
    let title = texts(&svg).into_iter().find(|t| t.starts_with("calibration of")).unwrap();
    assert!(title.contains("seed=1") && title.contains("--set run.steps=100"), "{title}");
}

#[test]
fn finding_7_a_report_without_a_title_is_titled_by_its_name() {
    let mut untitled = data();
    untitled.title = None;
    let drawn = Drawn::of(&untitled, "summary");
    assert!(drawn.page.contains("<title>summary</title>"));
    assert!(drawn.page.contains("<h1>summary</h1>"));
    assert_eq!(drawn.manifest["title"], "summary");
    // Data stored before version 4 said `report` for no title.
    let old = ReportData { schema_version: 3, title: Some("report".into()), ..data() };
    assert_eq!(Drawn::of(&old, "plain").manifest["title"], "plain");
    let titled = Drawn::of(&data(), "summary");
    assert_eq!(titled.manifest["title"], "a <b>bold</b> title");
}
