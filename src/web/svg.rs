//! Pictures drawn on the server for the web pages: a workflow's diagram with the current stage,
//! and a procedure's timeline. Pure functions from data to SVG markup: nothing is fetched when the
//! page is viewed, no script runs, and every word comes from the caller so it can be localised.

use std::collections::HashMap;
use std::fmt::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{Datelike, Days, Months, NaiveDate};
use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use crate::workflow::WorkflowDefinition;

// ---------------------------------------------------------------------------------------------
// The workflow diagram.

/// The words the diagram needs, in the reader's language.
#[derive(Debug, Clone)]
pub struct DiagramLabels {
    /// The picture's accessible name (its `<title>`).
    pub title: String,
    /// The word for "current"; the current stage's box says it in parentheses under the title.
    pub current: String,
}

/// Stage titles wrap at this many characters so that long titles do not make the diagram wide.
const WRAP_STAGE: usize = 24;
const NODE_FONT: f64 = 13.0;
/// A generous average advance for the sans-serif font at `NODE_FONT`, to size boxes.
const NODE_CHAR_W: f64 = 7.4;
const NODE_LINE_H: f64 = 17.0;
const NODE_PAD_X: f64 = 12.0;
const NODE_PAD_Y: f64 = 8.0;
const EDGE_FONT: f64 = 11.0;
const EDGE_CHAR_W: f64 = 6.4;
/// layout-rs sizes an edge label as `chars × font_size`; this "font size" makes its estimate
/// match the width of the text drawn at `EDGE_FONT`.
const EDGE_SIZE_HINT: usize = 7;
const MARGIN: f64 = 12.0;

const INK: &str = "#111827";
const WHITE: &str = "#ffffff";
const NODE_FILL: &str = "#f9fafb";
const NODE_STROKE: &str = "#4b5563";
const CURRENT_FILL: &str = "#fde68a";
const CURRENT_STROKE: &str = "#92400e";
const EDGE_STROKE: &str = "#6b7280";
const EDGE_INK: &str = "#374151";

/// The workflow's stages and transitions as an SVG diagram, the current stage filled, bold and
/// labelled, terminal stages with a rounded double border. Laid out by layout-rs; should it fail
/// on some graph, the stages are stacked in definition order instead.
pub fn workflow_svg(
    def: &WorkflowDefinition,
    current: Option<&crate::ids::StageId>,
    labels: &DiagramLabels,
) -> String {
    draw_workflow(def, current, labels, |nodes, edges| {
        layered(nodes, edges).unwrap_or_else(|| stacked(nodes, edges))
    })
}

/// Draws the diagram with the given arrangement (the tests force the fallback).
fn draw_workflow(
    def: &WorkflowDefinition,
    current: Option<&crate::ids::StageId>,
    labels: &DiagramLabels,
    arrange: fn(&[StageBox], &[EdgeSpec]) -> Placement,
) -> String {
    let current_mark = format!("({})", labels.current);
    let nodes: Vec<StageBox> = def
        .stages
        .iter()
        .map(|stage| {
            let is_current = current == Some(&stage.id);
            StageBox::new(
                &stage.title,
                is_current.then_some(current_mark.as_str()),
                stage.terminal,
            )
        })
        .collect();
    let index: HashMap<&str, usize> = def
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    // A validated definition has no transition to an unknown stage; skip any rather than fail.
    let edges: Vec<EdgeSpec> = def
        .transitions
        .iter()
        .filter_map(|t| {
            Some(EdgeSpec {
                from: *index.get(t.from.as_str())?,
                to: *index.get(t.to.as_str())?,
                label: t
                    .by
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })
        .collect();

    let placement = if nodes.is_empty() {
        Placement::default()
    } else {
        arrange(&nodes, &edges)
    };
    let (width, height, shift) = placement.frame(&edges);

    let mut desc = format!("{} (v{}).", def.title, def.version);
    if let Some(stage) = current.and_then(|id| def.stage(id)) {
        let _ = write!(desc, " {}: {}.", labels.current, stage.title);
    }
    for e in &edges {
        let _ = write!(
            desc,
            " {} → {}",
            def.stages[e.from].title, def.stages[e.to].title
        );
        if !e.label.is_empty() {
            let _ = write!(desc, " ({})", e.label);
        }
        desc.push(';');
    }
    if desc.ends_with(';') {
        desc.pop();
        desc.push('.');
    }

    let mut out = String::new();
    open_svg(
        &mut out,
        "workflow-diagram",
        width,
        height,
        &labels.title,
        &desc,
    );
    // Edges first so the boxes sit on top of the lines' ends; labels have a white halo.
    for route in &placement.edges {
        let edge = &edges[route.edge];
        let d = route.shifted(shift);
        let _ = write!(
            out,
            r#"<g class="transition" data-from="{}" data-to="{}"><path d="{}" fill="none" stroke="{EDGE_STROKE}" stroke-width="1.5"/>"#,
            esc(def.stages[edge.from].id.as_str()),
            esc(def.stages[edge.to].id.as_str()),
            d.path_data(),
        );
        if route.heads.0 {
            arrow_head(&mut out, d.start, d.start_ctrl);
        }
        if route.heads.1
            && let Some(&(ctrl, tip)) = d.rest.last()
        {
            arrow_head(&mut out, tip, ctrl);
        }
        if let Some(at) = d.label_at
            && !edge.label.is_empty()
        {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="{EDGE_FONT}" fill="{EDGE_INK}" stroke="{WHITE}" stroke-width="3" paint-order="stroke">{}</text>"#,
                N(at.x),
                N(at.y + EDGE_FONT * 0.35),
                esc(&edge.label),
            );
        }
        out.push_str("</g>");
    }
    for (i, (stage, node)) in def.stages.iter().zip(&nodes).enumerate() {
        let center = placement.nodes[i].add(shift);
        node.draw(&mut out, stage.id.as_str(), center);
    }
    out.push_str("</svg>");
    out
}

/// A stage's box: its text lines and size, known before layout.
struct StageBox {
    lines: Vec<String>,
    current_mark: Option<String>,
    terminal: bool,
    size: P,
}

impl StageBox {
    fn new(title: &str, current_mark: Option<&str>, terminal: bool) -> Self {
        let lines = wrap(title, WRAP_STAGE);
        let widest = lines
            .iter()
            .map(String::as_str)
            .chain(current_mark)
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        // Bold text and the terminal double border need a little more room.
        let bold = if current_mark.is_some() { 1.1 } else { 1.0 };
        let count = lines.len() + usize::from(current_mark.is_some());
        let size = P {
            x: (widest as f64 * NODE_CHAR_W * bold + 2.0 * NODE_PAD_X).max(80.0),
            y: count as f64 * NODE_LINE_H + 2.0 * NODE_PAD_Y,
        };
        Self {
            lines,
            current_mark: current_mark.map(str::to_owned),
            terminal,
            size,
        }
    }

    fn draw(&self, out: &mut String, id: &str, center: P) {
        let current = self.current_mark.is_some();
        let mut class = String::from("stage");
        if current {
            class.push_str(" current");
        }
        if self.terminal {
            class.push_str(" terminal");
        }
        let (fill, stroke, stroke_width) = if current {
            (CURRENT_FILL, CURRENT_STROKE, 3.0)
        } else {
            (NODE_FILL, NODE_STROKE, 1.5)
        };
        let left = center.x - self.size.x / 2.0;
        let top = center.y - self.size.y / 2.0;
        let _ = write!(out, r#"<g class="{class}" data-stage="{}">"#, esc(id));
        let radius = if self.terminal { 12.0 } else { 4.0 };
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{radius}" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>"#,
            N(left),
            N(top),
            N(self.size.x),
            N(self.size.y),
        );
        if self.terminal {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="none" stroke="{stroke}" stroke-width="1"/>"#,
                N(left + 4.0),
                N(top + 4.0),
                N(self.size.x - 8.0),
                N(self.size.y - 8.0),
                radius - 4.0,
            );
        }
        let weight = if current { "bold" } else { "normal" };
        let _ = write!(
            out,
            r#"<text text-anchor="middle" font-size="{NODE_FONT}" font-weight="{weight}" fill="{INK}">"#
        );
        let lines = self.lines.iter().chain(self.current_mark.as_ref());
        for (i, line) in lines.enumerate() {
            let _ = write!(
                out,
                r#"<tspan x="{}" y="{}">{}</tspan>"#,
                N(center.x),
                N(top + NODE_PAD_Y + i as f64 * NODE_LINE_H + NODE_LINE_H * 0.75),
                esc(line),
            );
        }
        out.push_str("</text></g>");
    }
}

struct EdgeSpec {
    from: usize,
    to: usize,
    label: String,
}

/// Where everything went: node centres by stage index, edge routes by edge index.
#[derive(Default)]
struct Placement {
    nodes: Vec<P>,
    sizes: Vec<P>,
    edges: Vec<Route>,
}

impl Placement {
    /// The picture's size and the shift that puts its top-left content at the margin.
    fn frame(&self, edges: &[EdgeSpec]) -> (f64, f64, P) {
        let mut min = P {
            x: f64::MAX,
            y: f64::MAX,
        };
        let mut max = P {
            x: f64::MIN,
            y: f64::MIN,
        };
        let mut take = |p: P| {
            if p.x.is_finite() && p.y.is_finite() {
                min = P {
                    x: min.x.min(p.x),
                    y: min.y.min(p.y),
                };
                max = P {
                    x: max.x.max(p.x),
                    y: max.y.max(p.y),
                };
            }
        };
        for (c, s) in self.nodes.iter().zip(&self.sizes) {
            take(P {
                x: c.x - s.x / 2.0,
                y: c.y - s.y / 2.0,
            });
            take(P {
                x: c.x + s.x / 2.0,
                y: c.y + s.y / 2.0,
            });
        }
        for route in &self.edges {
            take(route.start);
            take(route.start_ctrl);
            for &(c, p) in &route.rest {
                take(c);
                take(p);
            }
            if let Some(at) = route.label_at {
                let half = edges[route.edge].label.chars().count() as f64 * EDGE_CHAR_W / 2.0;
                take(P {
                    x: at.x - half,
                    y: at.y - EDGE_FONT,
                });
                take(P {
                    x: at.x + half,
                    y: at.y + EDGE_FONT,
                });
            }
        }
        if min.x > max.x {
            return (2.0 * MARGIN, 2.0 * MARGIN, P { x: 0.0, y: 0.0 });
        }
        (
            max.x - min.x + 2.0 * MARGIN,
            max.y - min.y + 2.0 * MARGIN,
            P {
                x: MARGIN - min.x,
                y: MARGIN - min.y,
            },
        )
    }
}

/// An edge as a cubic Bézier path in layout-rs's shape: a start point with its control point,
/// then (incoming control point, point) pairs joined smoothly.
#[derive(Clone)]
struct Route {
    edge: usize,
    start: P,
    start_ctrl: P,
    rest: Vec<(P, P)>,
    /// Arrow heads at (start, end): a back edge is laid out reversed, its head at the start.
    heads: (bool, bool),
    label_at: Option<P>,
}

impl Route {
    fn shifted(&self, by: P) -> Route {
        Route {
            start: self.start.add(by),
            start_ctrl: self.start_ctrl.add(by),
            rest: self
                .rest
                .iter()
                .map(|&(c, p)| (c.add(by), p.add(by)))
                .collect(),
            label_at: self.label_at.map(|p| p.add(by)),
            ..self.clone()
        }
    }

    fn path_data(&self) -> String {
        let mut d = format!("M{} {}", N(self.start.x), N(self.start.y));
        for (i, &(c, p)) in self.rest.iter().enumerate() {
            if i == 0 {
                let _ = write!(
                    d,
                    " C{} {} {} {} {} {}",
                    N(self.start_ctrl.x),
                    N(self.start_ctrl.y),
                    N(c.x),
                    N(c.y),
                    N(p.x),
                    N(p.y)
                );
            } else {
                let _ = write!(d, " S{} {} {} {}", N(c.x), N(c.y), N(p.x), N(p.y));
            }
        }
        d
    }
}

/// A filled triangle at `tip`, pointing away from `from` (drawn, not a `<marker>`, so the
/// picture defines no ids that could clash with the page's).
fn arrow_head(out: &mut String, tip: P, from: P) {
    let (dx, dy) = (tip.x - from.x, tip.y - from.y);
    let len = (dx * dx + dy * dy).sqrt();
    let (ux, uy) = if len > 0.01 {
        (dx / len, dy / len)
    } else {
        (0.0, 1.0)
    };
    let base = P {
        x: tip.x - ux * 9.0,
        y: tip.y - uy * 9.0,
    };
    let _ = write!(
        out,
        r#"<polygon points="{},{} {},{} {},{}" fill="{EDGE_STROKE}"/>"#,
        N(tip.x),
        N(tip.y),
        N(base.x - uy * 4.5),
        N(base.y + ux * 4.5),
        N(base.x + uy * 4.5),
        N(base.y - ux * 4.5),
    );
}

/// Lays the graph out with layout-rs. Its placer asserts its own invariants; a panic there is
/// caught so that a surprising graph costs the nice layout, not the page.
fn layered(nodes: &[StageBox], edges: &[EdgeSpec]) -> Option<Placement> {
    catch_unwind(AssertUnwindSafe(|| layered_unchecked(nodes, edges))).ok()
}

fn layered_unchecked(nodes: &[StageBox], edges: &[EdgeSpec]) -> Placement {
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    // The shape's own text is never drawn (we draw the boxes), so it stays empty.
    let handles: Vec<_> = nodes
        .iter()
        .map(|n| {
            graph.add_node(Element::create(
                ShapeKind::new_box(""),
                StyleAttr::simple(),
                Orientation::TopToBottom,
                Point::new(n.size.x, n.size.y),
            ))
        })
        .collect();
    for (i, edge) in edges.iter().enumerate() {
        // The properties string carries the edge's index through to the recorded path.
        let mut arrow = Arrow::simple_with_properties(&edge.label, i.to_string());
        arrow.look.font_size = EDGE_SIZE_HINT;
        graph.add_edge(arrow, handles[edge.from], handles[edge.to]);
    }
    let mut recorder = RouteRecorder::default();
    graph.do_it(false, false, false, &mut recorder);

    let mut routes = recorder.routes;
    for route in &mut routes {
        // A labelled edge passes through its label's placeholder first; the label goes there.
        if edges[route.edge].label.is_empty() || route.rest.len() < 2 {
            route.label_at = None;
        }
    }
    Placement {
        nodes: handles
            .iter()
            .map(|h| P::from(graph.pos(*h).center()))
            .collect(),
        sizes: nodes.iter().map(|n| n.size).collect(),
        edges: routes,
    }
}

/// Keeps the edge paths layout-rs computes; the boxes are drawn from the node positions.
#[derive(Default)]
struct RouteRecorder {
    routes: Vec<Route>,
}

impl RenderBackend for RouteRecorder {
    fn draw_rect(
        &mut self,
        _: Point,
        _: Point,
        _: &StyleAttr,
        _: Option<String>,
        _: Option<usize>,
    ) {
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let Some(edge) = properties.and_then(|p| p.parse().ok()) else {
            return;
        };
        let Some((&(start, start_ctrl), rest)) = path.split_first() else {
            return;
        };
        let rest: Vec<(P, P)> = rest.iter().map(|&(c, p)| (c.into(), p.into())).collect();
        self.routes.push(Route {
            edge,
            start: start.into(),
            start_ctrl: start_ctrl.into(),
            label_at: rest.first().map(|&(_, p)| p),
            rest,
            heads: head,
        });
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

/// The fallback: stages stacked in definition order; the next stage straight below, other
/// edges curving round the right-hand side, further for longer jumps.
fn stacked(nodes: &[StageBox], edges: &[EdgeSpec]) -> Placement {
    const GAP: f64 = 44.0;
    let widest = nodes.iter().map(|n| n.size.x).fold(0.0, f64::max);
    let cx = widest / 2.0;
    let mut centers = Vec::with_capacity(nodes.len());
    let mut y = 0.0;
    for n in nodes {
        centers.push(P {
            x: cx,
            y: y + n.size.y / 2.0,
        });
        y += n.size.y + GAP;
    }
    let right = widest;
    let routes = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (a, b) = (centers[e.from], centers[e.to]);
            let (sa, sb) = (nodes[e.from].size, nodes[e.to].size);
            if e.to == e.from + 1 {
                let start = P {
                    x: a.x,
                    y: a.y + sa.y / 2.0,
                };
                let end = P {
                    x: b.x,
                    y: b.y - sb.y / 2.0,
                };
                return Route {
                    edge: i,
                    start,
                    start_ctrl: start,
                    rest: vec![(end, end)],
                    heads: (false, true),
                    label_at: Some(P {
                        x: a.x,
                        y: (start.y + end.y) / 2.0,
                    }),
                };
            }
            let jump = e.from.abs_diff(e.to).max(1) as f64;
            let bulge = right + 24.0 + 18.0 * jump;
            let (start, end) = if e.from == e.to {
                (
                    P {
                        x: a.x + sa.x / 2.0,
                        y: a.y - sa.y / 4.0,
                    },
                    P {
                        x: a.x + sa.x / 2.0,
                        y: a.y + sa.y / 4.0,
                    },
                )
            } else {
                (
                    P {
                        x: a.x + sa.x / 2.0,
                        y: a.y,
                    },
                    P {
                        x: b.x + sb.x / 2.0,
                        y: b.y,
                    },
                )
            };
            let c1 = P {
                x: bulge,
                y: start.y,
            };
            let c2 = P { x: bulge, y: end.y };
            Route {
                edge: i,
                start,
                start_ctrl: c1,
                rest: vec![(c2, end)],
                heads: (false, true),
                // The curve's midpoint.
                label_at: Some(P {
                    x: 0.125 * start.x + 0.375 * c1.x + 0.375 * c2.x + 0.125 * end.x,
                    y: (start.y + end.y) / 2.0,
                }),
            }
        })
        .collect();
    Placement {
        nodes: centers,
        sizes: nodes.iter().map(|n| n.size).collect(),
        edges: routes,
    }
}

// ---------------------------------------------------------------------------------------------
// The timeline.

/// A procedure's life on a time axis, with every word already in the reader's language.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The picture's accessible name (its `<title>`).
    pub title: String,
    pub today: NaiveDate,
    pub today_label: String,
    /// Written beside an overdue row, so lateness is not shown by colour alone.
    pub overdue_label: String,
    pub rows: Vec<TimelineRow>,
}

/// One stage of the procedure.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// The stage title.
    pub label: String,
    /// When the stage was (or will be) entered, and when it is due.
    pub planned: Option<(NaiveDate, NaiveDate)>,
    /// When it was entered, and when it was left (`None`: the procedure is still there).
    pub actual: Option<(NaiveDate, Option<NaiveDate>)>,
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
            esc(label),
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
        esc(&t.today_label),
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
            esc(line),
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
        let _ = write!(
            out,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="10" fill="{fill}"/>"#,
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
            esc(&text),
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
            esc(&mark.label),
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

// ---------------------------------------------------------------------------------------------
// Shared SVG writing.

/// The `<svg>` element with what every picture has: role, title and description, a viewBox that
/// scales to the container's width (never beyond its natural size), and a font.
fn open_svg(out: &mut String, class: &str, width: f64, height: f64, title: &str, desc: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" role="img" viewBox="0 0 {w} {h}" width="100%" style="max-width: {w}px" preserveAspectRatio="xMidYMin meet" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"><title>{}</title><desc>{}</desc>"#,
        esc(title),
        esc(desc),
        w = N(width.ceil()),
        h = N(height.ceil()),
    );
}

/// Text for element content or an attribute value. Characters XML 1.0 forbids (most control
/// characters) become U+FFFD: one stray byte in a title must not make the whole picture invalid.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Words of `text` on lines of at most `width` characters (a longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
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
struct N(f64);

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

#[derive(Debug, Clone, Copy, PartialEq)]
struct P {
    x: f64,
    y: f64,
}

impl P {
    fn add(self, other: P) -> P {
        P {
            x: self.x + other.x,
            y: self.y + other.y,
        }
    }
}

impl From<Point> for P {
    fn from(p: Point) -> Self {
        P { x: p.x, y: p.y }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use roxmltree::{Document, Node};

    use super::*;
    use crate::ids::StageId;
    use crate::workflow::{KnownInstitutions, parse_definition};

    fn coe_accession() -> WorkflowDefinition {
        parse_definition(
            "coe-accession.toml",
            include_str!("../../workflows/coe-accession.toml"),
            &KnownInstitutions::Unchecked,
        )
        .expect("the shipped workflow parses")
    }

    fn labels() -> DiagramLabels {
        DiagramLabels {
            title: "Workflow".into(),
            current: "current".into(),
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Parses the picture and checks what every picture must be: an accessible, self-contained
    /// image that scales.
    fn parse_picture(svg: &str) -> Document<'_> {
        let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(root.attribute("width"), Some("100%"));
        let view_box: Vec<f64> = root
            .attribute("viewBox")
            .expect("a viewBox")
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(view_box.len() == 4 && view_box[2] > 0.0 && view_box[3] > 0.0);
        let children: Vec<_> = root.children().filter(Node::is_element).collect();
        assert_eq!(children[0].tag_name().name(), "title");
        assert_eq!(children[1].tag_name().name(), "desc");
        for node in doc.descendants().filter(Node::is_element) {
            let name = node.tag_name().name();
            assert!(
                !["script", "image", "foreignObject", "use", "a"].contains(&name),
                "<{name}> in the picture"
            );
            for attr in node.attributes() {
                assert!(
                    !attr.name().contains("href") && !attr.name().starts_with("on"),
                    "attribute {} in the picture",
                    attr.name()
                );
                assert!(
                    !attr.value().contains("http"),
                    "a reference: {}",
                    attr.value()
                );
                assert!(!attr.value().contains("NaN") && !attr.value().contains("inf"));
            }
        }
        assert!(!svg.contains("<script"));
        doc
    }

    fn has_class(node: &Node, class: &str) -> bool {
        node.attribute("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == class))
    }

    fn with_class<'a, 'i>(doc: &'a Document<'i>, class: &'a str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| has_class(n, class)).collect()
    }

    /// The lines of text in a group, joined by spaces.
    fn text_of(node: &Node) -> String {
        node.descendants()
            .filter(|n| n.tag_name().name() == "tspan")
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn assert_diagram_shows_every_stage_once(def: &WorkflowDefinition, svg: &str) {
        let doc = parse_picture(svg);
        let stages = with_class(&doc, "stage");
        assert_eq!(stages.len(), def.stages.len());
        for stage in &def.stages {
            let showing = stages
                .iter()
                .filter(|g| {
                    let text = text_of(g);
                    text == stage.title || text == format!("{} (current)", stage.title)
                })
                .count();
            assert_eq!(showing, 1, "stage {} shown {showing} times", stage.title);
        }
    }

    #[test]
    fn coe_accession_diagram_has_one_box_per_stage_and_marks_the_current_one() {
        let def = coe_accession();
        let current = StageId::parse("legal-review".to_owned()).unwrap();
        let svg = workflow_svg(&def, Some(&current), &labels());
        assert_diagram_shows_every_stage_once(&def, &svg);

        let doc = parse_picture(&svg);
        let marked = with_class(&doc, "current");
        assert_eq!(marked.len(), 1, "exactly one current stage");
        assert_eq!(marked[0].attribute("data-stage"), Some("legal-review"));
        assert_eq!(text_of(&marked[0]), "Domestic legal review (current)");
        let text = marked[0]
            .descendants()
            .find(|n| n.tag_name().name() == "text")
            .unwrap();
        assert_eq!(text.attribute("font-weight"), Some("bold"));
        let fill = marked[0]
            .children()
            .find(|n| n.tag_name().name() == "rect")
            .unwrap();
        assert_eq!(fill.attribute("fill"), Some(CURRENT_FILL));

        let terminal = with_class(&doc, "terminal");
        assert_eq!(terminal.len(), 1);
        assert_eq!(terminal[0].attribute("data-stage"), Some("denounced"));
        let borders = terminal[0]
            .children()
            .filter(|n| n.tag_name().name() == "rect");
        assert_eq!(borders.count(), 2, "a terminal stage has a double border");

        let transitions = with_class(&doc, "transition");
        assert_eq!(transitions.len(), def.transitions.len());
        let labelled = transitions.iter().find(|g| {
            g.attribute("data-from") == Some("interagency-consultation")
                && g.attribute("data-to") == Some("request")
        });
        let label = labelled
            .and_then(|g| g.children().find(|n| n.tag_name().name() == "text"))
            .and_then(|t| t.text());
        assert_eq!(label, Some("moj, mfa"), "edges say who may make them");
    }

    #[test]
    fn coe_accession_is_laid_out_by_layout_rs_without_overlapping_boxes() {
        let def = coe_accession();
        let nodes: Vec<StageBox> = def
            .stages
            .iter()
            .map(|s| StageBox::new(&s.title, None, s.terminal))
            .collect();
        let edges: Vec<EdgeSpec> = def
            .transitions
            .iter()
            .map(|t| EdgeSpec {
                from: def.stages.iter().position(|s| s.id == t.from).unwrap(),
                to: def.stages.iter().position(|s| s.id == t.to).unwrap(),
                label: "mfa".into(),
            })
            .collect();
        let placement = layered(&nodes, &edges).expect("layout-rs lays the workflow out");
        assert_eq!(placement.edges.len(), edges.len(), "every edge is routed");
        let boxes: Vec<(P, P)> = placement
            .nodes
            .iter()
            .zip(&placement.sizes)
            .map(|(c, s)| (*c, *s))
            .collect();
        for (i, (a, sa)) in boxes.iter().enumerate() {
            for (b, sb) in &boxes[i + 1..] {
                let apart_x = (a.x - b.x).abs() >= (sa.x + sb.x) / 2.0;
                let apart_y = (a.y - b.y).abs() >= (sa.y + sb.y) / 2.0;
                assert!(apart_x || apart_y, "boxes overlap: {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn diagram_without_a_current_stage_marks_none() {
        let def = coe_accession();
        let svg = workflow_svg(&def, None, &labels());
        let doc = parse_picture(&svg);
        assert!(with_class(&doc, "current").is_empty());
        assert!(!svg.contains("(current)"));
    }

    #[test]
    fn stage_titles_with_markup_characters_are_escaped() {
        let mut def = coe_accession();
        def.stages[0].title = r#"Review <b>&"law"</b> it's"#.to_owned();
        def.stages[1].title = "A\u{1}bell".to_owned();
        let svg = workflow_svg(&def, Some(&def.stages[0].id.clone()), &labels());
        assert!(!svg.contains("<b>"));
        let doc = parse_picture(&svg);
        let first = with_class(&doc, "stage")
            .into_iter()
            .find(|g| g.attribute("data-stage") == Some("assessment"))
            .unwrap();
        assert_eq!(text_of(&first), r#"Review <b>&"law"</b> it's (current)"#);
        assert!(doc.descendants().any(|n| n.text() == Some("A\u{FFFD}bell")));
    }

    #[test]
    fn fallback_arrangement_draws_the_same_diagram() {
        let def = coe_accession();
        let current = StageId::parse("deposit".to_owned()).unwrap();
        let svg = draw_workflow(&def, Some(&current), &labels(), stacked);
        assert_diagram_shows_every_stage_once(&def, &svg);
        let doc = parse_picture(&svg);
        assert_eq!(with_class(&doc, "transition").len(), def.transitions.len());
    }

    fn row(label: &str) -> TimelineRow {
        TimelineRow {
            label: label.to_owned(),
            planned: None,
            actual: None,
            overdue: false,
            marks: Vec::new(),
        }
    }

    /// A year of a procedure: three stages, the last still open and overdue.
    fn year_2024() -> Timeline {
        Timeline {
            title: "Timeline".into(),
            today: date(2024, 7, 1),
            today_label: "today".into(),
            overdue_label: "overdue".into(),
            rows: vec![
                TimelineRow {
                    planned: Some((date(2024, 1, 1), date(2024, 2, 1))),
                    actual: Some((date(2024, 1, 1), Some(date(2024, 1, 20)))),
                    ..row("Awareness and assessment")
                },
                TimelineRow {
                    planned: Some((date(2024, 1, 20), date(2024, 7, 20))),
                    actual: Some((date(2024, 1, 20), Some(date(2024, 3, 1)))),
                    marks: vec![TimelineMark {
                        date: date(2024, 3, 1),
                        label: "request".into(),
                    }],
                    ..row("Domestic legal review")
                },
                TimelineRow {
                    planned: Some((date(2024, 3, 1), date(2024, 5, 1))),
                    actual: Some((date(2024, 3, 1), None)),
                    overdue: true,
                    marks: vec![TimelineMark {
                        date: date(2024, 12, 31),
                        label: "entry into force (computed)".into(),
                    }],
                    ..row("Consultation between institutions")
                },
            ],
        }
    }

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

    /// The exact bytes of a few pictures, recorded from the code as it was when the module was
    /// split in three, so moving code between files is shown to change nothing. A deliberate
    /// change to the pictures rewrites them: `ACCESSION_UPDATE_SNAPSHOTS=1 cargo test --lib svg`,
    /// then look at the files and commit them with the change.
    #[test]
    fn pictures_are_byte_for_byte_the_recorded_ones() {
        let def = coe_accession();
        let stage = |id: &str| StageId::parse(id.to_owned()).unwrap();
        let ratification = parse_definition(
            "coe-ratification.toml",
            include_str!("../../workflows/coe-ratification.toml"),
            &KnownInstitutions::Unchecked,
        )
        .expect("the shipped workflow parses");
        let mut marked_up = coe_accession();
        marked_up.stages[0].title = r#"Review <b>&"law"</b> it's"#.to_owned();
        marked_up.stages[1].title = "A\u{1}bell".to_owned();
        let pictures = [
            (
                "coe-accession-legal-review",
                workflow_svg(&def, Some(&stage("legal-review")), &labels()),
            ),
            ("coe-accession", workflow_svg(&def, None, &labels())),
            (
                "coe-accession-stacked-deposit",
                draw_workflow(&def, Some(&stage("deposit")), &labels(), stacked),
            ),
            (
                "coe-accession-marked-up",
                workflow_svg(&marked_up, Some(&marked_up.stages[0].id), &labels()),
            ),
            (
                "coe-ratification",
                workflow_svg(&ratification, None, &labels()),
            ),
            ("timeline-2024", timeline_svg(&year_2024())),
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
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/svg");
        let update = std::env::var_os("ACCESSION_UPDATE_SNAPSHOTS").is_some();
        for (name, svg) in pictures {
            let file = dir.join(format!("{name}.svg"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&file, &svg).unwrap();
                continue;
            }
            let recorded = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                svg == recorded,
                "{name}: the picture differs from {}\n{svg}",
                file.display()
            );
        }
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
}
