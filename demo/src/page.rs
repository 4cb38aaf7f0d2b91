//! The page at `/`: plain HTML, CSS and JavaScript in one file, no external resources, so it
//! works offline. It polls `/stats` and `/history` and draws its chart as inline SVG.

/// The page's HTML.
pub(crate) const PAGE: &str = include_str!("page.html");
