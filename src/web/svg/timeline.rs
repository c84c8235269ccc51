//! A procedure's timeline: a date axis whose ticks suit the span, one row per stage with its
//! planned span, actual bar and due date, overdue rows in red and in words, key dates, today.
//! A stage entered or left on a day that is not known is drawn as the span it lies in, light and
//! dashed and said in words, never as a bar of one day; one entered by an act recorded later
//! than it took effect is outlined and said to be so.

use std::fmt::Write;

use chrono::{Datelike, Days, Months, NaiveDate};

use super::markup::{INK, N, WHITE, open_svg, wrap};
use crate::html::escape;

/// A procedure's life on a time axis, with every word already in the reader's language.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The picture's accessible name (its `<title>`).
    pub title: String,
    pub today: NaiveDate,
    pub today_label: String,
    /// Written beside an overdue row, so lateness is not shown by colour alone.
    pub overdue_label: String,
    /// Written beside a row whose entry or end is known only within a span.
    pub uncertain_label: String,
    /// Written beside a row entered by an act recorded later than it took effect.
    pub retrospective_label: String,
    pub rows: Vec<TimelineRow>,
}

/// One stage of the procedure.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// The stage title.
    pub label: String,
    /// When the stage was (or will be) entered, and when it is due.
    pub planned: Option<(NaiveDate, NaiveDate)>,
    /// When it was entered, and when it was left (`None`: the procedure is still there): the part
    /// known for certain.
    pub actual: Option<(NaiveDate, Option<NaiveDate>)>,
    /// The span the stage's entry and end lie in, when a day of either is not known.
    pub uncertain: Option<(NaiveDate, NaiveDate)>,
    /// Entered by an act recorded later than it took effect.
    pub retrospective: bool,
    pub overdue: bool,
    /// Key dates: deposit, entry into force and the like.
    pub marks: Vec<TimelineMark>,
}

#[derive(Debug, Clone)]
pub struct TimelineMark {
    pub date: NaiveDate,
    pub label: String,
}

const TL_WIDTH: f64 = 960.0;
const TL_LABEL_X: f64 = 12.0;
const TL_PLOT_X0: f64 = 300.0;
const TL_PLOT_X1: f64 = 936.0;
const TL_AXIS_Y: f64 = 36.0;
const TL_ROW_H: f64 = 44.0;
const TL_MARK_LINE_H: f64 = 14.0;
const TL_FONT: f64 = 12.0;
const TL_SMALL_FONT: f64 = 11.0;
const TL_CHAR_W: f64 = 6.6;
const TL_SMALL_CHAR_W: f64 = 6.1;
/// Row labels wrap at this many characters, on at most two lines.
const TL_WRAP: usize = 40;
/// The axis never spans fewer days than this, so a one-day procedure still reads as a timeline.
const TL_MIN_SPAN_DAYS: i64 = 14;

const BAR_FILL: &str = "#2563eb";
const OVERDUE_FILL: &str = "#dc2626";
const OVERDUE_INK: &str = "#b91c1c";
const PLANNED_STROKE: &str = "#6b7280";
const MARK_FILL: &str = "#7c3aed";
const UNCERTAIN_FILL: &str = "#dbeafe";
const TODAY_STROKE: &str = "#047857";
const GRID_STROKE: &str = "#e5e7eb";
const STRIPE_FILL: &str = "#f3f4f6";
const MUTED_INK: &str = "#4b5563";

/// The procedure's timeline as SVG: a date axis whose ticks (days, months or years) suit the
/// span, one row per stage with its actual bar inside the outline of its planned span and a due
/// marker, overdue rows in red and labelled, key dates as labelled diamonds, and today's line.
pub fn timeline_svg(t: &Timeline) -> String {
    let scale = Scale::for_timeline(t);
    let ticks = ticks(scale.start, scale.end);

    // Rows first, so the axis's grid and today's line know how far down to reach.
    let mut rows = String::new();
    let mut stripes = String::new();
    let mut y = TL_AXIS_Y + 8.0;
    for (i, row) in t.rows.iter().enumerate() {
        let height = draw_row(&mut rows, row, y, &scale, t);
        // Every other row shaded, under the grid, so the eye can follow a row across.
        if i % 2 == 1 {
            let _ = write!(
                stripes,
                r#"<rect x="0" y="{}" width="{TL_WIDTH}" height="{}" fill="{STRIPE_FILL}"/>"#,
                N(y - 4.0),
                N(height),
            );
        }
        y += height;
    }
    let bottom = y.max(TL_AXIS_Y + 24.0);
    let height = bottom + 28.0;

    let mut out = String::new();
    open_svg(
        &mut out,
        "timeline",
        TL_WIDTH,
        height,
        &t.title,
        &timeline_desc(t),
    );
    out.push_str(&stripes);

    // The axis: gridlines and ISO date labels, which read the same in every language.
    let _ = write!(
        out,
        r#"<g class="axis"><line x1="{TL_PLOT_X0}" y1="{TL_AXIS_Y}" x2="{TL_PLOT_X1}" y2="{TL_AXIS_Y}" stroke="{MUTED_INK}" stroke-width="1"/>"#
    );
    for (date, label) in &ticks {
        let x = scale.x(*date);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{GRID_STROKE}" stroke-width="1"/>"#,
            N(TL_AXIS_Y - 4.0),
            N(bottom),
            x = N(x),
        );
        let half = label.len() as f64 * TL_SMALL_CHAR_W / 2.0;
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="{TL_SMALL_FONT}" fill="{MUTED_INK}">{}</text>"#,
            N(clamp(x, TL_PLOT_X0 - 20.0 + half, TL_WIDTH - 4.0 - half)),
            N(TL_AXIS_Y - 10.0),
            escape(label),
        );
    }
    out.push_str("</g>");
    out.push_str(&rows);

    let today = scale.x(t.today);
    let _ = write!(
        out,
        r#"<g class="today"><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{TODAY_STROKE}" stroke-width="2" stroke-dasharray="5 3"/>"#,
        N(TL_AXIS_Y - 4.0),
        N(bottom + 4.0),
        x = N(today),
    );
    let half = t.today_label.chars().count() as f64 * TL_CHAR_W / 2.0;
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="{TL_FONT}" font-weight="bold" fill="{TODAY_STROKE}">{}</text></g>"#,
        N(clamp(
            today,
            TL_PLOT_X0 + half - 40.0,
            TL_WIDTH - 4.0 - half
        )),
        N(bottom + 18.0),
        escape(&t.today_label),
    );
    out.push_str("</svg>");
    out
}

/// Draws one row at `top`; returns its height, which grows when mark labels need more lines.
fn draw_row(out: &mut String, row: &TimelineRow, top: f64, scale: &Scale, t: &Timeline) -> f64 {
    let cy = top + 14.0;

    // Mark labels go under the bar, on as many lines as it takes for them not to overlap.
    let mut marks: Vec<&TimelineMark> = row.marks.iter().collect();
    marks.sort_by_key(|m| m.date);
    let mut line_ends: Vec<f64> = Vec::new();
    let mut placed = Vec::with_capacity(marks.len());
    for mark in marks {
        let x = scale.x(mark.date);
        let half = mark.label.chars().count() as f64 * TL_SMALL_CHAR_W / 2.0;
        let lx = clamp(x, TL_PLOT_X0 + half, TL_WIDTH - 4.0 - half);
        let line = match line_ends.iter().position(|&end| end + 6.0 <= lx - half) {
            Some(line) => line,
            None => {
                line_ends.push(f64::MIN);
                line_ends.len() - 1
            }
        };
        line_ends[line] = lx + half;
        placed.push((mark, x, lx, line));
    }
    let height = TL_ROW_H + line_ends.len().saturating_sub(1) as f64 * TL_MARK_LINE_H;

    let mut class = String::from("row");
    if row.overdue {
        class.push_str(" overdue");
    }
    let _ = write!(out, r#"<g class="{class}">"#);

    let lines = label_lines(&row.label);
    let first = if lines.len() > 1 { cy - 3.0 } else { cy + 4.0 };
    let _ = write!(
        out,
        r#"<text class="label" font-size="{TL_FONT}" fill="{INK}">"#
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<tspan x="{TL_LABEL_X}" y="{}">{}</tspan>"#,
            N(first + i as f64 * 14.0),
            escape(line),
        );
    }
    out.push_str("</text>");

    let mut late_from = TL_PLOT_X0;
    if let Some((entered, due)) = row.planned {
        let (x0, x1) = ordered(scale.x(entered), scale.x(due));
        let _ = write!(
            out,
            r#"<rect class="planned" x="{}" y="{}" width="{}" height="18" fill="none" stroke="{PLANNED_STROKE}" stroke-width="1" stroke-dasharray="4 3"/>"#,
            N(x0),
            N(cy - 9.0),
            N((x1 - x0).max(1.0)),
        );
        let due_x = scale.x(due);
        let _ = write!(
            out,
            r#"<line class="due" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{INK}" stroke-width="2"/>"#,
            N(cy - 12.0),
            N(cy + 12.0),
            x = N(due_x),
        );
        late_from = late_from.max(due_x);
    }
    if let Some((from, to)) = row.uncertain {
        let (x0, x1) = ordered(scale.x(from), scale.x(to));
        let _ = write!(
            out,
            r#"<rect class="uncertain" x="{}" y="{}" width="{}" height="14" fill="{UNCERTAIN_FILL}" stroke="{BAR_FILL}" stroke-width="1" stroke-dasharray="3 2"/>"#,
            N(x0),
            N(cy - 7.0),
            N((x1 - x0).max(2.0)),
        );
        late_from = late_from.max(x1);
    }
    if let Some((entered, left)) = row.actual {
        let (x0, x1) = ordered(scale.x(entered), scale.x(left.unwrap_or(t.today)));
        let mut class = String::from("actual");
        if left.is_none() {
            class.push_str(" ongoing");
        }
        let fill = if row.overdue {
            class.push_str(" overdue");
            OVERDUE_FILL
        } else {
            BAR_FILL
        };
        let outline = if row.retrospective {
            class.push_str(" retrospective");
            format!(r#" stroke="{INK}" stroke-width="1" stroke-dasharray="2 2""#)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="10" fill="{fill}"{outline}/>"#,
            N(x0),
            N(cy - 5.0),
            N((x1 - x0).max(2.0)),
        );
        late_from = late_from.max(x1);
    }
    if row.overdue {
        let text = format!("⚠ {}", t.overdue_label);
        let w = text.chars().count() as f64 * TL_CHAR_W;
        let x = clamp(late_from + 6.0, TL_PLOT_X0, TL_WIDTH - 4.0 - w).max(TL_PLOT_X0);
        let _ = write!(
            out,
            r#"<text class="overdue-label" x="{}" y="{}" font-size="{TL_FONT}" font-weight="bold" fill="{OVERDUE_INK}" stroke="{WHITE}" stroke-width="3" paint-order="stroke">{}</text>"#,
            N(x),
            N(cy + 4.0),
            escape(&text),
        );
        late_from = x + w;
    }
    // How sure the row's days are, in words: not by a dashed line alone.
    let mut notes = Vec::new();
    if row.uncertain.is_some() {
        notes.push(format!("≈ {}", t.uncertain_label));
    }
    if row.retrospective {
        notes.push(t.retrospective_label.clone());
    }
    if !notes.is_empty() {
        let text = notes.join(" · ");
        let w = text.chars().count() as f64 * TL_SMALL_CHAR_W;
        let x = clamp(late_from + 6.0, TL_PLOT_X0, TL_WIDTH - 4.0 - w).max(TL_PLOT_X0);
        let _ = write!(
            out,
            r#"<text class="entry-note" x="{}" y="{}" font-size="{TL_SMALL_FONT}" font-style="italic" fill="{MUTED_INK}" stroke="{WHITE}" stroke-width="3" paint-order="stroke">{}</text>"#,
            N(x),
            N(cy + 4.0),
            escape(&text),
        );
    }
    for (mark, x, lx, line) in placed {
        let _ = write!(
            out,
            r#"<g class="mark"><polygon points="{},{} {},{} {},{} {},{}" fill="{MARK_FILL}" stroke="{WHITE}" stroke-width="1"/><text x="{}" y="{}" text-anchor="middle" font-size="{TL_SMALL_FONT}" fill="{INK}" stroke="{WHITE}" stroke-width="3" paint-order="stroke">{}</text></g>"#,
            N(x),
            N(cy - 7.0),
            N(x + 7.0),
            N(cy),
            N(x),
            N(cy + 7.0),
            N(x - 7.0),
            N(cy),
            N(lx),
            N(cy + 22.0 + line as f64 * TL_MARK_LINE_H),
            escape(&mark.label),
        );
    }
    out.push_str("</g>");
    height
}

/// A row label on at most two lines, the second cut short with an ellipsis if need be.
fn label_lines(label: &str) -> Vec<String> {
    let mut lines = wrap(label, TL_WRAP);
    if lines.len() > 2 {
        let mut second = lines[1].clone();
        second.push_str(" …");
        lines.truncate(1);
        lines.push(second);
    }
    lines
}

/// Like `f64::clamp`, but a label wider than the room gives `hi` instead of a panic.
fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    v.max(lo).min(hi)
}

fn ordered(a: f64, b: f64) -> (f64, f64) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A plain-text account of the timeline for assistive technology: dates in ISO form.
fn timeline_desc(t: &Timeline) -> String {
    let mut desc = format!("{}: {}.", t.today_label, t.today);
    for row in &t.rows {
        let _ = write!(desc, " {}:", row.label);
        if let Some((entered, left)) = row.actual {
            match left {
                Some(left) => {
                    let _ = write!(desc, " {entered} – {left}");
                }
                None => {
                    let _ = write!(desc, " {entered} – {}", t.today_label);
                }
            }
        }
        if let Some((from, to)) = row.uncertain {
            let _ = write!(desc, "; ≈ {} {from} – {to}", t.uncertain_label);
        }
        if row.retrospective {
            let _ = write!(desc, " ({})", t.retrospective_label);
        }
        if let Some((_, due)) = row.planned {
            let _ = write!(desc, " (≤ {due})");
        }
        if row.overdue {
            let _ = write!(desc, " ⚠ {}", t.overdue_label);
        }
        for mark in &row.marks {
            let _ = write!(desc, "; {} {}", mark.label, mark.date);
        }
        desc.push('.');
    }
    desc
}

/// Maps dates to x across the plot area. The domain covers every date in the timeline and
/// today, at least `TL_MIN_SPAN_DAYS` wide, with a little padding either side.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    start: NaiveDate,
    end: NaiveDate,
}

impl Scale {
    fn for_timeline(t: &Timeline) -> Self {
        let mut lo = t.today;
        let mut hi = t.today;
        let mut take = |d: NaiveDate| {
            lo = lo.min(d);
            hi = hi.max(d);
        };
        for row in &t.rows {
            if let Some((a, b)) = row.planned {
                take(a);
                take(b);
            }
            if let Some((a, b)) = row.actual {
                take(a);
                if let Some(b) = b {
                    take(b);
                }
            }
            if let Some((a, b)) = row.uncertain {
                take(a);
                take(b);
            }
            for mark in &row.marks {
                take(mark.date);
            }
        }
        let span = (hi - lo).num_days();
        if span < TL_MIN_SPAN_DAYS {
            let widen = (TL_MIN_SPAN_DAYS - span) as u64;
            lo = lo.checked_sub_days(Days::new(widen / 2)).unwrap_or(lo);
            hi = lo
                .checked_add_days(Days::new(TL_MIN_SPAN_DAYS as u64))
                .unwrap_or(hi);
        }
        let pad = Days::new(((hi - lo).num_days() / 40).max(1) as u64);
        Self {
            start: lo.checked_sub_days(pad).unwrap_or(lo),
            end: hi.checked_add_days(pad).unwrap_or(hi),
        }
    }

    fn x(&self, date: NaiveDate) -> f64 {
        let days = (self.end - self.start).num_days().max(1) as f64;
        TL_PLOT_X0 + (date - self.start).num_days() as f64 / days * (TL_PLOT_X1 - TL_PLOT_X0)
    }
}

/// Axis ticks between `start` and `end`: days for a few weeks, months up to three years, then
/// years in steps of 1, 2, 5, 10, … so that there are never more than about ten.
fn ticks(start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, String)> {
    const MOST: i64 = 10;
    let days = (end - start).num_days().max(1);
    let mut ticks = Vec::new();
    if days <= 62 {
        // Full dates are wide: fewer of them.
        let step = [1, 2, 7, 14]
            .into_iter()
            .find(|s| days / s <= 7)
            .unwrap_or(14);
        let mut d = Some(start);
        while let Some(date) = d.filter(|d| *d <= end) {
            ticks.push((date, date.format("%Y-%m-%d").to_string()));
            d = date.checked_add_days(Days::new(step as u64));
        }
    } else if days <= 3 * 366 {
        let months = days / 30;
        let step = [1, 2, 3, 6]
            .into_iter()
            .find(|s| months / s <= MOST)
            .unwrap_or(6);
        let mut d = NaiveDate::from_ymd_opt(start.year(), start.month(), 1);
        while let Some(date) = d.filter(|d| *d <= end) {
            if date >= start && i64::from(date.month0()) % step == 0 {
                ticks.push((date, date.format("%Y-%m").to_string()));
            }
            d = date.checked_add_months(Months::new(1));
        }
    } else {
        let years = days / 365;
        let mut step: i64 = 1;
        while years / step > MOST {
            step = match step.to_string().as_bytes()[0] {
                b'1' => step * 2,
                b'2' => step / 2 * 5,
                _ => step * 2,
            };
        }
        // The first multiple of the step may fall before the calendar's first year: skip it.
        let first = i64::from(start.year()).div_euclid(step) * step;
        let years = (first..=i64::from(end.year())).step_by(step as usize);
        for year in years {
            let date = i32::try_from(year)
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1));
            if let Some(date) = date.filter(|d| (start..=end).contains(d)) {
                ticks.push((date, year.to_string()));
            }
        }
    }
    ticks
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use roxmltree::{Document, Node};

    use super::*;
    use crate::web::svg::tests::{
        assert_recorded, date, has_class, parse_picture, row, text_of, with_class, year_2024,
    };

    fn rows_of<'a, 'i>(doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
        with_class(doc, "row")
    }

    fn number(node: &Node, attr: &str) -> f64 {
        node.attribute(attr).unwrap().parse().unwrap()
    }

    #[test]
    fn timeline_rows_keep_their_order() {
        let t = year_2024();
        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        let labels: Vec<String> = rows_of(&doc)
            .iter()
            .map(|r| {
                let label = r.children().find(|n| has_class(n, "label")).unwrap();
                text_of(&label)
            })
            .collect();
        let expected: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, expected);
        let tops: Vec<f64> = rows_of(&doc)
            .iter()
            .map(|r| {
                let bar = r.children().find(|n| has_class(n, "actual")).unwrap();
                number(&bar, "y")
            })
            .collect();
        assert!(
            tops.windows(2).all(|w| w[0] < w[1]),
            "rows go down the page"
        );
    }

    #[test]
    fn today_line_stands_at_todays_date_on_the_axis() {
        let t = year_2024();
        let scale = Scale::for_timeline(&t);
        // 2024-01-01..2024-12-31 spans 365 days, padded by 365 / 40 = 9 days either side.
        assert_eq!(scale.start, date(2023, 12, 23));
        assert_eq!(scale.end, date(2025, 1, 9));
        let expected = TL_PLOT_X0 + 191.0 / 383.0 * (TL_PLOT_X1 - TL_PLOT_X0);
        assert!((scale.x(t.today) - expected).abs() < 1e-9);

        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        let today = with_class(&doc, "today");
        let line = today[0]
            .children()
            .find(|n| n.tag_name().name() == "line")
            .unwrap();
        assert!((number(&line, "x1") - expected).abs() <= 0.05);
        assert_eq!(number(&line, "x1"), number(&line, "x2"));
        let label = today[0].children().find(|n| n.tag_name().name() == "text");
        assert_eq!(label.and_then(|n| n.text()), Some("today"));

        // A year's span is ticked by month, labelled in ISO form.
        let ticks: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "axis"))
            .flat_map(|a| a.children())
            .filter(|n| n.tag_name().name() == "text")
            .filter_map(|n| n.text())
            .collect();
        assert!(ticks.contains(&"2024-07"), "{ticks:?}");
        assert!(ticks.len() <= 12);
    }

    #[test]
    fn overdue_row_is_red_and_says_so_in_words() {
        let svg = timeline_svg(&year_2024());
        let doc = parse_picture(&svg);
        let rows = rows_of(&doc);
        let overdue: Vec<_> = rows.iter().filter(|r| has_class(r, "overdue")).collect();
        assert_eq!(overdue.len(), 1);
        let bar = overdue[0]
            .children()
            .find(|n| has_class(n, "actual"))
            .unwrap();
        assert!(has_class(&bar, "overdue") && has_class(&bar, "ongoing"));
        assert_eq!(bar.attribute("fill"), Some(OVERDUE_FILL));
        let words = overdue[0]
            .children()
            .find(|n| has_class(n, "overdue-label"))
            .and_then(|n| n.text());
        assert_eq!(words, Some("⚠ overdue"));

        let on_time = &rows[0];
        assert!(
            !on_time
                .descendants()
                .any(|n| has_class(&n, "overdue-label"))
        );
        let bar = on_time.children().find(|n| has_class(n, "actual")).unwrap();
        assert_eq!(bar.attribute("fill"), Some(BAR_FILL));
    }

    #[test]
    fn key_dates_are_labelled_diamonds() {
        let svg = timeline_svg(&year_2024());
        let doc = parse_picture(&svg);
        let marks = with_class(&doc, "mark");
        assert_eq!(marks.len(), 2);
        let labels: Vec<_> = marks
            .iter()
            .filter_map(|m| m.children().find(|n| n.tag_name().name() == "text"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(labels, ["request", "entry into force (computed)"]);
    }

    #[test]
    fn empty_timeline_is_still_a_picture() {
        let t = Timeline {
            rows: Vec::new(),
            ..year_2024()
        };
        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        assert!(rows_of(&doc).is_empty());
        assert_eq!(with_class(&doc, "today").len(), 1);
    }

    #[test]
    fn single_day_timeline_is_still_a_picture() {
        let day = date(2025, 3, 14);
        let t = Timeline {
            title: "One day".into(),
            today: day,
            today_label: "today".into(),
            overdue_label: "overdue".into(),
            uncertain_label: "day not known".into(),
            retrospective_label: "recorded later".into(),
            rows: vec![TimelineRow {
                planned: Some((day, day)),
                actual: Some((day, Some(day))),
                marks: vec![TimelineMark {
                    date: day,
                    label: "deposit".into(),
                }],
                ..row("Deposit")
            }],
        };
        let scale = Scale::for_timeline(&t);
        assert!((scale.end - scale.start).num_days() >= TL_MIN_SPAN_DAYS);
        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        let bar = doc.descendants().find(|n| has_class(n, "actual")).unwrap();
        assert!(
            number(&bar, "width") >= 2.0,
            "a one-day stage is still visible"
        );
    }

    #[test]
    fn decades_apart_are_ticked_by_years_and_rows_without_dates_are_kept() {
        let t = Timeline {
            title: "Long".into(),
            today: date(2025, 6, 1),
            today_label: "today".into(),
            overdue_label: "overdue".into(),
            uncertain_label: "day not known".into(),
            retrospective_label: "recorded later".into(),
            rows: vec![
                TimelineRow {
                    actual: Some((date(1952, 5, 1), Some(date(1990, 1, 1)))),
                    ..row("Party")
                },
                row("Denounced"),
                TimelineRow {
                    marks: vec![TimelineMark {
                        date: date(2049, 12, 31),
                        label: "review".into(),
                    }],
                    ..row("Later")
                },
            ],
        };
        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        assert_eq!(rows_of(&doc).len(), 3);
        let ticks: Vec<&str> = with_class(&doc, "axis")[0]
            .children()
            .filter(|n| n.tag_name().name() == "text")
            .filter_map(|n| n.text())
            .collect();
        assert!(ticks.len() >= 3 && ticks.len() <= 12, "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|t| t.len() == 4 && t.parse::<i32>().is_ok()),
            "{ticks:?}"
        );
    }
    #[test]
    fn tick_steps_stay_few_at_any_span() {
        for (start, end) in [
            (date(2024, 1, 1), date(2024, 1, 15)),
            (date(2024, 1, 1), date(2024, 3, 1)),
            (date(2024, 1, 1), date(2026, 12, 1)),
            (date(1000, 1, 1), date(3000, 1, 1)),
            (NaiveDate::MIN, NaiveDate::MAX),
        ] {
            let ticks = ticks(start, end);
            assert!(
                !ticks.is_empty() && ticks.len() <= 12,
                "{start}..{end}: {}",
                ticks.len()
            );
            assert!(ticks.iter().all(|(d, _)| *d >= start && *d <= end));
        }
    }

    /// ETS No. 112 as the demo has it: the review opened on a known day, the request's day not
    /// known (between the seminar and the law's adoption), the law adopted on a known day.
    fn days_not_known() -> Timeline {
        Timeline {
            today: date(2024, 3, 1),
            rows: vec![
                TimelineRow {
                    actual: Some((date(2023, 6, 1), Some(date(2023, 6, 1)))),
                    uncertain: Some((date(2023, 6, 1), date(2023, 12, 20))),
                    ..row("Domestic legal review")
                },
                TimelineRow {
                    uncertain: Some((date(2023, 6, 1), date(2023, 12, 20))),
                    retrospective: true,
                    ..row("Request to accede")
                },
                TimelineRow {
                    actual: Some((date(2023, 12, 20), None)),
                    retrospective: true,
                    ..row("Signature by the President and publication")
                },
            ],
            ..year_2024()
        }
    }

    #[test]
    fn a_stage_whose_day_is_not_known_is_drawn_as_its_span_and_said_so() {
        let t = days_not_known();
        let svg = timeline_svg(&t);
        let doc = parse_picture(&svg);
        let rows = rows_of(&doc);
        fn child<'a, 'i>(r: &Node<'a, 'i>, class: &str) -> Option<Node<'a, 'i>> {
            r.children().find(|n| has_class(n, class))
        }
        let note = |r: &Node| child(r, "entry-note").and_then(|n| n.text().map(str::to_owned));

        // The request: no bar of a day, a span from the seminar to the law, in words too.
        let request = &rows[1];
        assert!(child(request, "actual").is_none(), "no same-day stage");
        let span = child(request, "uncertain").expect("the span its day lies in");
        let scale = Scale::for_timeline(&t);
        assert!((number(&span, "x") - scale.x(date(2023, 6, 1))).abs() < 0.05);
        let width = scale.x(date(2023, 12, 20)) - scale.x(date(2023, 6, 1));
        assert!((number(&span, "width") - width).abs() < 0.05);
        assert_eq!(
            note(request).as_deref(),
            Some("≈ day not known · recorded later")
        );

        // The review: known to have begun on its day, its end somewhere in the span.
        let review = &rows[0];
        assert!(child(review, "actual").is_some() && child(review, "uncertain").is_some());
        assert_eq!(note(review).as_deref(), Some("≈ day not known"));

        // Entered on a known day by an act recorded later: a bar, outlined, and said so.
        let signature = &rows[2];
        let bar = child(signature, "actual").unwrap();
        assert!(has_class(&bar, "retrospective"));
        assert!(bar.attribute("stroke-dasharray").is_some());
        assert!(child(signature, "uncertain").is_none());
        assert_eq!(note(signature).as_deref(), Some("recorded later"));

        let desc = doc
            .descendants()
            .find(|n| n.tag_name().name() == "desc")
            .and_then(|n| n.text())
            .unwrap();
        assert!(
            desc.contains(
                "Request to accede:; ≈ day not known 2023-06-01 – 2023-12-20 (recorded later)"
            ),
            "{desc}"
        );
    }

    #[test]
    fn timelines_are_byte_for_byte_the_recorded_ones() {
        assert_recorded(vec![
            ("timeline-2024", timeline_svg(&year_2024())),
            ("timeline-days-not-known", timeline_svg(&days_not_known())),
            (
                "timeline-empty",
                timeline_svg(&Timeline {
                    rows: Vec::new(),
                    ..year_2024()
                }),
            ),
            (
                "timeline-decades",
                timeline_svg(&Timeline {
                    title: "Long <&>".into(),
                    today: date(2025, 6, 1),
                    today_label: "today".into(),
                    overdue_label: "overdue".into(),
                    uncertain_label: "day not known".into(),
                    retrospective_label: "recorded later".into(),
                    rows: vec![
                        TimelineRow {
                            actual: Some((date(1952, 5, 1), Some(date(1990, 1, 1)))),
                            ..row("Party to the convention since its signature by the first State")
                        },
                        row("Denounced"),
                        TimelineRow {
                            planned: Some((date(2040, 1, 1), date(2045, 1, 1))),
                            overdue: true,
                            marks: vec![
                                TimelineMark {
                                    date: date(2049, 12, 31),
                                    label: "review".into(),
                                },
                                TimelineMark {
                                    date: date(2049, 11, 30),
                                    label: "reservation's withdrawal".into(),
                                },
                            ],
                            ..row("Later")
                        },
                    ],
                }),
            ),
        ]);
    }
}
