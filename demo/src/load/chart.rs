//! The latency distributions of both routes as an SVG chart: for each latency, the share of
//! requests answered at least that fast (a cumulative distribution, log-scaled time axis).

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use super::Report;
use crate::Error;

/// At most this many points per line: enough for a smooth curve, small enough for a README.
const POINTS: usize = 400;

/// Draws the chart into `path`. The latencies are sorted.
pub(super) fn draw(
    path: &Path,
    report: &Report,
    direct: &[Duration],
    cached: &[Duration],
) -> Result<(), Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Chart(path.to_owned(), e.to_string());
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let fastest = direct
        .iter()
        .chain(cached)
        .map(ms)
        .fold(f64::INFINITY, f64::min);
    let slowest = direct.iter().chain(cached).map(ms).fold(0.0, f64::max);
    if !fastest.is_finite() {
        return Err(failed(&"no request succeeded: nothing to draw"));
    }
    let (lo, hi) = (
        (fastest * 0.8).max(0.001),
        (slowest * 1.25).max(fastest * 2.0),
    );

    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let caption = format!(
        "Latency of {} concurrent clients, {:.0} s per route: cached {:.0}x the requests/s",
        report.concurrency, report.seconds_per_route, report.throughput_speedup
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..100.0)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("latency, ms (log scale)")
        .y_desc("% of requests at most this slow")
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| failed(&e))?;
    let lines = [
        (&report.direct, direct, RED),
        (&report.cached, cached, BLUE),
    ];
    for (phase, latencies, color) in lines {
        let label = format!(
            "/{}: p50 {:.2} ms, p99 {:.2} ms, {:.0} req/s",
            phase.route, phase.latency_ms.p50, phase.latency_ms.p99, phase.requests_per_second,
        );
        chart
            .draw_series(LineSeries::new(cdf(latencies), color.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

/// (latency in ms, % of requests at most that slow) for sorted `latencies`, thinned to
/// [`POINTS`].
fn cdf(latencies: &[Duration]) -> Vec<(f64, f64)> {
    let n = latencies.len();
    let step = n.div_ceil(POINTS).max(1);
    let mut points: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| {
            (
                latencies[i].as_secs_f64() * 1000.0,
                100.0 * (i + 1) as f64 / n as f64,
            )
        })
        .collect();
    if let Some(last) = latencies.last() {
        points.push((last.as_secs_f64() * 1000.0, 100.0));
    }
    points
}
