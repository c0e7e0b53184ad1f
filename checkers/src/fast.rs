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
    /// `(kind, message)` of a `warning` record.
    Warning(&'a str, &'a str),
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
            Event::Warning(w) => Ev::Warning(&w.kind, &w.message),
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
    if let Some(flat) = scan::scan(bytes) {
        if flat.complete(purpose) {
            return Ok(Parsed::Fast(flat));
        }
    }
    if let Ok(flat) = serde_json::from_slice::<FlatLine<'_>>(bytes) {
        if flat.complete(purpose) {
            return Ok(Parsed::Fast(flat));
        }
    }
    serde_json::from_slice::<Record>(bytes).map(Parsed::Slow)
}

/// A hand-written scanner for the plainest lines: one flat object, strings
/// without escapes, unsigned integers, booleans, null, and `[u64, u64]`.
/// It gives up (`None`) on anything else, and the serde paths decide; so
/// whatever it accepts, `serde_json` reads the same way.
mod scan {
    use super::{BStr, EventField, FlatLine};
    use crate::history::{Role, Source};
    use std::borrow::Cow;

    struct Cursor<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cursor<'a> {
        #[inline]
        fn ws(&mut self) {
            while let Some(c) = self.b.get(self.i) {
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        #[inline]
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        #[inline]
        fn eat(&mut self, c: u8) -> Option<()> {
            self.ws();
            if self.peek()? == c {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }
        /// A string with no escapes and no control characters.
        #[inline]
        fn str(&mut self) -> Option<&'a str> {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i + 1;
            let rest = &self.b[start..];
            let len = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            if rest[len] != b'"' {
                return None;
            }
            self.i = start + len + 1;
            std::str::from_utf8(&rest[..len]).ok()
        }
        #[inline]
        fn u64(&mut self) -> Option<u64> {
            self.ws();
            let start = self.i;
            let mut v: u64 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
                self.i += 1;
            }
            let n = self.i - start;
            if n == 0 || (n > 1 && self.b[start] == b'0') {
                return None;
            }
            // A fraction or exponent: not an integer, let serde decide.
            if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            Some(v)
        }
        #[inline]
        fn lit(&mut self, word: &[u8]) -> bool {
            self.ws();
            if self.b[self.i..].starts_with(word) {
                self.i += word.len();
                true
            } else {
                false
            }
        }
        #[inline]
        fn null(&mut self) -> bool {
            self.lit(b"null")
        }
        fn bool(&mut self) -> Option<Option<bool>> {
            if self.lit(b"true") {
                Some(Some(true))
            } else if self.lit(b"false") {
                Some(Some(false))
            } else if self.null() {
                Some(None)
            } else {
                None
            }
        }
        fn opt_u64(&mut self) -> Option<Option<u64>> {
            if self.null() {
                Some(None)
            } else {
                self.u64().map(Some)
            }
        }
        fn opt_str(&mut self) -> Option<Option<BStr<'a>>> {
            if self.null() {
                Some(None)
            } else {
                self.str().map(|s| Some(BStr(Cow::Borrowed(s))))
            }
        }
        fn pair(&mut self) -> Option<Option<[u64; 2]>> {
            if self.null() {
                return Some(None);
            }
            self.eat(b'[')?;
            let a = self.u64()?;
            self.eat(b',')?;
            let b = self.u64()?;
            self.eat(b']')?;
            Some(Some([a, b]))
        }
    }

    fn set<T>(slot: &mut Option<T>, seen: &mut u32, bit: u32, v: Option<T>) -> Option<()> {
        if *seen & bit != 0 {
            return None; // duplicate key: let serde decide
        }
        *seen |= bit;
        *slot = v;
        Some(())
    }

    /// Scan one line; `None` means "not plain enough, ask serde".
    pub(super) fn scan(b: &[u8]) -> Option<FlatLine<'_>> {
        let mut c = Cursor { b, i: 0 };
        let mut f = FlatLine::default();
        let mut seen = 0u32;
        c.eat(b'{')?;
        c.ws();
        if c.peek()? == b'}' {
            return None;
        }
        loop {
            let key = c.str()?;
            c.eat(b':')?;
            let s = &mut seen;
            match key {
                "seq" => set(&mut f.seq, s, 1, c.opt_u64()?)?,
                "t" => set(&mut f.t, s, 1 << 1, c.opt_u64()?)?,
                "type" => set(&mut f.ty, s, 1 << 2, c.opt_str()?)?,
                "node" => set(&mut f.node, s, 1 << 3, c.opt_str()?)?,
                "event" => {
                    let v = c.opt_str()?.map(EventField::Str);
                    set(&mut f.event, s, 1 << 4, v)?
                }
                "pid" => {
                    let v = match c.opt_u64()? {
                        Some(p) => Some(u32::try_from(p).ok()?),
                        None => None,
                    };
                    set(&mut f.pid, s, 1 << 5, v)?
                }
                "expected" => set(&mut f.expected, s, 1 << 6, c.bool()?)?,
                "stderr_tail" => set(&mut f.stderr_tail, s, 1 << 7, c.opt_str()?)?,
                "role" => {
                    let v = match c.opt_str()? {
                        None => None,
                        Some(r) => Some(match r.0.as_ref() {
                            "leader" => Role::Leader,
                            "candidate" => Role::Candidate,
                            "pre-candidate" => Role::PreCandidate,
                            "follower" => Role::Follower,
                            _ => Role::Other,
                        }),
                    };
                    set(&mut f.role, s, 1 << 8, v)?
                }
                "term" => set(&mut f.term, s, 1 << 9, c.opt_u64()?)?,
                "leader" => set(&mut f.leader, s, 1 << 10, c.opt_str()?)?,
                "src" => {
                    let v = match c.opt_str()? {
                        None => None,
                        Some(r) => Some(match r.0.as_ref() {
                            "stdout" => Source::Stdout,
                            "probe" => Source::Probe,
                            _ => return None,
                        }),
                    };
                    set(&mut f.src, s, 1 << 11, v)?
                }
                "for" => set(&mut f.candidate, s, 1 << 12, c.opt_str()?)?,
                "voter_log" => set(&mut f.voter_log, s, 1 << 13, c.pair()?)?,
                "candidate_log" => set(&mut f.candidate_log, s, 1 << 14, c.pair()?)?,
                "ok" => set(&mut f.ok, s, 1 << 15, c.bool()?)?,
                "error" => set(&mut f.error, s, 1 << 16, c.opt_str()?)?,
                "line" => set(&mut f.line, s, 1 << 17, c.opt_str()?)?,
                "interrupted" => set(&mut f.interrupted, s, 1 << 18, c.bool()?)?,
                "reason" => set(&mut f.reason, s, 1 << 19, c.opt_str()?)?,
                _ => return None,
            }
            c.ws();
            match c.peek()? {
                b',' => c.i += 1,
                b'}' => {
                    c.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        c.ws();
        if c.i != b.len() {
            return None;
        }
        Some(f)
    }
}
