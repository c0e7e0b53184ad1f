//! One self-contained HTML page per run: a timeline a person can read a
//! failure from, with every violation linked to the history lines behind it.
//!
//! The page has no network references at all (inline CSS, JS and SVG, system
//! fonts), so it opens from a CI artifact, an e-mail or an air-gapped box.
//! It is written as well-formed XHTML-compatible markup so tests can parse it.
//!
//! Timeline rows, top to bottom:
//! - **faults**: nemesis operations (ticks) and network cuts as bands from one
//!   `net` event to the next (tooltip: the partition groups and every cut or
//!   degraded link);
//! - **gaps**: election gaps from the election-gap checker (its `details.gaps`,
//!   else its evidence windows), also shaded across the node lanes;
//! - **evidence**: one numbered marker per piece of evidence (red for
//!   violations), linking to the evidence list below the timeline;
//! - one **lane per node**: role over time (follower, candidate, leader with a
//!   term label), down time after a kill or exit, pause bands, ✕ for kills, ‼
//!   for crashes, ▶ for restarts, and the lane's share of each network cut.
//!
//! Clicking anything with a tooltip shows its text in the info bar (tooltips
//! are slow); clicking an evidence marker also highlights its list entry.
//! Zoom and pan are not implemented: the SVG is as wide as the page.
//!
//! Checked in a browser: `harness/tests/e2e_campaign.rs` loads a real run's
//! page and a campaign page in headless Chromium, fails on console errors,
//! and checks the lanes exist after the script ran (`--dump-dom`).
//! `SPLITBRAIN_HTML_OUT=DIR cargo test -p results html` writes the fixture
//! pages to look at; the timeline has the anchor `#timeline`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use checkers::history::{ends_incarnation, NetRecord, ProcessEvent, Role};
use checkers::{Event, Nanos, Record, Report, RunHeader, Verdict};

use super::details::{self, format_number, Gap};
use super::{format_seconds, run_name, summary_line};

/// Width of the node-name column of the timeline, in SVG pixels.
const LABEL_WIDTH: f64 = 110.0;
/// Width of the time axis, in SVG pixels.
const PLOT_WIDTH: f64 = 1080.0;
const RIGHT_MARGIN: f64 = 14.0;
const AXIS_HEIGHT: f64 = 26.0;
const FAULT_ROW: f64 = 24.0;
const GAP_ROW: f64 = 16.0;
const EVIDENCE_ROW: f64 = 22.0;
/// Vertical space between the summary rows and the node lanes.
const ROW_GAP: f64 = 6.0;

/// Escape text for HTML/XML content and attributes; `://` is written as
/// `&#58;//` so no URL (e.g. a probe address in a message) appears literally
/// and the page provably references nothing outside itself.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; keep tabs and newlines.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.replace("://", "&#58;//")
}

fn seconds(nanos: Nanos) -> String {
    format!("{} s", format_seconds(nanos))
}

/// A stretch of one role in one node's lane.
#[derive(Debug, Clone)]
struct RoleSegment {
    from: Nanos,
    to: Nanos,
    role: Role,
    term: u64,
    leader: Option<String>,
    seq: u64,
}

/// A point event drawn on a node's lane.
#[derive(Debug, Clone)]
struct Marker {
    t: Nanos,
    seq: u64,
    kind: MarkerKind,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkerKind {
    Kill,
    Crash,
    Restart,
}

/// Everything drawn in one node's lane.
#[derive(Debug, Default)]
struct Lane {
    segments: Vec<RoleSegment>,
    down: Vec<(Nanos, Nanos)>,
    paused: Vec<(Nanos, Nanos)>,
    markers: Vec<Marker>,
    /// Scratch state while reading the history.
    open_segment: Option<RoleSegment>,
    down_since: Option<Nanos>,
    paused_since: Option<Nanos>,
    pid: Option<u32>,
    starts: u32,
}

impl Lane {
    fn close_segment(&mut self, t: Nanos) {
        if let Some(mut segment) = self.open_segment.take() {
            segment.to = t.max(segment.from);
            self.segments.push(segment);
        }
    }

    fn close_pause(&mut self, t: Nanos) {
        if let Some(since) = self.paused_since.take() {
            self.paused.push((since, t.max(since)));
        }
    }

    fn finish(&mut self, end: Nanos) {
        self.close_segment(end);
        self.close_pause(end);
        if let Some(since) = self.down_since.take() {
            self.down.push((since, end.max(since)));
        }
    }
}

/// The network state in force between two `net` events.
#[derive(Debug, Clone)]
struct NetPeriod {
    from: Nanos,
    to: Nanos,
    seq: u64,
    net: NetRecord,
}

/// One nemesis operation, for the faults row.
#[derive(Debug, Clone)]
struct NemesisTick {
    t: Nanos,
    seq: u64,
    text: String,
}

/// One piece of evidence with its number on the page.
#[derive(Debug, Clone)]
struct EvidenceMark<'a> {
    number: usize,
    checker: &'a str,
    verdict: Verdict,
    evidence: &'a checkers::Evidence,
}

/// The history, digested into what the timeline draws.
struct Timeline<'a> {
    end: Nanos,
    lane_order: Vec<String>,
    lanes: BTreeMap<String, Lane>,
    net: Vec<NetPeriod>,
    nemesis: Vec<NemesisTick>,
    gaps: Vec<Gap>,
    evidence: Vec<EvidenceMark<'a>>,
    records_by_seq: BTreeMap<u64, &'a Record>,
}

fn lane<'l>(
    lanes: &'l mut BTreeMap<String, Lane>,
    order: &mut Vec<String>,
    node: &str,
) -> &'l mut Lane {
    if !lanes.contains_key(node) {
        order.push(node.to_string());
    }
    lanes.entry(node.to_string()).or_default()
}

impl<'a> Timeline<'a> {
    fn build(header: &RunHeader, records: &'a [Record], report: &'a Report) -> Self {
        let mut end = records.iter().map(|r| r.t).max().unwrap_or(0);
        for result in &report.results {
            for evidence in &result.evidence {
                end = end.max(evidence.window[1]);
            }
        }
        for election in &report.elections {
            end = end.max(election.lost_at.unwrap_or(election.elected_at));
        }
        let end = end.max(1_000_000_000);

        let mut lane_order = Vec::new();
        let mut lanes = BTreeMap::new();
        for node in &header.nodes {
            lane(&mut lanes, &mut lane_order, node);
        }
        let mut net: Vec<NetPeriod> = Vec::new();
        let mut nemesis = Vec::new();
        let mut records_by_seq = BTreeMap::new();

        for record in records {
            records_by_seq.insert(record.seq, record);
            let t = record.t;
            match &record.event {
                Event::Process(process) => {
                    let lane = lane(&mut lanes, &mut lane_order, &process.node);
                    match process.event {
                        ProcessEvent::Start => {
                            lane.starts += 1;
                            if let Some(since) = lane.down_since.take() {
                                lane.down.push((since, t.max(since)));
                            }
                            if lane.starts > 1 {
                                lane.markers.push(Marker {
                                    t,
                                    seq: record.seq,
                                    kind: MarkerKind::Restart,
                                    text: format!(
                                        "{} restarted at {}{} (seq {})",
                                        process.node,
                                        seconds(t),
                                        process.pid.map_or(String::new(), |p| format!(", pid {p}")),
                                        record.seq
                                    ),
                                });
                            }
                            lane.pid = process.pid;
                        }
                        // A late exit of an earlier incarnation: the node is up.
                        ProcessEvent::Kill | ProcessEvent::Exit
                            if header.nodes.contains(&process.node)
                                && !ends_incarnation(process.pid, lane.pid) => {}
                        ProcessEvent::Kill | ProcessEvent::Exit => {
                            let crash = process.event == ProcessEvent::Exit
                                && process.expected == Some(false);
                            let already_down = lane.down_since.is_some();
                            lane.close_segment(t);
                            lane.close_pause(t);
                            if !already_down {
                                lane.down_since = Some(t);
                            }
                            if process.event == ProcessEvent::Kill || crash {
                                let (kind, what) = if crash {
                                    (MarkerKind::Crash, "crashed")
                                } else {
                                    (MarkerKind::Kill, "killed")
                                };
                                let mut text = format!(
                                    "{} {what} at {} (seq {})",
                                    process.node,
                                    seconds(t),
                                    record.seq
                                );
                                if let Some(tail) = &process.stderr_tail {
                                    text.push_str(&format!(
                                        "\nstderr: {}",
                                        super::shorten(tail, 300)
                                    ));
                                }
                                lane.markers.push(Marker {
                                    t,
                                    seq: record.seq,
                                    kind,
                                    text,
                                });
                            }
                        }
                        ProcessEvent::Pause => {
                            if lane.paused_since.is_none() {
                                lane.paused_since = Some(t);
                            }
                        }
                        ProcessEvent::Resume => lane.close_pause(t),
                        ProcessEvent::Ready => {}
                    }
                }
                Event::State(state) => {
                    let lane = lane(&mut lanes, &mut lane_order, &state.node);
                    let stale = lane.down_since.is_some()
                        || matches!((state.pid, lane.pid), (Some(a), Some(b)) if a != b);
                    if stale {
                        continue;
                    }
                    lane.close_segment(t);
                    lane.open_segment = Some(RoleSegment {
                        from: t,
                        to: t,
                        role: state.role,
                        term: state.term,
                        leader: state.leader.clone(),
                        seq: record.seq,
                    });
                }
                Event::Net(record_net) => {
                    if let Some(last) = net.last_mut() {
                        if last.to == end {
                            last.to = t.max(last.from);
                        }
                    }
                    if !record_net.cut.is_empty() || !record_net.degraded.is_empty() {
                        net.push(NetPeriod {
                            from: t,
                            to: end,
                            seq: record.seq,
                            net: record_net.clone(),
                        });
                    }
                }
                Event::Nemesis(op) => {
                    let mut text = format!("{} {}", op.op, op.nodes.join(" "));
                    if let Some(detail) = &op.detail {
                        text.push_str(&format!(" {detail}"));
                    }
                    nemesis.push(NemesisTick {
                        t,
                        seq: record.seq,
                        text: format!(
                            "nemesis: {} at {} (seq {})",
                            text.trim(),
                            seconds(t),
                            record.seq
                        ),
                    });
                }
                _ => {}
            }
        }
        for lane in lanes.values_mut() {
            lane.finish(end);
        }

        let mut evidence = Vec::new();
        let mut results: Vec<_> = report.results.iter().collect();
        // Violations first, so they get the small numbers.
        results.sort_by_key(|r| std::cmp::Reverse(r.verdict));
        for result in results {
            for item in &result.evidence {
                evidence.push(EvidenceMark {
                    number: evidence.len() + 1,
                    checker: &result.checker,
                    verdict: result.verdict,
                    evidence: item,
                });
            }
        }

        Timeline {
            end,
            lane_order,
            lanes,
            net,
            nemesis,
            gaps: details::gaps(report),
            evidence,
            records_by_seq,
        }
    }

    fn x(&self, t: Nanos) -> f64 {
        LABEL_WIDTH + (t.min(self.end) as f64 / self.end as f64) * PLOT_WIDTH
    }

    fn lane_height(&self) -> f64 {
        match self.lane_order.len() {
            0..=8 => 26.0,
            9..=16 => 20.0,
            _ => 15.0,
        }
    }
}

/// The partition groups of a cut: nodes that still reach each other both ways.
fn partition_groups(nodes: &[String], net: &NetRecord) -> Vec<Vec<String>> {
    let down = |a: &str, b: &str| net.cut.iter().any(|[f, t]| f == a && t == b);
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut assigned = vec![false; nodes.len()];
    for start in 0..nodes.len() {
        if assigned[start] {
            continue;
        }
        assigned[start] = true;
        let mut group = vec![nodes[start].clone()];
        let mut frontier = vec![start];
        while let Some(i) = frontier.pop() {
            for j in 0..nodes.len() {
                if !assigned[j] && !down(&nodes[i], &nodes[j]) && !down(&nodes[j], &nodes[i]) {
                    assigned[j] = true;
                    group.push(nodes[j].clone());
                    frontier.push(j);
                }
            }
        }
        groups.push(group);
    }
    groups
}

fn net_description(period: &NetPeriod, nodes: &[String]) -> String {
    let mut text = format!(
        "network {}–{} (seq {})",
        seconds(period.from),
        seconds(period.to),
        period.seq
    );
    let groups = partition_groups(nodes, &period.net);
    if groups.len() > 1 {
        let groups: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
        text.push_str(&format!("\ngroups: {}", groups.join(" | ")));
    }
    if !period.net.cut.is_empty() {
        let links: Vec<String> = period
            .net
            .cut
            .iter()
            .map(|[a, b]| format!("{a}→{b}"))
            .collect();
        text.push_str(&format!("\ncut ({}): {}", links.len(), links.join(", ")));
    }
    for link in &period.net.degraded {
        text.push_str(&format!(
            "\ndegraded {}→{}: loss {:.0}%, delay {} ms, jitter {} ms",
            link.from,
            link.to,
            link.loss * 100.0,
            format_number(link.delay_ms),
            format_number(link.jitter_ms)
        ));
    }
    text
}

/// What one node loses in a network period, or `None` when it loses nothing.
fn node_net_description(node: &str, period: &NetPeriod) -> Option<String> {
    let cannot_send: Vec<&str> = period
        .net
        .cut
        .iter()
        .filter(|[a, _]| a == node)
        .map(|[_, b]| b.as_str())
        .collect();
    let cannot_receive: Vec<&str> = period
        .net
        .cut
        .iter()
        .filter(|[_, b]| b == node)
        .map(|[a, _]| a.as_str())
        .collect();
    let degraded: Vec<String> = period
        .net
        .degraded
        .iter()
        .filter(|l| l.from == node || l.to == node)
        .map(|l| format!("{}→{}", l.from, l.to))
        .collect();
    if cannot_send.is_empty() && cannot_receive.is_empty() && degraded.is_empty() {
        return None;
    }
    let mut text = format!("{node}, {}–{}:", seconds(period.from), seconds(period.to));
    if !cannot_send.is_empty() {
        text.push_str(&format!("\nsends nothing to {}", cannot_send.join(", ")));
    }
    if !cannot_receive.is_empty() {
        text.push_str(&format!(
            "\nreceives nothing from {}",
            cannot_receive.join(", ")
        ));
    }
    if !degraded.is_empty() {
        text.push_str(&format!("\ndegraded links {}", degraded.join(", ")));
    }
    Some(text)
}

fn title(text: &str) -> String {
    format!("<title>{}</title>", escape(text))
}

fn role_class(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Candidate => "candidate",
        Role::PreCandidate => "precandidate",
        Role::Follower => "follower",
        Role::Other => "other",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::PreCandidate => "pre-candidate",
        other => role_class(other),
    }
}

/// A "nice" tick interval giving at most about a dozen ticks.
fn tick_step(end: Nanos) -> Nanos {
    const STEPS_MS: [u64; 16] = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_200_000, 1_800_000, 3_600_000,
    ];
    let end_ms = end / 1_000_000;
    let step = STEPS_MS
        .iter()
        .copied()
        .find(|s| end_ms / s <= 12)
        .unwrap_or(3_600_000);
    step * 1_000_000
}

fn svg_timeline(timeline: &Timeline<'_>, report: &Report) -> String {
    let lane_h = timeline.lane_height();
    let faults_y = AXIS_HEIGHT;
    let gaps_y = faults_y + FAULT_ROW;
    let evidence_y = gaps_y + GAP_ROW;
    let lanes_y = evidence_y + EVIDENCE_ROW + ROW_GAP;
    let height = lanes_y + lane_h * timeline.lane_order.len() as f64 + 6.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN;
    let plot_right = LABEL_WIDTH + PLOT_WIDTH;
    let lane_y = |i: usize| lanes_y + lane_h * i as f64;
    let lanes_bottom = lane_y(timeline.lane_order.len());
    let mut s = String::new();
    let mut overlays = String::new();
    let mut markers = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" role="img" aria-label="timeline of the run" viewBox="0 0 {width} {height}" width="{width}" height="{height}" preserveAspectRatio="xMinYMin meet">"#
    );
    s.push_str(concat!(
        r##"<defs><pattern id="hatch-down" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">"##,
        r##"<rect width="6" height="6" fill="#d9d9d9"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern>"##,
        r##"<pattern id="hatch-pause" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">"##,
        r##"<line x1="0" y1="0" x2="0" y2="5" stroke="#5b4a8a" stroke-width="1.6"/></pattern>"##,
        r##"<pattern id="hatch-net" width="7" height="7" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">"##,
        r##"<line x1="0" y1="0" x2="0" y2="7" stroke="#c0392b" stroke-width="1" stroke-opacity="0.45"/></pattern></defs>"##,
    ));

    // Row labels.
    let label = |s: &mut String, y: f64, h: f64, text: &str, class: &str| {
        let _ = write!(
            s,
            r#"<text class="row-label {class}" x="{}" y="{:.1}">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + h / 2.0 + 4.0,
            escape(text)
        );
    };
    label(&mut s, faults_y, FAULT_ROW, "faults", "");
    label(&mut s, gaps_y, GAP_ROW, "gaps", "");
    label(&mut s, evidence_y, EVIDENCE_ROW, "evidence", "");

    // Axis and grid.
    let step = tick_step(timeline.end);
    let mut tick = 0;
    while tick <= timeline.end {
        let x = timeline.x(tick);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{lanes_bottom:.1}"/><text class="tick" x="{x:.1}" y="14">{} s</text>"#,
            AXIS_HEIGHT - 6.0,
            format_number(tick as f64 / 1e9)
        );
        tick += step;
    }

    // Lane backgrounds and names.
    for (i, node) in timeline.lane_order.iter().enumerate() {
        let y = lane_y(i);
        let _ = write!(
            s,
            r#"<g class="lane" data-lane="{name}"><rect class="lane-bg{odd}" x="{LABEL_WIDTH}" y="{y:.1}" width="{PLOT_WIDTH}" height="{lane_h}"/>"#,
            name = escape(node),
            odd = if i % 2 == 1 { " odd" } else { "" },
        );
        label(&mut s, y, lane_h, node, "node");
        s.push_str("</g>");
    }

    // Faults row: network periods, then nemesis ticks.
    for period in &timeline.net {
        let (x1, x2) = (timeline.x(period.from), timeline.x(period.to));
        let groups = partition_groups(&timeline.lane_order, &period.net);
        let short = if groups.len() > 1 {
            groups
                .iter()
                .map(|g| g.join(" "))
                .collect::<Vec<_>>()
                .join(" | ")
        } else if period.net.cut.is_empty() {
            "degraded".to_string()
        } else {
            format!("{} links cut", period.net.cut.len())
        };
        let _ = write!(
            s,
            r#"<g class="net-band" data-seq="{}"><rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="{}"/>{}"#,
            period.seq,
            faults_y + 2.0,
            (x2 - x1).max(2.0),
            FAULT_ROW - 4.0,
            title(&net_description(period, &timeline.lane_order))
        );
        if x2 - x1 > short.chars().count() as f64 * 6.0 + 8.0 {
            let _ = write!(
                s,
                r#"<text class="band-label" x="{:.1}" y="{:.1}">{}</text>"#,
                x1 + 4.0,
                faults_y + FAULT_ROW / 2.0 + 4.0,
                escape(&short)
            );
        }
        s.push_str("</g>");
        // The node lanes' share of the cut.
        for (i, node) in timeline.lane_order.iter().enumerate() {
            if let Some(text) = node_net_description(node, period) {
                let _ = write!(
                    overlays,
                    r#"<rect class="net-lane" x="{x1:.1}" y="{:.1}" width="{:.1}" height="{lane_h}">{}</rect>"#,
                    lane_y(i),
                    (x2 - x1).max(1.0),
                    title(&text)
                );
            }
        }
    }
    for tick in &timeline.nemesis {
        let x = timeline.x(tick.t);
        let _ = write!(
            s,
            r#"<path class="nemesis" data-seq="{}" d="M{:.1},{:.1} l4,-6 l-8,0 z">{}</path>"#,
            tick.seq,
            x,
            faults_y + 8.0,
            title(&tick.text)
        );
    }

    // Gaps row and its shading across the lanes.
    let bound_ms = report
        .results
        .iter()
        .find(|r| r.checker == details::ELECTION_GAP)
        .and_then(|r| r.details.get("bound_ms"))
        .and_then(serde_json::Value::as_f64);
    for gap in &timeline.gaps {
        let to = gap.to.unwrap_or(timeline.end);
        let (x1, x2) = (timeline.x(gap.from), timeline.x(to));
        let length = gap.length_ms.map_or_else(
            || format!("{} s", format_seconds(to.saturating_sub(gap.from))),
            |ms| format!("{} ms counted", format_number(ms)),
        );
        let over = match (gap.length_ms, bound_ms) {
            (Some(l), Some(b)) => l > b,
            _ => false,
        };
        let text = format!(
            "election gap {}–{}: {length}{}{}",
            seconds(gap.from),
            gap.to.map_or("end (still open)".to_string(), seconds),
            gap.fault
                .as_ref()
                .map_or(String::new(), |f| format!(", after {f}")),
            if over { ", over the bound" } else { "" }
        );
        let class = if gap.to.is_none() || over {
            "gap open"
        } else {
            "gap"
        };
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{x1:.1}" y="{:.1}" width="{:.1}" height="{}">{}</rect>"#,
            gaps_y + 3.0,
            (x2 - x1).max(2.0),
            GAP_ROW - 6.0,
            title(&text),
        );
        let _ = write!(
            overlays,
            r#"<rect class="gap-shade" x="{x1:.1}" y="{lanes_y:.1}" width="{:.1}" height="{:.1}"/>"#,
            (x2 - x1).max(1.0),
            lanes_bottom - lanes_y
        );
    }

    // Node lanes: roles, down time, pauses, markers.
    for (i, node) in timeline.lane_order.iter().enumerate() {
        let lane = &timeline.lanes[node];
        let y = lane_y(i);
        let (seg_y, seg_h) = (y + 3.0, lane_h - 6.0);
        for &(from, to) in &lane.down {
            let (x1, x2) = (timeline.x(from), timeline.x(to));
            let _ = write!(
                s,
                r#"<rect class="down" x="{x1:.1}" y="{seg_y:.1}" width="{:.1}" height="{seg_h}">{}</rect>"#,
                (x2 - x1).max(1.0),
                title(&format!("{node} down {}–{}", seconds(from), seconds(to)))
            );
        }
        for segment in &lane.segments {
            let (x1, x2) = (timeline.x(segment.from), timeline.x(segment.to));
            let leader = match (&segment.leader, segment.role) {
                (_, Role::Leader) => String::new(),
                (Some(leader), _) => format!(", leader {leader}"),
                (None, _) => String::new(),
            };
            let text = format!(
                "{node} {} term {}{leader}\n{}–{} (seq {})",
                role_name(segment.role),
                segment.term,
                seconds(segment.from),
                seconds(segment.to),
                segment.seq
            );
            let _ = write!(
                s,
                r#"<rect class="role {}" data-seq="{}" x="{x1:.1}" y="{seg_y:.1}" width="{:.2}" height="{seg_h}">{}</rect>"#,
                role_class(segment.role),
                segment.seq,
                (x2 - x1).max(0.8),
                title(&text)
            );
            let term_label = format!("T{}", segment.term);
            if segment.role == Role::Leader && x2 - x1 >= term_label.len() as f64 * 6.0 + 4.0 {
                let _ = write!(
                    s,
                    r#"<text class="term" x="{:.1}" y="{:.1}">{}</text>"#,
                    x1 + 3.0,
                    y + lane_h / 2.0 + 3.5,
                    escape(&term_label)
                );
            }
        }
        for &(from, to) in &lane.paused {
            let (x1, x2) = (timeline.x(from), timeline.x(to));
            let _ = write!(
                s,
                r#"<rect class="paused" x="{x1:.1}" y="{:.1}" width="{:.1}" height="{}">{}</rect>"#,
                y + 1.0,
                (x2 - x1).max(1.5),
                lane_h - 2.0,
                title(&format!(
                    "{node} paused (SIGSTOP) {}–{}",
                    seconds(from),
                    seconds(to)
                ))
            );
        }
        for marker in &lane.markers {
            let (class, glyph) = match marker.kind {
                MarkerKind::Kill => ("kill", "✕"),
                MarkerKind::Crash => ("crash", "‼"),
                MarkerKind::Restart => ("restart", "▶"),
            };
            let _ = write!(
                markers,
                r#"<text class="marker {class}" data-seq="{}" x="{:.1}" y="{:.1}">{glyph}{}</text>"#,
                marker.seq,
                timeline.x(marker.t),
                y + lane_h / 2.0 + 4.0,
                title(&marker.text)
            );
        }
    }

    // Overlays go above the role segments, markers above everything in the lanes.
    s.push_str(&overlays);
    s.push_str(&markers);

    // Evidence row, and ticks on the lanes of the events the evidence cites.
    let lane_index: BTreeMap<&str, usize> = timeline
        .lane_order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    // Violations are placed first, at their own time; a marker that would
    // cover another moves right, so every number stays readable and clickable.
    let mut ordered: Vec<_> = timeline.evidence.iter().collect();
    ordered.sort_by_key(|m| m.verdict != Verdict::Invalid);
    let mut placed: Vec<f64> = Vec::new();
    for mark in ordered {
        let [from, to] = mark.evidence.window;
        let (x1, x2) = (timeline.x(from), timeline.x(to.max(from)));
        let mut cx = x1;
        while placed.iter().any(|p| (p - cx).abs() < 15.0) {
            cx += 15.0;
        }
        placed.push(cx);
        let class = if mark.verdict == Verdict::Invalid {
            "violation"
        } else {
            "note"
        };
        let text = format!(
            "#{} {} ({}): {}\n{}–{}, seq {}",
            mark.number,
            mark.checker,
            mark.verdict,
            mark.evidence.message,
            seconds(from),
            seconds(to),
            mark.evidence
                .seqs
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = write!(
            s,
            r##"<a class="ev-mark {class}" href="#ev-{n}" data-ev="{n}"><rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="{}"/><circle cx="{cx:.1}" cy="{:.1}" r="7"/><text x="{cx:.1}" y="{:.1}">{n}</text>{}</a>"##,
            evidence_y + EVIDENCE_ROW / 2.0 - 2.0,
            (x2 - x1).max(2.0),
            4.0,
            evidence_y + EVIDENCE_ROW / 2.0,
            evidence_y + EVIDENCE_ROW / 2.0 + 3.5,
            title(&text),
            n = mark.number,
        );
        for seq in &mark.evidence.seqs {
            let Some(record) = timeline.records_by_seq.get(seq) else {
                continue;
            };
            let node = match &record.event {
                Event::State(e) => e.node.as_str(),
                Event::Process(e) => e.node.as_str(),
                Event::Vote(e) => e.node.as_str(),
                _ => continue,
            };
            let Some(&i) = lane_index.get(node) else {
                continue;
            };
            let x = timeline.x(record.t);
            let y = lane_y(i);
            let _ = write!(
                s,
                r##"<a class="ev-tick {class}" href="#ev-{n}" data-ev="{n}"><path d="M{x:.1},{:.1} l5,-7 l-10,0 z"/>{}</a>"##,
                y + 7.0,
                title(&format!(
                    "#{} {}: seq {seq} ({node} at {})",
                    mark.number,
                    mark.checker,
                    seconds(record.t)
                )),
                n = mark.number,
            );
        }
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LABEL_WIDTH}" y1="{lanes_y:.1}" x2="{LABEL_WIDTH}" y2="{lanes_bottom:.1}"/><line class="axis" x1="{plot_right}" y1="{lanes_y:.1}" x2="{plot_right}" y2="{lanes_bottom:.1}"/>"#
    );
    s.push_str("</svg>");
    s
}

fn verdict_span(verdict: Verdict) -> String {
    format!(r#"<span class="verdict {verdict}">{verdict}</span>"#)
}

fn checkers_section(report: &Report, timeline: &Timeline<'_>) -> String {
    let mut s = String::from(
        r#"<table class="checkers"><thead><tr><th>checker</th><th>verdict</th><th>figure</th><th>evidence</th></tr></thead><tbody>"#,
    );
    for result in &report.results {
        let links: Vec<String> = timeline
            .evidence
            .iter()
            .filter(|m| result.evidence.iter().any(|e| std::ptr::eq(e, m.evidence)))
            .map(|m| {
                format!(
                    r##"<a href="#ev-{n}" data-ev="{n}">#{n}</a>"##,
                    n = m.number
                )
            })
            .collect();
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&result.checker),
            verdict_span(result.verdict),
            escape(&result.figure),
            links.join(" ")
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn evidence_section(timeline: &Timeline<'_>) -> String {
    if timeline.evidence.is_empty() {
        return "<p>No evidence was reported.</p>".to_string();
    }
    let mut s = String::from(r#"<ol class="evidence">"#);
    for mark in &timeline.evidence {
        let [from, to] = mark.evidence.window;
        let _ = write!(
            s,
            r#"<li id="ev-{}" class="{}"><div class="ev-head"><code>{}</code> {} <span class="window">{}–{}</span>"#,
            mark.number,
            if mark.verdict == Verdict::Invalid {
                "violation"
            } else {
                "note"
            },
            escape(mark.checker),
            verdict_span(mark.verdict),
            seconds(from),
            seconds(to),
        );
        if !mark.evidence.nodes.is_empty() {
            let _ = write!(
                s,
                r#" <span class="nodes">nodes {}</span>"#,
                escape(&mark.evidence.nodes.join(", "))
            );
        }
        let _ = write!(s, "</div><p>{}</p>", escape(&mark.evidence.message));
        if !mark.evidence.seqs.is_empty() {
            s.push_str(r#"<pre class="records">"#);
            for seq in &mark.evidence.seqs {
                let line = match timeline.records_by_seq.get(seq) {
                    Some(record) => {
                        serde_json::to_string(record).unwrap_or_else(|e| format!("seq {seq}: {e}"))
                    }
                    None => format!("seq {seq}: not in this history"),
                };
                let _ = writeln!(s, "{}", escape(&line));
            }
            s.push_str("</pre>");
        }
        s.push_str("</li>");
    }
    s.push_str("</ol>");
    s
}

fn gap_section(report: &Report, header: &RunHeader) -> String {
    let stats = details::gap_stats(report);
    if stats.is_empty() {
        return "<p>The election-gap checker reported no statistics.</p>".to_string();
    }
    let bound = header.gap_bound_ms as f64;
    let scale = stats
        .iter()
        .filter_map(|s| s.max_ms.or(s.p99_ms).or(s.p95_ms).or(s.p50_ms))
        .fold(bound, f64::max)
        .max(1.0);
    let ms = |v: Option<f64>| v.map_or("—".to_string(), format_number);
    let bar_width = 240.0;
    let mut s = String::from(
        r#"<table class="gaps"><thead><tr><th>gaps after</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>distribution (bound marked)</th></tr></thead><tbody>"#,
    );
    for row in &stats {
        let w = |v: Option<f64>| v.map_or(0.0, |v| (v / scale * bar_width).clamp(0.0, bar_width));
        let bound_x = (bound / scale * bar_width).min(bar_width);
        let bar = format!(
            r#"<svg class="bar" viewBox="0 0 {bw} 12" width="{bw}" height="12"><rect class="bar-max" x="0" y="2" width="{:.1}" height="8"/><rect class="bar-p95" x="0" y="2" width="{:.1}" height="8"/><rect class="bar-p50" x="0" y="2" width="{:.1}" height="8"/><line class="bar-bound" x1="{bound_x:.1}" y1="0" x2="{bound_x:.1}" y2="12"/>{}</svg>"#,
            w(row.max_ms),
            w(row.p95_ms),
            w(row.p50_ms),
            title(&format!(
                "{}: p50 {} ms, p95 {} ms, max {} ms; bound {} ms",
                row.fault,
                ms(row.p50_ms),
                ms(row.p95_ms),
                ms(row.max_ms),
                format_number(bound)
            )),
            bw = bar_width,
        );
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{bar}</td></tr>"#,
            escape(&row.fault),
            row.count,
            ms(row.p50_ms),
            ms(row.p95_ms),
            ms(row.p99_ms),
            ms(row.max_ms),
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn figures_section(report: &Report) -> String {
    let figures = details::figures(report);
    if figures.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        r#"<h2>Overlap and stability</h2><table class="figures"><thead><tr><th>checker</th><th>figure</th><th>value</th></tr></thead><tbody>"#,
    );
    for figure in figures {
        let _ = write!(
            s,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="num">{}</td></tr>"#,
            escape(&figure.checker),
            escape(&figure.name),
            escape(&figure.value)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn elections_section(report: &Report) -> String {
    if report.elections.is_empty() {
        return "<p>No leader was ever elected.</p>".to_string();
    }
    let mut s = format!(
        r#"<details><summary>Elections ({})</summary><table class="elections"><thead><tr><th>term</th><th>leader</th><th>elected at (s)</th><th>lost at (s)</th><th>held for (s)</th><th>how</th><th>seq</th></tr></thead><tbody>"#,
        report.elections.len()
    );
    for e in &report.elections {
        let _ = write!(
            s,
            r#"<tr><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td></tr>"#,
            e.term,
            escape(&e.leader),
            format_seconds(e.elected_at),
            e.lost_at.map_or("—".to_string(), format_seconds),
            super::held_for(e.elected_at, e.lost_at),
            escape(&e.how),
            e.seq
        );
    }
    s.push_str("</tbody></table></details>");
    s
}

const LEGEND: &str = concat!(
    r#"<div class="legend">"#,
    r#"<span><i class="sw follower"></i>follower</span>"#,
    r#"<span><i class="sw candidate"></i>candidate</span>"#,
    r#"<span><i class="sw precandidate"></i>pre-candidate</span>"#,
    r#"<span><i class="sw leader"></i>leader (term)</span>"#,
    r#"<span><i class="sw down"></i>down</span>"#,
    r#"<span><i class="sw paused"></i>paused</span>"#,
    r#"<span><i class="sw net"></i>network cut</span>"#,
    r#"<span><i class="sw gap"></i>election gap</span>"#,
    r#"<span><b class="kill">✕</b> kill <b class="crash">‼</b> crash <b class="restart">▶</b> restart</span>"#,
    r#"<span><b class="violation-dot">1</b> violation (click)</span>"#,
    "</div>"
);

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 20px 24px; color: #1d1d1f; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: #555; margin: 0 0 10px; } code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-weight: 600; padding: 0 6px; border-radius: 3px; }
.verdict.valid { background: #dff3e4; color: #1b6b33; } .verdict.invalid { background: #fbe0de; color: #a11d12; } .verdict.unknown { background: #fff1c9; color: #7a5a00; }
.summary { font-weight: 600; font-size: 15px; }
.scroll { overflow-x: auto; border: 1px solid #e3e3e3; border-radius: 4px; padding: 4px 0; }
#info { position: sticky; top: 0; z-index: 2; min-height: 1.4em; background: #fffbe8; border: 1px solid #eadf9e; padding: 4px 8px; white-space: pre-wrap; font-size: 12px; margin: 8px 0; }
svg.timeline text { font-size: 10px; fill: #333; }
svg.timeline .row-label { text-anchor: end; font-size: 11px; fill: #666; } svg.timeline .row-label.node { fill: #111; font-weight: 600; }
svg.timeline .tick { text-anchor: middle; fill: #777; }
svg.timeline .grid { stroke: #ececec; } svg.timeline .axis { stroke: #bbb; }
svg.timeline .lane-bg { fill: #fafafa; } svg.timeline .lane-bg.odd { fill: #f3f3f5; }
svg.timeline .role.follower { fill: #b9d3ee; } svg.timeline .role.candidate { fill: #f2b13c; } svg.timeline .role.precandidate { fill: #f7dc9b; }
svg.timeline .role.leader { fill: #2f9e55; } svg.timeline .role.other { fill: #c8c8c8; }
svg.timeline .term { fill: #fff; font-weight: 700; pointer-events: none; }
svg.timeline .down { fill: url(#hatch-down); } svg.timeline .paused { fill: url(#hatch-pause); stroke: #5b4a8a; stroke-width: 0.6; }
svg.timeline .net-band rect { fill: #f6c9c4; stroke: #c0392b; stroke-width: 0.6; } svg.timeline .band-label { fill: #7d1d13; pointer-events: none; }
svg.timeline .net-lane { fill: url(#hatch-net); }
svg.timeline .nemesis { fill: #555; }
svg.timeline .gap { fill: #f39c12; } svg.timeline .gap.open { fill: #d35400; } svg.timeline .gap-shade { fill: #f39c12; fill-opacity: 0.22; pointer-events: none; }
svg.timeline .marker { font-size: 12px; font-weight: 700; text-anchor: middle; }
svg.timeline .marker.kill { fill: #b3180c; } svg.timeline .marker.crash { fill: #e00; } svg.timeline .marker.restart { fill: #1f6f3a; font-size: 9px; }
svg.timeline .ev-mark rect { fill: #e74c3c; fill-opacity: 0.5; } svg.timeline .ev-mark circle { fill: #c0392b; stroke: #fff; }
svg.timeline .ev-mark text { fill: #fff; font-weight: 700; text-anchor: middle; }
svg.timeline .ev-mark.note rect { fill: #3d7ab8; } svg.timeline .ev-mark.note circle { fill: #3d7ab8; }
svg.timeline .ev-tick path { fill: #c0392b; stroke: #fff; stroke-width: 0.8; } svg.timeline .ev-tick.note path { fill: #3d7ab8; }
svg.timeline [data-ev] { cursor: pointer; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; color: #444; margin: 6px 0; }
.legend .sw { display: inline-block; width: 18px; height: 10px; margin-right: 4px; vertical-align: middle; border: 1px solid #aaa; }
.sw.follower { background: #b9d3ee; } .sw.candidate { background: #f2b13c; } .sw.precandidate { background: #f7dc9b; } .sw.leader { background: #2f9e55; }
.sw.down { background: repeating-linear-gradient(45deg, #d9d9d9 0 3px, #9a9a9a 3px 5px); } .sw.paused { background: repeating-linear-gradient(-45deg, #fff 0 2px, #5b4a8a 2px 3px); }
.sw.net { background: #f6c9c4; } .sw.gap { background: #f39c12; }
.legend .kill { color: #b3180c; } .legend .crash { color: #e00; } .legend .restart { color: #1f6f3a; }
.violation-dot { display: inline-block; background: #c0392b; color: #fff; border-radius: 50%; width: 16px; text-align: center; font-size: 10px; }
ol.evidence li { margin: 6px 0; padding: 4px 8px; border-left: 4px solid #c0392b; background: #fff7f6; }
ol.evidence li.note { border-left-color: #3d7ab8; background: #f5f9fd; }
ol.evidence li:target, ol.evidence li.active { outline: 2px solid #f1c40f; }
ol.evidence p { margin: 2px 0; } .window, .nodes { color: #555; font-size: 12px; }
pre.records { background: #f6f6f6; padding: 4px 6px; margin: 4px 0; overflow-x: auto; }
svg.bar .bar-max { fill: #f9d8a6; } svg.bar .bar-p95 { fill: #f0a94a; } svg.bar .bar-p50 { fill: #c7700c; } svg.bar .bar-bound { stroke: #c0392b; stroke-width: 1.5; }
.warnings { color: #8a5a00; }
"#;

/// Click handling: show any tooltip's text in the info bar; for evidence
/// markers also highlight the entry (the link itself scrolls to it).
/// Written without `<` and `&` so the page stays well-formed XML.
const SCRIPT: &str = r#"
(function () {
  var info = document.getElementById('info');
  document.addEventListener('click', function (event) {
    var target = event.target;
    var ev = target.closest('[data-ev]');
    if (ev) {
      document.querySelectorAll('ol.evidence li.active').forEach(function (li) { li.classList.remove('active'); });
      var entry = document.getElementById('ev-' + ev.getAttribute('data-ev'));
      if (entry) { entry.classList.add('active'); info.textContent = entry.innerText; }
      return;
    }
    var holder = target.closest('svg.timeline *');
    while (holder) {
      var t = holder.querySelector(':scope > title');
      if (t) { info.textContent = t.textContent; return; }
      holder = holder.parentElement;
      if (holder === null || holder.tagName === 'svg') { break; }
    }
  });
})();
"#;

/// The page for one run: header, checker table, timeline, evidence list,
/// gap distribution per fault kind, overlap/stability figures, elections.
pub fn render_run(header: &RunHeader, records: &[Record], report: &Report) -> String {
    let timeline = Timeline::build(header, records, report);
    let name = run_name(header);
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    s.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1"/>"#);
    let _ = write!(
        s,
        "<title>splitbrain {} — {}</title>",
        escape(&name),
        report.verdict()
    );
    let _ = write!(s, "<style>{STYLE}</style></head><body>");
    let _ = write!(
        s,
        "<h1>splitbrain: <code>{}</code> {}</h1>",
        escape(&name),
        verdict_span(report.verdict())
    );
    let _ = write!(
        s,
        r#"<p class="meta">{}</p>"#,
        escape(&format!(
            "{} · {} events · {} long · election timeout {}–{} ms",
            super::header_line(header),
            report.events,
            seconds(timeline.end),
            header.election_timeout_ms[0],
            header.election_timeout_ms[1],
        ))
    );
    if let Some(replay) = &header.replay {
        let _ = write!(
            s,
            r#"<p class="meta">replay: <code>{}</code></p>"#,
            escape(replay)
        );
    }
    let _ = write!(
        s,
        r#"<p class="summary">{}</p>"#,
        escape(&summary_line(report))
    );
    s.push_str(&checkers_section(report, &timeline));
    if !report.warnings.is_empty() {
        s.push_str(r#"<ul class="warnings">"#);
        for warning in &report.warnings {
            let _ = write!(s, "<li>warning: {}</li>", escape(warning));
        }
        s.push_str("</ul>");
    }
    s.push_str("<h2 id=\"timeline\">Timeline</h2>");
    s.push_str(LEGEND);
    s.push_str(r#"<div id="info">Click a segment, band or marker for details.</div>"#);
    let _ = write!(
        s,
        r#"<div class="scroll">{}</div>"#,
        svg_timeline(&timeline, report)
    );
    let _ = write!(s, "<h2>Evidence ({})</h2>", timeline.evidence.len());
    s.push_str(&evidence_section(&timeline));
    s.push_str("<h2>Election gaps by fault kind</h2>");
    s.push_str(&gap_section(report, header));
    s.push_str(&figures_section(report));
    s.push_str("<h2>Elections</h2>");
    s.push_str(&elections_section(report));
    let _ = writeln!(s, "<script>{SCRIPT}</script></body></html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use quick_xml::events::Event as XmlEvent;
    use quick_xml::Reader;

    fn page() -> String {
        render_run(&fixture::header(), &fixture::records(), &fixture::report())
    }

    /// Parse the page as XML: proves tags balance and attributes are quoted.
    fn assert_well_formed(html: &str) {
        let mut reader = Reader::from_str(html);
        let mut stack: Vec<String> = Vec::new();
        loop {
            match reader.read_event() {
                Ok(XmlEvent::Start(e)) => {
                    stack.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
                }
                Ok(XmlEvent::End(e)) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
                }
                Ok(XmlEvent::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!(
                    "not well-formed at {}: {e}: {}",
                    reader.buffer_position(),
                    &html[reader.buffer_position() as usize..]
                        [..80.min(html.len() - reader.buffer_position() as usize)]
                ),
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    fn assert_self_contained(html: &str) {
        assert!(!html.contains("http://"), "no http:// at all");
        assert!(!html.contains("https://"), "no https:// at all");
        assert!(!html.contains("src="), "no external scripts or images");
        assert!(!html.contains("<link"), "no stylesheets");
        assert!(!html.contains("@import"), "no CSS imports");
        for (i, _) in html.match_indices("url(") {
            assert!(
                html[i..].starts_with("url(#"),
                "only in-page url(#...) references"
            );
        }
    }

    #[test]
    fn one_lane_per_node() {
        let html = page();
        assert_eq!(html.matches(r#"<g class="lane""#).count(), 3);
        for node in ["n1", "n2", "n3"] {
            assert!(html.contains(&format!(r#"data-lane="{node}""#)), "{node}");
        }
        assert!(html.contains(r#"class="role leader""#));
        assert!(html.contains(r#"class="role candidate""#));
        assert!(html.contains(r#"class="role follower""#));
        for term in ["T1", "T2", "T3", "T4"] {
            assert!(
                html.contains(&format!(">{term}</text>")),
                "leader term label {term}"
            );
        }
    }

    #[test]
    fn faults_process_events_and_gaps_are_drawn() {
        let html = page();
        assert_eq!(
            html.matches(r#"<g class="net-band""#).count(),
            1,
            "one cut, healed at 20 s"
        );
        assert!(html.contains("groups: n1 n2 | n3"));
        assert!(html.contains("cut (4): n1→n3, n3→n1, n2→n3, n3→n2"));
        assert!(html.contains("network 15.000 s–20.000 s (seq 25)"));
        assert_eq!(
            html.matches(r#"<rect class="net-lane""#).count(),
            3,
            "every node lost links"
        );
        assert!(html.contains("n3, 15.000 s–20.000 s:\nsends nothing to n1, n2"));
        assert!(html.contains(r#"<text class="marker kill" data-seq="15""#));
        assert!(html.contains("n2 killed at 5.000 s (seq 15)"));
        assert!(html.contains(r#"<text class="marker restart" data-seq="21""#));
        assert!(html.contains("n2 down 5.000 s–10.000 s"));
        assert!(html.contains("n1 paused (SIGSTOP) 25.000 s–30.000 s"));
        assert_eq!(html.matches(r#"<rect class="gap""#).count(), 3);
        assert!(html.contains("election gap 5.000 s–5.320 s: 320 ms counted, after kill"));
        assert_eq!(html.matches(r#"<path class="nemesis""#).count(), 7);
    }

    /// The old pid's exit recorded after the restart (a kill and an
    /// immediate restart): n2 stays up; an infrastructure member's exit
    /// under a shared name still marks the service down.
    #[test]
    fn a_late_exit_of_an_earlier_incarnation_leaves_the_node_up() {
        let mut records = fixture::records();
        let restart_ready = records.iter().position(|r| r.seq == 22).unwrap();
        let mut late = records.iter().find(|r| r.seq == 16).unwrap().clone();
        late.seq = 1000;
        late.t = 10_100_000_000;
        records.insert(restart_ready + 1, late.clone());
        let mut member = late;
        member.seq = 1001;
        if let Event::Process(p) = &mut member.event {
            p.node = "etcd".into();
        }
        records.insert(restart_ready + 2, member);
        let report = fixture::report();
        let timeline = Timeline::build(&fixture::header(), &records, &report);
        assert_eq!(
            timeline.lanes["n2"].down,
            vec![(5_000_000_000, 10_000_000_000)]
        );
        assert_eq!(timeline.lanes["etcd"].down[0].0, 10_100_000_000);
    }

    #[test]
    fn violations_are_marked_and_linked_to_evidence() {
        let html = page();
        assert!(html.contains(r##"<a class="ev-mark violation" href="#ev-1" data-ev="1">"##));
        assert_eq!(
            html.matches(r#"<a class="ev-tick violation""#).count(),
            2,
            "on n1 and n3 lanes"
        );
        assert!(html.contains(r#"<li id="ev-1" class="violation">"#));
        assert!(html.contains("term 3 claimed by n1 (seq 27) and by n3 (seq 30)"));
        // The cited history lines are shown verbatim.
        assert!(html.contains(
            "{&quot;seq&quot;:30,&quot;t&quot;:15610000000,&quot;type&quot;:&quot;state&quot;"
        ));
        // The checker table links to the evidence.
        assert!(html.contains(r##"<a href="#ev-1" data-ev="1">#1</a>"##));
        assert!(html.contains(r#"<span class="verdict invalid">invalid</span>"#));
    }

    #[test]
    fn gap_distribution_and_figures() {
        let html = page();
        assert!(html.contains(r#"<table class="gaps">"#));
        assert_eq!(html.matches(r#"<svg class="bar""#).count(), 3);
        assert!(html.contains("<td>isolate</td>"));
        assert!(html.contains("belief total ms"));
        assert!(html.contains("Elections (5)"));
    }

    #[test]
    fn page_is_self_contained_and_well_formed() {
        let html = page();
        assert_self_contained(&html);
        assert_well_formed(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn hostile_text_is_escaped() {
        let mut report = fixture::report();
        report.results[0].evidence[0].message =
            "probe http://127.0.0.1:2379/debug/vars failed <script>alert(1)</script> & \u{7}"
                .into();
        report.warnings.push("see https://example.invalid/".into());
        let mut header = fixture::header();
        header.nodes.push("n\"4<".into());
        let html = render_run(&header, &fixture::records(), &report);
        assert_self_contained(&html);
        assert_well_formed(&html);
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("http&#58;//127.0.0.1:2379"));
    }

    #[test]
    fn empty_inputs_do_not_panic() {
        let report = Report {
            results: vec![],
            elections: vec![],
            warnings: vec![],
            events: 0,
        };
        let html = render_run(&fixture::header(), &[], &report);
        assert_well_formed(&html);
        assert!(html.contains("No evidence was reported."));
        assert!(html.contains("No leader was ever elected."));
        let mut odd = fixture::report();
        for result in &mut odd.results {
            result.details = serde_json::json!({"gaps": [{"from": "x"}], "by_fault": []});
        }
        assert_well_formed(&render_run(&fixture::header(), &fixture::records(), &odd));
    }

    #[test]
    fn twenty_five_nodes_stay_readable() {
        let (header, records) = fixture::large_run(25);
        let report = fixture::report();
        let html = render_run(&header, &records, &report);
        assert_eq!(html.matches(r#"<g class="lane""#).count(), 25);
        assert!(html.contains(r#"data-lane="n25""#));
        assert_self_contained(&html);
        assert_well_formed(&html);
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
        let svg_height: f64 = html
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(['"', ' ']).nth(1))
            .and_then(|h| h.parse().ok())
            .unwrap();
        assert!(svg_height < 520.0, "25 lanes fit a screen: {svg_height}");
    }

    /// `SPLITBRAIN_HTML_OUT=DIR cargo test -p results html` writes the fixture
    /// pages there, to look at (or, later, to load in headless Chromium).
    #[test]
    fn write_pages_when_asked() {
        let Some(dir) = std::env::var_os("SPLITBRAIN_HTML_OUT") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("run-3-nodes.html"), page()).unwrap();
        for count in [5, 25] {
            let (header, records) = fixture::large_run(count);
            let html = render_run(&header, &records, &fixture::report());
            std::fs::write(dir.join(format!("run-{count}-nodes.html")), html).unwrap();
        }
    }
}
