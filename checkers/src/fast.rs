//! A fast, allocation-free reader for the hot history lines.
//!
//! `Record` uses `#[serde(flatten)]` with an internally tagged enum, which makes
//! serde buffer every line into a map before choosing a variant: correct, but
//! several times slower than the checkers themselves. Here each line is first
//! parsed into [`FlatLine`], one flat struct with every field optional and
//! strings borrowed from the input, which covers the frequent kinds (`state`,
//! `vote`, `process`, `probe`, `garbage`, `end`, and `node_event` for the
//! checkers). Anything else, or any line the flat struct cannot take exactly,
//! falls back to the `Record` deserializer, so the accepted wire format is the
//! same (the fallback decides every error message).

use std::borrow::Cow;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::history::{
    EndRecord, Event, ExitStatus, GarbageRecord, Nanos, NemesisRecord, NetRecord, ProbeRecord,
    ProcessEvent, ProcessRecord, Record, Role, RunHeader, StateRecord, VoteRecord,
};

/// A string borrowed from the line when it has no escapes (the common case).
#[derive(Debug)]
pub(crate) struct BStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The `event` field: a string for `process`, an object for `node_event`.
#[derive(Debug)]
pub(crate) enum EventField<'a> {
    Str(BStr<'a>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for EventField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventField<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(EventField::Str(BStr(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EventField::Str(BStr(Cow::Owned(v.to_owned()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(EventField::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(EventField::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(EventField::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(EventField::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(EventField::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(EventField::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(EventField::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Every field of the frequent line kinds, all optional, strings borrowed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FlatLine<'a> {
    seq: Option<u64>,
    t: Option<u64>,
    #[serde(rename = "type", borrow)]
    ty: Option<BStr<'a>>,
    #[serde(borrow)]
    node: Option<BStr<'a>>,
    #[serde(borrow)]
    event: Option<EventField<'a>>,
    pid: Option<u32>,
    status: Option<ExitStatus>,
    expected: Option<bool>,
    #[serde(borrow)]
    stderr_tail: Option<BStr<'a>>,
    role: Option<Role>,
    term: Option<u64>,
    #[serde(borrow)]
    leader: Option<BStr<'a>>,
    src: Option<crate::history::Source>,
    #[serde(rename = "for", borrow)]
    candidate: Option<BStr<'a>>,
    voter_log: Option<[u64; 2]>,
    candidate_log: Option<[u64; 2]>,
    ok: Option<bool>,
    #[serde(borrow)]
    error: Option<BStr<'a>>,
    #[serde(borrow)]
    line: Option<BStr<'a>>,
    interrupted: Option<bool>,
    #[serde(borrow)]
    reason: Option<BStr<'a>>,
}

fn s<'b>(v: &'b Option<BStr<'_>>) -> Option<&'b str> {
    v.as_ref().map(|b| b.0.as_ref())
}

fn process_event(name: &str) -> Option<ProcessEvent> {
    Some(match name {
        "start" => ProcessEvent::Start,
        "ready" => ProcessEvent::Ready,
        "exit" => ProcessEvent::Exit,
        "kill" => ProcessEvent::Kill,
        "pause" => ProcessEvent::Pause,
        "resume" => ProcessEvent::Resume,
        _ => return None,
    })
}

/// A borrowed view of one event: what the checkers consume.
#[derive(Debug)]
pub(crate) enum Ev<'a> {
    Run(&'a RunHeader),
    Process {
        node: &'a str,
        event: ProcessEvent,
        pid: Option<u32>,
        expected: Option<bool>,
        status: Option<&'a ExitStatus>,
        stderr_tail: Option<&'a str>,
    },
    State {
        node: &'a str,
        pid: Option<u32>,
        role: Role,
        term: u64,
        leader: Option<&'a str>,
    },
    Vote {
        node: &'a str,
        pid: Option<u32>,
        term: u64,
        candidate: &'a str,
        voter_log: Option<[u64; 2]>,
        candidate_log: Option<[u64; 2]>,
    },
    Nemesis(&'a NemesisRecord),
    Net(&'a NetRecord),
    Garbage,
    Warning(&'a str),
    End {
        interrupted: bool,
    },
    Other,
}

impl Record {
    /// The borrowed view the checkers consume (no allocation).
    pub(crate) fn view(&self) -> Ev<'_> {
        match &self.event {
            Event::Run(h) => Ev::Run(h),
            Event::Process(p) => Ev::Process {
                node: &p.node,
                event: p.event,
                pid: p.pid,
                expected: p.expected,
                status: p.status.as_ref(),
                stderr_tail: p.stderr_tail.as_deref(),
            },
            Event::State(st) => Ev::State {
                node: &st.node,
                pid: st.pid,
                role: st.role,
                term: st.term,
                leader: st.leader.as_deref(),
            },
            Event::Vote(v) => Ev::Vote {
                node: &v.node,
                pid: v.pid,
                term: v.term,
                candidate: &v.candidate,
                voter_log: v.voter_log,
                candidate_log: v.candidate_log,
            },
            Event::Nemesis(n) => Ev::Nemesis(n),
            Event::Net(n) => Ev::Net(n),
            Event::Garbage(_) => Ev::Garbage,
            Event::Warning(w) => Ev::Warning(&w.message),
            Event::End(e) => Ev::End {
                interrupted: e.interrupted,
            },
            Event::Probe(_) | Event::NodeEvent(_) => Ev::Other,
        }
    }
}

/// One parsed line: the flat fast form or a full `Record`.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed<'a> {
    Fast(FlatLine<'a>),
    Slow(Record),
}

/// Which kinds the flat form may take. The checkers need no payload of a
/// `node_event`; a caller that wants `Record`s sends those the slow way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Check,
    Records,
}

impl<'a> FlatLine<'a> {
    /// True when this line is one the flat form represents exactly.
    fn complete(&self, purpose: Purpose) -> bool {
        if self.seq.is_none() || self.t.is_none() {
            return false;
        }
        match s(&self.ty) {
            Some("state") => self.node.is_some() && self.role.is_some() && self.term.is_some(),
            Some("vote") => self.node.is_some() && self.term.is_some() && self.candidate.is_some(),
            Some("process") => {
                self.node.is_some()
                    && matches!(&self.event, Some(EventField::Str(e)) if process_event(&e.0).is_some())
            }
            Some("probe") => self.node.is_some() && self.ok.is_some(),
            Some("garbage") => self.node.is_some() && self.line.is_some(),
            Some("end") => true,
            Some("node_event") => {
                purpose == Purpose::Check && self.node.is_some() && self.event.is_some()
            }
            _ => false,
        }
    }

    fn seq_t(&self) -> (u64, Nanos) {
        (self.seq.unwrap_or(0), self.t.unwrap_or(0))
    }

    fn view(&self) -> Ev<'_> {
        match s(&self.ty) {
            Some("state") => Ev::State {
                node: s(&self.node).unwrap_or(""),
                pid: self.pid,
                role: self.role.unwrap_or(Role::Other),
                term: self.term.unwrap_or(0),
                leader: s(&self.leader),
            },
            Some("vote") => Ev::Vote {
                node: s(&self.node).unwrap_or(""),
                pid: self.pid,
                term: self.term.unwrap_or(0),
                candidate: s(&self.candidate).unwrap_or(""),
                voter_log: self.voter_log,
                candidate_log: self.candidate_log,
            },
            Some("process") => {
                let event = match &self.event {
                    Some(EventField::Str(e)) => process_event(&e.0),
                    _ => None,
                };
                match event {
                    Some(event) => Ev::Process {
                        node: s(&self.node).unwrap_or(""),
                        event,
                        pid: self.pid,
                        expected: self.expected,
                        status: self.status.as_ref(),
                        stderr_tail: s(&self.stderr_tail),
                    },
                    None => Ev::Other,
                }
            }
            Some("garbage") => Ev::Garbage,
            Some("end") => Ev::End {
                interrupted: self.interrupted.unwrap_or(false),
            },
            _ => Ev::Other,
        }
    }

    fn into_record(self) -> Record {
        let (seq, t) = self.seq_t();
        let own = |b: Option<BStr<'_>>| b.map(|b| b.0.into_owned());
        let event = match s(&self.ty) {
            Some("state") => Event::State(StateRecord {
                node: own(self.node).unwrap_or_default(),
                pid: self.pid,
                role: self.role.unwrap_or(Role::Other),
                term: self.term.unwrap_or(0),
                leader: own(self.leader),
                src: self.src.unwrap_or_default(),
            }),
            Some("vote") => Event::Vote(VoteRecord {
                node: own(self.node).unwrap_or_default(),
                pid: self.pid,
                term: self.term.unwrap_or(0),
                candidate: own(self.candidate).unwrap_or_default(),
                voter_log: self.voter_log,
                candidate_log: self.candidate_log,
            }),
            Some("process") => Event::Process(ProcessRecord {
                event: match &self.event {
                    Some(EventField::Str(e)) => process_event(&e.0).unwrap_or(ProcessEvent::Ready),
                    _ => ProcessEvent::Ready,
                },
                node: own(self.node).unwrap_or_default(),
                pid: self.pid,
                status: self.status,
                expected: self.expected,
                stderr_tail: own(self.stderr_tail),
            }),
            Some("probe") => Event::Probe(ProbeRecord {
                node: own(self.node).unwrap_or_default(),
                ok: self.ok.unwrap_or(false),
                error: own(self.error),
            }),
            Some("garbage") => Event::Garbage(GarbageRecord {
                node: own(self.node).unwrap_or_default(),
                pid: self.pid,
                line: own(self.line).unwrap_or_default(),
            }),
            _ => Event::End(EndRecord {
                interrupted: self.interrupted.unwrap_or(false),
                reason: own(self.reason),
            }),
        };
        Record { seq, t, event }
    }
}

impl<'a> Parsed<'a> {
    /// `seq` and `t` of the line.
    pub(crate) fn seq_t(&self) -> (u64, Nanos) {
        match self {
            Parsed::Fast(f) => f.seq_t(),
            Parsed::Slow(r) => (r.seq, r.t),
        }
    }

    /// The view the checkers consume.
    pub(crate) fn view(&self) -> Ev<'_> {
        match self {
            Parsed::Fast(f) => f.view(),
            Parsed::Slow(r) => r.view(),
        }
    }

    /// An owned `Record`, identical to what `serde_json` would have produced.
    pub(crate) fn into_record(self) -> Record {
        match self {
            Parsed::Fast(f) => f.into_record(),
            Parsed::Slow(r) => r,
        }
    }
}

/// Parse one line of a history, fast when possible; the error is the one the
/// `Record` deserializer gives, so messages do not depend on the fast path.
pub(crate) fn parse_line(bytes: &[u8], purpose: Purpose) -> Result<Parsed<'_>, serde_json::Error> {
    if let Ok(flat) = serde_json::from_slice::<FlatLine<'_>>(bytes) {
        if flat.complete(purpose) {
            return Ok(Parsed::Fast(flat));
        }
    }
    serde_json::from_slice::<Record>(bytes).map(Parsed::Slow)
}
