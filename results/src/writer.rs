//! The history writer: assigns `seq`, keeps `t` non-decreasing, and puts every
//! line on disk as it happens so an interrupted or killed controller still
//! leaves a readable history (contract 3).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use checkers::history::{Event, Nanos, Record};

/// Appends records to `history.jsonl`.
pub struct HistoryWriter {
    out: BufWriter<File>,
    next_seq: u64,
    last_t: Nanos,
}

impl HistoryWriter {
    /// Create (truncate) the history file.
    pub fn create(path: &Path) -> std::io::Result<HistoryWriter> {
        Ok(HistoryWriter {
            out: BufWriter::new(File::create(path)?),
            next_seq: 0,
            last_t: 0,
        })
    }

    /// Append `event` observed at `t`; a `t` earlier than the last one is
    /// raised to it so `t` never decreases along `seq`. Returns the record.
    pub fn append(&mut self, t: Nanos, event: Event) -> std::io::Result<Record> {
        let t = t.max(self.last_t);
        let rec = Record {
            seq: self.next_seq,
            t,
            event,
        };
        serde_json::to_writer(&mut self.out, &rec)?;
        self.out.write_all(b"\n")?;
        // One write per line: the controller may be SIGKILLed at any moment.
        self.out.flush()?;
        self.next_seq += 1;
        self.last_t = t;
        Ok(rec)
    }

    /// The `t` of the last record written.
    pub fn last_t(&self) -> Nanos {
        self.last_t
    }

    /// Flush and fsync (end of run).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::history::{EndRecord, WarningRecord};
    use checkers::reader::HistoryReader;

    #[test]
    fn seq_increases_and_t_never_decreases() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("h.jsonl");
        let mut w = HistoryWriter::create(&p).unwrap();
        w.append(
            10,
            Event::Warning(WarningRecord {
                kind: "a".into(),
                message: "x".into(),
            }),
        )
        .unwrap();
        w.append(
            5,
            Event::Warning(WarningRecord {
                kind: "b".into(),
                message: "y".into(),
            }),
        )
        .unwrap();
        w.append(20, Event::End(EndRecord::default())).unwrap();
        let recs: Vec<Record> =
            HistoryReader::new(std::io::BufReader::new(File::open(&p).unwrap()))
                .map(Result::unwrap)
                .collect();
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(
            recs.iter().map(|r| r.t).collect::<Vec<_>>(),
            vec![10, 10, 20]
        );
    }
}
