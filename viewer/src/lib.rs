//! # failover-viewer: a behaviour as a sequence chart in one HTML page
//!
//! One neutral data shape, [`Behaviour`] (lanes, steps, message arrows, marks for faults, each
//! server's state and bindings after every step), built by its producers (`failover-check` from
//! a counterexample path, `failoverd replay --html` from a runtime trace), and one renderer,
//! [`render_html`], that writes a single self-contained page: inline CSS, inline script, the
//! behaviour embedded as JSON. Opening it needs no network access.
//!
//! [`label`] turns the core's messages, client requests and replies and bindings into the
//! short labels the chart shows, so both producers label alike.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod label;

use serde::{Deserialize, Serialize};

/// A behaviour: what the chart draws.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// The page title (e.g. "S1 violated: config a1+A1-off").
    pub title: String,
    /// Lines of context under the title (configuration, window, how it was made).
    pub context: Vec<String>,
    /// Links shown under the title (e.g. the Explorer address of the path).
    pub links: Vec<PageLink>,
    /// The lanes, left to right.
    pub lanes: Vec<Lane>,
    /// The steps, top to bottom. Step 0 is usually the initial state.
    pub steps: Vec<Step>,
    /// The message arrows.
    pub arrows: Vec<Arrow>,
    /// The step selected when the page opens (its bindings are shown).
    pub selected: usize,
}

/// A link under the title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLink {
    /// The text.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

/// What a lane stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LaneKind {
    /// A server whose state and bindings are known at every step.
    Server,
    /// A server known only through what it sent (its state band is what it announced).
    Partner,
    /// A DHCPv6 client.
    Client,
}

/// One lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// Stable id (arrows, marks and snapshots name lanes by it).
    pub id: String,
    /// The label at the top.
    pub label: String,
    /// What it is.
    pub kind: LaneKind,
}

/// One step of the behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The chart clock (seconds) after the step; printed down the left side.
    pub time: i64,
    /// How the clock is printed (e.g. "t0+30").
    pub time_label: String,
    /// The step's action in words.
    pub label: String,
    /// The lane that acted, if one did.
    pub actor: Option<String>,
    /// Faults, timers, commands and connection events, drawn as marks.
    pub marks: Vec<Mark>,
    /// Each server lane's state and bindings after the step.
    pub servers: Vec<ServerSnapshot>,
    /// Further lines shown when the step is selected (events, alarms, the link).
    pub notes: Vec<String>,
}

/// A mark on a lane (or across the chart) at a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The lane, or `None` for the link between the servers / the whole chart.
    pub lane: Option<String>,
    /// What happened.
    pub kind: MarkKind,
    /// Words.
    pub label: String,
}

/// Kinds of marks. The first six are faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkKind {
    /// A process crash (storage kept).
    Crash,
    /// A crash that lost stable storage.
    StorageLoss,
    /// A network partition between the servers.
    Partition,
    /// A connection reset.
    Break,
    /// The clock stepped (went backwards, or jumped).
    ClockStep,
    /// A lost client reply.
    LostReply,
    /// A restart (from the durable image).
    Restart,
    /// A partition healed.
    Heal,
    /// An operator command.
    Command,
    /// A timer fired.
    Timer,
    /// The partner connection came up, failed or went down.
    Connection,
    /// Anything else worth a mark.
    Note,
}

impl MarkKind {
    /// Whether this mark is a fault.
    #[must_use]
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            MarkKind::Crash
                | MarkKind::StorageLoss
                | MarkKind::Partition
                | MarkKind::Break
                | MarkKind::ClockStep
                | MarkKind::LostReply
        )
    }
}

/// A server lane's state after a step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSnapshot {
    /// The lane.
    pub lane: String,
    /// The endpoint state (RFC 8156 name), `None` when down or unknown.
    pub state: Option<String>,
    /// Why there is no state, or more about it ("crashed", "as announced").
    pub detail: String,
    /// The bindings, in resource order.
    pub bindings: Vec<BindingRow>,
    /// Armed timers ("Expiry@+30"), if known.
    pub timers: Vec<String>,
}

/// One binding in a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRow {
    /// Address or prefix.
    pub resource: String,
    /// Binding status (RFC 8156 name).
    pub status: String,
    /// The client holding it, if any.
    pub client: String,
    /// Client expiry.
    pub expiry: String,
    /// Acknowledged partner lifetime.
    pub acked_partner_lifetime: String,
    /// Expiration time (the partner lifetime this server acked).
    pub expiration_time: String,
    /// An update to the partner is pending.
    pub pending: bool,
}

/// What an arrow carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArrowKind {
    /// A failover message between the servers.
    Partner,
    /// The end of the partner stream (FIN after a close or crash).
    Fin,
    /// A client request.
    Request,
    /// A server's reply to a client.
    Reply,
}

/// A message arrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrow {
    /// Sending lane.
    pub from: String,
    /// Receiving lane.
    pub to: String,
    /// The step that sent it.
    pub sent: usize,
    /// The step that received it; `None` when it never arrived.
    pub received: Option<usize>,
    /// What it carries.
    pub kind: ArrowKind,
    /// The message type (BNDUPD, STATE, SOLICIT, REPLY, ...).
    pub name: String,
    /// The essential fields, in order (key, value); an empty key prints the value alone.
    pub fields: Vec<(String, String)>,
    /// Why it never arrived (partition, reset, crash, reply lost), when it did not.
    pub lost: Option<String>,
    /// The step at which it was lost, when that is a later step than `sent` (a reset or
    /// partition dropping what was in flight); the arrow ends there.
    #[serde(default)]
    pub lost_at: Option<usize>,
}

impl Behaviour {
    /// The number of lanes the page draws.
    #[must_use]
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// The number of arrows the page draws.
    #[must_use]
    pub fn arrow_count(&self) -> usize {
        self.arrows.len()
    }

    /// The number of fault marks the page draws.
    #[must_use]
    pub fn fault_count(&self) -> usize {
        self.steps.iter().flat_map(|s| &s.marks).filter(|m| m.kind.is_fault()).count()
    }

    /// Checks that every lane an arrow, mark or snapshot names exists and every step index is
    /// in range (a malformed behaviour would draw nonsense).
    ///
    /// # Errors
    /// The first inconsistency, in words.
    pub fn validate(&self) -> Result<(), String> {
        let lane = |id: &str| self.lanes.iter().any(|l| l.id == id);
        for (i, a) in self.arrows.iter().enumerate() {
            if !lane(&a.from) || !lane(&a.to) {
                return Err(format!("arrow {i} names an unknown lane ({} -> {})", a.from, a.to));
            }
            if a.sent >= self.steps.len() || a.received.is_some_and(|r| r >= self.steps.len()) {
                return Err(format!("arrow {i} names a step out of range"));
            }
            if a.received.is_some_and(|r| r < a.sent) || a.lost_at.is_some_and(|r| r < a.sent) {
                return Err(format!("arrow {i} arrives or is lost before it is sent"));
            }
            if a.lost_at.is_some_and(|r| r >= self.steps.len()) {
                return Err(format!("arrow {i} is lost at a step out of range"));
            }
            if a.received.is_some() && (a.lost.is_some() || a.lost_at.is_some()) {
                return Err(format!("arrow {i} is both received and lost"));
            }
        }
        for (k, s) in self.steps.iter().enumerate() {
            for m in &s.marks {
                if m.lane.as_deref().is_some_and(|l| !lane(l)) {
                    return Err(format!("step {k}: a mark names an unknown lane"));
                }
            }
            for snap in &s.servers {
                if !lane(&snap.lane) {
                    return Err(format!("step {k}: a snapshot names an unknown lane"));
                }
            }
        }
        if !self.steps.is_empty() && self.selected >= self.steps.len() {
            return Err("the selected step is out of range".into());
        }
        Ok(())
    }
}

/// Escapes text for HTML element content and attribute values.
#[must_use]
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The behaviour as JSON safe to embed in a `<script>` element: every `<` is written as the
/// JSON escape `\u003c` (so no `</script>` or `<!--` can appear), which `JSON.parse` reads back.
///
/// # Errors
/// Serialization failure.
pub fn embedded_json(b: &Behaviour) -> serde_json::Result<String> {
    Ok(serde_json::to_string(b)?.replace('<', "\\u003c"))
}

const CSS: &str = include_str!("viewer.css");
const SCRIPT: &str = include_str!("viewer.js");

/// The page: one HTML file with inline CSS, inline script and the behaviour as JSON. The
/// script draws the chart as SVG and, once done, sets `data-ok="1"`, `data-arrows`,
/// `data-lanes`, `data-steps` and `data-faults` on `<div id="viewer-status">` (counted from
/// the elements it drew); an exception sets `data-ok="0"` and `data-error`.
///
/// # Errors
/// Serialization failure.
pub fn render_html(b: &Behaviour) -> serde_json::Result<String> {
    let json = embedded_json(b)?;
    let title = escape_html(&b.title);
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
         <header id=\"head\"><h1>{title}</h1><div id=\"context\"></div><div id=\"legend\"></div></header>\n\
         <main><div id=\"chart\"></div><aside id=\"details\"><p>Click a step to see both servers' bindings.</p></aside></main>\n\
         <div id=\"viewer-status\" data-ok=\"0\" data-error=\"the script did not run\" hidden></div>\n\
         <script id=\"behaviour\" type=\"application/json\">{json}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Behaviour {
        let snap = |lane: &str, state: &str| ServerSnapshot {
            lane: lane.into(),
            state: Some(state.into()),
            ..ServerSnapshot::default()
        };
        Behaviour {
            title: "a </script> <b>title</b>".into(),
            lanes: vec![
                Lane { id: "c0".into(), label: "client 0".into(), kind: LaneKind::Client },
                Lane { id: "P".into(), label: "primary".into(), kind: LaneKind::Server },
            ],
            steps: vec![
                Step { servers: vec![snap("P", "NORMAL")], ..Step::default() },
                Step {
                    marks: vec![Mark {
                        lane: Some("P".into()),
                        kind: MarkKind::Crash,
                        label: "crash".into(),
                    }],
                    servers: vec![snap("P", "NORMAL")],
                    ..Step::default()
                },
            ],
            arrows: vec![Arrow {
                from: "c0".into(),
                to: "P".into(),
                sent: 1,
                received: Some(1),
                kind: ArrowKind::Request,
                name: "SOLICIT".into(),
                fields: vec![("".into(), "</script><!--".into())],
                lost: None,
                lost_at: None,
            }],
            ..Behaviour::default()
        }
    }

    #[test]
    fn the_page_embeds_the_data_without_closing_the_script() {
        let b = sample();
        b.validate().expect("valid");
        let html = render_html(&b).expect("renders");
        // Exactly the two script elements the page has close; the data cannot close one.
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(!html.contains("<!--"));
        assert!(html.contains("<title>a &lt;/script&gt; &lt;b&gt;title&lt;/b&gt;</title>"));
        // The embedded JSON reads back as the behaviour.
        let start = html.find("type=\"application/json\">").expect("data") + 24;
        let end = start + html[start..].find("</script>").expect("end");
        let back: Behaviour = serde_json::from_str(&html[start..end]).expect("JSON");
        assert_eq!(back, b);
        assert_eq!(b.fault_count(), 1);
    }

    #[test]
    fn the_page_needs_no_network() {
        let html = render_html(&sample()).expect("renders");
        // Nothing is loaded: no external script, style sheet, font, image or request.
        for needle in [" src=", "<link", "@import", "@font-face", "fetch(", "XMLHttpRequest"] {
            assert!(!html.contains(needle), "the page loads something: {needle}");
        }
        // `url(...)` only for the arrow heads defined in the page itself.
        for (at, _) in html.match_indices("url(") {
            assert!(html[at..].starts_with("url(#"), "an external url(): {}", &html[at..at + 20]);
        }
    }

    #[test]
    fn validate_rejects_unknown_lanes_and_steps() {
        let mut b = sample();
        b.arrows[0].to = "S".into();
        assert!(b.validate().is_err());
        let mut b = sample();
        b.arrows[0].received = Some(7);
        assert!(b.validate().is_err());
    }
}
