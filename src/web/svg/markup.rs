//! What both pictures write: the `<svg>` element every picture opens with, text wrapped onto
//! lines, coordinates as short numbers, and the colours both use.

use std::fmt::{self, Write};

use crate::html::escape;

pub(super) const INK: &str = "#111827";
pub(super) const WHITE: &str = "#ffffff";

/// The `<svg>` element with what every picture has: role, title and description, a viewBox that
/// scales to the container's width (never beyond its natural size), and a font.
pub(super) fn open_svg(
    out: &mut String,
    class: &str,
    width: f64,
    height: f64,
    title: &str,
    desc: &str,
) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" role="img" viewBox="0 0 {w} {h}" width="100%" style="max-width: {w}px" preserveAspectRatio="xMidYMin meet" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"><title>{}</title><desc>{}</desc>"#,
        escape(title),
        escape(desc),
        w = N(width.ceil()),
        h = N(height.ceil()),
    );
}

/// Words of `text` on lines of at most `width` characters (a longer word gets a line of its own).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A coordinate written with one decimal at most; never NaN or infinite in the output.
pub(super) struct N(pub(super) f64);

impl fmt::Display for N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_finite() {
            return f.write_str("0");
        }
        let rounded = (self.0 * 10.0).round() / 10.0;
        // Avoid "-0".
        write!(f, "{}", if rounded == 0.0 { 0.0 } else { rounded })
    }
}
