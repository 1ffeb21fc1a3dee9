//! The report page: one HTML file with every figure inline as SVG and its style in the page,
//! so it opens from disk, offline, anywhere. Sections: development (LLC, loss, one figure per
//! sweep point), stages and boundaries (tables per detection, boundaries that recur across
//! sweep points), essential dynamics, calibration, sampling traces, the spec as written and as
//! resolved, and the provenance of every number.

use std::fmt::Write;

use super::canvas::escape;
use super::data::{DetectionOf, ReportData};
use super::files::{Context, RecurringEntry};
use super::gallery::Made;
use super::style::number_label;

const STYLE: &str = "
body { font-family: 'DejaVu Sans', system-ui, sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2.4rem; }
.meta { color: #666; font-size: 0.9rem; }
nav a { margin-right: 1rem; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 4px; }
.grid figure { margin: 0; width: 375px; }
.flagged figcaption { color: #c81e1e; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.88rem; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
td pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; padding: 0.3rem; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
.legend span { display: inline-block; padding: 0 0.4rem; margin-right: 0.4rem; }
";

fn figure(out: &mut String, made: &Made) {
    let f = &made.figure;
    let class = if f.diagnostics.is_empty() { "" } else { " class=\"flagged\"" };
    let point =
        f.point.as_deref().map(|p| format!(" data-point=\"{}\"", escape(p))).unwrap_or_default();
    let checkpoint = f.checkpoint.map(|c| format!(" data-checkpoint=\"{c}\"")).unwrap_or_default();
    let _ = writeln!(
        out,
        "<figure id=\"{}\" data-kind=\"{}\"{point}{checkpoint}{class}>{}<figcaption>{}{}</figcaption></figure>",
        escape(&f.id),
        escape(&f.kind),
        made.rendered.svg,
        escape(&f.title),
        if f.diagnostics.is_empty() {
            String::new()
        } else {
            format!(": {}", escape(&f.diagnostics.join(", ")))
        },
    );
}

fn span(start: Option<f64>, end: Option<f64>) -> String {
    match (start, end) {
        (Some(a), Some(b)) => format!("{} → {}", number_label(a), number_label(b)),
        _ => String::new(),
    }
}

fn detection_table(out: &mut String, of: &DetectionOf) {
    let d = &of.detection;
    // The LLC and loss beside the series, when known and not the series itself.
    let llc = !d.series.starts_with("llc") && d.stages.iter().any(|s| s.llc_start.is_some());
    let loss = !d.series.contains("loss") && d.stages.iter().any(|s| s.loss_start.is_some());
    let _ = write!(
        out,
        "<h3 id=\"detect-{}\">{}: {} by {}</h3>\n<table><tr><th></th><th>steps</th><th>stage</th><th>{}</th>{}{}</tr>\n",
        escape(&of.instance),
        escape(&of.instance),
        escape(&d.series),
        escape(&d.method),
        escape(&d.series),
        if llc { "<th>LLC</th>" } else { "" },
        if loss { "<th>loss</th>" } else { "" },
    );
    for (i, s) in d.stages.iter().enumerate() {
        // `S1`, `S2`: as the figures label them.
        let mut row = format!(
            "<tr><td>S{}</td><td>{}–{}</td><td>{}</td><td class=num>{}</td>",
            i + 1,
            s.start,
            s.end,
            escape(&s.kind),
            span(Some(s.value_start), Some(s.value_end))
        );
        if llc {
            let _ = write!(row, "<td class=num>{}</td>", span(s.llc_start, s.llc_end));
        }
        if loss {
            let _ = write!(row, "<td class=num>{}</td>", span(s.loss_start, s.loss_end));
        }
        let _ = writeln!(out, "{row}</tr>");
    }
    out.push_str("</table>\n<table><tr><th>boundary between</th><th>kind</th><th>strength</th><th>evidence</th></tr>\n");
    if d.boundaries.is_empty() {
        out.push_str("<tr><td colspan=4>none</td></tr>\n");
    }
    for b in &d.boundaries {
        let _ = writeln!(
            out,
            "<tr><td>{}–{}</td><td>{}</td><td class=num>{:.2}</td><td>{}</td></tr>",
            b.interval[0],
            b.interval[1],
            escape(&b.kind),
            b.strength,
            escape(&b.evidence)
        );
    }
    let _ = writeln!(
        out,
        "</table><p class=meta>From <a href=\"#prov-{0}\">{0}</a>.</p>",
        escape(&of.instance)
    );
}

/// Each estimate at a known teacher: its mean and standard error, the closed form, the error.
fn theory_table(out: &mut String, data: &ReportData) {
    if data.theory.is_empty() {
        return;
    }
    out.push_str(
        "<table><tr><th>estimate</th><th>checkpoint</th><th>LLC</th><th>standard error</th>\
         <th>theory</th><th>error</th></tr>\n",
    );
    for p in &data.theory {
        let cell = |v: Option<f64>| v.map_or(String::new(), number_label);
        let error = p.llc_mean.map_or(String::new(), |m| {
            format!(
                "{:+.1}% ({:+.1} s.e.)",
                (m - p.theory) / p.theory * 100.0,
                (m - p.theory) / p.llc_se.unwrap_or(f64::NAN)
            )
        });
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#prov-{0}\">{0}</a></td><td>{1}</td><td class=num>{2}</td>\
             <td class=num>{3}</td><td class=num>{4}</td><td class=num>{5}</td></tr>",
            escape(&p.instance),
            escape(&p.checkpoint),
            cell(p.llc_mean),
            cell(p.llc_se),
            number_label(p.theory),
            error
        );
    }
    out.push_str("</table>\n");
}

fn recurring_table(out: &mut String, recurring: &[RecurringEntry]) {
    if recurring.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Boundaries that recur across sweep points</h3>\n<p class=meta>Boundaries of one \
         detect step whose checkpoint intervals overlap at several sweep points.</p>\n<table>\
         <tr><th>detect</th><th>between</th><th>kind</th><th>found at</th></tr>\n",
    );
    for r in recurring {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}–{}</td><td>{}</td><td>{} of {}: {}</td></tr>",
            escape(&r.step),
            r.interval[0],
            r.interval[1],
            escape(&r.kind),
            r.points.len(),
            r.of,
            escape(&r.points.join("; "))
        );
    }
    out.push_str("</table>\n");
}

pub fn page(
    data: &ReportData,
    context: &Context,
    made: &[Made],
    recurring: &[RecurringEntry],
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(data.title_or(&context.name)),
        escape(data.title_or(&context.name))
    );
    if let Some(description) = &data.description {
        let _ = writeln!(out, "<p>{}</p>", escape(description));
    }
    if !data.redacted.is_empty() {
        // Styled in place: the shared style sheet (and so every other page's bytes) stays.
        out.push_str(
            "<div class=redacted style=\"border:2px solid #b45309;background:#fffbeb;\
             padding:0.5em 1em;margin:1em 0\"><strong>Left out by the owner of the \
             checkpoints.</strong> These results were sent with fields left out \
             (<code>bid results --redact</code>); the figures below lack them:<ul>\n",
        );
        for line in &data.redacted {
            let _ = writeln!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul></div>\n");
    }
    let _ = writeln!(
        out,
        "<p class=meta>Report <code>{}</code> of <code>{}</code>, drawn by devspec {}: {} figures, \
         {} estimates, {} detections.</p>",
        escape(&context.name),
        escape(&context.spec_path),
        env!("CARGO_PKG_VERSION"),
        made.len(),
        // A bid's owner may have left the trace panels out: then counted from the LLC series,
        // which every estimate is in (elsewhere the panels, as pages drawn before were).
        if data.redacted.is_empty() {
            data.traces.len()
        } else {
            data.llc.iter().map(|series| series.instances.len()).sum::<usize>()
        },
        data.detections.len()
    );
    let of_kind = |kinds: &'static [&'static str]| {
        made.iter().filter(move |m| kinds.contains(&m.figure.kind.as_str()))
    };
    out.push_str(
        "<nav><a href=\"#development\">development</a><a href=\"#stages\">stages</a>\
         <a href=\"#traces\">traces</a><a href=\"#spec\">spec</a><a href=\"#provenance\">provenance</a></nav>\n",
    );
    out.push_str(
        "<section id=\"development\"><h2>Development</h2>\n<p class=meta>Each LLC line has a \
         marker at every estimated checkpoint and a band of ±2 standard errors of its mean over \
         chains; a hollow red marker is an estimate with diagnostics (hover any marker for its \
         step, value, standard error, diagnostics and the action to try first). A mean is drawn \
         across seeds only: sweep points that differ in anything else keep their own lines. \
         Stages are coloured by what they mean for the series they were found in (the key under \
         each figure) and labelled S1, S2, ...: shaded across a figure about one sweep point, as \
         strips under the axis otherwise; a boundary is the dark band between the two \
         checkpoints it lies between.</p>\n",
    );
    for m in of_kind(&["theory"]) {
        figure(&mut out, m);
    }
    theory_table(&mut out, data);
    for m in of_kind(&["llc", "observable", "loss", "development"]) {
        figure(&mut out, m);
    }
    left_out_here(&mut out, &data.redacted, &["train_loss", "test_loss", "llc_per_chain"]);
    out.push_str("</section>\n<section id=\"stages\"><h2>Stages and boundaries</h2>\n");
    if data.detections.is_empty() {
        out.push_str("<p>This report is on no detect step.</p>\n");
    }
    for of in &data.detections {
        detection_table(&mut out, of);
    }
    recurring_table(&mut out, recurring);
    out.push_str("</section>\n");
    if of_kind(&["dynamics"]).next().is_some() {
        out.push_str("<section id=\"dynamics\"><h2>Essential dynamics</h2>\n");
        for m in of_kind(&["dynamics"]) {
            figure(&mut out, m);
        }
        out.push_str("</section>\n");
    }
    if of_kind(&["calibration"]).next().is_some() {
        out.push_str(
            "<section id=\"calibration\"><h2>Calibration</h2>\n<p class=meta>Each cell: the \
             LLC estimate ± its standard error and the MALA acceptance, coloured by the estimate \
             (the bar beside the grid); framed in red dashes: the cell has diagnostics (named in \
             it); framed in black: the recommended cell.</p>\n",
        );
        for m in of_kind(&["calibration"]) {
            figure(&mut out, m);
        }
        out.push_str("</section>\n");
    }
    traces(&mut out, made, &data.redacted);
    spec(&mut out, context);
    provenance(&mut out, data, context);
    out.push_str("</body></html>\n");
    out
}

/// Where a bid's owner left fields out, said beside the figures that lack them too, so an
/// empty figure or section does not read as "there were none". `redacted` is the report's
/// notice, one `STEP.FIELD: what it is, left out by the owner` a line; `fields`, the fields
/// drawn here.
fn left_out_here(out: &mut String, redacted: &[String], fields: &[&str]) {
    for line in redacted {
        let (named, what) = line.split_once(": ").unwrap_or((line, ""));
        let Some((step, field)) = named.rsplit_once('.') else { continue };
        if fields.contains(&field) {
            let what = what.trim_end_matches(", left out by the owner");
            let _ = writeln!(
                out,
                "<p class=redacted><strong>Left out by the owner of the checkpoints: \
                 <code>{}.{}</code></strong> ({}).</p>",
                escape(step),
                escape(field),
                escape(what)
            );
        }
    }
}

fn traces(out: &mut String, made: &[Made], redacted: &[String]) {
    out.push_str(
        "<section id=\"traces\"><h2>Sampling traces</h2>\n<p class=meta>Every chain's loss per \
         draw at each checkpoint; dashed: the loss at the checkpoint. Red: the estimate has \
         diagnostics (named in the title), or a chain diverged.</p>\n",
    );
    left_out_here(out, redacted, &["traces"]);
    let trace_figures: Vec<&Made> = made.iter().filter(|m| m.figure.kind == "trace").collect();
    let mut groups: Vec<(String, Vec<&Made>)> = Vec::new();
    for m in trace_figures {
        // The instance without its checkpoint: `llc[seed=0]`.
        let group = m.figure.title.split('@').next().unwrap_or("").to_owned();
        match groups.last_mut() {
            Some((name, members)) if *name == group => members.push(m),
            _ => groups.push((group, vec![m])),
        }
    }
    for (name, members) in groups {
        let flagged = members.iter().filter(|m| !m.figure.diagnostics.is_empty()).count();
        let _ = writeln!(
            out,
            "<details><summary>{}: {} checkpoints, {} with diagnostics</summary><div class=grid>",
            escape(&name),
            members.len(),
            flagged
        );
        for m in members {
            figure(out, m);
        }
        out.push_str("</div></details>\n");
    }
    out.push_str("</section>\n");
}

fn spec(out: &mut String, context: &Context) {
    let _ = write!(
        out,
        "<section id=\"spec\"><h2>Spec</h2>\n<p class=meta><code>{}</code> as written:</p>\
         <pre>{}</pre>\n<h3>Steps as resolved</h3>\n<table><tr><th>step</th><th>kind</th>\
         <th>fields</th></tr>\n",
        escape(&context.spec_path),
        escape(&context.spec_source)
    );
    for step in &context.resolved {
        let mut fields: Vec<String> =
            step.fields.iter().map(|(name, value)| format!("{name} = {value}")).collect();
        if !step.points.is_empty() {
            fields.push(format!("# sweep points: {}", step.points.join("; ")));
        }
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            escape(&step.name),
            escape(step.kind.name()),
            escape(&fields.join("\n"))
        );
    }
    out.push_str("</table></section>\n");
}

fn provenance(out: &mut String, data: &ReportData, context: &Context) {
    let _ = writeln!(
        out,
        "<section id=\"provenance\"><h2>Provenance</h2>\n<p class=meta>Every number above comes \
         from one of these {} step instances: its key names the computation in the store \
         (<code>devspec show --provenance</code> reads it).</p><details><summary>the instances\
         </summary><table><tr><th>instance</th><th>kind</th><th>key</th><th>devspec</th>\
         <th>libtorch</th><th>device</th><th>threads</th><th>host</th><th>wall time</th></tr>",
        data.provenance.len()
    );
    for source in &data.provenance {
        let _ = write!(
            out,
            "<tr id=\"prov-{0}\"><td>{0}</td><td>{1}</td><td><code>{2}</code></td>",
            escape(&source.instance),
            escape(source.kind.name()),
            escape(&source.key),
        );
        let Some(p) = context.provenance.get(&source.key) else {
            out.push_str("<td colspan=6>not recorded in this store</td></tr>\n");
            continue;
        };
        let devspec = if p.devspec_commit.is_empty() {
            p.devspec_version.clone()
        } else {
            format!(
                "{} ({})",
                p.devspec_version,
                &p.devspec_commit[..p.devspec_commit.len().min(10)]
            )
        };
        let device = if p.device_name.is_empty() {
            p.device.clone()
        } else {
            format!("{} ({})", p.device, p.device_name)
        };
        // A result sent from another machine (a bid's answer) comes without its host and
        // times: said, not shown as an empty host and no time at all.
        let (host, wall) = if p.host.is_empty() && p.started == 0.0 && p.ended == 0.0 {
            ("not sent".to_owned(), "not sent".to_owned())
        } else {
            (escape(&p.host), format!("{:.2} s", p.wall_seconds()))
        };
        let threads = if p.threads == 0 { "auto".to_owned() } else { p.threads.to_string() };
        let _ = writeln!(
            out,
            "<td>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td>{}</td>\
             <td class=num>{}</td></tr>",
            escape(&devspec),
            escape(&p.libtorch),
            escape(&device),
            threads,
            host,
            wall
        );
    }
    out.push_str("</table></details></section>\n");
}
