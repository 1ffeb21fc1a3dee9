//! The report end to end: reduced TMS, DLN and induction studies run (each well under a
//! minute), `devspec run` draws their reports, and each report is checked against its
//! `manifest.json` and the study's own results: in the files, and in headless Chromium at a
//! 1400 px viewport (console errors, network requests, and what the browser actually laid out:
//! every manifest figure on the page by id, each seed's LLC line with one point per
//! checkpoint, a band at each detected boundary, every stage's label, every estimate with
//! diagnostics marked with them in its tooltip, axis labels and legends, no text under 12 px,
//! one trace plot per checkpoint).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::browser::Browser;
use super::run::Project;

const STUDY: &str = "import std.tms\n\
    train run {\n  model = tms.model(features = 6, hidden = 2, init_scale = 0.1)\n  \
    data = tms.data(features = 6, sparsity = 0.95, samples = 1024)\n  optimizer = sgd(lr = 0.1)\n  \
    batch_size = 256\n  steps = 2_000\n  seed = sweep(0..2)\n  checkpoints = logspace(1, 2_000, 8)\n}\n\
    estimate llc on run {\n  observable = llc(sampler = sgld(lr = 3e-3, localization = 100), \
    nbeta = auto, chains = 2, draws = 40, burnin = 20)\n}\n\
    detect stages on llc { method = critical_points(smoothing = 0.1) }\n\
    detect drops on run { series = \"train_loss\", method = change_points() }\n\
    report summary on run, llc, stages, drops { title = \"reduced TMS\" }\n";

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A boundary as (sweep point, detect step, checkpoint interval).
type Boundary = (String, String, [i64; 2]);

/// The instances of an estimate step whose estimate has diagnostics, as `devspec show` says.
fn flagged(project: &Project, step: &str) -> BTreeSet<String> {
    let show: Value =
        serde_json::from_str(&project.verb(&["show", "{spec}", step, "--format", "json"])).unwrap();
    show["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["diagnostics"].as_array().is_some_and(|d| !d.is_empty()))
        .map(|row| row["instance"].as_str().unwrap().to_owned())
        .collect()
}

/// Each shown row's (sweep point, checkpoint), and each detection's boundaries as
/// (point, detect step, interval).
fn results(project: &Project) -> (BTreeSet<(String, i64)>, BTreeSet<Boundary>) {
    let show = |step: &str| -> Value {
        serde_json::from_str(&project.verb(&["show", "{spec}", step, "--format", "json"])).unwrap()
    };
    let point = |row: &Value| format!("seed={}", row["coords"]["seed"].as_str().unwrap());
    let llc = show("llc");
    let checkpoints = llc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (point(row), row["checkpoint"].as_i64().unwrap()))
        .collect();
    let mut boundaries = BTreeSet::new();
    for step in ["stages", "drops"] {
        for row in show(step)["rows"].as_array().unwrap() {
            for b in row["detection"]["boundaries"].as_array().unwrap() {
                let interval =
                    [b["interval"][0].as_i64().unwrap(), b["interval"][1].as_i64().unwrap()];
                boundaries.insert((point(row), step.to_owned(), interval));
            }
        }
    }
    (checkpoints, boundaries)
}

/// A PNG that shows something: over 2% of its pixels are not the background, in several colours.
fn assert_not_blank(path: &Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(channels).collect();
    let background = pixels[0];
    let drawn = pixels.iter().filter(|p| *p != &background).count();
    let colours: BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        drawn * 50 > pixels.len(),
        "{}: {drawn} of {} pixels drawn",
        path.display(),
        pixels.len()
    );
    assert!(colours.len() >= 4, "{}: {} colours", path.display(), colours.len());
}

#[test]
fn a_study_report_draws_what_the_study_found_and_the_browser_shows_it() {
    let project = Project::new(STUDY);
    let (html, manifest) = run_and_draw(&project);
    assert_eq!(html, project.dir.path().join("reports/study/summary/report.html"));
    let folder = html.parent().unwrap().to_path_buf();
    let (checkpoints, boundaries) = results(&project);
    assert!(!boundaries.is_empty(), "the study should find boundaries for the bands to show");
    let figures = manifest["figures"].as_array().unwrap();

    // The LLC figure: one line per seed, one point per checkpoint, and the mean.
    let llc = figures.iter().find(|f| f["kind"] == "llc").expect("an LLC figure");
    let panel = &llc["panels"][0];
    let lines: Vec<&Value> =
        panel["series"].as_array().unwrap().iter().filter(|s| s["point"].is_string()).collect();
    assert_eq!(lines.len(), 2, "{panel}");
    for line in &lines {
        let point = line["point"].as_str().unwrap();
        let steps: Vec<f64> =
            line["points"].as_array().unwrap().iter().map(|p| p[0].as_f64().unwrap()).collect();
        // Checkpoint steps are small whole numbers: exact as f64.
        let expected: Vec<f64> =
            checkpoints.iter().filter(|(p, _)| p == point).map(|(_, c)| *c as f64).collect();
        assert_eq!(steps, expected, "{point}");
        assert_eq!(line["count"].as_u64(), Some(expected.len() as u64));
    }
    // A band at every detected boundary (the LLC's under the LLC, the loss's under the loss),
    // where the log axis puts its interval.
    let overview: Vec<&Value> = figures
        .iter()
        .filter(|f| f["kind"] == "llc" || f["kind"] == "loss")
        .flat_map(|f| f["panels"].as_array().unwrap())
        .collect();
    let bands: BTreeSet<Boundary> = overview
        .iter()
        .flat_map(|panel| panel["bands"].as_array().unwrap())
        .map(|b| {
            let interval = [b["interval"][0].as_i64().unwrap(), b["interval"][1].as_i64().unwrap()];
            (
                b["point"].as_str().unwrap().to_owned(),
                b["detect"].as_str().unwrap().to_owned(),
                interval,
            )
        })
        .collect();
    assert_eq!(bands, boundaries);
    for panel in overview {
        let area: Vec<f64> =
            panel["area"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (x0, x1) =
            (panel["x_range"][0].as_f64().unwrap(), panel["x_range"][1].as_f64().unwrap());
        let pixel =
            |step: f64| area[0] + (step.ln() - x0.ln()) / (x1.ln() - x0.ln()) * (area[2] - area[0]);
        for band in panel["bands"].as_array().unwrap() {
            for side in 0..2 {
                let expected = pixel(band["interval"][side].as_f64().unwrap().clamp(x0, x1));
                let drawn = band["pixels"][side].as_f64().unwrap();
                // Plotters draws on whole pixels: within one of the exact position.
                assert!((drawn - expected).abs() <= 1.0, "{band}: {drawn} vs {expected}");
            }
        }
        // With two seeds on one plot every stage is a strip under the axis.
        assert!(panel["stages"].as_array().unwrap().iter().all(|s| s["strip"] == true));
    }
    // One trace plot per estimated checkpoint.
    let traces: BTreeSet<(String, i64)> = figures
        .iter()
        .filter(|f| f["kind"] == "trace")
        .map(|f| (f["point"].as_str().unwrap().to_owned(), f["checkpoint"].as_i64().unwrap()))
        .collect();
    assert_eq!(traces, checkpoints);
    for figure in figures {
        assert_not_blank(&folder.join(figure["png"].as_str().unwrap()));
        let svg = std::fs::read_to_string(folder.join(figure["svg"].as_str().unwrap())).unwrap();
        assert!(svg.starts_with("<svg"), "{}", figure["svg"]);
    }
    // Self-contained: the only URL in the page is the SVG namespace.
    let page = std::fs::read_to_string(&html).unwrap();
    let urls = page.matches("http").count();
    assert_eq!(urls, page.matches("http://www.w3.org/2000/svg").count(), "a URL in the page");
    assert!(!page.contains("<script src") && !page.contains("<link"), "an external resource");

    // A cached rerun leaves the report as it is; `devspec report -o` draws the same one.
    let written = std::fs::metadata(folder.join("manifest.json")).unwrap().modified().unwrap();
    let again = project.run(&["--quiet"]);
    assert_eq!(again.counts().1, again.counts().0 + again.counts().1, "{}", again.stderr());
    assert!(String::from_utf8_lossy(&again.0.stdout).contains("report: "));
    assert_eq!(
        std::fs::metadata(folder.join("manifest.json")).unwrap().modified().unwrap(),
        written
    );
    let elsewhere = project.dir.path().join("elsewhere");
    let out = project.verb(&["report", "{spec}", "-o", elsewhere.to_str().unwrap()]);
    assert!(out.contains("elsewhere/summary/report.html"), "{out}");
    assert_eq!(
        std::fs::read(elsewhere.join("summary/manifest.json")).unwrap(),
        std::fs::read(folder.join("manifest.json")).unwrap()
    );

    in_the_browser(&html, &manifest, &flagged(&project, "llc"));
}

/// What Chromium lays out at a 1400 px viewport matches the manifest, with no console error
/// and no request beyond the file itself: every figure by id, its lines and bands, every
/// stage's label, a flagged marker for exactly the estimates with diagnostics (`flagged`, by
/// instance), axis labels and legends, and no text under 12 px.
fn in_the_browser(html: &Path, manifest: &Value, flagged: &BTreeSet<String>) {
    let mut browser = match Browser::start() {
        Ok(browser) => browser,
        Err(why) => {
            eprintln!("skipped: the report's browser check cannot run here: {why}");
            return;
        }
    };
    browser.open(html).unwrap();
    let laid_out = browser
        .evaluate(
            "document.querySelectorAll('details').forEach(d => d.open = true);
             ({ width: window.innerWidth,
                figures: Array.from(document.querySelectorAll('figure')).map(f => ({
               id: f.id,
               kind: f.dataset.kind,
               lines: Array.from(f.querySelectorAll('polyline')).map(p => ({
                 stroke: (p.getAttribute('stroke') || '').toUpperCase(),
                 points: p.points.numberOfItems })),
               rects: Array.from(f.querySelectorAll('rect')).map(r => {
                 const b = r.getBBox(); return { left: b.x, right: b.x + b.width }; }),
               shown: f.querySelector('svg').getBoundingClientRect().width > 0,
               texts: Array.from(f.querySelectorAll('svg text'))
                 .filter(t => t.textContent.trim() !== '')
                 .map(t => ({ text: t.textContent.trim(),
                              height: t.getBoundingClientRect().height })),
               tips: Array.from(f.querySelectorAll('circle.tip')).map(c => ({
                 flagged: c.classList.contains('flagged'),
                 title: c.querySelector('title').textContent })),
             })),
             tables: Array.from(document.querySelectorAll('table')).map(t => ({
               width: t.getBoundingClientRect().right,
               page: document.body.getBoundingClientRect().right })),
             })",
        )
        .unwrap();
    let screenshot = browser.screenshot().unwrap();
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    std::fs::write(&saved, &screenshot).unwrap();
    assert_not_blank(&saved);
    assert!(browser.errors.is_empty(), "console: {:?}", browser.errors);
    let page_url = format!("file://{}", html.canonicalize().unwrap().display());
    let elsewhere: Vec<&String> = browser.requests.iter().filter(|u| **u != page_url).collect();
    assert!(elsewhere.is_empty(), "requests beyond the page: {elsewhere:?}");
    assert_eq!(laid_out["width"], 1400, "the viewport");

    // Every figure the manifest lists is on the page, and nothing else.
    let dom_figures = laid_out["figures"].as_array().unwrap();
    let figures = manifest["figures"].as_array().unwrap();
    let ids = |of: &[Value]| -> BTreeSet<String> {
        of.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(dom_figures.len(), figures.len());
    assert_eq!(ids(dom_figures), ids(figures));
    // Tables wrap inside the page rather than running off it.
    for table in laid_out["tables"].as_array().unwrap() {
        assert!(table["width"].as_f64() <= table["page"].as_f64(), "{table}");
    }
    let mut marked = BTreeSet::new();
    for figure in figures {
        let id = figure["id"].as_str().unwrap();
        let dom = dom_figures.iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("no {id}"));
        assert_eq!(dom["kind"], figure["kind"]);
        assert_eq!(dom["shown"], true, "{id}");
        let texts: Vec<&str> =
            dom["texts"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
        for text in dom["texts"].as_array().unwrap() {
            let height = text["height"].as_f64().unwrap();
            assert!(height >= 12.0, "{id}: {text} is {height} px tall");
        }
        for panel in figure["panels"].as_array().unwrap() {
            in_the_panel(id, figure, panel, dom, &texts);
        }
        // An estimate's markers: hollow red and named where it has diagnostics.
        if figure["kind"] == "llc" || figure["kind"] == "theory" {
            for tip in dom["tips"].as_array().unwrap() {
                let title = tip["title"].as_str().unwrap();
                let instance = title.lines().next().unwrap().to_owned();
                if tip["flagged"] == true {
                    assert!(title.contains("diagnostics: "), "{id}: {title}");
                    assert!(title.contains("recommended ("), "{id}: {title}");
                    marked.insert(instance);
                } else if !instance.starts_with("mean over") {
                    assert!(title.contains("no diagnostics"), "{id}: {title}");
                }
            }
        }
    }
    let estimates_drawn = figures.iter().any(|f| f["kind"] == "llc" || f["kind"] == "theory");
    if estimates_drawn {
        assert_eq!(&marked, flagged, "the estimates marked as flagged");
    }
}

/// One panel as laid out: its axes' labels, its lines' legend entries and points, its bands
/// and its stages' labels.
fn in_the_panel(id: &str, figure: &Value, panel: &Value, dom: &Value, texts: &[&str]) {
    let named = |text: &str| texts.contains(&text);
    for axis in ["x_label", "y_label"] {
        let label = panel[axis].as_str().unwrap();
        assert!(label.is_empty() || named(label), "{id}: no axis label {label}: {texts:?}");
    }
    let time =
        ["llc", "loss", "observable", "development"].contains(&figure["kind"].as_str().unwrap());
    for series in panel["series"].as_array().unwrap() {
        if time {
            let label = series["label"].as_str().unwrap();
            assert!(named(label), "{id}: no legend entry {label}: {texts:?}");
        }
        let points = series["points"].as_array().unwrap();
        if points.is_empty() {
            continue;
        }
        let count = points.iter().filter(|p| p[1].is_number()).count();
        if count < 2 {
            // A single point is a marker, not a line (estimates against theory).
            continue;
        }
        let found =
            dom["lines"].as_array().unwrap().iter().any(|l| {
                l["stroke"] == series["colour"] && l["points"].as_u64() == Some(count as u64)
            });
        assert!(found, "{id}: no {} line of {count} points: {}", series["label"], dom["lines"]);
    }
    for band in panel["bands"].as_array().unwrap() {
        let (left, right) =
            (band["pixels"][0].as_f64().unwrap(), band["pixels"][1].as_f64().unwrap());
        let found = dom["rects"].as_array().unwrap().iter().any(|r| {
            (r["left"].as_f64().unwrap() - left).abs() <= 1.0
                && (r["right"].as_f64().unwrap() - right).abs() <= 1.0
        });
        assert!(found, "{id}: no band at {band}");
    }
    for stage in panel["stages"].as_array().unwrap() {
        let label = stage["label"].as_str().unwrap();
        assert!(named(label), "{id}: no stage label {label}");
        let meaning = stage["meaning"].as_str().unwrap();
        assert!(named(meaning), "{id}: the key does not name {meaning}: {texts:?}");
    }
}

/// A reduced version of `specs/dln.dev`: estimates at two teachers whose learning coefficient
/// is known, against theory (about 10 s).
const DLN: &str = "let a = dln.teacher(widths = [4, 3, 4], rank = 1, seed = 0)\n\
    checkpoint truth_a {\n  model = dln.model(widths = [4, 3, 4])\n  weights = a\n  \
    data = dln.data(teacher = a, samples = 2_000, noise = 0)\n}\n\
    let b = dln.teacher(widths = [5, 3, 5], rank = 2, seed = 0)\n\
    checkpoint truth_b {\n  model = dln.model(widths = [5, 3, 5])\n  weights = b\n  \
    data = dln.data(teacher = b, samples = 2_000, noise = 0)\n}\n\
    let sampling = llc(sampler = sgld(lr = 2e-5, localization = 1), nbeta = dataset, chains = 2, \
    burnin = 200, draws = 400, batch_size = 500)\n\
    estimate llc_a on truth_a { observable = sampling }\n\
    estimate llc_b on truth_b { observable = sampling }\n\
    report validation on llc_a, llc_b { title = \"reduced DLN\" }\n";

/// A reduced version of `specs/induction.dev`: a small attention-only transformer, its
/// induction score and LLC over six checkpoints, their detections; no title, so the report is
/// titled by its name (about 30 s).
const INDUCTION: &str = "train attn {\n  model = transformer.model(layers = 2, heads = 2, \
    d_model = 32, d_mlp = 0, context = 16, vocab = 16)\n  \
    data = induction.data(vocab = 16, length = 16, segment = 6)\n  \
    optimizer = adamw(lr = 3e-3)\n  batch_size = 64\n  steps = 400\n  seed = 0\n  \
    checkpoints = logspace(1, 400, 6)\n}\n\
    estimate induction on attn { observable = induction_score() }\n\
    estimate llc on attn {\n  observable = llc(sampler = sgld(lr = 1e-4, localization = 10), \
    chains = 2, draws = 40, burnin = 20)\n}\n\
    detect heads on induction { method = transitions(smoothing = 0.05) }\n\
    detect stages on llc { method = critical_points(smoothing = 0.05) }\n\
    report summary on attn, induction, llc, heads, stages {}\n";

/// Runs a study and returns its report's page and manifest.
fn run_and_draw(project: &Project) -> (PathBuf, Value) {
    let run = project.run(&["--quiet"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let stdout = String::from_utf8(run.0.stdout.clone()).unwrap();
    let html: PathBuf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report path in:\n{stdout}"))
        .into();
    let manifest = json_of(&html.parent().unwrap().join("manifest.json"));
    (html, manifest)
}

#[test]
fn a_reduced_dln_report_sets_each_estimate_against_theory_and_marks_the_flagged() {
    let project = Project::new(DLN);
    let (html, manifest) = run_and_draw(&project);
    let kinds: Vec<&str> = manifest["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["theory", "trace", "trace"]);
    let mut flagged = flagged(&project, "llc_a");
    flagged.extend(self::flagged(&project, "llc_b"));
    in_the_browser(&html, &manifest, &flagged);
}

#[test]
fn a_reduced_induction_report_shows_every_observable_and_its_stages() {
    let project = Project::new(INDUCTION);
    let (html, manifest) = run_and_draw(&project);
    // Untitled: titled by the report's name.
    assert_eq!(manifest["title"], "summary");
    let figures = manifest["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"observable-induction"), "{ids:?}");
    // One sweep point: each panel's own stages shaded across it and labelled.
    let development = figures.iter().find(|f| f["kind"] == "development").unwrap();
    let shaded: Vec<&Value> = development["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["stages"].as_array().unwrap())
        .filter(|s| s["strip"] == false)
        .collect();
    assert!(!shaded.is_empty(), "{development}");
    in_the_browser(&html, &manifest, &flagged(&project, "llc"));
}

#[test]
fn a_report_of_a_study_that_has_not_run_says_which_run_to_do_and_writes_nothing() {
    let project = Project::new(STUDY);
    let out = project.verb_output(&["report", "{spec}"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("have no results yet"), "{stderr}");
    assert!(stderr.contains("devspec run"), "{stderr}");
    assert!(!project.dir.path().join("reports").exists());
    // A spec without a report step is told how to add one.
    let bare = Project::new("let x = 1\n");
    let out = bare.verb_output(&["report", "{spec}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no report step"));
}
