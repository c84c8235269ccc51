//! The workflow's diagram: one box per stage, the current one filled and labelled, terminal
//! stages with a double border, transitions as curves with arrow heads and the institutions that
//! may make them. Laid out by layout-rs, with a plain stacked fallback.

use std::collections::HashMap;
use std::fmt::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::markup::{INK, N, WHITE, open_svg, wrap};
use crate::html::escape;
use crate::workflow::WorkflowDefinition;

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
            escape(def.stages[edge.from].id.as_str()),
            escape(def.stages[edge.to].id.as_str()),
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
                escape(&edge.label),
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
        let _ = write!(out, r#"<g class="{class}" data-stage="{}">"#, escape(id));
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
                escape(line),
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
    use super::*;
    use crate::ids::StageId;
    use crate::web::svg::tests::{
        assert_recorded, coe_accession, labels, parse_picture, text_of, with_class,
    };
    use crate::workflow::{KnownInstitutions, parse_definition};

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

    #[test]
    fn diagrams_are_byte_for_byte_the_recorded_ones() {
        let def = coe_accession();
        let stage = |id: &str| StageId::parse(id.to_owned()).unwrap();
        let ratification = parse_definition(
            "coe-ratification.toml",
            include_str!("../../../workflows/coe-ratification.toml"),
            &KnownInstitutions::Unchecked,
        )
        .expect("the shipped workflow parses");
        let mut marked_up = coe_accession();
        marked_up.stages[0].title = r#"Review <b>&"law"</b> it's"#.to_owned();
        marked_up.stages[1].title = "A\u{1}bell".to_owned();
        assert_recorded(vec![
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
        ]);
    }
}
