//! Drawing the charts with plotters into SVG strings. Pure: plain data in, markup out.
//!
//! Colours are from the Okabe–Ito palette, which stays distinguishable with the common colour-vision
//! deficiencies, and each series differs by more than colour: on the latency chart the colour is the
//! percentile and the line style the cohort (treatment solid, control dashed); on the error chart the
//! cohorts differ in both. Every SVG has a viewBox and no fixed size, so it scales to its card, and a
//! `<title>` and `<desc>` that say in words what it shows, for screen readers and for tests.

use super::series::{axis_top, segments, ChartData, Cohort, MarkerKind, Point, ThresholdMetric};
use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Write as _;

/// Okabe–Ito blue, bluish green and vermillion: the three of its colours with at least 3:1 contrast on white.
const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
/// Okabe–Ito reddish purple, drawn thick, for rollbacks.
const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
/// The app's text, muted text and border colours (style/main.css).
const INK: RGBColor = RGBColor(0x1f, 0x23, 0x28);
const MUTED: RGBColor = RGBColor(0x59, 0x63, 0x6e);
const GRID: RGBColor = RGBColor(0xe4, 0xe8, 0xec);

const WIDTH: u32 = 760;
const HEIGHT: u32 = 320;
const LEGEND_WIDTH: u32 = 190;
const EMPTY_HEIGHT: u32 = 120;
const SPARK_WIDTH: u32 = 120;
const SPARK_HEIGHT: u32 = 28;
const FONT: &str = "sans-serif";

/// What the empty charts say.
pub const EMPTY_MESSAGE: &str = "No figures yet: applications report them to POST /api/v1/metrics";

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// One line kind as the legend shows it.
struct LegendEntry {
    label: String,
    color: RGBColor,
    dashed: bool,
    width: u32,
}

/// p50, p95 and p99 latency over time, treatment (solid) against control (dashed), with the p95/p99
/// thresholds and the stage markers.
pub fn latency_svg(data: &ChartData) -> String {
    let id = "latency-chart";
    let title = format!("Latency of {}, last {}", data.subject, data.range.label());
    if data.is_empty() {
        return empty_svg(id, &title);
    }
    let percentiles: [(&str, RGBColor, Figure); 3] =
        [("p99", VERMILLION, |p| p.p99_ms), ("p95", GREEN, |p| p.p95_ms), ("p50", BLUE, |p| p.p50_ms)];
    let mut lines = Vec::new();
    for (name, color, value) in percentiles {
        for cohort in [Cohort::Treatment, Cohort::Control] {
            lines.push(Line { label: line_label(name, cohort), color, cohort, value });
        }
    }
    let thresholds = |m: ThresholdMetric| matches!(m, ThresholdMetric::LatencyP95 | ThresholdMetric::LatencyP99);
    let desc = describe(data, &lines, thresholds, "ms", "Latency in milliseconds");
    render_chart(data, id, &title, &desc, &lines, thresholds, "Latency (ms)", 10.0, |y| format!("{y:.0}"))
}

/// The error rate over time, treatment against control, with the error-rate threshold and the markers.
pub fn error_rate_svg(data: &ChartData) -> String {
    let id = "error-rate-chart";
    let title = format!("Error rate of {}, last {}", data.subject, data.range.label());
    if data.is_empty() {
        return empty_svg(id, &title);
    }
    let lines = vec![
        Line { label: "treatment".into(), color: VERMILLION, cohort: Cohort::Treatment, value: |p| p.error_rate_pct },
        Line { label: "control".into(), color: BLUE, cohort: Cohort::Control, value: |p| p.error_rate_pct },
    ];
    let thresholds = |m: ThresholdMetric| m == ThresholdMetric::ErrorRate;
    let desc = describe(data, &lines, thresholds, "%", "Error rate in percent of requests");
    render_chart(data, id, &title, &desc, &lines, thresholds, "Error rate (%)", 1.0, |y| {
        if y.fract().abs() < 1e-9 {
            format!("{y:.0}")
        } else {
            format!("{y:.1}")
        }
    })
}

/// A sparkline of one rollout's treatment error rate over `[from, to)`: values per minute, the threshold
/// if there is one. No axes; the `<title>` says the figures.
pub fn sparkline_svg(
    id: &str,
    values: &[(DateTime<Utc>, f64)],
    threshold: Option<f64>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let title = match values.last() {
        None => "Treatment error rate, last hour: no figures yet".to_owned(),
        Some((_, now)) => {
            let highest = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
            let mut t = format!(
                "Treatment error rate, last hour: now {}%, highest {}%",
                format_value(*now),
                format_value(highest)
            );
            if let Some(limit) = threshold {
                let _ = write!(t, ", limit {}%", format_value(limit));
            }
            t
        }
    };
    let mut svg = String::new();
    let drawn = (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut svg, (SPARK_WIDTH, SPARK_HEIGHT)).into_drawing_area();
        if values.is_empty() {
            let style = TextStyle::from((FONT, 14).into_font()).color(&MUTED).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new("no figures", (2, (SPARK_HEIGHT / 2) as i32), style))?;
            root.present()?;
            return Ok(());
        }
        let top = axis_top(values.iter().map(|(_, v)| *v).chain(threshold), 1.0);
        let mut chart = ChartBuilder::on(&root)
            .margin(3)
            .build_cartesian_2d(from.timestamp() as f64..to.timestamp() as f64, 0.0..top)?;
        if let Some(limit) = threshold {
            let (x0, x1) = (from.timestamp() as f64, to.timestamp() as f64);
            chart.draw_series(DashedLineSeries::new([(x0, limit), (x1, limit)], 3, 2, MUTED.stroke_width(1)))?;
        }
        let points: Vec<(f64, f64)> = values.iter().map(|(at, v)| (at.timestamp() as f64, *v)).collect();
        if points.len() == 1 {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, VERMILLION.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(points, VERMILLION.stroke_width(2)))?;
        }
        drop(chart);
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => frame(&svg, id, SPARK_WIDTH, SPARK_HEIGHT, &title, &title),
        Err(error) => {
            tracing::error!(%error, "drawing a sparkline failed");
            String::new()
        }
    }
}

/// Reads one figure from a point.
type Figure = fn(&Point) -> Option<f64>;

/// One series of a chart: a figure of one cohort.
struct Line {
    label: String,
    color: RGBColor,
    cohort: Cohort,
    value: Figure,
}

fn line_label(percentile: &str, cohort: Cohort) -> String {
    match cohort {
        Cohort::Treatment => format!("{percentile} treatment"),
        Cohort::Control => format!("{percentile} control"),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_chart(
    data: &ChartData,
    id: &str,
    title: &str,
    desc: &str,
    lines: &[Line],
    shows: impl Fn(ThresholdMetric) -> bool,
    y_desc: &str,
    y_minimum: f64,
    y_format: impl Fn(f64) -> String,
) -> String {
    let mut svg = String::new();
    let drawn = draw_chart(&mut svg, data, lines, &shows, y_desc, y_minimum, &y_format);
    match drawn {
        Ok(()) => frame(&svg, id, WIDTH, HEIGHT, title, desc),
        Err(error) => {
            tracing::error!(%error, chart = id, "drawing a chart failed");
            empty_svg_saying(id, title, "The chart could not be drawn; the error has been logged.")
        }
    }
}

fn draw_chart(
    svg: &mut String,
    data: &ChartData,
    lines: &[Line],
    shows: &dyn Fn(ThresholdMetric) -> bool,
    y_desc: &str,
    y_minimum: f64,
    y_format: &dyn Fn(f64) -> String,
) -> DrawResult {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let bucket = data.bucket();
    let thresholds: Vec<_> = data.thresholds.iter().filter(|t| shows(t.metric)).collect();
    let values = lines
        .iter()
        .flat_map(|line| data.points(line.cohort).iter().filter_map(line.value))
        .chain(thresholds.iter().map(|t| t.value));
    let top = axis_top(values, y_minimum);
    let (x0, x1) = (data.from.timestamp() as f64, data.to.timestamp() as f64);
    let label_style = TextStyle::from((FONT, 15).into_font()).color(&INK);
    let time_format = if data.range.seconds() > 86_400 { "%d %b %H:%M" } else { "%H:%M" };

    let mut chart = ChartBuilder::on(&plot_area)
        .margin(12)
        .margin_top(40)
        .x_label_area_size(44)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, 0.0..top)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| {
            DateTime::<Utc>::from_timestamp(*x as i64, 0).map(|t| t.format(time_format).to_string()).unwrap_or_default()
        })
        .y_label_formatter(&|y| y_format(*y))
        .x_desc("Time (UTC)")
        .y_desc(y_desc)
        .label_style(label_style.clone())
        .axis_desc_style(TextStyle::from((FONT, 16).into_font()).color(&INK))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(1))
        .draw()?;

    for line in lines {
        let style = line.color.stroke_width(2);
        for segment in segments(data.points(line.cohort), bucket, line.value) {
            if segment.len() == 1 {
                chart.draw_series(segment.into_iter().map(|p| Circle::new(p, 3, line.color.filled())))?;
            } else if line.cohort == Cohort::Control {
                chart.draw_series(DashedLineSeries::new(segment, 7, 4, style))?;
            } else {
                chart.draw_series(LineSeries::new(segment, style))?;
            }
        }
    }

    for threshold in &thresholds {
        chart.draw_series(LineSeries::new([(x0, threshold.value), (x1, threshold.value)], INK.stroke_width(2)))?;
        let style = label_style.clone().pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series(std::iter::once(
            EmptyElement::at((x1, threshold.value)) + Text::new(threshold.label(), (-4, -2), style),
        ))?;
    }

    let in_range: Vec<_> = data.markers.iter().filter(|m| m.at >= data.from && m.at <= data.to).collect();
    for (i, marker) in in_range.iter().enumerate() {
        let x = marker.at.timestamp() as f64;
        let (color, width) = match marker.kind {
            MarkerKind::Stage => (MUTED, 1),
            MarkerKind::Rollback => (PURPLE, 3),
        };
        let ends = [(x, 0.0), (x, top)];
        match marker.kind {
            MarkerKind::Stage => chart.draw_series(DashedLineSeries::new(ends, 5, 3, color.stroke_width(width)))?,
            MarkerKind::Rollback => chart.draw_series(LineSeries::new(ends, color.stroke_width(width)))?,
        };
        // Labels sit above the plot, staggered over three rows so that markers close together stay legible.
        let row = (i % 3) as i32;
        let style = TextStyle::from((FONT, 14).into_font()).color(&INK).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, top)) + Text::new(marker.label.clone(), (0, -2 - row * 12), style),
        ))?;
    }
    drop(chart);

    let mut legend: Vec<LegendEntry> = lines
        .iter()
        .map(|l| LegendEntry { label: l.label.clone(), color: l.color, dashed: l.cohort == Cohort::Control, width: 2 })
        .collect();
    if !thresholds.is_empty() {
        legend.push(LegendEntry { label: "guardrail limit".into(), color: INK, dashed: false, width: 2 });
    }
    let kinds = |kind| in_range.iter().any(|m| m.kind == kind);
    if kinds(MarkerKind::Stage) {
        legend.push(LegendEntry { label: "stage change".into(), color: MUTED, dashed: true, width: 1 });
    }
    if kinds(MarkerKind::Rollback) {
        legend.push(LegendEntry { label: "rollback".into(), color: PURPLE, dashed: false, width: 3 });
    }
    draw_legend(&legend_area, &legend)?;
    root.present()?;
    Ok(())
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, entries: &[LegendEntry]) -> DrawResult {
    let heading = TextStyle::from((FONT, 16).into_font()).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new("Legend", (8, 48), heading))?;
    let style = TextStyle::from((FONT, 15).into_font()).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, entry) in entries.iter().enumerate() {
        let y = 72 + 20 * i as i32;
        let stroke = entry.color.stroke_width(entry.width);
        let pieces: &[(i32, i32)] = if entry.dashed { &[(8, 15), (19, 26), (30, 36)] } else { &[(8, 36)] };
        for &(a, b) in pieces {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], stroke))?;
        }
        area.draw(&Text::new(entry.label.clone(), (44, y), style.clone()))?;
    }
    Ok(())
}

/// The chart in words: what it plots, over when, the latest figures, the limits and the markers.
fn describe(
    data: &ChartData,
    lines: &[Line],
    shows: impl Fn(ThresholdMetric) -> bool,
    unit: &str,
    what: &str,
) -> String {
    let minutes = data.bucket().num_minutes();
    let mut desc = format!(
        "{what} for {}, from {} to {} UTC, one point per {minutes}-minute bucket; treatment drawn solid, control dashed.",
        data.subject,
        data.from.format("%Y-%m-%d %H:%M"),
        data.to.format("%Y-%m-%d %H:%M"),
    );
    for cohort in [Cohort::Treatment, Cohort::Control] {
        let name = if cohort == Cohort::Treatment { "treatment" } else { "control" };
        let latest = data.points(cohort).iter().rev().find(|p| p.requests > 0);
        let figures: Vec<String> = lines
            .iter()
            .filter(|l| l.cohort == cohort)
            .filter_map(|l| {
                let value = latest.and_then(|p| (l.value)(p))?;
                let label = l.label.trim_end_matches(name).trim();
                let label = if label.is_empty() { String::new() } else { format!("{label} ") };
                Some(format!("{label}{}{}{unit}", format_value(value), if unit == "ms" { " " } else { "" }))
            })
            .collect();
        match (latest, figures.is_empty()) {
            (Some(point), false) => {
                let _ = write!(desc, " Latest {name} ({}): {}.", point.at.format("%H:%M"), figures.join(", "));
            }
            _ => {
                let _ = write!(desc, " No {name} figures in this range.");
            }
        }
    }
    let limits: Vec<String> = data.thresholds.iter().filter(|t| shows(t.metric)).map(|t| t.label()).collect();
    if !limits.is_empty() {
        let _ = write!(desc, " Guardrail limits: {}.", limits.join("; "));
    }
    let markers: Vec<String> = data
        .markers
        .iter()
        .filter(|m| m.at >= data.from && m.at <= data.to)
        .map(|m| format!("{} {}", m.at.format("%m-%d %H:%M"), m.label))
        .collect();
    if !markers.is_empty() {
        let _ = write!(desc, " Marked: {}.", markers.join("; "));
    }
    desc
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        crate::domain::guardrail::format_number(value)
    }
}

fn empty_svg(id: &str, title: &str) -> String {
    empty_svg_saying(id, title, EMPTY_MESSAGE)
}

fn empty_svg_saying(id: &str, title: &str, message: &str) -> String {
    let mut svg = String::new();
    let drawn = (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, EMPTY_HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let style = TextStyle::from((FONT, 18).into_font()).color(&MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(message, ((WIDTH / 2) as i32, (EMPTY_HEIGHT / 2) as i32), style))?;
        root.present()?;
        Ok(())
    })();
    if let Err(error) = drawn {
        tracing::error!(%error, "drawing an empty chart failed");
    }
    frame(&svg, id, WIDTH, EMPTY_HEIGHT, title, message)
}

/// Makes plotters' SVG responsive (viewBox only, no fixed width and height) and accessible: an image
/// role named by a `<title>` and described by a `<desc>`, inserted right after the opening tag.
fn frame(svg: &str, id: &str, width: u32, height: u32, title: &str, desc: &str) -> String {
    let fixed = format!(" width=\"{width}\" height=\"{height}\"");
    let accessible = format!(
        " class=\"chart-svg\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" data-testid=\"{id}\" preserveAspectRatio=\"xMidYMid meet\""
    );
    let Some(open_end) = svg.find("<svg").and_then(|start| svg[start..].find('>').map(|end| start + end)) else {
        return String::new();
    };
    let opening = svg[..open_end].replacen(&fixed, &accessible, 1);
    let mut out = String::with_capacity(svg.len() + title.len() + desc.len() + 200);
    out.push_str(&opening);
    let _ = write!(
        out,
        "><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(desc)
    );
    out.push_str(&svg[open_end + 1..]);
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::series::{Marker, Threshold};
    use super::*;
    use crate::model::charts::ChartRange;
    use chrono::TimeDelta;

    fn point(minute: i64, p99: f64, error_rate: f64) -> Point {
        Point {
            at: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minute),
            requests: 100,
            p50_ms: Some(p99 / 4.0),
            p95_ms: Some(p99 / 2.0),
            p99_ms: Some(p99),
            error_rate_pct: Some(error_rate),
        }
    }

    fn data(treatment: Vec<Point>, control: Vec<Point>) -> ChartData {
        ChartData {
            subject: "checkout <v2> in production".into(),
            range: ChartRange::Hour,
            from: DateTime::<Utc>::UNIX_EPOCH,
            to: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(1),
            treatment,
            control,
            thresholds: vec![
                Threshold { metric: ThresholdMetric::LatencyP99, value: 500.0, stage: None },
                Threshold { metric: ThresholdMetric::ErrorRate, value: 1.0, stage: None },
            ],
            markers: vec![
                Marker {
                    at: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(10),
                    kind: MarkerKind::Stage,
                    label: "→ 50%".into(),
                },
                Marker {
                    at: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(40),
                    kind: MarkerKind::Rollback,
                    label: "rolled back".into(),
                },
            ],
        }
    }

    #[test]
    fn the_latency_chart_is_a_titled_responsive_svg_with_thresholds_markers_and_legend() {
        let svg = latency_svg(&data((0..60).map(|m| point(m, 300.0, 0.5)).collect(), vec![point(5, 200.0, 0.1)]));
        assert!(svg.starts_with("<svg class=\"chart-svg\" role=\"img\""), "{}", &svg[..200]);
        let opening = &svg[..svg.find('>').unwrap()];
        assert!(opening.contains("viewBox=\"0 0 760 320\"") && !opening.contains("width="), "{opening}");
        assert!(svg.contains(
            "<title id=\"latency-chart-title\">Latency of checkout &lt;v2&gt; in production, last 1 h</title>"
        ));
        assert!(svg.contains("<desc id=\"latency-chart-desc\">"));
        assert!(svg.contains("p99 limit 500 ms"));
        assert!(!svg.contains("limit 1%"), "the error-rate limit belongs on the other chart");
        assert!(svg.contains("→ 50%") && svg.contains("rolled back"));
        assert!(svg.contains("p99 treatment") && svg.contains("p50 control") && svg.contains("Latency (ms)"));
        assert!(svg.contains("Time (UTC)"));
        // plotters draws a dashed line as one short polyline per dash: 40 minutes of control figures add
        // dozens of polylines over one point (a dot), where solid lines would add three.
        let polylines = |control| {
            latency_svg(&data((0..60).map(|m| point(m, 300.0, 0.5)).collect(), control)).matches("<polyline").count()
        };
        let dot = polylines(vec![point(5, 200.0, 0.1)]);
        let line = polylines((5..45).map(|m| point(m, 200.0, 0.1)).collect());
        assert!(line >= dot + 30, "control is dashed: {dot} polylines with one point, {line} with a line");
    }

    #[test]
    fn the_error_chart_shows_its_limit_and_percent_axis() {
        let svg = error_rate_svg(&data(vec![point(0, 300.0, 0.5), point(1, 300.0, 2.5)], vec![]));
        assert!(svg.contains("limit 1%") && svg.contains("Error rate (%)"));
        assert!(svg.contains("Latest treatment (00:01): 2.5%"), "{svg}");
        assert!(svg.contains("No control figures in this range."));
    }

    #[test]
    fn no_data_draws_the_empty_state() {
        let svg = latency_svg(&data(vec![], vec![]));
        assert!(svg.contains(EMPTY_MESSAGE) && svg.contains("<title id=\"latency-chart-title\">"));
        assert!(svg.contains("viewBox=\"0 0 760 120\""));
    }

    #[test]
    fn a_sparkline_says_its_figures_in_its_title() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let values = [(t0, 0.2), (t0 + TimeDelta::minutes(1), 1.4), (t0 + TimeDelta::minutes(2), 0.4)];
        let svg = sparkline_svg("spark-1", &values, Some(1.0), t0, t0 + TimeDelta::hours(1));
        assert!(svg.contains("now 0.4%, highest 1.4%, limit 1%"), "{svg}");
        assert!(svg.contains("viewBox=\"0 0 120 28\""));
        let svg = sparkline_svg("spark-2", &[], None, t0, t0 + TimeDelta::hours(1));
        assert!(svg.contains("no figures yet"));
    }
}
