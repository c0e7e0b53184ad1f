//! Reading a history file: streaming, tolerant of a torn last line.

use std::io::BufRead;

use crate::fast::{parse_line, Purpose};
use crate::history::Record;

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    /// A line in the middle of the file is not a history record.
    #[error("line {line}: not a history record ({source}); is this a splitbrain history.jsonl?")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Iterates the records of a history; a malformed *last* line (the controller
/// was killed mid-write) is skipped and reported through [`HistoryReader::warnings`].
pub struct HistoryReader<R> {
    input: R,
    line_no: u64,
    buf: Vec<u8>,
    pending: Option<(u64, Vec<u8>)>,
    warnings: Vec<String>,
    done: bool,
}

impl<R: BufRead> HistoryReader<R> {
    /// Wrap a buffered reader.
    pub fn new(input: R) -> Self {
        Self {
            input,
            line_no: 0,
            buf: Vec::new(),
            pending: None,
            warnings: Vec::new(),
            done: false,
        }
    }

    /// Problems skipped so far (a torn last line).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn next_line(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        loop {
            self.buf.clear();
            if self.input.read_until(b'\n', &mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let l = self.buf.trim_ascii();
            if !l.is_empty() {
                return Ok(Some((self.line_no, l.to_vec())));
            }
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (line_no, text) = match self.pending.take() {
            Some(p) => p,
            None => match self.next_line() {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            },
        };
        // The fast parser accepts exactly what `serde_json::from_slice::<Record>` does.
        match parse_line(&text, Purpose::Records).map(|p| p.into_record()) {
            Ok(r) => Some(Ok(r)),
            Err(source) => {
                // Only the last line may be torn: look ahead.
                match self.next_line() {
                    Ok(None) => {
                        self.done = true;
                        self.warnings.push(format!(
                            "line {line_no}: torn last line skipped ({source}); the run was probably cut short"
                        ));
                        None
                    }
                    Ok(Some(_)) => {
                        self.done = true;
                        Some(Err(ReadError::Malformed {
                            line: line_no,
                            source,
                        }))
                    }
                    Err(e) => {
                        self.done = true;
                        Some(Err(e.into()))
                    }
                }
            }
        }
    }
}
